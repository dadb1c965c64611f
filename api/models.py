"""Response shapes of the API (storage rows are mapped onto these; input is query parameters)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from pydantic import BaseModel, Field


class AlertStatus(str, Enum):
    """Where an alert is in its life; stored and answered upper-case, accepted in any case."""

    PENDING = "PENDING"
    FIRING = "FIRING"
    RESOLVED = "RESOLVED"


class Alert(BaseModel):
    """The current state of one alert (one series under one rule)."""

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

    items: list[Alert]
    next_cursor: str | None = None


class AlertTransition(BaseModel):
    """One transition of an alert as it was published on the alerts topic."""

    sequence: int
    status: AlertStatus
    value: float | None
    labels: dict[str, str]
    annotations: dict[str, str]
    event_time: datetime
    recorded_at: datetime


class DeliveryAttempt(BaseModel):
    """One attempt to deliver one page to one receiver."""

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

    history: list[AlertTransition]
    deliveries: list[DeliveryAttempt]


class Series(BaseModel):
    """One series of a range query: its labels and `[unix_seconds, value]` points (null = not finite)."""

    labels: dict[str, str]
    points: list[tuple[float, float | None]]


class RangeResult(BaseModel):
    """What `GET /api/v1/query_range` answers."""

    metric: str
    query: str = Field(description="the PromQL selector that was run")
    start: float
    end: float
    step: float
    series: list[Series]


class Health(BaseModel):
    """Health of the API and of each store it reads."""

    status: str
    postgres: str
    tsdb: str
