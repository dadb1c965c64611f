"""`/api/v1/alerts`: an alert, a page of them, and one alert with its transitions and deliveries."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from pydantic import BaseModel, Field

from api.models.examples import with_examples


_LABELS = {"alertname": "HighCPU", "host": "web-3", "env": "prod", "severity": "page"}
_ANNOTATIONS = {"summary": "CPU on web-3 is 97.5%"}
ALERT_EXAMPLE = {
    "fingerprint": "9f3c2a1b4d5e6f70", "rule_id": "high-cpu", "rule_version": 3, "alertname": "HighCPU",
    "status": "FIRING", "severity": "page", "labels": _LABELS, "annotations": _ANNOTATIONS, "value": 97.5,
    "sequence": 2, "starts_at": "2026-12-01T10:15:00Z", "ends_at": None, "updated_at": "2026-12-01T10:20:00Z"}
TRANSITION_EXAMPLE = {"sequence": 2, "status": "FIRING", "value": 97.5, "labels": _LABELS,
                      "annotations": _ANNOTATIONS, "event_time": "2026-12-01T10:20:00Z",
                      "recorded_at": "2026-12-01T10:20:00.412Z"}
DELIVERY_EXAMPLE = {"receiver": "team-pager", "action": "TRIGGER", "sequence": 1, "attempt": 1,
                    "status": "DELIVERED", "http_status": 202, "response": '{"status":"success"}',
                    "latency_ms": 184.2, "attempted_at": "2026-12-01T10:20:31Z"}


class AlertStatus(str, Enum):
    """Where an alert is in its life; stored and answered upper-case, accepted in any case."""

    PENDING = "PENDING"
    FIRING = "FIRING"
    RESOLVED = "RESOLVED"


class Alert(BaseModel):
    """The current state of one alert (one series under one rule)."""

    model_config = with_examples(ALERT_EXAMPLE)

    fingerprint: str = Field(examples=["9f3c2a1b4d5e6f70"])
    rule_id: str
    rule_version: int
    alertname: str
    status: AlertStatus
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None = Field(description="the value that caused the latest transition; null if not finite")
    sequence: int = Field(description="number of the latest transition; grows by one per transition")
    starts_at: datetime
    ends_at: datetime | None
    updated_at: datetime


class AlertPage(BaseModel):
    """One page of alerts, newest change first; pass `next_cursor` as `cursor` for the next page."""

    model_config = with_examples({"items": [ALERT_EXAMPLE],
                                 "next_cursor": "WyIyMDI2LTEyLTAxVDEwOjIwOjAwKzAwOjAwIiwiOWYzYzJhMWI0ZDVlNmY3MCJd"})

    items: list[Alert]
    next_cursor: str | None = None


class AlertTransition(BaseModel):
    """One transition of an alert as it was published on the alerts topic."""

    model_config = with_examples(TRANSITION_EXAMPLE)

    sequence: int
    status: AlertStatus
    value: float | None
    labels: dict[str, str]
    annotations: dict[str, str]
    event_time: datetime
    recorded_at: datetime


class DeliveryAttempt(BaseModel):
    """One attempt to deliver one page to one receiver."""

    model_config = with_examples(DELIVERY_EXAMPLE)

    receiver: str
    action: str
    sequence: int
    attempt: int
    status: str
    http_status: int | None
    response: str
    latency_ms: float
    attempted_at: datetime


class AlertDetail(Alert):
    """An alert with every transition and every delivery attempt of its pages."""

    model_config = with_examples({**ALERT_EXAMPLE, "deliveries": [DELIVERY_EXAMPLE], "history": [
        {**TRANSITION_EXAMPLE, "sequence": 1, "status": "PENDING"}, TRANSITION_EXAMPLE]})

    history: list[AlertTransition]
    deliveries: list[DeliveryAttempt]
