"""`/api/v1/incidents` against a real `vigil api` and `vigil sinks`: incident events and deliveries written to
their topics as the worker and notifier would, read back through the API; commands land on the commands topic."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from kernel.kafka import make_consumer
from schemas import codec
from schemas.records import Delivery, IncidentEvent
from schemas.series_id import incident_partition
from tests.api.conftest import start_api
from tests.harness import closed_port, drop_env, free_port, wait_until
from tests.sinks.kafka_offsets import produce

pytestmark = pytest.mark.integration

INCIDENTS = "/api/v1/incidents"
T0_MS = 1_790_000_000_000  # 2026-09-21, in the past of every run
FINAL = ["OPEN", "ACKNOWLEDGED", "ESCALATED", "CRITICAL", "RESOLVED"]  # incident i ends in FINAL[i % 5]
PATHS = {"OPEN": ["OPEN"], "ACKNOWLEDGED": ["OPEN", "ACKNOWLEDGED"], "ESCALATED": ["OPEN", "ESCALATED"],
         "CRITICAL": ["OPEN", "ESCALATED", "CRITICAL"], "RESOLVED": ["OPEN", "ACKNOWLEDGED", "RESOLVED"]}
RECEIVERS = ["ops", "db-team", "web"]
HOSTILE = ['say "hi"}', "back\\slash", "x' OR '1'='1", "new\nline", "ünïcødé ✓"]
COUNT = 24
TIMELINE = 4  # the RESOLVED incident whose deliveries are written too


def key_of(i: int) -> str:
    return f"{0x5eed0000 + i:016x}.{1 + i % 3}"


@dataclass
class Seeded:
    """What was written: per incident its key, final status, receiver, severity, labels and times (ms)."""

    incidents: list[dict]
    events: list[IncidentEvent]
    deliveries: list[Delivery]


def seed_records() -> Seeded:
    """24 incidents: statuses, receivers, severities and labels cycle; 20-23 open at once, 20 and 21 also tie on
    their latest change (keyset tie-breaks)."""
    incidents, events = [], []
    for i in range(COUNT):
        opened = T0_MS + min(i, 20) * 60_000
        gap = ((i * 7) % 24 + 1) * 10_000 if i != 21 else 0
        path = PATHS[FINAL[i % 5]]
        labels = {"alertname": "DiskFull" if i % 4 == 0 else "HighCPU", "env": "prod" if i % 2 else "dev",
                  "odd": HOSTILE[i % len(HOSTILE)]}
        info = {"key": key_of(i), "status": path[-1], "receiver": RECEIVERS[i % 3],
                "severity": "critical" if i % 2 else "warning", "labels": labels, "opened": opened,
                "updated": opened + gap * (len(path) - 1)}
        incidents.append(info)
        for seq, status in enumerate(path, start=1):
            actor = {"ACKNOWLEDGED": "alice", "RESOLVED": "bob"}.get(status)
            events.append({
                "incident_key": info["key"], "sequence": seq, "status": status,
                "previous_status": path[seq - 2] if seq > 1 else None,
                "reason": {"OPEN": "first_notification", "ACKNOWLEDGED": "acknowledged",
                           "ESCALATED": "escalate_after_elapsed", "CRITICAL": "critical_after_elapsed",
                           "RESOLVED": "resolved_by_command"}[status],
                "actor": actor, "comment": "on it" if status == "ACKNOWLEDGED" else "",
                "group_key": info["key"].split(".")[0], "group_labels": labels, "route": f"0.{i % 3}",
                "receiver": info["receiver"], "escalation_policy": "default", "notified": [info["receiver"]],
                "title": f"{labels['alertname']} in {labels['env']} #{i}", "severity": info["severity"],
                "firing": 0 if status == "RESOLVED" else 1 + i % 4, "fingerprints": [f"{i:016x}"],
                "opened_at_ms": opened, "event_time_ms": opened + gap * (seq - 1)})
    shown = incidents[TIMELINE]
    gap = (shown["updated"] - shown["opened"]) // 2

    def attempt(action: str, sequence: int, n: int, at_ms: int, status: str = "DELIVERED",
                key: str = shown["key"]) -> Delivery:
        return {"dedup_key": key, "receiver": "ops", "action": action, "sequence": sequence, "fingerprint": "",
                "attempt": n, "status": status, "http_status": 200 if status == "DELIVERED" else 503,
                "response": "ok" if status == "DELIVERED" else "busy", "latency_ms": 12.5, "attempted_at_ms": at_ms}

    deliveries = [attempt("TRIGGER", 1, 1, shown["opened"] + 500, "RETRYING"),
                  attempt("TRIGGER", 1, 2, shown["opened"] + 2000),
                  attempt("ACKNOWLEDGE", 2, 1, shown["opened"] + gap),  # the same instant as the ack itself
                  attempt("RESOLVE", 3, 1, shown["updated"] + 300),
                  attempt("TRIGGER", 1, 1, shown["opened"] + 700, key=key_of(5))]  # another incident's page
    return Seeded(incidents, events, deliveries)


@pytest.fixture(scope="module")
def seeded(api) -> Seeded:
    """The records produced to the incidents and deliveries topics, stored by a running `vigil sinks`."""
    data = seed_records()
    settings = api.env.settings
    produce(settings, settings.topics.incidents,
            [(codec.incident_event().encode(e), e["incident_key"].encode(), None) for e in data.events])
    produce(settings, settings.topics.deliveries,
            [(codec.delivery().encode(d), d["dedup_key"].encode(), None) for d in data.deliveries])
    port = free_port()
    api.env.start("sinks", health_port=port, extra_env={"VIGIL_SINKS_HEALTH_PORT": str(port)})

    def stored() -> tuple:
        with psycopg.connect(api.env.dsn) as conn:
            return conn.execute("SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM incident_events), "
                                "(SELECT count(*) FROM deliveries)").fetchone()

    wait_until(lambda: stored() == (COUNT, len(data.events), len(data.deliveries)), timeout=60,
               message="incidents and deliveries stored by the sink")
    return data


def iso(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms)


def keys(answer) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["incident_key"] for item in answer.json()["items"]]


def ordered(seeded: Seeded, field: str, descending: bool, predicate=lambda i: True) -> list[str]:
    chosen = [i for i in seeded.incidents if predicate(i)]
    return [i["key"] for i in sorted(chosen, key=lambda i: (i[field], i["key"]), reverse=descending)]


def test_lists_latest_change_first_with_every_field(api, seeded):
    body = api.http.get(INCIDENTS).json()
    assert [i["incident_key"] for i in body["items"]] == ordered(seeded, "updated", True)
    assert body["next_cursor"] is None
    resolved = next(i for i in body["items"] if i["incident_key"] == key_of(TIMELINE))
    assert (resolved["status"], resolved["receiver"], resolved["firing"]) == ("RESOLVED", "db-team", 0)
    assert resolved["group_labels"] == seeded.incidents[TIMELINE]["labels"]
    assert (resolved["acknowledged_by"], resolved["resolved_by"], resolved["escalated_at"]) == ("alice", "bob", None)
    assert datetime.fromisoformat(resolved["resolved_at"]) == iso(seeded.incidents[TIMELINE]["updated"])
    assert datetime.fromisoformat(resolved["opened_at"]) == iso(seeded.incidents[TIMELINE]["opened"])
    assert resolved["sequence"] == 3 and resolved["fingerprints"] == [f"{TIMELINE:016x}"]


def test_filters_by_status_receiver_severity_labels_and_opened_time(api, seeded):
    def expect(predicate):
        return ordered(seeded, "updated", True, predicate)

    def get(**params) -> list[str]:
        return keys(api.http.get(INCIDENTS, params=params))

    assert get(status="open") == expect(lambda i: i["status"] == "OPEN")
    assert get(status=["Acknowledged", "CRITICAL"]) == expect(lambda i: i["status"] in ("ACKNOWLEDGED", "CRITICAL"))
    assert get(receiver="db-team", severity="critical") == expect(
        lambda i: i["receiver"] == "db-team" and i["severity"] == "critical")
    assert get(label=["env=prod", "alertname=HighCPU"]) == expect(
        lambda i: i["labels"]["env"] == "prod" and i["labels"]["alertname"] == "HighCPU")
    for value in HOSTILE:
        assert get(label=f"odd={value}") == expect(lambda i: i["labels"]["odd"] == value)
    since, until = T0_MS + 5 * 60_000, T0_MS + 10 * 60_000
    assert get(since=str(since / 1000), until=iso(until).isoformat()) == expect(
        lambda i: since <= i["opened"] < until)
    assert get(receiver="nobody") == [] and get(label="env=staging") == []


@pytest.mark.parametrize(("sort", "field", "descending"), [
    (None, "updated", True), ("-updated_at", "updated", True), ("-opened_at", "opened", True),
    ("opened_at", "opened", False)])
def test_every_sort_pages_through_every_incident_once_in_order(api, seeded, sort, field, descending):
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 5} | ({"sort": sort} if sort else {}) | ({"cursor": cursor} if cursor else {})
        body = api.http.get(INCIDENTS, params=params).json()
        seen += [i["incident_key"] for i in body["items"]]
        pages += 1
        if (cursor := body["next_cursor"]) is None:
            break
    assert seen == ordered(seeded, field, descending)
    assert pages == 5  # 24 incidents, 5 per page


def test_filters_and_cursor_combine_and_a_cursor_keeps_its_sort(api, seeded):
    expected = ordered(seeded, "opened", False, lambda i: i["labels"]["env"] == "prod")
    first = api.http.get(INCIDENTS, params={"label": "env=prod", "sort": "opened_at", "limit": 4}).json()
    rest = api.http.get(INCIDENTS, params={"label": "env=prod", "sort": "opened_at", "cursor": first["next_cursor"]})
    assert [i["incident_key"] for i in first["items"]] + keys(rest) == expected
    other = api.http.get(INCIDENTS, params={"cursor": first["next_cursor"]})
    assert other.status_code == 422 and other.json()["detail"] == (
        "cursor: issued for sort=opened_at; repeat that sort with this cursor")


def test_detail_merges_transitions_and_delivery_attempts_in_time_order(api, seeded):
    shown = seeded.incidents[TIMELINE]
    answer = api.http.get(f"{INCIDENTS}/{shown['key']}")
    assert answer.status_code == 200, answer.text
    detail = answer.json()
    assert detail["incident_key"] == shown["key"] and detail["status"] == "RESOLVED"
    timeline = [(e["kind"], e.get("status"), e.get("action"), e.get("attempt")) for e in detail["timeline"]]
    assert timeline == [("event", "OPEN", None, None), ("delivery", "RETRYING", "TRIGGER", 1),
                        ("delivery", "DELIVERED", "TRIGGER", 2), ("event", "ACKNOWLEDGED", None, None),
                        ("delivery", "DELIVERED", "ACKNOWLEDGE", 1), ("event", "RESOLVED", None, None),
                        ("delivery", "DELIVERED", "RESOLVE", 1)]
    ats = [datetime.fromisoformat(e["at"]) for e in detail["timeline"]]
    assert ats == sorted(ats) and ats[0] == iso(shown["opened"])
    assert [e.get("event_time_ms", e.get("attempted_at_ms")) for e in detail["timeline"]] == sorted(
        [e["event_time_ms"] for e in seeded.events if e["incident_key"] == shown["key"]]
        + [d["attempted_at_ms"] for d in seeded.deliveries if d["dedup_key"] == shown["key"]])
    ack = detail["timeline"][3]
    assert (ack["actor"], ack["comment"], ack["reason"], ack["previous_status"], ack["sequence"]) == (
        "alice", "on it", "acknowledged", "OPEN", 2)
    retry = detail["timeline"][1]
    assert (retry["receiver"], retry["http_status"], retry["response"], retry["latency_ms"]) == (
        "ops", 503, "busy", 12.5)
    plain = api.http.get(f"{INCIDENTS}/{key_of(1)}").json()
    assert [e["kind"] for e in plain["timeline"]] == ["event", "event"]


class CommandsReader:
    """Reads the commands topic from the beginning: (partition, key, decoded Command) of each record."""

    def __init__(self, settings) -> None:
        self.consumer = make_consumer(settings, f"commands-reader-{time.monotonic_ns()}")
        wait_until(lambda: settings.topics.commands in self.consumer.list_topics(timeout=5).topics,
                   message="commands topic exists")
        self.consumer.subscribe([settings.topics.commands])
        self.records: list[tuple[int, bytes, dict]] = []

    def read(self, until, timeout: float = 30.0, then_s: float = 2.0) -> list[tuple[int, bytes, dict]]:
        """Poll until `until(records)` holds, then `then_s` more (to catch a duplicate); returns every record."""
        deadline = time.monotonic() + timeout
        while not until(self.records):
            assert time.monotonic() < deadline, f"commands not seen; got {self.records!r}"
            self._poll()
        settle = time.monotonic() + then_s
        while time.monotonic() < settle:
            self._poll()
        return self.records

    def _poll(self) -> None:
        msg = self.consumer.poll(0.2)
        if msg is not None and not msg.error():
            self.records.append((msg.partition(), msg.key(), codec.command().decode(msg.value())))

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def commands(api):
    reader = CommandsReader(api.env.settings)
    yield reader
    reader.close()


@pytest.mark.parametrize(("i", "verb", "action"), [(5, "acknowledge", "ACKNOWLEDGE"), (10, "resolve", "RESOLVE"),
                                                   (6, "escalate", "ESCALATE")])
def test_a_command_is_accepted_once_kafka_has_it_on_the_incident_partition(api, seeded, commands, i, verb, action):
    key = key_of(i)
    before = time.time() * 1000
    answer = api.http.post(f"{INCIDENTS}/{key}/{verb}", json={"actor": "alice", "comment": "on it ✓"})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert (body["incident_key"], body["action"]) == (key, action) and len(body["command_id"]) == 32
    mine = commands.read(lambda rs: any(r[2]["command_id"] == body["command_id"] for r in rs))
    mine = [r for r in mine if r[2]["incident_key"] == key]
    assert len(mine) == 1, mine
    partition, record_key, command = mine[0]
    assert partition == incident_partition(key, api.env.settings.metrics_partitions)
    assert record_key == key.encode()
    assert command | {"issued_at_ms": 0} == {"command_id": body["command_id"], "incident_key": key, "action": action,
                                             "actor": "alice", "comment": "on it ✓", "issued_at_ms": 0}
    assert before - 1000 <= command["issued_at_ms"] <= time.time() * 1000 + 1000
    # Commands don't change Postgres: the worker does, through a new incident event.
    assert api.http.get(f"{INCIDENTS}/{key}").json()["status"] == FINAL[i % 5]


def test_unknown_incident_is_404_and_a_resolved_one_is_409_and_nothing_is_sent(api, seeded, commands):
    unknown = "00000000000000ff.1"
    for verb in ("acknowledge", "resolve", "escalate"):
        missing = api.http.post(f"{INCIDENTS}/{unknown}/{verb}", json={"actor": "alice"})
        assert missing.status_code == 404, missing.text
        assert missing.json()["detail"] == f"key: no incident with key {unknown}"
        resolved = api.http.post(f"{INCIDENTS}/{key_of(9)}/{verb}", json={"actor": "alice"})
        assert resolved.status_code == 409, resolved.text
        assert resolved.json()["errors"][0]["loc"] == ["path", "key"]
        assert "already resolved" in resolved.json()["detail"]
    assert api.http.get(f"{INCIDENTS}/{unknown}").status_code == 404
    # A later, accepted command is the first on the topic for those keys: the refused ones were never sent.
    accepted = api.http.post(f"{INCIDENTS}/{key_of(0)}/acknowledge", json={"actor": "carol"}).json()
    records = commands.read(lambda rs: any(r[2]["command_id"] == accepted["command_id"] for r in rs), then_s=0)
    assert not [r for r in records if r[2]["incident_key"] in (unknown, key_of(9))]


@pytest.mark.parametrize(("body", "loc", "words"), [
    (None, ["body"], "required"),
    ({"actor": "   "}, ["body", "actor"], "blank"),
    ({"actor": "a" * 201}, ["body", "actor"], "at most 200"),
    ({"actor": 7}, ["body", "actor"], "string"),
    ({"actor": ["alice"]}, ["body", "actor"], "string"),
    ({"actor": "alice", "comment": "c" * 1001}, ["body", "comment"], "at most 1000"),
    ({"actor": "alice", "comment": "x" * 1_000_000}, ["body", "comment"], "at most 1000"),
    ({"actor": "alice", "comment": None}, ["body", "comment"], "string"),
    ({"actor": "al\x00ice"}, ["body", "actor"], "NUL"),
    ({"actor": "alice", "comment": "a\x00b"}, ["body", "comment"], "NUL"),
    ({"actor": "alice\ud800"}, ["body", "actor"], "unicode"),
    ({"actor": "alice", "acknowledged_by": "x"}, ["body", "acknowledged_by"], "Extra"),
])
def test_bad_command_bodies_are_422_naming_the_field(api, seeded, body, loc, words):
    # json.dumps escapes a lone surrogate as \\ud800, as a client in another language would send it.
    raw = b"" if body is None else json.dumps(body).encode()
    answer = api.http.post(f"{INCIDENTS}/{key_of(5)}/acknowledge", content=raw,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    problem = answer.json()["errors"][0]
    assert problem["loc"] == loc and words in problem["msg"], answer.json()


def test_malformed_command_bodies_are_4xx_never_500(api, seeded):
    for raw, content_type in ((b'{"actor": "alice",', "application/json"), (b"\xff\xfe", "application/json"),
                              (b'["alice"]', "application/json"), (b"actor=alice", "text/plain")):
        answer = api.http.post(f"{INCIDENTS}/{key_of(5)}/acknowledge", content=raw,
                               headers={"Content-Type": content_type})
        assert 400 <= answer.status_code < 500 and answer.json()["detail"], answer.text


@pytest.mark.parametrize("path", ["x'%20OR%20'1'%3D'1", "5eed0000.1%3B%20DROP%20TABLE%20incidents", "a%00b",
                                  "00000000005eed05", "00000000005EED05.1", "00000000005eed05.1.2", "a" * 300,
                                  "00000000005eed05.-1"])
def test_hostile_keys_are_422_naming_the_key_never_5xx(api, seeded, path):
    for answer in (api.http.get(f"{INCIDENTS}/{path}"),
                   api.http.post(f"{INCIDENTS}/{path}/acknowledge", json={"actor": "alice"})):
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["loc"] == ["path", "key"]
        assert answer.json()["detail"].startswith("key: ")


@pytest.mark.parametrize(("params", "name"), [
    ({"limit": "1000000000"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"status": "burning"}, "status"),
    ({"sort": "title"}, "sort"),
    ({"sort": "-updated_at; DROP TABLE incidents"}, "sort"),
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-11-01T12:00:00"}, "until"),  # no time zone
    ({"since": "1800000000", "until": "1700000000"}, "until"),
    ({"label": "no-equals-sign"}, "label"),
    ({"label": "host}=x"}, "label"),
    ({"label": [f"l{i}=v" for i in range(21)]}, "label"),
    ({"receiver": "r" * 201}, "receiver"),
    ({"severity": "pa\x00ge"}, "severity"),
    ({"cursor": "not a cursor!"}, "cursor"),
    ({"cursor": "A" * 5000}, "cursor"),
    ({"statuss": "open"}, "statuss"),
    ({"key": "x"}, "key"),
])
def test_bad_list_parameters_are_422_naming_the_parameter(api, seeded, params, name):
    answer = api.http.get(INCIDENTS, params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(f"{name}: ") and answer.json()["errors"][0]["loc"][-1] == name


def test_unknown_query_parameters_are_refused_on_detail_and_commands_too(api, seeded):
    detail = api.http.get(f"{INCIDENTS}/{key_of(1)}", params={"expand": "all"})
    command = api.http.post(f"{INCIDENTS}/{key_of(1)}/acknowledge", params={"actor": "alice"}, json={"actor": "a"})
    for answer in (detail, command):
        assert answer.status_code == 422 and answer.json()["detail"].startswith(
            ("expand: unknown parameter", "actor: unknown parameter")), answer.text


def test_no_request_of_this_module_was_answered_500(api, seeded):
    metrics = api.http.get("/metrics/").text
    assert 'route="/api/v1/incidents/{key}/acknowledge"' in metrics
    assert not [line for line in metrics.splitlines() if 'status="500"' in line]
    assert "Traceback" not in api.env.log(api.env.processes[0])


def test_kafka_not_acknowledging_is_503_with_retry_after(stack):
    running = start_api(stack, ready_path="/openapi.json", VIGIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{closed_port()}")
    key = key_of(0)
    try:
        with psycopg.connect(running.env.dsn) as conn:
            conn.execute("""INSERT INTO incidents (incident_key, group_key, group_labels, route, receiver, status,
                            title, severity, firing, fingerprints, opened_at, updated_at, sequence)
                            VALUES (%s, %s, '{}', '0', 'ops', 'OPEN', 't', 'critical', 1, '[]', now(), now(), 1)""",
                         (key, key.split(".")[0]))
        started = time.monotonic()
        answer = running.http.post(f"{INCIDENTS}/{key}/acknowledge", json={"actor": "alice"})
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5", answer.text
        assert answer.json()["detail"].startswith("kafka unavailable") and "retry" in answer.json()["detail"]
        assert time.monotonic() - started < 15
    finally:
        running.http.close()
        drop_env(running.env)
