"""`/api/v1/routes`, `/api/v1/receivers`, `/api/v1/routes/test`: the alerting config as the workers see it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from api.models.examples import with_examples
from kernel.alerting.receiver_kinds import RECEIVER_KIND_NAMES


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


class RouteTimings(BaseModel):
    """A route's grouping timings, as Prometheus durations and in milliseconds."""

    model_config = with_examples(ROUTE_EXAMPLE["timings"])

    group_wait: str = Field(examples=["30s"])
    group_interval: str = Field(examples=["5m"])
    repeat_interval: str = Field(examples=["4h"])
    group_wait_ms: int
    group_interval_ms: int
    repeat_interval_ms: int


class RouteOut(BaseModel):
    """One node of the routing tree as the workers use it: inherited fields resolved, children in order."""

    model_config = with_examples(ROUTE_EXAMPLE, populate_by_name=True)

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

    model_config = with_examples({"source": "/etc/vigil/alerting.yaml", "route": ROUTE_EXAMPLE})

    source: str = Field(description="the alerting config file, or the built-in default without one")
    route: RouteOut


def _receiver_kind(kind: str) -> str:
    if kind not in RECEIVER_KIND_NAMES:
        raise ValueError(f"{kind!r} is not a receiver kind ({', '.join(RECEIVER_KIND_NAMES)})")
    return kind


class IntegrationOut(BaseModel):
    """One integration of a receiver with its settings; credentials and URLs that carry them are redacted."""

    model_config = with_examples(INTEGRATION_EXAMPLE)

    id: str = Field(examples=["team-pager/pagerduty/0"])
    # One of kernel/alerting/receiver_kinds.py's kinds; the schema lists them as an enum.
    kind: Annotated[str, AfterValidator(_receiver_kind)] = Field(json_schema_extra={"enum": list(RECEIVER_KIND_NAMES)})
    settings: dict[str, Any] = Field(examples=[{"routing_key": "redacted", "url": "https://events.pagerduty.com/v2/"
                                                "enqueue", "send_resolved": True}])


class ReceiverOut(BaseModel):
    """A receiver: every integration in it gets each notification routed to its name."""

    model_config = with_examples({"name": "team-pager", "integrations": [INTEGRATION_EXAMPLE]})

    name: str
    integrations: list[IntegrationOut]


class ReceiverList(BaseModel):
    """The receivers of the alerting config in force, in file order."""

    model_config = with_examples({"source": "/etc/vigil/alerting.yaml", "items": [
        {"name": "team-pager", "integrations": [INTEGRATION_EXAMPLE]}]})

    source: str
    items: list[ReceiverOut]


class RouteHitOut(BaseModel):
    """One route an alert takes: who gets it, its group labels there, whether the route is muted then."""

    model_config = with_examples(ROUTE_HIT_EXAMPLE)

    path: str
    receiver: str
    schedule: bool = Field(description="receiver names an on-call schedule")
    on_call: str | None = Field(description="the schedule's member on call at `at`; null: nobody, or no schedule")
    group_labels: dict[str, str]
    muted: bool = Field(description="a mute interval is active at `at`, or none of its active intervals is")


class RouteTestResult(BaseModel):
    """Where an alert with these labels is routed at `at` (like `vigil routes test`)."""

    model_config = with_examples({"labels": {"alertname": "DiskFull", "cluster": "eu1", "severity": "critical"},
                                  "at": "2026-11-25T12:00:00Z", "routes": [ROUTE_HIT_EXAMPLE],
                                  "receivers": ["db-oncall"]})

    labels: dict[str, str]
    at: datetime
    routes: list[RouteHitOut]
    receivers: list[str] = Field(description="the distinct receivers (or schedules) of `routes`, in order")
