"""`/api/v1/stream`: the `data` of each event on the live stream of alert and incident changes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.models.alerts import AlertStatus
from api.models.incidents import IncidentStatus


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
