"""Local receivers — Slack incoming webhooks, PagerDuty Events v2, Alertmanager webhooks — on one HTTP port.

The demo's pager and the tests' real peer. Each dialect checks payloads as its real counterpart
documents them and answers the same way, so a test failing here would fail against the real thing:

    /services/…     Slack incoming webhook (https://api.slack.com/messaging/webhooks): 200 "ok";
                    400 no_text / invalid_blocks (text or blocks; ≤ 50 blocks; header ≤ 150, section ≤ 3000)
    /v2/enqueue     PagerDuty Events v2 (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/):
                    202 {"status":"success",…,"dedup_key"}; 400 {"status":"invalid event","errors":[…]}.
                    Alerts are modelled per dedup_key: a trigger for an open alert opens no other one.
    /alertmanager   a webhook receiver checking Alertmanager's payload version 4; 200 "ok" or 400

`fail_next` and `delay_next` script failures and slow answers, per dialect or for any request.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLACK, PAGERDUTY, WEBHOOK = "slack", "pagerduty", "webhook"
PAGERDUTY_PATH = "/v2/enqueue"
WEBHOOK_PATH = "/alertmanager"
SLACK_PREFIX = "/services/"

# Slack: https://api.slack.com/reference/block-kit/blocks
SLACK_MAX_BLOCKS, SLACK_MAX_HEADER, SLACK_MAX_SECTION = 50, 150, 3000
# PagerDuty Events v2: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and /overview/
PD_ROUTING_KEY_CHARS, PD_MAX_DEDUP_KEY, PD_MAX_SUMMARY, PD_MAX_BYTES = 32, 255, 1024, 512_000
PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")
# Alertmanager webhook payload v4: https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
WEBHOOK_KEYS = {"version": str, "groupKey": str, "truncatedAlerts": int, "status": str, "receiver": str,
                "groupLabels": dict, "commonLabels": dict, "commonAnnotations": dict, "externalURL": str,
                "alerts": list}
WEBHOOK_ALERT_KEYS = {"status": str, "labels": dict, "annotations": dict, "startsAt": str, "endsAt": str,
                      "generatorURL": str, "fingerprint": str}


def slack_errors(body: object) -> list[str]:
    """What Slack would refuse in an incoming-webhook body (empty when it is fine)."""
    if not isinstance(body, dict):
        return ["invalid_payload: not a JSON object"]
    text, blocks = body.get("text"), body.get("blocks")
    if not isinstance(text, str) and blocks is None:
        return ["no_text: neither text nor blocks"]
    if blocks is None:
        return []
    if not isinstance(blocks, list) or not blocks or len(blocks) > SLACK_MAX_BLOCKS:
        return [f"invalid_blocks: blocks must be a list of 1–{SLACK_MAX_BLOCKS}"]
    errors = []
    for i, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        limit = {"header": SLACK_MAX_HEADER, "section": SLACK_MAX_SECTION}.get(kind)
        texts = [block.get("text", {}).get("text")] if isinstance(block, dict) and "text" in block else []
        texts += [f.get("text") for f in (block.get("fields") or [])] if kind == "section" else []
        for value in texts:
            if not isinstance(value, str):
                errors.append(f"invalid_blocks: blocks[{i}] text is not a string")
            elif limit is not None and len(value) > limit:
                errors.append(f"invalid_blocks: blocks[{i}] {kind} text longer than {limit}")
    return errors


def pagerduty_errors(event: object, size: int) -> list[str]:
    """What PagerDuty would refuse in an Events v2 body (empty when it is fine)."""
    if size > PD_MAX_BYTES:
        return [f"Event object is larger than {PD_MAX_BYTES} bytes"]
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != PD_ROUTING_KEY_CHARS:
        errors.append(f"'routing_key' must be a {PD_ROUTING_KEY_CHARS} character string")
    action = event.get("event_action")
    if action not in PD_ACTIONS:
        errors.append("'event_action' is invalid (must be trigger, acknowledge or resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > PD_MAX_DEDUP_KEY):
        errors.append(f"'dedup_key' must be a string of at most {PD_MAX_DEDUP_KEY} characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return errors + ["'payload' is missing or not an object"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > PD_MAX_SUMMARY:
            errors.append(f"'payload.summary' is required, at most {PD_MAX_SUMMARY} characters")
        if not isinstance(payload.get("source"), str) or not payload["source"]:
            errors.append("'payload.source' is required")
        if payload.get("severity") not in PD_SEVERITIES:
            errors.append("'payload.severity' is invalid (must be critical, error, warning or info)")
    return errors


def webhook_errors(body: object) -> list[str]:
    """What does not match Alertmanager's webhook payload version 4 (empty when it matches)."""
    if not isinstance(body, dict):
        return ["not a JSON object"]
    errors = [f"{k}: expected {t.__name__}" for k, t in WEBHOOK_KEYS.items() if not isinstance(body.get(k), t)]
    if body.get("version") != "4":
        errors.append("version: expected \"4\"")
    if body.get("status") not in ("firing", "resolved"):
        errors.append("status: expected firing or resolved")
    for i, alert in enumerate(body.get("alerts") or []):
        errors += [f"alerts[{i}].{k}: expected {t.__name__}" for k, t in WEBHOOK_ALERT_KEYS.items()
                   if not isinstance(alert, dict) or not isinstance(alert.get(k), t)]
    return errors


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # socketserver's default backlog of 5 refuses a notifier's burst of connections
    block_on_close = False  # stop() must not wait for senders' idle keep-alive connections


@dataclass
class PagerDutyAlert:
    """One PagerDuty alert: opened by a trigger, moved by acknowledge/resolve of its dedup_key."""

    dedup_key: str
    status: str = "triggered"  # triggered | acknowledged | resolved
    events: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Arrival:
    """One accepted request: dialect, the path (Slack: the channel's webhook), monotonic time, body."""

    dialect: str
    path: str
    at: float
    body: dict


class DemoReceiver:
    """The three dialects on one port; keeps what each accepted; scripted failures and slow answers."""

    def __init__(self, port: int, on_page: Callable[[dict], None] | None = None, host: str = "127.0.0.1",
                 on_arrival: Callable[[Arrival], None] | None = None) -> None:
        self.host, self.port = host, port
        self.on_page = on_page  # Slack pages (the demo's live view); on_arrival: every dialect
        self.on_arrival = on_arrival
        self._arrivals: list[Arrival] = []
        self._alerts: dict[str, list[PagerDutyAlert]] = {}
        self._scripts: dict[str | None, list[tuple[str, float, int | None, float | None]]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.requests = 0

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The Slack-compatible webhook URL (the demo channel)."""
        return self.slack_url("demo")

    def slack_url(self, channel: str) -> str:
        """A Slack webhook URL of its own per channel name."""
        return f"{self.base}{SLACK_PREFIX}T000/B000/{channel}"

    @property
    def pagerduty_url(self) -> str:
        return f"{self.base}{PAGERDUTY_PATH}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base}{WEBHOOK_PATH}"

    def arrivals(self, dialect: str | None = None) -> list[Arrival]:
        """Accepted requests so far, oldest first (a copy)."""
        with self._lock:
            return [a for a in self._arrivals if dialect is None or a.dialect == dialect]

    @property
    def pages(self) -> list[dict]:
        """Slack messages accepted so far (a copy)."""
        return [a.body for a in self.arrivals(SLACK)]

    @property
    def pd_events(self) -> list[dict]:
        """Every PagerDuty event accepted, including those that changed nothing."""
        return [a.body for a in self.arrivals(PAGERDUTY)]

    @property
    def webhooks(self) -> list[dict]:
        """Alertmanager-style webhook payloads accepted."""
        return [a.body for a in self.arrivals(WEBHOOK)]

    def pd_alerts(self, dedup_key: str | None = None) -> list[PagerDutyAlert]:
        """PagerDuty alerts opened (for one dedup_key, or all), oldest first."""
        with self._lock:
            keys = [dedup_key] if dedup_key is not None else list(self._alerts)
            return [PagerDutyAlert(a.dedup_key, a.status, list(a.events)) for k in keys for a in self._alerts.get(k, [])]

    def fail_next(self, count: int, status: int, retry_after: float | None = None, dialect: str | None = None) -> None:
        """Answer the next `count` requests (of `dialect`, or any) with `status` instead of accepting them."""
        with self._lock:
            self._scripts.setdefault(dialect, []).extend([("fail", 0.0, status, retry_after)] * count)

    def delay_next(self, count: int, seconds: float, dialect: str | None = None) -> None:
        """Accept the next `count` requests (of `dialect`, or any), but answer only after `seconds`."""
        with self._lock:
            self._scripts.setdefault(dialect, []).extend([("delay", seconds, None, None)] * count)

    def _script(self, dialect: str) -> tuple[str, float, int | None, float | None] | None:
        with self._lock:
            self.requests += 1
            for queue in (self._scripts.get(dialect), self._scripts.get(None)):
                if queue:
                    return queue.pop(0)
        return None

    def _accept(self, dialect: str, path: str, body: dict) -> dict | None:
        """Record an accepted request; for PagerDuty, apply it to its alert and return the answer."""
        answer = None
        with self._lock:
            if dialect == PAGERDUTY:
                body.setdefault("dedup_key", uuid.uuid4().hex)  # PagerDuty makes one up for a trigger without
                self._apply(body)
                answer = {"status": "success", "message": "Event processed", "dedup_key": body["dedup_key"]}
            arrival = Arrival(dialect, path, time.monotonic(), body)
            self._arrivals.append(arrival)
        if dialect == SLACK and self.on_page is not None:
            self.on_page(body)
        if self.on_arrival is not None:
            self.on_arrival(arrival)
        return answer

    def _apply(self, event: dict) -> None:
        # "Subsequent events for the same dedup_key will result in those events being applied to an open
        # alert"; once resolved, a trigger opens a new alert and acknowledge/resolve are dropped.
        alerts = self._alerts.setdefault(event["dedup_key"], [])
        open_alert = alerts[-1] if alerts and alerts[-1].status != "resolved" else None
        if event["event_action"] == "trigger" and open_alert is None:
            open_alert = PagerDutyAlert(event["dedup_key"])
            alerts.append(open_alert)
        if open_alert is None:
            return
        open_alert.events.append(event)
        if event["event_action"] != "trigger":
            open_alert.status = {"acknowledge": "acknowledged", "resolve": "resolved"}[event["event_action"]]

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real services offer

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                dialect = (PAGERDUTY if path == PAGERDUTY_PATH else WEBHOOK if path == WEBHOOK_PATH
                           else SLACK if path.startswith(SLACK_PREFIX) else None)
                if dialect is None:
                    return self._answer(404, b"no such receiver path", "text/plain")
                script = receiver._script(dialect)
                if script is not None and script[0] == "fail":
                    return self._fail(dialect, script[2], script[3])
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
                errors = (pagerduty_errors(parsed, len(body)) if dialect == PAGERDUTY
                          else webhook_errors(parsed) if dialect == WEBHOOK else slack_errors(parsed))
                if errors:
                    return self._refuse(dialect, errors)
                answer = receiver._accept(dialect, path, parsed)
                if script is not None:  # a slow answer: the request was taken, the sender waits
                    receiver._stopping.wait(script[1])
                if dialect == PAGERDUTY:
                    return self._answer(202, json.dumps(answer).encode(), "application/json")
                self._answer(200, b"ok", "text/plain")

            def _fail(self, dialect: str, status: int, retry_after: float | None) -> None:
                headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
                if dialect == PAGERDUTY:
                    message = ("throttle event" if status == 429 else "error", "failing as scripted")
                    body = json.dumps({"status": message[0], "message": message[1]}).encode()
                    return self._answer(status, body, "application/json", headers)
                self._answer(status, b"rate_limited" if status == 429 else b"no_service", "text/plain", headers)

            def _refuse(self, dialect: str, errors: list[str]) -> None:
                if dialect == PAGERDUTY:
                    body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
                    return self._answer(400, json.dumps(body).encode(), "application/json")
                text = errors[0].split(":")[0] if dialect == SLACK else "; ".join(errors)
                self._answer(400, text.encode(), "text/plain")

            def _answer(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:  # the sender went away while a slow answer was pending
                    pass

            def log_message(self, *args) -> None:
                pass

        self._stopping.clear()
        self._server = _Server((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, name="demo-receiver", daemon=True).start()

    def stop(self) -> None:
        self._stopping.set()  # slow answers end now
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
