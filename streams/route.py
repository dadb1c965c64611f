"""Alert transitions → rendered notifications for a receiver (the skeleton's one-route tree)."""

from __future__ import annotations

from schemas.records import AlertEvent, Notification

_ACTIONS = {"FIRING": "TRIGGER", "RESOLVED": "RESOLVE"}
_HIDDEN_LABELS = {"alertname", "severity"}


def to_notification(event: AlertEvent, receiver: str, now_ms: int) -> Notification | None:
    """The page for a FIRING or RESOLVED transition; None for transitions nobody is paged for."""
    action = _ACTIONS.get(event["status"])
    if action is None:
        return None
    labels = event["labels"]
    shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in _HIDDEN_LABELS)
    title = f"[{event['status']}] {event['alertname']}" + (f" {shown}" if shown else "")
    annotations = event["annotations"]
    text = annotations.get("summary") or annotations.get("description") or (
        f"{event['alertname']}: value {event['value']:g}")
    return Notification(dedup_key=event["fingerprint"], receiver=receiver, action=action,
                        sequence=event["sequence"], fingerprint=event["fingerprint"],
                        severity=labels.get("severity", "warning"), title=title, text=text,
                        labels=labels, annotations=annotations, event_time_ms=event["event_time_ms"],
                        created_at_ms=now_ms)
