"""Generic webhooks with Alertmanager's payload version 4, so existing webhook receivers work unchanged.

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config — the body, field for
field. Alertmanager has no acknowledgement, so neither does this payload: an ACKNOWLEDGE
notification is not sent to webhooks (the dispatcher skips it, decision `acknowledge_not_supported`).
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from kernel.alerting.notification import alerts_of, common_annotations, common_labels, incident_key, rfc3339
from notifier.outcome import Outcome, post_json
from kernel.alerting.webhook_config import WebhookConfig
from schemas.records import Notification, NotifiedAlert

PAYLOAD_VERSION = "4"
# Go's zero time.Time, which Alertmanager sends as endsAt of an alert that has not ended.
ZERO_TIME = "0001-01-01T00:00:00Z"
# Alertmanager: "5xx response codes are assumed to be recoverable", other codes are not
# (https://github.com/prometheus/alertmanager/blob/main/notify/util.go, Retrier.Check); 408 and 429
# say "later" in HTTP itself (RFC 9110 §15.5.9, RFC 6585 §4), so they are retried too.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def _alert(alert: NotifiedAlert, external_url: str) -> dict[str, Any]:
    return {"status": alert["status"], "labels": alert["labels"], "annotations": alert["annotations"],
            "startsAt": rfc3339(alert["starts_at_ms"]),
            "endsAt": rfc3339(alert["ends_at_ms"]) if alert["ends_at_ms"] is not None else ZERO_TIME,
            "generatorURL": f"{external_url}/api/v1/alerts/{alert['fingerprint']}" if external_url else "",
            "fingerprint": alert["fingerprint"]}


def payload(note: Notification, max_alerts: int = 0, external_url: str = "") -> dict[str, Any]:
    """The v4 body; `max_alerts` > 0 keeps that many alerts and counts the rest in truncatedAlerts."""
    alerts = alerts_of(note)
    shown = alerts[:max_alerts] if max_alerts else alerts
    external_url = external_url.rstrip("/")
    return {
        "version": PAYLOAD_VERSION,
        "groupKey": note.get("group_key") or incident_key(note),
        "truncatedAlerts": len(alerts) - len(shown) + note.get("truncated_alerts", 0),
        "status": "resolved" if note["action"] == "RESOLVE" else "firing",
        "receiver": note["receiver"],
        "groupLabels": note.get("group_labels") or {},
        "commonLabels": common_labels(note),
        "commonAnnotations": common_annotations(note),
        "externalURL": external_url,
        "alerts": [_alert(a, external_url) for a in shown],
    }


class WebhookClient:
    """Posts the v4 payload to one URL; returns an Outcome, never raises for the receiver's answer."""

    kind = "webhook"
    acknowledges = False  # Alertmanager's payload has no acknowledged status (module docstring)
    resend_in_doubt = False  # nothing says the receiver deduplicates

    def __init__(self, integration: str, config: WebhookConfig, external_url: str) -> None:
        self._config = config
        self._url = config.url.get_secret_value()
        self._external_url = external_url
        self._http = httpx.AsyncClient(timeout=config.timeout_s)
        self.rate = None
        self.limit_key = ""

    def body(self, note: Notification) -> bytes:
        """The JSON body this client would send for `note`."""
        return orjson.dumps(payload(note, self._config.max_alerts, self._external_url))

    async def notify(self, note: Notification) -> Outcome:
        """One attempt to deliver `note`."""
        return await post_json(self._http, self._url, self.body(note), self._config.timeout_s, RETRYABLE_STATUS)

    async def aclose(self) -> None:
        await self._http.aclose()
