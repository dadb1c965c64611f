"""Typed records, one per Avro schema in `avro/`; each is exactly the datum fastavro writes.

They are TypedDicts rather than dataclasses because the metrics path encodes ~10^5
samples/s: a TypedDict is handed to fastavro as it is, with no conversion per sample.
"""

from __future__ import annotations

from typing import Literal, TypedDict

AlertStatus = Literal["PENDING", "FIRING", "RESOLVED"]
NotificationAction = Literal["TRIGGER", "ACKNOWLEDGE", "RESOLVE"]
DeliveryStatus = Literal["DELIVERED", "RETRYING", "FAILED", "IN_DOUBT"]
IncidentStatus = Literal["OPEN", "ACKNOWLEDGED", "ESCALATED", "CRITICAL", "RESOLVED"]
CommandAction = Literal["ACKNOWLEDGE", "RESOLVE", "ESCALATE"]


class Sample(TypedDict):
    """One value of one series at one instant (event time in ms)."""

    series_id: int
    name: str
    labels: dict[str, str]
    value: float
    timestamp_ms: int


class MetricBatch(TypedDict):
    """Samples of one metrics-topic partition: ingest's in-memory batch, and the v1 topic's record."""

    partition: int
    source: str
    accepted_at_ms: int
    samples: list[Sample]


class SeriesName(TypedDict):
    """Name and labels of one series inside a SeriesBatch."""

    name: str
    labels: dict[str, str]


class SeriesBatch(TypedDict):
    """The metrics topic's record as fastavro reads it: packed columns (see schemas/series_batch.py)."""

    partition: int
    source: str
    accepted_at_ms: int
    series_ids: bytes
    sample_series: bytes
    timestamps_ms: bytes
    values: bytes
    series: list[SeriesName]


class Reject(TypedDict):
    """Input refused by ingest, as it lands on the dead-letter topic."""

    protocol: str
    source: str
    location: str
    reason: str
    payload: bytes
    received_at_ms: int


class AlertEvent(TypedDict):
    """A transition of one alert; (fingerprint, sequence) identifies duplicates."""

    fingerprint: str
    sequence: int
    status: AlertStatus
    rule_id: str
    rule_version: int
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float
    series_id: int
    starts_at_ms: int
    ends_at_ms: int | None
    event_time_ms: int


class NotifiedAlert(TypedDict):
    """One alert of an incident inside a Notification (Alertmanager's alert shape)."""

    fingerprint: str
    status: str  # "firing" | "resolved"
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at_ms: int
    ends_at_ms: int | None
    value: float


class Notification(TypedDict):
    """A rendered page for one receiver; sent once per (dedup_key, action, sequence)."""

    dedup_key: str
    receiver: str
    action: NotificationAction
    sequence: int
    fingerprint: str
    severity: str
    title: str
    text: str
    labels: dict[str, str]
    annotations: dict[str, str]
    event_time_ms: int
    created_at_ms: int
    incident_key: str
    incident_status: str
    reason: str
    group_key: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    alerts: list[NotifiedAlert]
    truncated_alerts: int


class Delivery(TypedDict):
    """One attempt to deliver a Notification, with the receiver's answer."""

    dedup_key: str
    receiver: str
    action: NotificationAction
    sequence: int
    fingerprint: str
    attempt: int
    status: DeliveryStatus
    http_status: int | None
    response: str
    latency_ms: float
    attempted_at_ms: int


class RuleRecord(TypedDict):
    """One version of a rule on the rules topic; `spec` is the rule as JSON, deletes are explicit."""

    id: str
    version: int
    deleted: bool
    spec: str
    updated_at_ms: int
    updated_by: str


class IncidentEvent(TypedDict):
    """A transition of one incident on the incidents topic."""

    incident_key: str
    sequence: int
    status: IncidentStatus
    previous_status: IncidentStatus | None
    reason: str
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
    opened_at_ms: int
    event_time_ms: int


class Command(TypedDict):
    """An operator's ack/resolve/escalate of an incident, on the commands topic."""

    command_id: str
    incident_key: str
    action: CommandAction
    actor: str
    comment: str
    issued_at_ms: int


class SilenceMatcher(TypedDict):
    """One matcher of a silence: name, operator (=, !=, =~, !~), value."""

    name: str
    op: str
    value: str


class SilenceRecord(TypedDict):
    """One version of a silence on the silences topic; deletes are explicit."""

    id: str
    version: int
    deleted: bool
    matchers: list[SilenceMatcher]
    starts_at_ms: int
    ends_at_ms: int
    created_by: str
    comment: str
    updated_at_ms: int
