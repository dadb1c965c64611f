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


RULE_EXAMPLES = {
    "threshold": {"summary": "CPU above 90% for 5 minutes", "value": {
        "id": "high-cpu", "alert": "HighCPU", "metric": "cpu_usage_user", "match": {"env": "prod"},
        "op": ">", "threshold": 90, "for": "5m", "labels": {"severity": "page"},
        "annotations": {"summary": "CPU on {{ $labels.host }} is {{ $value }}%"}}},
    "rate": {"summary": "5xx rate over a 5 minute window", "value": {
        "id": "http-errors", "alert": "HttpErrors", "type": "rate", "metric": "http_requests_total",
        "matchers": ['code=~"5.."', 'job!="canary"'], "window": "5m", "op": ">", "threshold": 2,
        "for": "2m", "labels": {"severity": "ticket"}}},
    "absent": {"summary": "a device that stopped reporting", "value": {
        "id": "device-silent", "alert": "DeviceSilent", "type": "absent", "metric": "vigil_device_up",
        "absent_for": "10m", "by": ["device"]}},
}


class StoredRuleOut(BaseModel):
    """The latest version of one rule: `rule` is its definition as saved (durations in seconds)."""

    id: str = Field(examples=["high-cpu"])
    version: int = Field(description="1 at creation, +1 per change (a delete is a change)")
    deleted: bool
    created_at: datetime
    updated_at: datetime
    updated_by: str
    rule: dict = Field(description="the rule as its author wrote it, normalised (no version)",
                       examples=[{"id": "high-cpu", "alert": "HighCPU", "metric": "cpu_usage_user",
                                  "threshold": 90.0, "for": 300.0}])


class RulePage(BaseModel):
    """One page of rules ordered by id; pass `next_cursor` as `cursor` for the next page."""

    items: list[StoredRuleOut]
    next_cursor: str | None = None


class RuleVersionOut(BaseModel):
    """One change of a rule, as saved."""

    id: str
    version: int
    deleted: bool
    changed_at: datetime
    changed_by: str
    rule: dict


class RuleHistory(BaseModel):
    """Every version of a rule, oldest first."""

    id: str
    versions: list[RuleVersionOut]


class ValidatedRule(BaseModel):
    """A rule that passed validation, normalised as it would be saved (nothing was saved)."""

    rule: dict


def rule_spec_schema() -> dict:
    """JSON schema of a rule as the API takes it: the Rule model without `version`, durations as text too."""
    from streams.rules import Rule

    schema = Rule.model_json_schema(by_alias=True)
    schema["properties"].pop("version", None)
    duration = {"type": "string", "examples": ["30s", "5m", "1h30m"], "description": "duration, or seconds"}
    for name in ("for", "keep_firing_for", "window", "absent_for"):
        field = schema["properties"][name]
        field["anyOf"] = [*field.pop("anyOf", [{"type": field.pop("type", "number")}]), duration]
    return schema
