"""`/api/v1/incidents`: an incident, a page of them, one with its timeline, and the operators' commands."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from api.models.examples import with_examples
from schemas.records import CommandAction


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


class IncidentStatus(str, Enum):
    """Where an incident is in its life (schemas/avro/incident_event.avsc); answered upper-case, any case in."""

    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ESCALATED = "ESCALATED"
    CRITICAL = "CRITICAL"
    RESOLVED = "RESOLVED"


class Incident(BaseModel):
    """The current state of one incident: a group of alerts routed to one receiver."""

    model_config = with_examples(INCIDENT_EXAMPLE)

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

    model_config = with_examples({"items": [INCIDENT_EXAMPLE], "next_cursor": None})

    items: list[Incident]
    next_cursor: str | None = None


class TimelineEvent(BaseModel):
    """A transition of the incident, as published on the incidents topic."""

    model_config = with_examples(TIMELINE_EVENT_EXAMPLE)

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

    model_config = with_examples(TIMELINE_DELIVERY_EXAMPLE)

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

    model_config = with_examples({**INCIDENT_EXAMPLE, "timeline": [
        {**TIMELINE_EVENT_EXAMPLE, "at": "2026-12-01T10:20:30Z", "event_time_ms": 1796120430000, "sequence": 1,
         "status": "OPEN", "previous_status": None, "reason": "first_notification", "actor": None, "comment": ""},
        TIMELINE_DELIVERY_EXAMPLE, TIMELINE_EVENT_EXAMPLE]})

    timeline: list[TimelineEntry]


class IncidentCommandIn(BaseModel):
    """An operator's acknowledge/resolve/escalate of an incident."""

    model_config = with_examples({"comment": "looking into it"}, {"actor": "alice", "comment": "on it, from the board"},
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

    model_config = with_examples({"command_id": "0b8f6c2e-5d0a-4f43-8a7e-2d1c9e3b7a15",
                                 "incident_key": "9f3c2a1b4d5e6f70.3", "action": "ACKNOWLEDGE"})

    command_id: str
    incident_key: str
    action: CommandAction
