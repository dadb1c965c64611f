"""Delivering one notification to one integration: ledger, rate limit, attempts with backoff, Delivery records.

Exactly one send per (integration, dedup key, action, sequence), also across a notifier killed
mid-send: the ledger is claimed before sending and marked before each attempt goes on the wire
(notifier/idempotency.py). A send a dead notifier left on the wire is *in doubt* — the receiver
may have it. PagerDuty deduplicates by dedup_key (a trigger for an open alert does not open
another: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/#alert-de-duplication),
so it is re-sent there; a Slack message or webhook post would arrive twice, so it is not re-sent:
an IN_DOUBT Delivery is written, logged and counted instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from enum import Enum

import redis

from kernel.retry import Backoff
from notifier import metrics
from notifier.idempotency import Entry, SentLedger, State
from kernel.retry import wait_or_stop
from notifier.limiter import Limiter
from notifier.outbox import Outbox, delivery_record, status_of
from notifier.outcome import Outcome, Verdict
from notifier.registry import Integration
from schemas.records import Delivery, Notification

log = logging.getLogger(__name__)

CLAIM_POLL_S = 0.5  # how often to look again at a claim a live notifier holds
MAX_RETRY_AFTER_S = 300.0  # honour Retry-After up to this; PagerDuty suggests retrying 429s after 30 s


class Decision(str, Enum):
    """What happened to a notification at an integration, and why (logged; a bounded metric label)."""

    DELIVERED = "delivered"
    RESENT_IN_DOUBT = "in_doubt_resent"  # PagerDuty: re-sent a send a dead notifier left on the wire
    IN_DOUBT = "in_doubt_not_resent"  # Slack, webhook: the same, not re-sent (IN_DOUBT Delivery)
    DUPLICATE = "already_sent"
    RESOLVE_NOT_WANTED = "send_resolved_false"
    ACKNOWLEDGE_NOT_SUPPORTED = "acknowledge_not_supported"  # webhooks: Alertmanager's payload has no ack
    FAILED_PERMANENTLY = "failed_permanently"
    GAVE_UP = "gave_up_after_retries"
    UNKNOWN_RECEIVER = "unknown_receiver"
    NO_INTEGRATIONS = "receiver_has_no_integrations"
    STOPPING = "stopping"  # not settled: the next start handles it again


DEAD_LETTER = frozenset({Decision.FAILED_PERMANENTLY, Decision.GAVE_UP, Decision.UNKNOWN_RECEIVER})


@dataclass(frozen=True, slots=True)
class Claim:
    """A claim this process holds: re-sending an in-doubt send or not, attempts an earlier owner made."""

    in_doubt: bool
    attempts_made: int


@dataclass(slots=True)
class Result:
    """A decision, the last Delivery written for it, and the acks of every record written."""

    decision: Decision
    final: Delivery | None = None
    acks: list[asyncio.Future] = field(default_factory=list)


class Dispatcher:
    """Delivers notifications to integrations, once each; never raises for a receiver's answer."""

    def __init__(self, ledger: SentLedger, limiter: Limiter, outbox: Outbox, backoff: Backoff, max_attempts: int,
                 stop: asyncio.Event) -> None:
        self.ledger = ledger
        self.limiter = limiter
        self.outbox = outbox
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.stop = stop

    async def deliver(self, note: Notification, integration: Integration) -> Result:
        """Send `note` to `integration` unless it is not wanted, already sent, or in doubt; waits out Redis outages."""
        problem, outage = None, 0
        while True:
            try:
                return await self._deliver(note, integration)
            except redis.RedisError as exc:  # no send without the ledger; what was done is in the ledger
                outage += 1
                if str(exc) != problem:
                    log.warning("%s: %s: Redis failed, retrying: %s", integration.id, _what(note), exc)
                    problem = str(exc)
                if await wait_or_stop(self.stop, self.backoff.delay(outage)):
                    return Result(Decision.STOPPING)
            except Exception as exc:  # our bug: dead-letter this one rather than stall every later notification
                log.exception("%s: %s: internal error", integration.id, _what(note))
                result = Result(Decision.FAILED_PERMANENTLY)
                outcome = Outcome(Verdict.FAILED, None, f"internal error in the notifier: {type(exc).__name__}")
                self._record(result, delivery_record(note, integration.id, 1, "FAILED", outcome, 0.0))
                return result

    async def _deliver(self, note: Notification, integration: Integration) -> Result:
        if note["action"] == "RESOLVE" and not integration.send_resolved:
            return Result(Decision.RESOLVE_NOT_WANTED)
        if note["action"] == "ACKNOWLEDGE" and not integration.client.acknowledges:
            return Result(Decision.ACKNOWLEDGE_NOT_SUPPORTED)
        key = self.ledger.key(integration.id, note)
        result = Result(Decision.DELIVERED)
        claim = await self._claim(key, note, integration, result)
        if claim is None:
            return result
        return await self._attempts(key, note, integration, result, claim)

    async def _claim(self, key: str, note: Notification, integration: Integration, result: Result) -> Claim | None:
        """Claim the send; None (and result.decision set) when it must not be made."""
        while True:
            found = await self.ledger.claim(key)
            if found.state is State.FREE:
                return Claim(in_doubt=False, attempts_made=0)
            if found.state in (State.SENT, State.IN_DOUBT):
                result.decision = Decision.DUPLICATE
                return None
            # Our own owner id here is a task of ours that ended without settling (tasks of one key
            # run one at a time): as good as dead. Another live owner is sending it right now.
            if found.owner != self.ledger.owner and await self.ledger.is_alive(found.owner):
                if await wait_or_stop(self.stop, CLAIM_POLL_S):
                    result.decision = Decision.STOPPING
                    return None
                continue
            if not await self.ledger.take_over(key, found):
                continue  # it changed meanwhile: look again
            if found.state is State.CLAIMED:
                log.info("%s: took over %s from stopped notifier %s (nothing was on the wire)", integration.id,
                         _what(note), found.owner)
                return Claim(in_doubt=False, attempts_made=found.attempts_made)
            return await self._in_doubt(key, note, integration, found, result)

    async def _in_doubt(self, key: str, note: Notification, integration: Integration, found: Entry,
                        result: Result) -> Claim | None:
        if integration.client.resend_in_doubt:
            metrics.IN_DOUBT.labels(integration.kind, "resent").inc()
            log.warning("%s: %s was on the wire (attempt %d) when notifier %s stopped; re-sending it: %s "
                        "deduplicates by dedup_key", integration.id, _what(note), found.attempt, found.owner,
                        integration.kind)
            return Claim(in_doubt=True, attempts_made=found.attempts_made)
        metrics.IN_DOUBT.labels(integration.kind, "not_resent").inc()
        log.warning("%s: %s was on the wire (attempt %d) when notifier %s stopped; the receiver may have it. "
                    "Not re-sending (it would arrive twice): recorded as IN_DOUBT", integration.id, _what(note),
                    found.attempt, found.owner)
        outcome = Outcome(Verdict.FAILED, None, f"in doubt: notifier {found.owner} stopped while attempt "
                                                f"{found.attempt} was on the wire; not re-sent")
        self._record(result, delivery_record(note, integration.id, max(1, found.attempt), "IN_DOUBT", outcome, 0.0))
        await self.ledger.mark_in_doubt(key)
        result.decision = Decision.IN_DOUBT
        return None

    async def _attempts(self, key: str, note: Notification, integration: Integration, result: Result,
                        claim: Claim) -> Result:
        client, kind = integration.client, integration.kind
        problem = None
        # Numbered on from the attempts an earlier owner made: Delivery records are keyed by attempt.
        first, final = claim.attempts_made + 1, claim.attempts_made + self.max_attempts
        for attempt in range(first, final + 1):
            if client.rate is not None and not await self.limiter.acquire(kind, client.limit_key, client.rate,
                                                                          self.stop):
                result.decision = Decision.STOPPING  # the claim stays ours; our next start takes it over
                return result
            await self.ledger.on_wire(key, attempt)
            started = time.perf_counter()
            outcome = await client.notify(note)
            elapsed = time.perf_counter() - started
            metrics.LATENCY.labels(kind).observe(elapsed)
            metrics.ATTEMPTS.labels(kind, outcome.verdict.value.lower()).inc()
            last = attempt == final
            self._record(result, delivery_record(note, integration.id, attempt, status_of(outcome, last), outcome,
                                                 elapsed * 1000))
            if outcome.verdict is Verdict.DELIVERED:
                await self.ledger.mark_sent(key)
                if problem is not None:
                    log.info("%s: %s delivered at attempt %d", integration.id, _what(note), attempt)
                result.decision = Decision.RESENT_IN_DOUBT if claim.in_doubt else Decision.DELIVERED
                return result
            if outcome.http_status is not None:  # an answer came back: nothing of ours is on the wire
                await self.ledger.off_wire(key, attempt)
            if outcome.verdict is Verdict.FAILED:
                await self.ledger.release(key)
                log.error("%s: %s failed permanently: %s %s", integration.id, _what(note), outcome.http_status,
                          outcome.response[:300])
                result.decision = Decision.FAILED_PERMANENTLY
                return result
            if last:
                break
            delay = self.backoff.delay(attempt)
            if outcome.retry_after_s is not None:
                delay = max(delay, min(outcome.retry_after_s, MAX_RETRY_AFTER_S))
            now = (outcome.http_status, outcome.response[:100])
            if now != problem:  # log when the error changes, not on every attempt
                log.warning("%s: %s attempt %d got %s, retrying (next in %.1fs)", integration.id, _what(note),
                            attempt, outcome.http_status or outcome.response, delay)
                problem = now
            if await wait_or_stop(self.stop, delay):
                result.decision = Decision.STOPPING
                return result
        await self.ledger.release(key)
        log.error("%s: %s given up after %d attempts (last: %s)", integration.id, _what(note), self.max_attempts,
                  result.final["http_status"] or result.final["response"])
        result.decision = Decision.GAVE_UP
        return result

    def _record(self, result: Result, record: Delivery) -> None:
        result.final = record
        result.acks.append(self.outbox.delivery(record))

    def unknown_receiver(self, note: Notification) -> Result:
        """A FAILED Delivery for a notification addressed to a receiver nobody configured."""
        result = Result(Decision.UNKNOWN_RECEIVER)
        outcome = Outcome(Verdict.FAILED, None, f"no receiver named '{note['receiver']}' is configured (set "
                                                "VIGIL_ALERTING_CONFIG, or VIGIL_SLACK_WEBHOOK_URL for 'slack')")
        self._record(result, delivery_record(note, note["receiver"], 1, "FAILED", outcome, 0.0))
        return result


def _what(note: Notification) -> str:
    return f"{note['action']} {note['dedup_key']} #{note['sequence']}"
