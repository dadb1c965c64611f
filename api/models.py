"""Response shapes of the API (storage rows are mapped onto these; input is query parameters)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from kernel.names import LABEL_NAME_PATTERN, LABEL_NAME_SYNTAX, is_label_name, is_reserved_label_name
from schemas.records import CommandAction


def _examples(*examples: dict, **config) -> ConfigDict:
    """A model config whose JSON schema (and so the OpenAPI document) shows these whole-object examples."""
    return ConfigDict(json_schema_extra={"examples": list(examples)}, **config)


# Example objects, one per shape; a unit test validates each against its model so they can't drift.
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
INCIDENT_EXAMPLE = {
    "incident_key": "9f3c2a1b4d5e6f70.3", "group_key": '0.1:{alertname="HighCPU",env="prod"}',
    "group_labels": {"alertname": "HighCPU", "env": "prod"}, "route": "0.1", "receiver": "team-pager",
    "escalation_policy": "default", "status": "ACKNOWLEDGED", "title": "[FIRING:1] HighCPU prod",
    "severity": "page", "firing": 1, "fingerprints": ["9f3c2a1b4d5e6f70"], "opened_at": "2026-12-01T10:20:30Z",
    "acknowledged_at": "2026-12-01T10:24:02Z", "acknowledged_by": "alice", "resolved_at": None,
    "resolved_by": None, "escalated_at": None, "updated_at": "2026-12-01T10:24:02Z", "sequence": 2}
TIMELINE_EVENT_EXAMPLE = {
    "kind": "event", "at": "2026-12-01T10:24:02Z", "event_time_ms": 1796120642000, "sequence": 2,
    "status": "ACKNOWLEDGED", "previous_status": "OPEN", "reason": "acknowledged", "actor": "alice",
    "comment": "looking into it", "notified": ["team-pager"], "firing": 1}
TIMELINE_DELIVERY_EXAMPLE = {
    "kind": "delivery", "at": "2026-12-01T10:20:31Z", "attempted_at_ms": 1796120431000, "receiver": "team-pager",
    "action": "TRIGGER", "sequence": 1, "attempt": 1, "status": "DELIVERED", "http_status": 202,
    "response": '{"status":"success"}', "latency_ms": 184.2}
SAVED_RULE_EXAMPLE = {"id": "high-cpu", "alert": "HighCPU", "metric": "cpu_usage_user", "match": {"env": "prod"},
                      "threshold": 90.0, "for": 300.0, "labels": {"severity": "page"}}
RULE_OUT_EXAMPLE = {"id": "high-cpu", "version": 2, "deleted": False, "created_at": "2026-11-20T09:00:00Z",
                    "updated_at": "2026-11-28T14:12:09Z", "updated_by": "admin-alice", "rule": SAVED_RULE_EXAMPLE}
RULE_VERSION_EXAMPLE = {"id": "high-cpu", "version": 1, "deleted": False, "changed_at": "2026-11-20T09:00:00Z",
                        "changed_by": "admin-alice", "rule": {**SAVED_RULE_EXAMPLE, "threshold": 95.0}}
_MATCHERS = [{"name": "host", "op": "=", "value": "web-3"},
             {"name": "alertname", "op": "=~", "value": "HighCPU|DiskFull"}]
SILENCE_OUT_EXAMPLE = {
    "id": "4b1e0c1e-3f2a-4c55-9a43-0b5f0e9b2d61", "version": 1, "state": "active", "matchers": _MATCHERS,
    "starts_at": "2026-12-01T22:00:00Z", "ends_at": "2026-12-02T00:00:00Z", "created_by": "alice",
    "comment": "kernel upgrade on web-3", "created_at": "2026-12-01T21:58:40Z", "updated_at": "2026-12-01T21:58:40Z",
    "updated_by": "operator-alice"}
SILENCE_VERSION_EXAMPLE = {
    "version": 1, "change": "created", "matchers": _MATCHERS, "starts_at": "2026-12-01T22:00:00Z",
    "ends_at": "2026-12-02T00:00:00Z", "created_by": "alice", "comment": "kernel upgrade on web-3",
    "changed_at": "2026-12-01T21:58:40Z", "changed_by": "operator-alice"}
KEY_OUT_EXAMPLE = {"id": "3f9a0c12be47", "name": "grafana", "role": "viewer", "labels": {}, "rate_per_s": None,
                   "burst": None, "created_at": "2026-11-30T08:00:00Z", "created_by": "key:admin-alice",
                   "revoked_at": None}
AUDIT_EXAMPLE = {"id": 1042, "at": "2026-12-01T21:58:40Z", "key_id": "3f9a0c12be47", "key_name": "operator-alice",
                 "role": "operator", "action": "silence.create", "resource": "silence",
                 "resource_id": "4b1e0c1e-3f2a-4c55-9a43-0b5f0e9b2d61", "before": None,
                 "after": {"id": "4b1e0c1e-3f2a-4c55-9a43-0b5f0e9b2d61", "version": 1}, "remote": "10.0.4.17"}


class ErrorItem(BaseModel):
    """One problem with a request: where (`["query", "limit"]`, `["body", "matchers", "0"]`) and what."""

    model_config = _examples({"loc": ["query", "limit"], "msg": "Input should be less than or equal to 1000"})

    loc: list[str]
    msg: str


class ApiError(BaseModel):
    """Every error answer: one line naming the parameter and the reason, and each problem apart (api/errors.py)."""

    model_config = _examples(
        {"detail": "limit: Input should be less than or equal to 1000",
         "errors": [{"loc": ["query", "limit"], "msg": "Input should be less than or equal to 1000"}]},
        {"detail": "stauts: unknown parameter; this route takes status, severity, alertname, label, limit, cursor",
         "errors": [{"loc": ["query", "stauts"], "msg": "unknown parameter; this route takes status, severity, "
                                                        "alertname, label, limit, cursor"}]},
        {"detail": "key 'grafana' has role viewer; this needs operator (or admin)"})

    detail: str
    errors: list[ErrorItem] = Field(default_factory=list, description="each problem with its place; absent from "
                                                                    "answers about the key (401, 403, 429)")


class AlertStatus(str, Enum):
    """Where an alert is in its life; stored and answered upper-case, accepted in any case."""

    PENDING = "PENDING"
    FIRING = "FIRING"
    RESOLVED = "RESOLVED"


class Alert(BaseModel):
    """The current state of one alert (one series under one rule)."""

    model_config = _examples(ALERT_EXAMPLE)

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

    model_config = _examples({"items": [ALERT_EXAMPLE],
                              "next_cursor": "WyIyMDI2LTEyLTAxVDEwOjIwOjAwKzAwOjAwIiwiOWYzYzJhMWI0ZDVlNmY3MCJd"})

    items: list[Alert]
    next_cursor: str | None = None


class AlertTransition(BaseModel):
    """One transition of an alert as it was published on the alerts topic."""

    model_config = _examples(TRANSITION_EXAMPLE)

    sequence: int
    status: AlertStatus
    value: float | None
    labels: dict[str, str]
    annotations: dict[str, str]
    event_time: datetime
    recorded_at: datetime


class DeliveryAttempt(BaseModel):
    """One attempt to deliver one page to one receiver."""

    model_config = _examples(DELIVERY_EXAMPLE)

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

    model_config = _examples({**ALERT_EXAMPLE, "deliveries": [DELIVERY_EXAMPLE], "history": [
        {**TRANSITION_EXAMPLE, "sequence": 1, "status": "PENDING"}, TRANSITION_EXAMPLE]})

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

    model_config = _examples(INCIDENT_EXAMPLE)

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

    model_config = _examples({"items": [INCIDENT_EXAMPLE], "next_cursor": None})

    items: list[Incident]
    next_cursor: str | None = None


class TimelineEvent(BaseModel):
    """A transition of the incident, as published on the incidents topic."""

    model_config = _examples(TIMELINE_EVENT_EXAMPLE)

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

    model_config = _examples(TIMELINE_DELIVERY_EXAMPLE)

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

    model_config = _examples({**INCIDENT_EXAMPLE, "timeline": [
        {**TIMELINE_EVENT_EXAMPLE, "at": "2026-12-01T10:20:30Z", "event_time_ms": 1796120430000, "sequence": 1,
         "status": "OPEN", "previous_status": None, "reason": "first_notification", "actor": None, "comment": ""},
        TIMELINE_DELIVERY_EXAMPLE, TIMELINE_EVENT_EXAMPLE]})

    timeline: list[TimelineEntry]


class IncidentCommandIn(BaseModel):
    """An operator's acknowledge/resolve/escalate of an incident."""

    model_config = _examples({"comment": "looking into it"}, {"actor": "alice", "comment": "on it, from the board"},
                             extra="forbid", strict=True)

    actor: str = Field("", max_length=200, examples=["alice"],
                       description="who acts, when a key is shared (a board); default: the key's name")
    comment: str = Field("", max_length=1000, examples=["looking into it"])

    @field_validator("actor", "comment")
    @classmethod
    def _storable(cls, value: str, info) -> str:
        # Both end up in Postgres (incident_events), whose text can't hold NUL: the sink would drop the
        # worker's transition. Lone surrogates are refused by pydantic's JSON parser already.
        if "\x00" in value:
            raise ValueError("contains a NUL byte")
        if info.field_name == "actor" and value and not value.strip():
            raise ValueError("is blank; name who acts, or leave it out")
        return value


class CommandAccepted(BaseModel):
    """A command the broker acknowledged; the streams worker applies it and publishes the transition."""

    model_config = _examples({"command_id": "0b8f6c2e-5d0a-4f43-8a7e-2d1c9e3b7a15",
                              "incident_key": "9f3c2a1b4d5e6f70.3", "action": "ACKNOWLEDGE"})

    command_id: str
    incident_key: str
    action: CommandAction


class AlertChange(BaseModel):
    """`data` of an `alert` event on the live stream: one transition from the alerts topic."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "fingerprint": "9f3c2a1b4d5e6f70", "sequence": 2, "status": "FIRING", "rule_id": "high-cpu", "rule_version": 1,
        "alertname": "HighCPU", "severity": "critical",
        "labels": {"alertname": "HighCPU", "host": "web-9", "severity": "critical"},
        "annotations": {"summary": "CPU on web-9 is 97%"}, "value": 97.0, "starts_at": "2026-12-01T10:00:00Z",
        "ends_at": None, "event_time": "2026-12-01T10:05:00Z"}]})

    fingerprint: str = Field(examples=["9f3c2a1b4d5e6f70"])
    sequence: int = Field(description="(fingerprint, sequence) identifies the transition")
    status: AlertStatus
    rule_id: str
    rule_version: int
    alertname: str
    severity: str = Field(description="the `severity` label, empty without one")
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None = Field(description="the value that caused the transition; null if not finite")
    starts_at: datetime
    ends_at: datetime | None
    event_time: datetime


class IncidentChange(BaseModel):
    """`data` of an `incident` event on the live stream: one transition from the incidents topic."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "incident_key": "9f3c2a1b4d5e6f70.3", "sequence": 2, "status": "ACKNOWLEDGED", "previous_status": "OPEN",
        "reason": "acknowledged", "actor": "alice", "comment": "looking into it", "group_key": "9f3c2a1b4d5e6f70",
        "group_labels": {"alertname": "HighCPU", "host": "web-9"}, "route": "0.1", "receiver": "ops",
        "escalation_policy": "default", "notified": ["ops"], "title": "[FIRING:1] HighCPU host=web-9",
        "severity": "critical", "firing": 1, "fingerprints": ["9f3c2a1b4d5e6f70"],
        "opened_at": "2026-12-01T10:00:00Z", "event_time": "2026-12-01T10:03:00Z"}]})

    incident_key: str = Field(examples=["9f3c2a1b4d5e6f70.3"])
    sequence: int = Field(description="(incident_key, sequence) identifies the transition")
    status: IncidentStatus
    previous_status: IncidentStatus | None
    reason: str = Field(examples=["first_notification", "acknowledged"])
    actor: str | None
    comment: str
    group_key: str
    group_labels: dict[str, str]
    route: str
    receiver: str
    escalation_policy: str
    notified: list[str]
    title: str
    severity: str
    firing: int
    fingerprints: list[str]
    opened_at: datetime
    event_time: datetime = Field(description="when the transition happened (the list's `updated_at`)")


PromValue = Annotated[tuple[float, str], Field(description="[unix seconds, value as text: \"1.5\", \"NaN\", \"+Inf\"]",
                                               examples=[[1764579600, "0.25"]])]


class PromInstantSeries(BaseModel):
    """One series of an instant vector: its labels and its value at the query time."""

    metric: dict[str, str] = Field(examples=[{"__name__": "up", "job": "node"}])
    value: PromValue


class PromRangeSeries(BaseModel):
    """One series of a range matrix: its labels and its values, one per step."""

    metric: dict[str, str] = Field(examples=[{"job": "node"}])
    values: list[PromValue]


class PromQueryData(BaseModel):
    """`data` of a query answer: `result` is a list of series (vector, matrix) or one value (scalar, string)."""

    resultType: Literal["matrix", "vector", "scalar", "string"]
    result: list[PromRangeSeries | PromInstantSeries] | PromValue


class PromQueryAnswer(BaseModel):
    """What `/api/v1/query` and `/api/v1/query_range` answer (Prometheus' envelope; extra fields may follow)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"job": "node"}, "value": [1764579600, "0.25"]}]}},
        {"status": "success", "data": {"resultType": "matrix", "result": [
            {"metric": {"job": "node"}, "values": [[1764579600, "0.25"], [1764579615, "0.5"]]}]}}]})

    status: Literal["success"]
    data: PromQueryData
    warnings: list[str] | None = None


class PromSeriesAnswer(BaseModel):
    """What `/api/v1/series` answers: the label sets of the series matching any `match[]`."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "success", "data": [{"__name__": "up", "job": "node", "instance": "web-1:9100"}]}]})

    status: Literal["success"]
    data: list[dict[str, str]]


class PromLabelsAnswer(BaseModel):
    """What `/api/v1/labels` (label names) and `/api/v1/label/{name}/values` (its values) answer, sorted."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "success", "data": ["__name__", "instance", "job"]}]})

    status: Literal["success"]
    data: list[str]


class PromMetricMetadata(BaseModel):
    """Type, help and unit of one metric."""

    type: str = Field(examples=["counter"])
    help: str = Field(examples=["Total HTTP requests."])
    unit: str = ""


class PromMetadataAnswer(BaseModel):
    """What `/api/v1/metadata` answers: metric name → its metadata (empty when the store keeps none)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "success", "data": {"http_requests_total": [
            {"type": "counter", "help": "Total HTTP requests.", "unit": ""}]}}]})

    status: Literal["success"]
    data: dict[str, list[PromMetricMetadata]]


class PromExemplarsAnswer(BaseModel):
    """What `/api/v1/query_exemplars` answers: always no exemplars (Vigil stores none)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "success", "data": []}]})

    status: Literal["success"]
    data: list[dict[str, Any]]


class PromBuildInfo(BaseModel):
    """Build information in Prometheus' shape; `version` is the Prometheus API version Vigil answers like."""

    version: str = Field(examples=["2.45.0"])
    revision: str
    branch: str
    buildUser: str
    buildDate: str
    goVersion: str


class PromBuildInfoAnswer(BaseModel):
    """What `/api/v1/status/buildinfo` answers (Grafana reads it to tell Prometheus from Mimir, Thanos, …)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "success", "data": {
        "version": "2.45.0", "revision": "vigil", "branch": "vigil", "buildUser": "vigil", "buildDate": "",
        "goVersion": ""}}]})

    status: Literal["success"]
    data: PromBuildInfo


class PromErrorAnswer(BaseModel):
    """A Prometheus API error: 400 bad_data, 422 execution, 503 timeout or unavailable (with Retry-After)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "error", "errorType": "bad_data",
         "error": "invalid parameter \"step\": exceeded maximum resolution of 11,000 points per timeseries. "
                  "Try decreasing the query resolution (?step=XX)"}]})

    status: Literal["error"]
    errorType: Literal["bad_data", "execution", "timeout", "unavailable"]
    error: str = Field(description="what was wrong, naming the parameter; the time-series store's own message "
                                   "for a query it refused")


class Health(BaseModel):
    """Health of the API and of each store it reads."""

    model_config = _examples({"status": "ok", "postgres": "ok", "tsdb": "ok", "kafka": "ok"},
                             {"status": "unhealthy", "postgres": "ok",
                              "tsdb": "ConnectError: All connection attempts failed", "kafka": "ok"})

    status: str
    postgres: str
    tsdb: str
    kafka: str = Field("ok", description="the broker, as the API's broker watch last saw it (changes need it)")


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

    model_config = _examples(RULE_OUT_EXAMPLE)

    id: str = Field(examples=["high-cpu"])
    version: int = Field(description="1 at creation, +1 per change (a delete is a change)")
    deleted: bool
    evaluator: Literal["stream", "query"] = Field("stream", description="stream: evaluated per sample, one series "
                                                  "at a time; query: PromQL against the time-series store at the "
                                                  "rule group's interval")
    created_at: datetime
    updated_at: datetime
    updated_by: str
    rule: dict = Field(description="the rule as its author wrote it, normalised (no version)",
                       examples=[{"id": "high-cpu", "alert": "HighCPU", "metric": "cpu_usage_user",
                                  "threshold": 90.0, "for": 300.0}])


class RulePage(BaseModel):
    """One page of rules ordered by id; pass `next_cursor` as `cursor` for the next page."""

    model_config = _examples({"items": [RULE_OUT_EXAMPLE], "next_cursor": "WyJoaWdoLWNwdSJd"})

    items: list[StoredRuleOut]
    next_cursor: str | None = None


class RuleVersionOut(BaseModel):
    """One change of a rule, as saved."""

    model_config = _examples(RULE_VERSION_EXAMPLE)

    id: str
    version: int
    deleted: bool
    evaluator: Literal["stream", "query"] = "stream"
    changed_at: datetime
    changed_by: str
    rule: dict


class RuleHistory(BaseModel):
    """Every version of a rule, oldest first."""

    model_config = _examples({"id": "high-cpu", "versions": [RULE_VERSION_EXAMPLE, {
        **RULE_VERSION_EXAMPLE, "version": 2, "changed_at": "2026-11-28T14:12:09Z", "rule": SAVED_RULE_EXAMPLE}]})

    id: str
    versions: list[RuleVersionOut]


class ValidatedRule(BaseModel):
    """A rule that passed validation, normalised as it would be saved (nothing was saved)."""

    model_config = _examples({"rule": SAVED_RULE_EXAMPLE})

    rule: dict


def rule_spec_schema() -> dict:
    """JSON schema of a rule as the API takes it: the Rule model without `version`, durations as text too."""
    from kernel.rules import Rule

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

    model_config = _examples(*(example["value"] for example in SILENCE_EXAMPLES.values()), extra="forbid")

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

    model_config = _examples(*_MATCHERS)

    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str


class SilenceOut(BaseModel):
    """The latest version of one silence; `state` is computed from the time of the answer."""

    model_config = _examples(SILENCE_OUT_EXAMPLE)

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

    model_config = _examples({"items": [SILENCE_OUT_EXAMPLE], "next_cursor": None})

    items: list[SilenceOut]
    next_cursor: str | None = None


class SilenceVersionOut(BaseModel):
    """One change of a silence, as saved."""

    model_config = _examples(SILENCE_VERSION_EXAMPLE)

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

    model_config = _examples({"id": "4b1e0c1e-3f2a-4c55-9a43-0b5f0e9b2d61", "versions": [SILENCE_VERSION_EXAMPLE, {
        **SILENCE_VERSION_EXAMPLE, "version": 2, "change": "expired", "ends_at": "2026-12-01T23:10:00Z",
        "changed_at": "2026-12-01T23:10:00Z"}]})

    id: str
    versions: list[SilenceVersionOut]


KeyRole = Literal["viewer", "operator", "admin", "ingest"]


class KeyIn(BaseModel):
    """A key to create: who holds it, its role, and (ingest tokens) the labels added to their samples."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "grafana", "role": "viewer"},
        {"name": "node-agent-eu1", "role": "ingest", "labels": {"dc": "eu1"}},
        {"name": "ci-bot", "role": "operator", "rate_per_s": 5, "burst": 20}]})

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$", description="unique among live keys")
    role: KeyRole
    labels: dict[Annotated[str, Field(pattern=LABEL_NAME_PATTERN, max_length=128)],
                 Annotated[str, Field(max_length=1024, pattern=r"^[^\x00]*$")]] = Field(
        default_factory=dict, max_length=32, description="ingest tokens only: labels added to every sample")
    rate_per_s: float | None = Field(None, gt=0, le=100_000, description="requests/s; default VIGIL_API_RATE_PER_S")
    burst: int | None = Field(None, ge=1, le=100_000, description="requests back to back; default VIGIL_API_RATE_BURST")


class KeyOut(BaseModel):
    """A key as listed: never its secret."""

    model_config = _examples(KEY_OUT_EXAMPLE)

    id: str = Field(examples=["3f9a0c12be47"])
    name: str = Field(examples=["grafana"])
    role: KeyRole
    labels: dict[str, str]
    rate_per_s: float | None
    burst: int | None
    created_at: datetime
    created_by: str = Field(examples=["admin-alice"])
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    """A new key: `key` is shown in this answer only (only its SHA-256 is stored)."""

    model_config = _examples({**KEY_OUT_EXAMPLE, "key": "vk_3f9a0c12be47_Zm9vYmFyYmF6cXV4"})

    key: str = Field(examples=["vk_3f9a0c12be47_Zm9vYmFy..."])


class KeyPage(BaseModel):
    """The keys, oldest first."""

    model_config = _examples({"items": [KEY_OUT_EXAMPLE]})

    items: list[KeyOut]


class AuditEntry(BaseModel):
    """One write through the API: who (key id and name, role, address), what, when, before and after."""

    model_config = _examples(AUDIT_EXAMPLE)

    id: int
    at: datetime
    key_id: str
    key_name: str
    role: KeyRole
    action: str = Field(examples=["silence.create"])
    resource: str = Field(examples=["silence"])
    resource_id: str
    before: dict | None
    after: dict | None
    remote: str


class AuditPage(BaseModel):
    """One page of the audit log, newest first; pass `next_cursor` as `cursor` for the next page."""

    model_config = _examples({"items": [AUDIT_EXAMPLE], "next_cursor": "1041"})

    items: list[AuditEntry]
    next_cursor: str | None = None


MAX_DEVICE_LABELS = 64
MAX_DEVICE_LABEL_NAME_CHARS = 128
MAX_DEVICE_LABEL_VALUE_CHARS = 1024


def _device_label_name(name: str) -> str:
    if not is_label_name(name):
        raise ValueError(f"{name[:80]!r} is not a label name ({LABEL_NAME_SYNTAX})")
    if is_reserved_label_name(name):
        # Prometheus reserves `__*` for internal labels (__name__); relabeling drops them.
        raise ValueError(f"{name[:80]!r}: names starting with __ are reserved")
    return name


def _device_label_value(value: str) -> str:
    if "\x00" in value:  # Postgres jsonb can't hold \u0000
        raise ValueError("contains a NUL byte")
    return value


DEVICE_EXAMPLE = {"device_id": "pump-7", "labels": {"site": "plant-2", "vendor": "acme"},
                  "updated_at": "2026-12-01T10:20:00Z"}
ROUTE_EXAMPLE = {
    "path": "0", "matchers": [], "receiver": "team-pager", "receiver_is_schedule": False,
    "group_by": ["alertname", "cluster"], "timings": {
        "group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h", "group_wait_ms": 30_000,
        "group_interval_ms": 300_000, "repeat_interval_ms": 14_400_000},
    "continue": False, "mute_time_intervals": [], "active_time_intervals": [], "escalation_policy": "default",
    "routes": [{"path": "0.0", "matchers": ['severity="critical"'], "receiver": "db-oncall",
                "receiver_is_schedule": True, "group_by": ["alertname", "cluster"], "timings": {
                    "group_wait": "0s", "group_interval": "5m", "repeat_interval": "4h", "group_wait_ms": 0,
                    "group_interval_ms": 300_000, "repeat_interval_ms": 14_400_000},
                "continue": True, "mute_time_intervals": ["weekend"], "active_time_intervals": [],
                "escalation_policy": "databases", "routes": []}]}
INTEGRATION_EXAMPLE = {"id": "team-pager/pagerduty/0", "kind": "pagerduty", "settings": {
    "routing_key": "redacted", "url": "https://events.pagerduty.com/v2/enqueue", "client": "Vigil", "client_url": "",
    "description": None, "severity": None, "send_resolved": True, "timeout_s": 10.0}}
ROUTE_HIT_EXAMPLE = {"path": "0.0", "receiver": "db-oncall", "schedule": True, "on_call": "alice-pager",
                     "group_labels": {"alertname": "DiskFull", "cluster": "eu1"}, "muted": False}


class DeviceIn(BaseModel):
    """A device's labels as an admin sets them: PUT replaces every label of the device."""

    model_config = _examples({"labels": {"site": "plant-2", "vendor": "acme", "team": "ops"}}, extra="forbid",
                             strict=True)

    labels: dict[Annotated[str, Field(max_length=MAX_DEVICE_LABEL_NAME_CHARS), AfterValidator(_device_label_name)],
                 Annotated[str, Field(max_length=MAX_DEVICE_LABEL_VALUE_CHARS), AfterValidator(_device_label_value)]
                 ] = Field(max_length=MAX_DEVICE_LABELS,
                           description=f"at most {MAX_DEVICE_LABELS}; names {LABEL_NAME_SYNTAX} not starting "
                                       f"with __, values at most {MAX_DEVICE_LABEL_VALUE_CHARS} characters; added to "
                                       "the samples whose `device` or `host` label is this device (the sample's own "
                                       "labels win)")


class DeviceOut(BaseModel):
    """One registered device and the labels ingest adds to its samples."""

    model_config = _examples(DEVICE_EXAMPLE)

    device_id: str = Field(examples=["pump-7"])
    labels: dict[str, str] = Field(examples=[{"site": "plant-2", "vendor": "acme"}])
    updated_at: datetime


class DevicePage(BaseModel):
    """One page of devices in the requested order; pass `next_cursor` as `cursor` for the next page."""

    model_config = _examples({"items": [DEVICE_EXAMPLE], "next_cursor": "WyJkZXZpY2VfaWQiLCJwdW1wLTciXQ"})

    items: list[DeviceOut]
    next_cursor: str | None = None


class RouteTimings(BaseModel):
    """A route's grouping timings, as Prometheus durations and in milliseconds."""

    model_config = _examples(ROUTE_EXAMPLE["timings"])

    group_wait: str = Field(examples=["30s"])
    group_interval: str = Field(examples=["5m"])
    repeat_interval: str = Field(examples=["4h"])
    group_wait_ms: int
    group_interval_ms: int
    repeat_interval_ms: int


class RouteOut(BaseModel):
    """One node of the routing tree as the workers use it: inherited fields resolved, children in order."""

    model_config = _examples(ROUTE_EXAMPLE, populate_by_name=True)

    path: str = Field(examples=["0.1"], description="root 0, its children 0.0, 0.1, …; incidents name it as `route`")
    matchers: list[str] = Field(examples=[['severity="page"']], description="all must match; empty: every alert")
    receiver: str
    receiver_is_schedule: bool = Field(description="the receiver names an on-call schedule")
    group_by: list[str] = Field(description="['...'] groups by all labels; [] puts every alert in one group")
    timings: RouteTimings
    continue_: bool = Field(alias="continue", description="siblings after this one are tried too")
    mute_time_intervals: list[str]
    active_time_intervals: list[str]
    escalation_policy: str
    routes: list[RouteOut]


class RouteTree(BaseModel):
    """The routing tree in force and where it comes from."""

    model_config = _examples({"source": "/etc/vigil/alerting.yaml", "route": ROUTE_EXAMPLE})

    source: str = Field(description="the alerting config file, or the built-in default without one")
    route: RouteOut


class IntegrationOut(BaseModel):
    """One integration of a receiver with its settings; credentials and URLs that carry them are redacted."""

    model_config = _examples(INTEGRATION_EXAMPLE)

    id: str = Field(examples=["team-pager/pagerduty/0"])
    kind: Literal["pagerduty", "slack", "webhook"]
    settings: dict[str, Any] = Field(examples=[{"routing_key": "redacted", "url": "https://events.pagerduty.com/v2/"
                                                "enqueue", "send_resolved": True}])


class ReceiverOut(BaseModel):
    """A receiver: every integration in it gets each notification routed to its name."""

    model_config = _examples({"name": "team-pager", "integrations": [INTEGRATION_EXAMPLE]})

    name: str
    integrations: list[IntegrationOut]


class ReceiverList(BaseModel):
    """The receivers of the alerting config in force, in file order."""

    model_config = _examples({"source": "/etc/vigil/alerting.yaml", "items": [
        {"name": "team-pager", "integrations": [INTEGRATION_EXAMPLE]}]})

    source: str
    items: list[ReceiverOut]


class RouteHitOut(BaseModel):
    """One route an alert takes: who gets it, its group labels there, whether the route is muted then."""

    model_config = _examples(ROUTE_HIT_EXAMPLE)

    path: str
    receiver: str
    schedule: bool = Field(description="receiver names an on-call schedule")
    on_call: str | None = Field(description="the schedule's member on call at `at`; null: nobody, or no schedule")
    group_labels: dict[str, str]
    muted: bool = Field(description="a mute interval is active at `at`, or none of its active intervals is")


class RouteTestResult(BaseModel):
    """Where an alert with these labels is routed at `at` (like `vigil routes test`)."""

    model_config = _examples({"labels": {"alertname": "DiskFull", "cluster": "eu1", "severity": "critical"},
                              "at": "2026-11-25T12:00:00Z", "routes": [ROUTE_HIT_EXAMPLE], "receivers": ["db-oncall"]})

    labels: dict[str, str]
    at: datetime
    routes: list[RouteHitOut]
    receivers: list[str] = Field(description="the distinct receivers (or schedules) of `routes`, in order")
