"""One table of receiver answers, run over every receiver kind: each kind's real client against a local server.

A row is what the receiver does — answers (status, headers, body), is slow, refuses the connection,
hangs up — and what every kind must make of it: delivered, retried (after N seconds when the receiver
says so) or failed for good, with the status and the receiver's answer in the Delivery record a user
reads. A kind that legitimately reads a row otherwise has an override in the row, with the provider's
documentation cited. The kinds come from the registries (kernel/alerting/receiver_kinds.py,
notifier/registry.py), so a new kind runs through the whole table without an edit here — except a
sample of its required settings in SAMPLE_SETTINGS if it has any besides `url`.

The server checks every body it gets as the provider would (the dialect checks of infra/demo/receiver.py),
so a row answered "delivered" is only passed by a body the real service would take.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from infra.demo.receiver import pagerduty_errors, slack_errors, webhook_errors
from kernel.alerting.receiver_kinds import RECEIVER_KINDS
from kernel.alerting.receivers import ReceiverConfig
from kernel.settings import NotifierSettings
from notifier.outbox import delivery_record, status_of
from notifier.outcome import Outcome, Verdict
from notifier.registry import CLIENTS, build_receivers, close_receivers
from schemas.examples import incident
from tests.harness import closed_port, free_port

KINDS = tuple(RECEIVER_KINDS)
TIMEOUT_S = 0.3  # each integration's timeout_s here; the slow row answers after SLOW_S
SLOW_S = 1.5
# Settings a kind requires besides `url` (every kind's config has `url`, `timeout_s` and `send_resolved`).
SAMPLE_SETTINGS: Mapping[str, Mapping[str, object]] = {"pagerduty": {"routing_key": "0123456789abcdef0123456789abcdef"}}
# What each provider would refuse in a body (infra/demo/receiver.py); a kind without one is not checked.
DIALECT_ERRORS: Mapping[str, Callable[[object, bytes], list[str]]] = {
    "pagerduty": lambda body, raw: pagerduty_errors(body, len(raw)),
    "slack": lambda body, raw: slack_errors(body),
    "webhook": lambda body, raw: webhook_errors(body),
}


@dataclass(frozen=True)
class Expect:
    """What a client must make of a row: the verdict, and the Retry-After it honours (seconds, approximately)."""

    verdict: Verdict
    retry_after_s: float | None = None

    def __str__(self) -> str:
        if self.verdict is Verdict.RETRY and self.retry_after_s is not None:
            return f"retry after {self.retry_after_s:g}s"
        return {Verdict.DELIVERED: "delivered", Verdict.RETRY: "retry", Verdict.FAILED: "permanent"}[self.verdict]


DELIVERED, RETRY, PERMANENT = Expect(Verdict.DELIVERED), Expect(Verdict.RETRY), Expect(Verdict.FAILED)


def retry_after(seconds: float) -> Expect:
    return Expect(Verdict.RETRY, seconds)


@dataclass(frozen=True)
class Row:
    """An answer (status, headers, body), or a `fault` instead of one, and what every kind makes of it."""

    name: str
    expect: Expect
    status: int | None = None
    body: bytes = b""
    headers: Mapping[str, str | Callable[[], str]] = field(default_factory=dict)  # a callable: made when served
    fault: str | None = None  # "slow" (answers after the timeout), "refused", "hangup", "bad_scheme"
    overrides: Mapping[str, Expect] = field(default_factory=dict)  # kind → what it does instead (cite the docs)

    def expected(self, kind: str) -> Expect:
        return self.overrides.get(kind, self.expect)

    def answer_headers(self) -> dict[str, str]:
        return {name: value() if callable(value) else value for name, value in self.headers.items()}


def _http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now), usegmt=True)


PD_INVALID_EVENT = json.dumps({"status": "invalid event", "message": "Event object is invalid",
                               "errors": ["'routing_key' must be a 32 character string"]}).encode()
PD_THROTTLED = json.dumps({"status": "throttle event", "message": "Requests for this service are arriving too "
                                                                   "quickly.  Please retry later."}).encode()

TABLE = (
    # --- delivered: any 2xx ---
    Row("200 ok", DELIVERED, 200, b"ok"),  # Slack's and Alertmanager webhook receivers' answer
    Row("202 PagerDuty accepted", DELIVERED, 202,
        b'{"status":"success","message":"Event processed","dedup_key":"inc-1"}'),
    Row("204 no content", DELIVERED, 204),
    # A 200 whose body is the Slack *Web API*'s error shape is still delivered, by every kind: incoming
    # webhooks report errors with the HTTP status ("interpret a HTTP 200 response as success and any other
    # response code as a failure", https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks);
    # `ok: false` belongs to methods such as chat.postMessage, which Vigil does not call.
    Row("200 with a Web API ok:false body", DELIVERED, 200, b'{"ok":false,"error":"invalid_auth"}'),
    # --- permanent: a 4xx other than 408 and 429, a redirect, a URL that is not HTTP ---
    # Slack's incoming-webhook errors (the changelog above, and https://api.slack.com/messaging/webhooks#handling_errors)
    Row("400 Slack invalid_payload", PERMANENT, 400, b"invalid_payload"),
    Row("403 Slack action_prohibited", PERMANENT, 403, b"action_prohibited"),
    Row("404 Slack channel_not_found", PERMANENT, 404, b"channel_not_found"),
    Row("410 Slack channel_is_archived", PERMANENT, 410, b"channel_is_archived"),
    # PagerDuty: "400 Bad Request - Check that the JSON is valid. Retry? No"
    # (https://developer.pagerduty.com/docs/events-api-v2/overview/#response-codes--retry-logic)
    Row("400 PagerDuty invalid event", PERMANENT, 400, PD_INVALID_EVENT, {"Content-Type": "application/json"}),
    Row("401 unauthorized", PERMANENT, 401, b"unauthorized"),
    Row("413 too large", PERMANENT, 413, b"payload too large"),
    # Redirects are not followed: a moved receiver is the config's to fix, and the POST carries a credential.
    Row("301 moved", PERMANENT, 301, b"moved", {"Location": "http://127.0.0.1:9/elsewhere"}),
    Row("URL that is not HTTP", PERMANENT, fault="bad_scheme"),
    # --- retried: 408, 429, any 5xx, no answer; Retry-After honoured ---
    # 408 says "try again" in HTTP itself (RFC 9110 §15.5.9). PagerDuty's table of what to retry lists
    # 429, 5xx and network errors only — 408 is not among them, so its client fails it, as Alertmanager's
    # does (RetryCodes 429 plus 5xx in notify/pagerduty/pagerduty.go):
    # https://developer.pagerduty.com/docs/events-api-v2/overview/#response-codes--retry-logic
    Row("408 request timeout", RETRY, 408, b"request timeout", overrides={"pagerduty": PERMANENT}),
    # Slack: "HTTP 429 Too Many Requests ... and a Retry-After header containing the number of seconds
    # until you can retry" (https://api.slack.com/docs/rate-limits); PagerDuty: 429 "retry after some time".
    Row("429 Retry-After in seconds", retry_after(7), 429, PD_THROTTLED, {"Retry-After": "7"}),
    Row("429 Retry-After as an HTTP-date", retry_after(120), 429, b"rate_limited",
        {"Retry-After": lambda: _http_date(120)}),
    Row("429 Retry-After in the past", retry_after(0), 429, b"rate_limited",
        {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
    Row("429 without Retry-After", RETRY, 429, b"rate_limited"),
    Row("429 unreadable Retry-After", RETRY, 429, b"rate_limited", {"Retry-After": "soon"}),
    Row("500 Slack rollup_error", RETRY, 500, b"rollup_error"),
    Row("502 bad gateway", RETRY, 502, b"bad gateway"),
    Row("503 Retry-After 30", retry_after(30), 503, b"unavailable", {"Retry-After": "30"}),
    Row("504 gateway timeout", RETRY, 504, b"gateway timeout"),
    Row("599 any other 5xx", RETRY, 599, b"network connect timeout"),
    Row("no answer within timeout_s", RETRY, fault="slow"),
    Row("connection refused", RETRY, fault="refused"),
    Row("connection closed without an answer", RETRY, fault="hangup"),
)


class ScriptedReceiver:
    """One port answering every POST with the current row, keeping each body and what its dialect refuses."""

    def __init__(self) -> None:
        self.row: Row | None = None
        self.dialect_errors: Callable[[object, bytes], list[str]] | None = None
        self.received: list[tuple[str, bytes, list[str]]] = []  # path, body, what the provider would refuse
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._receive(self.path, raw)
                row = receiver.row
                assert row is not None
                if row.fault == "hangup":
                    self.close_connection = True
                    return
                if row.fault == "slow":
                    receiver._release.wait(SLOW_S)
                    row = Row("late", DELIVERED, 200, b"ok")
                headers = {"Content-Type": "text/plain", **row.answer_headers(), "Content-Length": str(len(row.body))}
                try:
                    self.send_response(row.status or 200)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(row.body)
                except OSError:  # the client gave up (the slow row)
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self._server.block_on_close = False
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, name="scripted-receiver", daemon=True).start()

    def _receive(self, path: str, raw: bytes) -> None:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        errors = self.dialect_errors(body, raw) if self.dialect_errors is not None else []
        self.received.append((path, raw, errors))

    def script(self, row: Row, dialect_errors: Callable[[object, bytes], list[str]] | None) -> None:
        self.row, self.dialect_errors, self.received = row, dialect_errors, []
        self._release.clear()

    def stop(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def scripted():
    receiver = ScriptedReceiver()
    yield receiver
    receiver.stop()


def integration_url(kind: str, row: Row, base: str) -> str:
    """Where the kind's client sends for this row (a path that looks like a credential, as Slack's does)."""
    if row.fault == "bad_scheme":
        return f"ftp://127.0.0.1/{kind}/T0/B0/conformance"
    if row.fault == "refused":
        return f"http://127.0.0.1:{closed_port()}/{kind}/T0/B0/conformance"
    return f"{base}/{kind}/T0/B0/conformance"


def attempt(kind: str, url: str) -> Outcome:
    """One attempt of `kind`'s real client, built as `vigil notifier` builds it (both registries)."""
    settings = {"url": url, "timeout_s": TIMEOUT_S, **SAMPLE_SETTINGS.get(kind, {})}
    config = ReceiverConfig.model_validate({"name": "conformance", RECEIVER_KINDS[kind].key: [settings]})

    async def main() -> Outcome:
        receivers = build_receivers([config], NotifierSettings())
        try:
            (integration,) = receivers["conformance"].integrations
            assert integration.kind == kind and integration.id == f"conformance/{kind}/0"
            return await integration.client.notify(incident())
        finally:
            await close_receivers(receivers)

    return asyncio.run(main())


def test_every_kind_has_a_client():
    """A kind in the kernel's registry that the notifier can't send to (or the reverse) is a bug here, not at 3 a.m."""
    assert set(CLIENTS) == set(RECEIVER_KINDS)


@pytest.mark.parametrize("row", TABLE, ids=[row.name for row in TABLE])
@pytest.mark.parametrize("kind", KINDS)
def test_receiver_classifies_the_answer(kind, row, scripted):
    expected = row.expected(kind)
    scripted.script(row, DIALECT_ERRORS.get(kind))
    started = time.monotonic()
    outcome = attempt(kind, integration_url(kind, row, scripted.base))
    took = time.monotonic() - started

    assert outcome.verdict is expected.verdict, f"{kind}: {row.name} → {outcome}, expected {expected}"
    if expected.retry_after_s is None:
        assert outcome.retry_after_s is None, outcome
    else:
        assert outcome.retry_after_s == pytest.approx(expected.retry_after_s, abs=5), outcome
    if row.fault not in ("refused", "bad_scheme"):  # one attempt reached the receiver, with a body it would take
        assert [(path, errors) for path, _, errors in scripted.received] == [(f"/{kind}/T0/B0/conformance", [])]

    # What a user reads: the Delivery record names the status and quotes the receiver's answer.
    record = delivery_record(incident(), f"conformance/{kind}/0", 1, status_of(outcome, final=False), outcome, 1.0)
    assert record["status"] == {Verdict.DELIVERED: "DELIVERED", Verdict.RETRY: "RETRYING",
                                Verdict.FAILED: "FAILED"}[expected.verdict]
    assert record["http_status"] == (None if row.fault else row.status)
    if row.fault is None:
        assert record["response"] == row.body.decode()
    else:
        reason = {"slow": f"timed out after {TIMEOUT_S:g}s", "refused": "connection failed: ConnectError",
                  "hangup": "connection failed: RemoteProtocolError", "bad_scheme": "invalid receiver URL ftp://"}
        assert record["response"].startswith(reason[row.fault]), record["response"]
        if row.fault == "slow":
            assert took < SLOW_S, f"the client waited {took:.1f}s, longer than its timeout_s {TIMEOUT_S}s"
