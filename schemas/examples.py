"""Notifications as the incident processor makes them (schema v2), for the notifier's tests."""

from __future__ import annotations

import time

from schemas.records import Notification, NotificationAction, NotifiedAlert

T0 = 1_700_000_000_000


def alert(i: int, status: str = "firing", **labels: str) -> NotifiedAlert:
    """Alert `i` of a HighCPU incident on host web-<i>."""
    return NotifiedAlert(fingerprint=f"fp{i:04d}", status=status, alertname="HighCPU",
                         labels={"alertname": "HighCPU", "host": f"web-{i}", "severity": "page", **labels},
                         annotations={"summary": f"CPU on web-{i} is 97%"}, starts_at_ms=T0 + i,
                         ends_at_ms=None if status == "firing" else T0 + 60_000, value=97.0)


def incident(key: str = "inc-1", action: NotificationAction = "TRIGGER", sequence: int = 1, receiver: str = "team",
             alerts: list[NotifiedAlert] | None = None, status: str = "OPEN", reason: str = "first_notification",
             severity: str = "page", event_time_ms: int = T0) -> Notification:
    """A notification about incident `key` with `alerts` (two firing alerts by default)."""
    alerts = [alert(1), alert(2)] if alerts is None else alerts
    firing = sum(a["status"] == "firing" for a in alerts)
    common = {"alertname": "HighCPU", "severity": severity}
    return Notification(
        dedup_key=key, receiver=receiver, action=action, sequence=sequence, fingerprint=f"group-{key}",
        severity=severity, title=f"[FIRING:{firing}] HighCPU" if firing else "[RESOLVED] HighCPU",
        text="CPU high on the web tier", labels=common, annotations={}, event_time_ms=event_time_ms,
        created_at_ms=int(time.time() * 1000), incident_key=key, incident_status=status, reason=reason,
        group_key='{}:{alertname="HighCPU"}', group_labels={"alertname": "HighCPU"}, common_labels=common,
        common_annotations={}, alerts=alerts, truncated_alerts=0)
