"""`vigil notifier`: notifications topic → receivers, one Delivery record per attempt, offsets after."""

from __future__ import annotations

import logging
import signal
import threading
import time
from enum import Enum

import redis
from confluent_kafka import Consumer, Producer

from infra.health import serve_health
from infra.kafka import ensure_topics, make_consumer, make_producer
from infra.retry import Backoff
from infra.settings import NotifierSettings
from notifier import metrics
from notifier.idempotency import CLAIM_TTL_S, SentLedger
from notifier.outcome import Outcome, Verdict
from notifier.registry import Notifier, build_receivers
from schemas import codec
from schemas.codec import DecodeError
from schemas.records import Delivery, Notification

log = logging.getLogger(__name__)


class Decision(str, Enum):
    """Why a notification was or wasn't sent (logged, and a bounded metric label)."""

    DELIVERED = "delivered"
    DUPLICATE = "duplicate_skipped"
    UNKNOWN_RECEIVER = "unknown_receiver"
    FAILED_PERMANENTLY = "failed_permanently"
    GAVE_UP = "gave_up_after_retries"
    STOPPING = "stopping"


class Dispatcher:
    """Delivers one notification: ledger check, attempts with backoff, Delivery records."""

    def __init__(self, receivers: dict[str, Notifier], ledger: SentLedger, producer: Producer, topic: str,
                 backoff: Backoff, max_attempts: int, stop: threading.Event) -> None:
        self.receivers = receivers
        self.ledger = ledger
        self.producer = producer
        self.topic = topic
        self.backoff = backoff
        self.max_attempts = max_attempts
        self.stop = stop
        self._codec = codec.delivery()

    def dispatch(self, note: Notification) -> Decision:
        """Send `note` at most once per receiver; returns the decision with its reason."""
        receiver = self.receivers.get(note["receiver"])
        if receiver is None:
            self._record(note, 1, Outcome(Verdict.FAILED, None, f"no receiver named '{note['receiver']}' is "
                                          "configured (set VIGIL_SLACK_WEBHOOK_URL for 'slack')"), 0.0)
            return Decision.UNKNOWN_RECEIVER
        if self.ledger.was_sent(note):
            return Decision.DUPLICATE
        deadline = time.monotonic() + CLAIM_TTL_S
        while not self.ledger.claim(note):  # another replica is sending it right now
            if self.ledger.was_sent(note):
                return Decision.DUPLICATE
            if time.monotonic() > deadline or self.stop.wait(0.5):
                return Decision.STOPPING
        for attempt in range(1, self.max_attempts + 1):
            started = time.perf_counter()
            outcome = receiver.notify(note)
            elapsed = time.perf_counter() - started
            metrics.LATENCY.labels(note["receiver"]).observe(elapsed)
            metrics.ATTEMPTS.labels(note["receiver"], outcome.verdict.value).inc()
            last = attempt == self.max_attempts
            self._record(note, attempt, outcome, elapsed * 1000, final=last)
            if outcome.verdict is Verdict.DELIVERED:
                self.ledger.mark_sent(note)
                return Decision.DELIVERED
            if outcome.verdict is Verdict.FAILED:
                self.ledger.release(note)
                log.error("page %s/%s to %s failed permanently: %s %s", note["dedup_key"], note["action"],
                          note["receiver"], outcome.http_status, outcome.response[:200])
                return Decision.FAILED_PERMANENTLY
            if last:
                break
            delay = self.backoff.delay(attempt)
            if outcome.retry_after_s is not None:
                delay = max(delay, min(outcome.retry_after_s, self.backoff.max_s))
            log.warning("page %s/%s to %s: attempt %d got %s, retrying in %.1fs", note["dedup_key"], note["action"],
                        note["receiver"], attempt, outcome.http_status or outcome.response, delay)
            if self.stop.wait(delay):
                self.ledger.release(note)
                return Decision.STOPPING
        self.ledger.release(note)
        log.error("page %s/%s to %s given up after %d attempts", note["dedup_key"], note["action"],
                  note["receiver"], self.max_attempts)
        return Decision.GAVE_UP

    def _record(self, note: Notification, attempt: int, outcome: Outcome, latency_ms: float,
                final: bool = True) -> None:
        if outcome.verdict is Verdict.DELIVERED:
            status = "DELIVERED"
        elif outcome.verdict is Verdict.RETRY and not final:
            status = "RETRYING"
        else:
            status = "FAILED"
        record = Delivery(dedup_key=note["dedup_key"], receiver=note["receiver"], action=note["action"],
                          sequence=note["sequence"], fingerprint=note["fingerprint"], attempt=attempt,
                          status=status, http_status=outcome.http_status, response=outcome.response[:1024],
                          latency_ms=latency_ms, attempted_at_ms=int(time.time() * 1000))
        self.producer.produce(self.topic, self._codec.encode(record), key=note["dedup_key"].encode())
        self.producer.poll(0)


def consume(consumer: Consumer, dispatcher: Dispatcher, producer: Producer, stop: threading.Event) -> None:
    """Handle notifications one by one; commit each only after its Delivery records are acked."""
    decoder = codec.notification()
    while not stop.is_set():
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            log.warning("consumer: %s", msg.error())
            continue
        try:
            note = decoder.decode(msg.value())
        except DecodeError as exc:
            log.error("skipping undecodable record %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), exc)
            consumer.commit(message=msg, asynchronous=False)
            continue
        decision = dispatcher.dispatch(note)
        metrics.DECISIONS.labels(note["receiver"], decision.value).inc()
        log.info("notification %s %s seq=%d → %s: %s", note["dedup_key"], note["action"], note["sequence"],
                 note["receiver"], decision.value)
        if decision is Decision.STOPPING:
            break  # not committed: the next start handles it again
        remaining = producer.flush(30)
        if remaining:
            log.error("%d Delivery records not acknowledged; not committing", remaining)
            break
        consumer.commit(message=msg, asynchronous=False)


def run(settings: NotifierSettings) -> None:
    """Serve /healthz and /metrics, then consume until SIGINT/SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    ensure_topics(settings)
    receivers = build_receivers(settings)
    if not receivers:
        log.warning("no receiver configured: set VIGIL_SLACK_WEBHOOK_URL; notifications will fail")
    store = redis.Redis.from_url(settings.redis_url.get_secret_value())
    ledger = SentLedger(store, settings.topic_prefix)
    producer = make_producer(settings)
    consumer = make_consumer(settings, f"{settings.topic_prefix}.notifier")
    consumer.subscribe([settings.topics.notifications])

    def healthy() -> bool:
        try:
            return bool(store.ping())
        except redis.RedisError:
            return False

    server = serve_health(settings.notifier_health_port, healthy)
    dispatcher = Dispatcher(receivers, ledger, producer, settings.topics.deliveries,
                            Backoff(settings.backoff_initial_s, settings.backoff_max_s), settings.max_attempts, stop)
    try:
        consume(consumer, dispatcher, producer, stop)
    finally:
        consumer.close()
        producer.flush(10)
        for receiver in receivers.values():
            receiver.close()
        server.shutdown()
