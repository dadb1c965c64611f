"""Response shapes of the API (storage rows are mapped onto these; input is query parameters)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.records import CommandAction


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


class IncidentStatus(str, Enum):
    """Where an incident is in its life (schemas/avro/incident_event.avsc); answered upper-case, any case in."""

    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ESCALATED = "ESCALATED"
    CRITICAL = "CRITICAL"
    RESOLVED = "RESOLVED"


class Incident(BaseModel):
    """The current state of one incident: a group of alerts routed to one receiver."""

    incident_key: str = Field(examples=["9f3c2a1b4d5e6f70.3"], description="<group id>.<episode>")
    group_key: str
    group_labels: dict[str, str]
    route: str = Field(description="path of the route in the routing tree, e.g. 0.2")
    receiver: str
    escalation_policy: str
    status: IncidentStatus
    title: str
    severity: str
    firing: int = Field(description="alerts firing in the incident")
    fingerprints: list[str] = Field(description="the alerts in the incident (GET /api/v1/alerts/{fingerprint})")
    opened_at: datetime
    acknowledged_at: datetime | None = Field(description="latest acknowledgement in this incident")
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None = Field(description="null when it resolved by itself (all alerts resolved)")
    escalated_at: datetime | None = Field(description="latest escalation in this incident")
    updated_at: datetime = Field(description="time of the latest transition")
    sequence: int = Field(description="number of the latest transition; grows by one per transition")


class IncidentPage(BaseModel):
    """One page of incidents in the requested order; pass `next_cursor` as `cursor` for the next page."""

    items: list[Incident]
    next_cursor: str | None = None


class TimelineEvent(BaseModel):
    """A transition of the incident, as published on the incidents topic."""

    kind: Literal["event"] = "event"
    at: datetime
    event_time_ms: int = Field(description="`at` in ms since the epoch, as on the incidents topic")
    sequence: int
    status: IncidentStatus
    previous_status: IncidentStatus | None
    reason: str = Field(examples=["first_notification", "acknowledged", "escalate_after_elapsed"])
    actor: str | None
    comment: str
    notified: list[str] = Field(description="receivers paged in this transition")
    firing: int


class TimelineDelivery(BaseModel):
    """One attempt to deliver one of the incident's pages to one receiver."""

    kind: Literal["delivery"] = "delivery"
    at: datetime
    attempted_at_ms: int = Field(description="`at` in ms since the epoch, as on the deliveries topic")
    receiver: str
    action: str
    sequence: int
    attempt: int
    status: str
    http_status: int | None
    response: str
    latency_ms: float


TimelineEntry = Annotated[TimelineEvent | TimelineDelivery, Field(discriminator="kind")]


class IncidentDetail(Incident):
    """An incident with its transitions and delivery attempts merged in time order (oldest first)."""

    timeline: list[TimelineEntry]


class IncidentCommandIn(BaseModel):
    """An operator's acknowledge/resolve/escalate of an incident."""

    model_config = ConfigDict(extra="forbid", strict=True)

    actor: str = Field(min_length=1, max_length=200, examples=["alice"],
                       description="who acts (required until the API has keys; then the key's name)")
    comment: str = Field("", max_length=1000, examples=["looking into it"])

    @field_validator("actor", "comment")
    @classmethod
    def _storable(cls, value: str, info) -> str:
        # Both end up in Postgres (incident_events), whose text can't hold NUL: the sink would drop the
        # worker's transition. Lone surrogates are refused by pydantic's JSON parser already.
        if "\x00" in value:
            raise ValueError("contains a NUL byte")
        if info.field_name == "actor" and not value.strip():
            raise ValueError("is blank; name who acts")
        return value


class CommandAccepted(BaseModel):
    """A command the broker acknowledged; the streams worker applies it and publishes the transition."""

    command_id: str
    incident_key: str
    action: CommandAction


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


SILENCE_EXAMPLES = {
    "maintenance": {"summary": "silence one host for two hours", "value": {
        "matchers": ['host="web-3"', 'alertname=~"HighCPU|DiskFull"'], "duration": "2h",
        "created_by": "alice", "comment": "kernel upgrade on web-3"}},
    "window": {"summary": "a planned window, matchers as objects", "value": {
        "matchers": [{"name": "env", "op": "=", "value": "staging"}],
        "starts_at": "2026-12-01T22:00:00Z", "ends_at": "2026-12-02T02:00:00Z",
        "created_by": "bob", "comment": "staging database migration"}},
    "alertmanager": {"summary": "Alertmanager v2 matchers (isRegex, isEqual)", "value": {
        "matchers": [{"name": "service", "value": "billing-.*", "isRegex": True, "isEqual": True}],
        "duration": "30m", "created_by": "carol", "comment": "billing deploy"}},
}


class SilenceIn(BaseModel):
    """A silence as its author writes it (POST, PUT); see the silences routes for each field's rules."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[str | dict] = Field(
        description='1 to 64 matchers: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`, or objects '
                    '`{name, op, value}`, or Alertmanager v2 `{name, value, isRegex, isEqual}`; every one must '
                    "match an alert's labels (RE2 regexes, anchored); at least one must not match the empty string")
    starts_at: str | None = Field(None, description="RFC 3339; default (and at least) now",
                                  examples=["2026-12-01T22:00:00Z"])
    ends_at: str | None = Field(None, description="RFC 3339, after starts_at; or give `duration`")
    duration: str | None = Field(None, description="from starts_at, instead of ends_at", examples=["2h", "1h30m", "1d"])
    created_by: str = Field(description="who silences (until the API has keys)", max_length=256)
    comment: str = Field(description="why (required, as in Alertmanager); at most 4 KiB")


class SilenceMatcherOut(BaseModel):
    """One matcher of a silence."""

    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str


class SilenceOut(BaseModel):
    """The latest version of one silence; `state` is computed from the time of the answer."""

    id: str = Field(examples=["4b1e0c1e-3f2a-4c55-9a43-0b5f0e9b2d61"])
    version: int = Field(description="1 at creation, +1 per change (expiry is a change)")
    state: Literal["pending", "active", "expired"]
    matchers: list[SilenceMatcherOut]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime
    updated_by: str


class SilencePage(BaseModel):
    """One page of silences, newest first; pass `next_cursor` as `cursor` for the next page."""

    items: list[SilenceOut]
    next_cursor: str | None = None


class SilenceVersionOut(BaseModel):
    """One change of a silence, as saved."""

    version: int
    change: Literal["created", "updated", "expired"]
    matchers: list[SilenceMatcherOut]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    changed_at: datetime
    changed_by: str


class SilenceHistory(BaseModel):
    """Every version of a silence, oldest first."""

    id: str
    versions: list[SilenceVersionOut]
