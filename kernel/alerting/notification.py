"""The incident a Notification is about, as every client and template sees it: its alerts and status.

A Notification made by the incident processor carries the group's alerts; one made per alert
(schema v1, or a producer that fills only the alert fields) stands for that single alert.
"""

from __future__ import annotations

from datetime import datetime, timezone

from schemas.records import Notification, NotifiedAlert

# Alertmanager's group status is firing|resolved; an acknowledgement is Vigil's (and PagerDuty's).
STATUS = {"TRIGGER": "firing", "ACKNOWLEDGE": "acknowledged", "RESOLVE": "resolved"}


def alerts_of(note: Notification) -> list[NotifiedAlert]:
    """The incident's alerts, firing first; a per-alert page stands for its one alert."""
    if note.get("alerts"):
        return note["alerts"]
    resolved = note["action"] == "RESOLVE"
    return [NotifiedAlert(fingerprint=note["fingerprint"], status="resolved" if resolved else "firing",
                          alertname=note["labels"].get("alertname", ""), labels=note["labels"],
                          annotations=note["annotations"], starts_at_ms=note["event_time_ms"],
                          ends_at_ms=note["event_time_ms"] if resolved else None, value=0.0)]


def common_labels(note: Notification) -> dict[str, str]:
    """Labels every alert of the incident shares (the alert's own labels for a per-alert page)."""
    return note.get("common_labels") or note["labels"]


def common_annotations(note: Notification) -> dict[str, str]:
    """Annotations every alert of the incident shares."""
    return note.get("common_annotations") or note["annotations"]


def incident_key(note: Notification) -> str:
    """The incident's key (the dedup key for a per-alert page)."""
    return note.get("incident_key") or note["dedup_key"]


def omitted(note: Notification, shown: int) -> int:
    """How many of the incident's alerts a message showing `shown` of them leaves out."""
    return len(alerts_of(note)) - shown + note.get("truncated_alerts", 0)


def rfc3339(ms: int) -> str:
    """Milliseconds since the epoch as RFC 3339 in UTC (`2024-05-01T12:00:00.123Z`)."""
    stamp = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
