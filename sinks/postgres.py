"""Alert and incident transitions and delivery attempts → Postgres (tables of kernel/migrations/).

Every statement is idempotent on the record's natural key, so a redelivered batch changes
nothing; `alerts` only ever moves forward to a newer transition (event time, then sequence), and
`incidents` is projected from `incident_events`, so it follows the newest transition whatever
order they arrive in.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.types.json import Jsonb

from schemas.records import AlertEvent, Delivery, IncidentEvent
from schemas.topics import Topics
from sinks.base import Consumed, WriteFailed, WriteRejected

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

INSERT_ALERT_EVENT = """
INSERT INTO alert_events (fingerprint, sequence, status, rule_id, rule_version, alertname, labels,
                          annotations, value, starts_at, ends_at, event_time)
VALUES (%(fingerprint)s, %(sequence)s, %(status)s, %(rule_id)s, %(rule_version)s, %(alertname)s, %(labels)s,
        %(annotations)s, %(value)s, %(starts_at)s, %(ends_at)s, %(event_time)s)
ON CONFLICT (fingerprint, sequence, event_time) DO NOTHING
"""

# `updated_at` is the event time of the transition, so ordering by it follows the stream, not arrival.
# Event time first: after a broker reset a new episode restarts its sequence at 1 (migration 002).
UPSERT_ALERT = """
INSERT INTO alerts (fingerprint, rule_id, rule_version, alertname, status, severity, labels, annotations,
                    value, sequence, starts_at, ends_at, updated_at)
VALUES (%(fingerprint)s, %(rule_id)s, %(rule_version)s, %(alertname)s, %(status)s, %(severity)s, %(labels)s,
        %(annotations)s, %(value)s, %(sequence)s, %(starts_at)s, %(ends_at)s, %(event_time)s)
ON CONFLICT (fingerprint) DO UPDATE SET
    rule_id = EXCLUDED.rule_id, rule_version = EXCLUDED.rule_version, alertname = EXCLUDED.alertname,
    status = EXCLUDED.status, severity = EXCLUDED.severity, labels = EXCLUDED.labels,
    annotations = EXCLUDED.annotations, value = EXCLUDED.value, sequence = EXCLUDED.sequence,
    starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, updated_at = EXCLUDED.updated_at
WHERE (alerts.updated_at, alerts.sequence) < (EXCLUDED.updated_at, EXCLUDED.sequence)
"""

INSERT_DELIVERY = """
INSERT INTO deliveries (dedup_key, receiver, action, sequence, attempt, fingerprint, status, http_status,
                        response, latency_ms, attempted_at)
VALUES (%(dedup_key)s, %(receiver)s, %(action)s, %(sequence)s, %(attempt)s, %(fingerprint)s, %(status)s,
        %(http_status)s, %(response)s, %(latency_ms)s, %(attempted_at)s)
ON CONFLICT DO NOTHING
"""

INSERT_INCIDENT_EVENT = """
INSERT INTO incident_events (incident_key, sequence, status, previous_status, reason, actor, comment, group_key,
                             group_labels, route, receiver, escalation_policy, notified, title, severity, firing,
                             fingerprints, opened_at, event_time)
VALUES (%(incident_key)s, %(sequence)s, %(status)s, %(previous_status)s, %(reason)s, %(actor)s, %(comment)s,
        %(group_key)s, %(group_labels)s, %(route)s, %(receiver)s, %(escalation_policy)s, %(notified)s, %(title)s,
        %(severity)s, %(firing)s, %(fingerprints)s, %(opened_at)s, %(event_time)s)
ON CONFLICT (incident_key, sequence, event_time) DO NOTHING
"""

# One statement per batch, run after the batch's events are in `incident_events`: each touched
# incident is projected from its stored events, so the outcome does not depend on arrival order.
# The newest transition (opened_at, then sequence: a reused key after a broker reset opens a later
# incident) gives the state; the latest ACKNOWLEDGED/RESOLVED/ESCALATED transition of that incident
# gives when and by whom. A row changes only for a newer transition, or when a late older one adds
# an acknowledgement/resolution/escalation; a redelivery writes nothing.
PROJECT_INCIDENTS = """
INSERT INTO incidents (incident_key, group_key, group_labels, route, receiver, escalation_policy, status, title,
                       severity, firing, fingerprints, opened_at, acknowledged_at, acknowledged_by, resolved_at,
                       resolved_by, escalated_at, updated_at, sequence)
SELECT l.incident_key, l.group_key, l.group_labels, l.route, l.receiver, l.escalation_policy, l.status, l.title,
       l.severity, l.firing, l.fingerprints, l.opened_at, m.acknowledged_at, m.acknowledged_by, m.resolved_at,
       m.resolved_by, m.escalated_at, l.event_time, l.sequence
FROM (SELECT DISTINCT ON (incident_key) * FROM incident_events WHERE incident_key = ANY(%(keys)s)
      ORDER BY incident_key, opened_at DESC, sequence DESC, event_time DESC) AS l
CROSS JOIN LATERAL (
    SELECT (array_agg(e.event_time ORDER BY e.sequence DESC) FILTER (WHERE e.status = 'ACKNOWLEDGED'))[1]
               AS acknowledged_at,
           (array_agg(e.actor ORDER BY e.sequence DESC) FILTER (WHERE e.status = 'ACKNOWLEDGED'))[1]
               AS acknowledged_by,
           (array_agg(e.event_time ORDER BY e.sequence DESC) FILTER (WHERE e.status = 'RESOLVED'))[1] AS resolved_at,
           (array_agg(e.actor ORDER BY e.sequence DESC) FILTER (WHERE e.status = 'RESOLVED'))[1] AS resolved_by,
           (array_agg(e.event_time ORDER BY e.sequence DESC) FILTER (WHERE e.status = 'ESCALATED'))[1]
               AS escalated_at
    FROM incident_events AS e WHERE e.incident_key = l.incident_key AND e.opened_at = l.opened_at
) AS m
ON CONFLICT (incident_key) DO UPDATE SET
    group_key = EXCLUDED.group_key, group_labels = EXCLUDED.group_labels, route = EXCLUDED.route,
    receiver = EXCLUDED.receiver, escalation_policy = EXCLUDED.escalation_policy, status = EXCLUDED.status,
    title = EXCLUDED.title, severity = EXCLUDED.severity, firing = EXCLUDED.firing,
    fingerprints = EXCLUDED.fingerprints, opened_at = EXCLUDED.opened_at, acknowledged_at = EXCLUDED.acknowledged_at,
    acknowledged_by = EXCLUDED.acknowledged_by, resolved_at = EXCLUDED.resolved_at,
    resolved_by = EXCLUDED.resolved_by, escalated_at = EXCLUDED.escalated_at, updated_at = EXCLUDED.updated_at,
    sequence = EXCLUDED.sequence
WHERE (incidents.opened_at, incidents.sequence) < (EXCLUDED.opened_at, EXCLUDED.sequence)
   OR ((incidents.opened_at, incidents.sequence) = (EXCLUDED.opened_at, EXCLUDED.sequence)
       AND (incidents.acknowledged_at, incidents.acknowledged_by, incidents.resolved_at, incidents.resolved_by,
            incidents.escalated_at)
           IS DISTINCT FROM (EXCLUDED.acknowledged_at, EXCLUDED.acknowledged_by, EXCLUDED.resolved_at,
                             EXCLUDED.resolved_by, EXCLUDED.escalated_at))
"""


def timestamp(ms: int | None) -> datetime | None:
    """Milliseconds since the epoch as an aware UTC datetime (exact: no float on the way)."""
    return None if ms is None else EPOCH + timedelta(milliseconds=ms)


def alert_event_row(event: AlertEvent) -> dict:
    """Statement parameters of one AlertEvent (both for `alert_events` and `alerts`)."""
    return {**event, "labels": Jsonb(event["labels"]), "annotations": Jsonb(event["annotations"]),
            "severity": event["labels"].get("severity", ""), "starts_at": timestamp(event["starts_at_ms"]),
            "ends_at": timestamp(event["ends_at_ms"]), "event_time": timestamp(event["event_time_ms"])}


def newest_per_fingerprint(rows: list[dict]) -> list[dict]:
    """The newest row of each fingerprint (event time, then sequence): only it can win the upsert."""
    newest: dict[str, dict] = {}
    for row in rows:
        kept = newest.get(row["fingerprint"])
        if kept is None or (row["event_time"], row["sequence"]) > (kept["event_time"], kept["sequence"]):
            newest[row["fingerprint"]] = row
    return list(newest.values())


def incident_event_row(event: IncidentEvent) -> dict:
    """Statement parameters of one IncidentEvent."""
    return {**event, "group_labels": Jsonb(event["group_labels"]), "notified": Jsonb(event["notified"]),
            "fingerprints": Jsonb(event["fingerprints"]), "opened_at": timestamp(event["opened_at_ms"]),
            "event_time": timestamp(event["event_time_ms"])}


def delivery_row(delivery: Delivery) -> dict:
    """Statement parameters of one Delivery."""
    return {**delivery, "attempted_at": timestamp(delivery["attempted_at_ms"])}


class PostgresSink:
    """Writes AlertEvents, IncidentEvents and Deliveries, one transaction per batch, with batched statements."""

    name = "postgres"
    durable_after_s = 0.0  # a committed transaction is on disk (synchronous_commit, the stack's durable mode)

    def __init__(self, dsn: str, topics: Topics, connect_timeout_s: int = 10) -> None:
        self._dsn = dsn
        self._topics = topics
        self._connect_timeout_s = connect_timeout_s
        self._conn: psycopg.Connection | None = None

    def started_at(self) -> float | None:
        return None  # not needed: what Postgres acknowledged survives its restart

    def write(self, records: list[Consumed]) -> int:
        """Store the batch in one transaction; returns the number of records handed to Postgres."""
        events = [alert_event_row(r.value) for r in records if r.topic == self._topics.alerts]
        incidents = [incident_event_row(r.value) for r in records if r.topic == self._topics.incidents]
        deliveries = [delivery_row(r.value) for r in records if r.topic == self._topics.deliveries]
        try:
            conn = self._connection()
            with conn.transaction(), conn.cursor() as cur:
                # executemany runs in pipeline mode: one round trip per batch, ~20k rows/s (docs/stack.md),
                # far above the rate of alert transitions and delivery attempts.
                if events:
                    cur.executemany(INSERT_ALERT_EVENT, events)
                    cur.executemany(UPSERT_ALERT, newest_per_fingerprint(events))
                if incidents:
                    cur.executemany(INSERT_INCIDENT_EVENT, incidents)
                    cur.execute(PROJECT_INCIDENTS, {"keys": sorted({e["incident_key"] for e in incidents})})
                if deliveries:
                    cur.executemany(INSERT_DELIVERY, deliveries)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            self.close()  # reconnect on the next attempt
            raise WriteFailed(f"Postgres unavailable: {type(exc).__name__}: {exc}", "unavailable") from exc
        except psycopg.Error as exc:
            # Data the database refuses (a NUL byte in a text, a value out of range): retrying cannot help.
            raise WriteRejected(f"Postgres refused the batch: {type(exc).__name__}: {exc}", "rejected") from exc
        return len(events) + len(incidents) + len(deliveries)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._connect_timeout_s)
        return self._conn

    def close(self) -> None:
        """Close the connection (the next write opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
