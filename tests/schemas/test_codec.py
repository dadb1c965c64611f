"""Single-object encoding: every record round-trips, and foreign bytes fail clearly."""

from __future__ import annotations

import pytest

from schemas import codec
from schemas.series_id import fingerprint, partition_for, series_id, series_key

_BATCH = {"partition": 3, "source": "influx", "accepted_at_ms": 1_700_000_000_123, "samples": [
    {"series_id": -42, "name": "cpu_usage_user", "labels": {"host": "web-1", "cpu": "cpu0"}, "value": 97.5,
     "timestamp_ms": 1_700_000_000_000}]}
EXAMPLES = {
    "metric_batch": _BATCH,
    "series_batch": _BATCH,
    "reject": {"protocol": "influx", "source": "127.0.0.1", "location": "line 3", "reason": "bad field",
               "payload": b"cpu x=", "received_at_ms": 1},
    "alert_event": {"fingerprint": "0123456789abcdef", "sequence": 2, "status": "RESOLVED", "rule_id": "r",
                    "rule_version": 1, "alertname": "A", "labels": {"alertname": "A"}, "annotations": {},
                    "value": 1.0, "series_id": 7, "starts_at_ms": 1, "ends_at_ms": 2, "event_time_ms": 2},
    "notification": {"dedup_key": "k", "receiver": "slack", "action": "TRIGGER", "sequence": 1, "fingerprint": "f",
                     "severity": "page", "title": "t", "text": "x", "labels": {}, "annotations": {},
                     "event_time_ms": 1, "created_at_ms": 2, "incident_key": "0123456789abcdef.1",
                     "incident_status": "OPEN", "reason": "first_notification", "group_key": '{}/{}:{a="1"}',
                     "group_labels": {"a": "1"}, "common_labels": {"a": "1"}, "common_annotations": {},
                     "alerts": [{"fingerprint": "f", "status": "firing", "alertname": "A", "labels": {"a": "1"},
                                 "annotations": {}, "starts_at_ms": 1, "ends_at_ms": None, "value": 2.0}],
                     "truncated_alerts": 0},
    "delivery": {"dedup_key": "k", "receiver": "slack", "action": "RESOLVE", "sequence": 2, "fingerprint": "f",
                 "attempt": 1, "status": "DELIVERED", "http_status": 200, "response": "ok", "latency_ms": 3.5,
                 "attempted_at_ms": 9},
    "incident_event": {"incident_key": "0123456789abcdef.1", "sequence": 2, "status": "ACKNOWLEDGED",
                       "previous_status": "OPEN", "reason": "acknowledged", "actor": "alice", "comment": "on it",
                       "group_key": "{}:{a=\"1\"}", "group_labels": {"a": "1"}, "route": "0", "receiver": "pager",
                       "escalation_policy": "default", "notified": ["pager"], "title": "A", "severity": "page",
                       "firing": 1, "fingerprints": ["f"], "opened_at_ms": 1, "event_time_ms": 5},
    "command": {"command_id": "c1", "incident_key": "0123456789abcdef.1", "action": "ACKNOWLEDGE",
                "actor": "alice", "comment": "", "issued_at_ms": 3},
    "silence": {"id": "s1", "version": 1, "deleted": False, "matchers": [{"name": "env", "op": "=~", "value": "dev|ci"}],
                "starts_at_ms": 1, "ends_at_ms": 2, "created_by": "bob", "comment": "deploy", "updated_at_ms": 1},
    "rule": {"id": "high-cpu", "version": 3, "deleted": False, "spec": '{"alert": "HighCPU"}',
             "updated_at_ms": 1_700_000_000_000, "updated_by": "cli"},
}


@pytest.mark.parametrize("name", codec.SCHEMA_NAMES)
def test_round_trip(name):
    c = getattr(codec, name)()
    encoded = c.encode(EXAMPLES[name])
    assert encoded[:2] == b"\xc3\x01" and encoded[2:10] == c.fingerprint
    assert c.decode(encoded) == EXAMPLES[name]


def test_foreign_bytes_are_a_clear_error():
    c = codec.alert_event()
    with pytest.raises(codec.DecodeError, match="no C3 01 header"):
        c.decode(b'{"json": true}')
    with pytest.raises(codec.DecodeError, match="unknown writer schema fingerprint"):
        c.decode(b"\xc3\x01" + b"\x00" * 8 + b"body")
    with pytest.raises(codec.DecodeError, match="corrupt body"):
        c.decode(c.encode(EXAMPLES["alert_event"])[:14])


def test_fingerprint_is_the_avro_spec_crc64_little_endian():
    # The Avro spec's own test vector: CRC-64-AVRO of the canonical form of "int".
    assert codec.schema_fingerprint("int").hex() == "8f5c393f1ad57572"


def test_series_id_is_stable_and_label_order_free():
    a = series_id("cpu", {"host": "a", "cpu": "0"})
    assert a == series_id("cpu", {"cpu": "0", "host": "a"})
    assert a != series_id("cpu", {"host": "a", "cpu": "1"})
    assert a != series_id("cpu2", {"host": "a", "cpu": "0"})
    # No ambiguity between a label boundary and the characters inside values.
    assert series_key("m", {"a": "b1:c0:"}) != series_key("m", {"a": "b", "c": ""})
    assert series_key("m", {"a": "b\x00c\x01d"}) != series_key("m", {"a": "b", "c": "d"})
    assert -(2**63) <= a < 2**63
    assert series_id("cpu", {"host": "a"}) == -2492779907961522901  # never changes across releases


def test_partition_is_a_function_of_the_series():
    ids = [series_id("m", {"i": str(i)}) for i in range(2000)]
    parts = [partition_for(i, 8) for i in ids]
    assert set(parts) == set(range(8))
    assert min(parts.count(p) for p in range(8)) > 150  # spread, not all on one partition
    assert fingerprint({"a": "1"}) == fingerprint({"a": "1"}) and len(fingerprint({"a": "1"})) == 16
