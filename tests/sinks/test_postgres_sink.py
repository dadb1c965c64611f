"""`vigil sinks`, Postgres side: alert/incident transitions and deliveries land once; states only move forward."""

from __future__ import annotations

from datetime import datetime

import psycopg
import pytest

from schemas import codec
from schemas.records import AlertEvent, Delivery, IncidentEvent
from sinks.base import Consumed, WriteRejected
from sinks.postgres import PostgresSink
from tests.harness import free_port, wait_until
from tests.sinks.kafka_offsets import committed, merge_ends, metric, produce

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_123


def alert(fingerprint: str, sequence: int, status: str, **changes) -> AlertEvent:
    """An AlertEvent as streams/ publishes it; RESOLVED ones carry ends_at."""
    return {"fingerprint": fingerprint, "sequence": sequence, "status": status, "rule_id": "cpu-high",
            "rule_version": 2, "alertname": "CpuHigh", "labels": {"host": "web 1", "severity": "critical"},
            "annotations": {"summary": "CPU above 90%"}, "value": 97.5, "series_id": 42,
            "starts_at_ms": T0, "ends_at_ms": T0 + 60_000 if status == "RESOLVED" else None,
            "event_time_ms": T0 + 1000 * sequence, **changes}


def delivery(fingerprint: str, attempt: int, **changes) -> Delivery:
    """One delivery attempt of the page for `fingerprint`."""
    return {"dedup_key": f"dk-{fingerprint}", "receiver": "slack", "action": "TRIGGER", "sequence": 1,
            "fingerprint": fingerprint, "attempt": attempt, "status": "DELIVERED", "http_status": 200,
            "response": "ok", "latency_ms": 12.5, "attempted_at_ms": T0 + 5_000 + attempt, **changes}


def ms(dt: datetime) -> int:
    """Milliseconds since the epoch of a timestamptz read back."""
    return round(dt.timestamp() * 1000)


def produce_alerts(vigil_env, events: list[AlertEvent]) -> dict[int, int]:
    """Produce AlertEvents keyed by fingerprint; returns the partition ends."""
    return produce(vigil_env.settings, vigil_env.settings.topics.alerts,
                   [(codec.alert_event().encode(e), e["fingerprint"].encode(), None) for e in events])


def produce_deliveries(vigil_env, deliveries: list[Delivery]) -> dict[int, int]:
    """Produce Deliveries keyed by dedup key; returns the partition ends."""
    return produce(vigil_env.settings, vigil_env.settings.topics.deliveries,
                   [(codec.delivery().encode(d), d["dedup_key"].encode(), None) for d in deliveries])


def caught_up(vigil_env, alert_ends: dict[int, int], delivery_ends: dict[int, int]) -> bool:
    """The Postgres sink's group committed everything produced to both of its topics."""
    group, topics, settings = f"{vigil_env.prefix}.sinks.postgres", vigil_env.settings.topics, vigil_env.settings
    return (committed(settings, group, topics.alerts, alert_ends) == alert_ends
            and committed(settings, group, topics.deliveries, delivery_ends) == delivery_ends)


def start_sinks(vigil_env) -> tuple[object, int]:
    """Start `vigil sinks`; returns the process and its health/metrics port."""
    port = free_port()
    return vigil_env.start("sinks", health_port=port, extra_env={"VIGIL_SINKS_HEALTH_PORT": str(port)}), port


def test_alert_lifecycle_survives_redelivery_stale_events_and_restart(vigil_env):
    alert_ends = produce_alerts(vigil_env, [alert("f1", 1, "FIRING"), alert("f1", 2, "RESOLVED"),
                                            alert("f2", 1, "FIRING", labels={"host": "db"})])
    delivery_ends = produce_deliveries(vigil_env, [delivery("f1", 1), delivery("f1", 2)])
    sinks, _ = start_sinks(vigil_env)
    wait_until(lambda: caught_up(vigil_env, alert_ends, delivery_ends), message="postgres sink caught up")

    with psycopg.connect(vigil_env.dsn) as conn:
        row = conn.execute("SELECT status, sequence, severity, starts_at, ends_at, updated_at, labels, value "
                           "FROM alerts WHERE fingerprint = 'f1'").fetchone()
        assert row[:3] == ("RESOLVED", 2, "critical")
        assert [ms(t) for t in row[3:6]] == [T0, T0 + 60_000, T0 + 2000]
        assert row[6] == {"host": "web 1", "severity": "critical"} and row[7] == 97.5
        assert conn.execute("SELECT status, severity FROM alerts WHERE fingerprint = 'f2'").fetchone() == ("FIRING", "")
        assert conn.execute("SELECT sequence, status FROM alert_events WHERE fingerprint = 'f1' ORDER BY sequence"
                            ).fetchall() == [(1, "FIRING"), (2, "RESOLVED")]
        attempts = conn.execute("SELECT attempt, http_status, attempted_at FROM deliveries ORDER BY attempt").fetchall()
        assert [(a, s, ms(t)) for a, s, t in attempts] == [(1, 200, T0 + 5001), (2, 200, T0 + 5002)]

    sinks.stop()  # SIGTERM: finish, commit, exit 0
    assert sinks.popen.returncode == 0, vigil_env.log(sinks)
    assert caught_up(vigil_env, alert_ends, delivery_ends)

    # Redelivery of both transitions, then the older one again after the newer: nothing may change.
    alert_ends = merge_ends(alert_ends, produce_alerts(vigil_env, [alert("f1", 2, "RESOLVED"),
                                                                    alert("f1", 1, "FIRING")]))
    delivery_ends = merge_ends(delivery_ends, produce_deliveries(vigil_env, [delivery("f1", 2)]))
    _, port = start_sinks(vigil_env)
    wait_until(lambda: caught_up(vigil_env, alert_ends, delivery_ends), message="restarted sink caught up")

    # The restarted sink resumed from the committed offsets: it wrote the 3 new records, not the old 5 again.
    assert metric(port, "vigil_sink_records_written_total", sink="postgres") == 3
    with psycopg.connect(vigil_env.dsn) as conn:
        row = conn.execute("SELECT status, sequence FROM alerts WHERE fingerprint = 'f1'").fetchone()
        assert row == ("RESOLVED", 2)
        assert conn.execute("SELECT count(*) FROM alert_events WHERE fingerprint = 'f1'").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM deliveries").fetchone() == (2,)


def consumed(vigil_env, *events: AlertEvent) -> list[Consumed]:
    """AlertEvents as the sink loop hands them to a sink."""
    return [Consumed(vigil_env.settings.topics.alerts, 0, i, e) for i, e in enumerate(events)]


def test_an_older_transition_in_a_later_batch_does_not_roll_the_alert_back(vigil_env):
    sink = PostgresSink(vigil_env.dsn, vigil_env.settings.topics)
    try:
        assert sink.write(consumed(vigil_env, alert("f3", 2, "RESOLVED"))) == 1
        sink.write(consumed(vigil_env, alert("f3", 1, "FIRING", value=1.0)))
        sink.write(consumed(vigil_env, alert("f3", 3, "FIRING", value=3.0), alert("f3", 3, "FIRING", value=3.0)))
    finally:
        sink.close()
    with psycopg.connect(vigil_env.dsn) as conn:
        assert conn.execute("SELECT status, sequence, value FROM alerts WHERE fingerprint = 'f3'"
                            ).fetchone() == ("FIRING", 3, 3.0)
        assert conn.execute("SELECT array_agg(sequence ORDER BY sequence) FROM alert_events").fetchone() == ([1, 2, 3],)


def test_a_record_postgres_refuses_is_a_permanent_error_and_the_sink_keeps_working(vigil_env):
    sink = PostgresSink(vigil_env.dsn, vigil_env.settings.topics)
    try:
        with pytest.raises(WriteRejected, match="NUL"):
            sink.write(consumed(vigil_env, alert("f4", 1, "FIRING", alertname="bad\x00name")))
        assert sink.write(consumed(vigil_env, alert("f4", 1, "FIRING"))) == 1
    finally:
        sink.close()
    with psycopg.connect(vigil_env.dsn) as conn:
        assert conn.execute("SELECT alertname FROM alerts WHERE fingerprint = 'f4'").fetchone() == ("CpuHigh",)


def test_refused_and_undecodable_records_are_skipped_loudly_and_their_neighbours_stored(vigil_env):
    topic = vigil_env.settings.topics.alerts
    good_and_refused = [alert("g1", 1, "FIRING"), alert("g2", 1, "FIRING", alertname="nul\x00"),
                        alert("g3", 1, "FIRING")]
    # All on one partition, so the garbage and the refused record sit between good ones.
    records = [(codec.alert_event().encode(e), e["fingerprint"].encode(), 0) for e in good_and_refused]
    records.insert(1, (b"not avro at all", b"junk", 0))
    ends = produce(vigil_env.settings, topic, records)
    sinks, port = start_sinks(vigil_env)
    wait_until(lambda: caught_up(vigil_env, ends, {}), message="postgres sink caught up")
    with psycopg.connect(vigil_env.dsn) as conn:
        assert [r[0] for r in conn.execute("SELECT fingerprint FROM alerts ORDER BY 1")] == ["g1", "g3"]
    assert metric(port, "vigil_sink_records_dropped_total", sink="postgres") == 1
    assert metric(port, "vigil_sink_undecodable_total", sink="postgres") == 1
    log = vigil_env.log(sinks)
    assert f"DROPPED record {topic}[0]@2" in log and "undecodable" in log, log
    assert sinks.alive()


def test_a_new_episode_after_a_broker_reset_restarts_at_sequence_1_and_still_lands(vigil_env):
    """The in-memory broker forgets the streams' state on a stack restart; Postgres doesn't."""
    first = [alert("f9", 1, "FIRING"), alert("f9", 2, "RESOLVED")]
    later = T0 + 3_600_000
    reset = [alert("f9", 1, "FIRING", event_time_ms=later, starts_at_ms=later),
             alert("f9", 1, "FIRING", event_time_ms=later, starts_at_ms=later)]  # and one redelivery
    alert_ends = produce_alerts(vigil_env, first + reset)
    delivery_ends = produce_deliveries(vigil_env, [delivery("f9", 1), delivery("f9", 1, attempted_at_ms=later)])
    start_sinks(vigil_env)
    wait_until(lambda: caught_up(vigil_env, alert_ends, delivery_ends), message="postgres sink caught up")
    with psycopg.connect(vigil_env.dsn) as conn:
        status, sequence, updated = conn.execute(
            "SELECT status, sequence, updated_at FROM alerts WHERE fingerprint = 'f9'").fetchone()
        assert (status, sequence, ms(updated)) == ("FIRING", 1, later)
        history = conn.execute("SELECT sequence, status FROM alert_events WHERE fingerprint = 'f9' "
                               "ORDER BY event_time, sequence").fetchall()
        assert history == [(1, "FIRING"), (2, "RESOLVED"), (1, "FIRING")]
        assert conn.execute("SELECT count(*) FROM deliveries WHERE fingerprint = 'f9'").fetchone()[0] == 2


INCIDENT = "00c0ffee00c0ffee.1"


def incident(sequence: int, status: str, key: str = INCIDENT, **changes) -> IncidentEvent:
    """An IncidentEvent as the streams worker publishes it (transition `sequence` of the incident)."""
    return {"incident_key": key, "sequence": sequence, "status": status, "previous_status": None,
            "reason": "first_notification", "actor": None, "comment": "", "group_key": key.split(".")[0],
            "group_labels": {"alertname": "HighCPU", "env": "prod"}, "route": "0.1", "receiver": "ops",
            "escalation_policy": "default", "notified": ["ops"], "title": "HighCPU in prod", "severity": "critical",
            "firing": 2, "fingerprints": ["f1", "f2"], "opened_at_ms": T0, "event_time_ms": T0 + 1000 * sequence,
            **changes}


def produce_incidents(vigil_env, events: list[IncidentEvent]) -> dict[int, int]:
    """Produce IncidentEvents keyed by incident key, encoded with the codec as the worker does."""
    return produce(vigil_env.settings, vigil_env.settings.topics.incidents,
                   [(codec.incident_event().encode(e), e["incident_key"].encode(), None) for e in events])


def incident_row(conn, key: str = INCIDENT) -> tuple:
    """(status, sequence, acknowledged_by, resolved_by, ms of acknowledged/resolved/escalated/updated_at)."""
    row = conn.execute("SELECT status, sequence, acknowledged_by, resolved_by, acknowledged_at, resolved_at, "
                       "escalated_at, updated_at FROM incidents WHERE incident_key = %s", (key,)).fetchone()
    return (*row[:4], *(None if t is None else ms(t) for t in row[4:]))


def test_incident_transitions_land_once_and_a_redelivery_after_a_restart_changes_nothing(vigil_env):
    acked = incident(2, "ACKNOWLEDGED", previous_status="OPEN", reason="acknowledged", actor="alice",
                     comment="looking")
    ends = produce_incidents(vigil_env, [incident(1, "OPEN"), acked,
                                         incident(3, "RESOLVED", reason="all_alerts_resolved", firing=0),
                                         incident(1, "OPEN", key="0badcafe0badcafe.4", receiver="db-team")])
    sinks, _ = start_sinks(vigil_env)
    group, topic = f"{vigil_env.prefix}.sinks.postgres", vigil_env.settings.topics.incidents
    wait_until(lambda: committed(vigil_env.settings, group, topic, ends) == ends, message="incidents stored")
    with psycopg.connect(vigil_env.dsn) as conn:
        assert incident_row(conn) == ("RESOLVED", 3, "alice", None, T0 + 2000, T0 + 3000, None, T0 + 3000)
        assert conn.execute("SELECT group_labels, fingerprints, firing, opened_at, receiver FROM incidents "
                            "WHERE incident_key = %s", (INCIDENT,)).fetchone()[:3] == (
            {"alertname": "HighCPU", "env": "prod"}, ["f1", "f2"], 0)
        assert conn.execute("SELECT receiver, status FROM incidents WHERE incident_key = '0badcafe0badcafe.4'"
                            ).fetchone() == ("db-team", "OPEN")
        assert conn.execute("SELECT sequence, status, actor, comment FROM incident_events WHERE incident_key = %s "
                            "ORDER BY sequence", (INCIDENT,)).fetchall() == [
            (1, "OPEN", None, ""), (2, "ACKNOWLEDGED", "alice", "looking"), (3, "RESOLVED", None, "")]
        before = conn.execute("SELECT xmin::text FROM incidents WHERE incident_key = %s", (INCIDENT,)).fetchone()
    sinks.stop()
    assert sinks.popen.returncode == 0, vigil_env.log(sinks)

    ends = merge_ends(ends, produce_incidents(vigil_env, [acked, incident(1, "OPEN")]))
    _, port = start_sinks(vigil_env)
    wait_until(lambda: committed(vigil_env.settings, group, topic, ends) == ends, message="redelivery consumed")
    assert metric(port, "vigil_sink_records_written_total", sink="postgres") == 2
    with psycopg.connect(vigil_env.dsn) as conn:
        assert incident_row(conn)[:2] == ("RESOLVED", 3)
        assert conn.execute("SELECT count(*) FROM incident_events").fetchone() == (4,)
        # Not even rewritten: the row version is the one from before the redelivery.
        assert conn.execute("SELECT xmin::text FROM incidents WHERE incident_key = %s",
                            (INCIDENT,)).fetchone() == before


def incidents_consumed(vigil_env, *events: IncidentEvent) -> list[Consumed]:
    """IncidentEvents as the sink loop hands them to a sink."""
    return [Consumed(vigil_env.settings.topics.incidents, 0, i, e) for i, e in enumerate(events)]


def test_incident_transitions_out_of_order_never_roll_back_and_a_late_ack_is_kept(vigil_env):
    sink = PostgresSink(vigil_env.dsn, vigil_env.settings.topics)
    escalated = incident(3, "ESCALATED", reason="escalate_after_elapsed", notified=["ops", "lead"])
    try:
        assert sink.write(incidents_consumed(vigil_env, escalated)) == 1
        with psycopg.connect(vigil_env.dsn) as conn:
            assert incident_row(conn) == ("ESCALATED", 3, None, None, None, None, T0 + 3000, T0 + 3000)
        # The acknowledgement before it arrives late: the state stays at sequence 3, the ack is recorded.
        sink.write(incidents_consumed(vigil_env, incident(2, "ACKNOWLEDGED", actor="bob", reason="acknowledged"),
                                      incident(1, "OPEN")))
        with psycopg.connect(vigil_env.dsn) as conn:
            assert incident_row(conn) == ("ESCALATED", 3, "bob", None, T0 + 2000, None, T0 + 3000, T0 + 3000)
        # Newest and older in one batch, the newest first: the newest wins.
        sink.write(incidents_consumed(vigil_env, incident(5, "RESOLVED", actor="carol", reason="resolved_by_command"),
                                      incident(4, "CRITICAL"), escalated))
        with psycopg.connect(vigil_env.dsn) as conn:
            assert incident_row(conn) == ("RESOLVED", 5, "bob", "carol", T0 + 2000, T0 + 5000, T0 + 3000, T0 + 5000)
        # After a broker reset the key is reused by a later incident starting at sequence 1: it replaces the row.
        later = T0 + 3_600_000
        sink.write(incidents_consumed(vigil_env, incident(1, "OPEN", opened_at_ms=later, event_time_ms=later)))
    finally:
        sink.close()
    with psycopg.connect(vigil_env.dsn) as conn:
        assert incident_row(conn) == ("OPEN", 1, None, None, None, None, None, T0 + 3_600_000)
        assert conn.execute("SELECT count(*) FROM incident_events").fetchone() == (6,)
