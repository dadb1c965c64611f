"""PagerDuty Events API v2: trigger, acknowledge and resolve one alert per incident.

https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ — every event for an incident
carries `dedup_key` = the Notification's dedup key (the incident key), so trigger → acknowledge →
resolve land on one PagerDuty alert, and a trigger sent again for an open alert "is applied to the
open alert" instead of opening another: that is why an in-doubt trigger may be re-sent here.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import httpx
import orjson

from notifier import metrics
from kernel.alerting.notification import alerts_of, common_annotations, common_labels, incident_key, rfc3339
from kernel.ratelimit import Rate
from notifier.limiter import PAGERDUTY_BURST
from notifier.outcome import Outcome, post_json
from kernel.alerting.pagerduty_config import SEVERITIES, PagerDutyConfig
from notifier.templates import TemplateSet
from schemas.records import Notification

log = logging.getLogger(__name__)

# Limits: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ (summary, dedup_key)
# and https://developer.pagerduty.com/docs/events-api-v2/overview/#size-limits ("limited to 512 KB";
# Alertmanager reads that as 512,000 bytes, the stricter reading).
MAX_SUMMARY_CHARS = 1024
MAX_DEDUP_KEY_CHARS = 255
MAX_EVENT_BYTES = 512_000

# 202 accepted; 400 is never retried; 429 and 5xx and network errors are retried.
# https://developer.pagerduty.com/docs/events-api-v2/overview/#response-codes--retry-logic
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})

_ACTIONS = {"TRIGGER": "trigger", "ACKNOWLEDGE": "acknowledge", "RESOLVE": "resolve"}
_SEVERITY = {"critical": "critical", "page": "critical", "error": "error", "warning": "warning", "info": "info"}
_SOURCE_LABELS = ("source", "instance", "host", "device")


def severity_of(note: Notification) -> str:
    """PagerDuty severity: critical for a CRITICAL incident, else the alert severity mapped (unknown → warning)."""
    if note.get("incident_status") == "CRITICAL":
        return "critical"
    severity = note["severity"] or common_labels(note).get("severity", "")
    return _SEVERITY.get(severity.lower(), "warning")


def dedup_key(note: Notification) -> str:
    """The Notification's dedup key; hashed when longer than PagerDuty accepts (it must stay stable)."""
    key = note["dedup_key"]
    return key if len(key) <= MAX_DEDUP_KEY_CHARS else hashlib.sha256(key.encode()).hexdigest()


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _details(note: Notification, keep: int) -> dict[str, Any]:
    alerts = alerts_of(note)
    shown = [{"fingerprint": a["fingerprint"], "status": a["status"], "labels": a["labels"],
              "annotations": a["annotations"], "starts_at": rfc3339(a["starts_at_ms"]),
              "ends_at": rfc3339(a["ends_at_ms"]) if a["ends_at_ms"] is not None else None, "value": a["value"]}
             for a in alerts[:keep]]
    return {"incident": {"key": incident_key(note), "status": note.get("incident_status", ""),
                         "reason": note.get("reason", ""), "group_key": note.get("group_key", "")},
            "firing": sum(a["status"] == "firing" for a in alerts),
            "resolved": sum(a["status"] == "resolved" for a in alerts),
            "group_labels": note.get("group_labels") or {}, "common_labels": common_labels(note),
            "common_annotations": common_annotations(note), "alerts": shown,
            "truncated_alerts": len(alerts) - len(shown) + note.get("truncated_alerts", 0)}


def build_event(note: Notification, config: PagerDutyConfig, summary: str | None = None,
                severity: str | None = None, keep_alerts: int | None = None) -> dict[str, Any]:
    """The Events v2 body; acknowledge/resolve carry only the key (the payload is for triggers)."""
    event: dict[str, Any] = {"routing_key": config.routing_key.get_secret_value(),
                             "event_action": _ACTIONS[note["action"]], "dedup_key": dedup_key(note)}
    if note["action"] != "TRIGGER":
        return event
    labels = common_labels(note)
    source = next((labels[k] for k in _SOURCE_LABELS if labels.get(k)), None) or config.client
    payload: dict[str, Any] = {
        "summary": _cut(summary or note["title"] or note["text"] or incident_key(note), MAX_SUMMARY_CHARS),
        "source": source, "severity": severity if severity in SEVERITIES else severity_of(note),
        "timestamp": rfc3339(note["event_time_ms"]),
        "custom_details": _details(note, len(alerts_of(note)) if keep_alerts is None else keep_alerts),
    }
    for key in ("component", "group", "class"):
        if labels.get(key):
            payload[key] = labels[key]
    if "class" not in payload and labels.get("alertname"):
        payload["class"] = labels["alertname"]
    event["payload"] = payload
    event["client"] = config.client
    if config.client_url:
        event["client_url"] = config.client_url
    return event


def encode_event(note: Notification, config: PagerDutyConfig, summary: str | None = None,
                 severity: str | None = None) -> bytes:
    """The event as JSON within MAX_EVENT_BYTES: as many alerts in custom_details as fit."""
    body = orjson.dumps(build_event(note, config, summary, severity))
    if len(body) <= MAX_EVENT_BYTES or note["action"] != "TRIGGER":
        return body
    metrics.PAYLOAD_TRIMMED.labels("pagerduty").inc()
    low, high = 0, len(alerts_of(note))  # the most alerts that fit lies in [low, high)
    best = None
    while low < high:
        mid = (low + high) // 2
        candidate = orjson.dumps(build_event(note, config, summary, severity, keep_alerts=mid))
        if len(candidate) <= MAX_EVENT_BYTES:
            best, low = candidate, mid + 1
        else:
            high = mid
    if best is not None:
        return best
    # Even without alerts the labels don't fit: say so, as Alertmanager does.
    event = build_event(note, config, summary, severity, keep_alerts=0)
    event["payload"]["custom_details"] = {"error": f"custom details removed: the event exceeded {MAX_EVENT_BYTES} "
                                                  "bytes"}
    return orjson.dumps(event)


class PagerDutyClient:
    """Sends a notification's event to one routing key; returns an Outcome, never raises for PagerDuty's answer."""

    kind = "pagerduty"
    acknowledges = True
    resend_in_doubt = True  # Events v2 deduplicates by dedup_key (module docstring)

    def __init__(self, integration: str, config: PagerDutyConfig, events_per_minute: float) -> None:
        self._config = config
        self._http = httpx.AsyncClient(timeout=config.timeout_s)
        self._templates = TemplateSet(self.kind, integration, {"description": config.description,
                                                               "severity": config.severity})
        self.rate = Rate(events_per_minute / 60.0, PAGERDUTY_BURST)
        self.limit_key = config.routing_key.get_secret_value()

    def body(self, note: Notification) -> bytes:
        """The JSON body this client would send for `note` (templates rendered)."""
        if note["action"] != "TRIGGER" or not self._templates:
            return encode_event(note, self._config)
        rendered = self._templates.render(note, {"description": "", "severity": ""})
        severity = rendered["severity"].lower()
        if rendered["severity"] and severity not in SEVERITIES:
            metrics.TEMPLATE_FAILURES.labels(self.kind, "severity").inc()
            log.warning("severity template gave %r, not one of %s: using the mapped severity", severity, SEVERITIES)
        return encode_event(note, self._config, rendered["description"] or None, severity or None)

    async def notify(self, note: Notification) -> Outcome:
        """One attempt to deliver `note`."""
        return await post_json(self._http, self._config.url, self.body(note), self._config.timeout_s,
                               RETRYABLE_STATUS)

    async def aclose(self) -> None:
        await self._http.aclose()
