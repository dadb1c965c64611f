"""`/api/v1/stream` against a real `vigil api`: records produced to the env's alerts and incidents topics arrive as
Server-Sent Events, filtered per client; bad filters and missing keys are refused; a client that goes away is forgotten."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import httpx
import psycopg
import pytest

from api.live import LiveEvent, LiveFeed
from schemas import codec
from schemas.records import AlertEvent, IncidentEvent
from schemas.topics import Topics
from tests.api.conftest import RunningApi
from tests.harness import create_key, drop_env, free_port, new_env, wait_http, wait_until
from tests.sinks.kafka_offsets import produce

STREAM = "/api/v1/stream"
HEARTBEAT_S = 1  # the API's heartbeat here: a reader never waits long for a line
NOW_MS = int(time.time() * 1000)
HOSTILE_TITLE = 'disk "full" </script><b>x</b>\nsecond line ✓'


def alert(fingerprint: str, sequence: int, status: str, labels: dict[str, str]) -> AlertEvent:
    """An alert transition as the streams worker publishes it."""
    return {"fingerprint": fingerprint, "sequence": sequence, "status": status, "rule_id": "disk", "rule_version": 1,
            "alertname": labels.get("alertname", "DiskFull"), "labels": labels, "annotations": {"summary": "full"},
            "value": float("nan") if fingerprint == "00000000000000a2" else 97.5, "series_id": 7,
            "starts_at_ms": NOW_MS, "ends_at_ms": NOW_MS + 1000 if status == "RESOLVED" else None,
            "event_time_ms": NOW_MS + sequence}


def incident(key: str, sequence: int, status: str, previous: str | None) -> IncidentEvent:
    """An incident transition as the streams worker publishes it."""
    return {"incident_key": key, "sequence": sequence, "status": status, "previous_status": previous,
            "reason": "acknowledged" if status == "ACKNOWLEDGED" else "first_notification",
            "actor": "alice" if status == "ACKNOWLEDGED" else None, "comment": "", "group_key": key.split(".")[0],
            "group_labels": {"alertname": "DiskFull", "env": "prod"}, "route": "0", "receiver": "ops",
            "escalation_policy": "", "notified": ["ops"], "title": HOSTILE_TITLE, "severity": "critical",
            "firing": 1, "fingerprints": ["00000000000000a1"], "opened_at_ms": NOW_MS, "event_time_ms": NOW_MS + sequence}


def publish_alerts(settings, events: list[AlertEvent]) -> None:
    produce(settings, settings.topics.alerts,
            [(codec.alert_event().encode(e), e["fingerprint"].encode(), None) for e in events])


def publish_incidents(settings, events: list[IncidentEvent]) -> None:
    produce(settings, settings.topics.incidents,
            [(codec.incident_event().encode(e), e["incident_key"].encode(), None) for e in events])


class SseReader:
    """Reads one stream in a thread, as a browser would parse it: events (type, id, data) and comment lines."""

    def __init__(self, client: httpx.Client, **params) -> None:
        self._client = client
        self._params = params
        self.events: list[tuple[str, str, dict]] = []
        self.comments: list[str] = []
        self.headers: httpx.Headers | None = None
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.connected.wait(15), f"stream {params} did not start"

    def _run(self) -> None:
        with self._client.stream("GET", STREAM, params=self._params) as response:
            assert response.status_code == 200, response.read()
            self.headers = response.headers
            kind, event_id, data = "", "", []
            for line in response.iter_lines():
                if self._stop.is_set():
                    return  # leaving the block closes the connection: the client went away
                if line.startswith(":"):
                    self.comments.append(line)
                    self.connected.set()
                elif line == "":
                    if data:
                        self.events.append((kind, event_id, json.loads("\n".join(data))))
                    kind, event_id, data = "", "", []
                else:
                    field, _, value = line.partition(":")
                    value = value.removeprefix(" ")
                    if field == "event":
                        kind = value
                    elif field == "id":
                        event_id = value
                    elif field == "data":
                        data.append(value)

    def ids(self) -> list[str]:
        return [event_id for _, event_id, _ in self.events]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=HEARTBEAT_S * 5)


@pytest.fixture(scope="module")
def live(stack):
    """A `vigil api` started after three alert transitions were written (Tansu's end offset would re-read them)."""
    env = new_env(stack)
    publish_alerts(env.settings, [alert("00000000000000f0", n, "FIRING", {"env": "prod"}) for n in (1, 2, 3)])
    port = free_port()
    proc = env.start("api", extra_env={"VIGIL_API_PORT": str(port), "VIGIL_API_STREAM_HEARTBEAT_S": str(HEARTBEAT_S)})
    wait_http(f"http://127.0.0.1:{port}/healthz", proc)
    key = create_key(env.dsn, "viewer", "stream-viewer")
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=httpx.Timeout(10, read=HEARTBEAT_S * 5),
                        headers={"Authorization": f"Bearer {key}"})
    yield RunningApi(env, http)
    http.close()
    drop_env(env)


def metric(api: RunningApi, name: str) -> float:
    """A sample of the API's own /metrics."""
    text = api.http.get("/metrics/").text
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


@pytest.mark.integration
def test_changes_arrive_filtered_per_client(live):
    readers = {"all": SseReader(live.http),
               "prod_db_critical_alerts": SseReader(live.http, kind="alert", severity="critical",
                                                    label=["env=prod", "team=db"]),
               "acknowledged_incidents": SseReader(live.http, kind="incident", status="acknowledged"),
               "firing": SseReader(live.http, status="FiRiNg")}
    try:
        db_prod = {"alertname": "DiskFull", "env": "prod", "team": "db"}
        publish_alerts(live.env.settings, [
            alert("00000000000000a1", 1, "FIRING", {**db_prod, "severity": "critical"}),
            alert("00000000000000a2", 1, "FIRING", {**db_prod, "severity": "warning"}),
            alert("00000000000000a3", 1, "FIRING", {**db_prod, "env": "dev", "severity": "critical"}),
            alert("00000000000000a4", 1, "FIRING", {**db_prod, "team": "web", "severity": "critical"}),
            alert("00000000000000a1", 2, "RESOLVED", {**db_prod, "severity": "critical"})])
        publish_incidents(live.env.settings, [incident("00000000000000b1.1", 1, "OPEN", None),
                                              incident("00000000000000b1.1", 2, "ACKNOWLEDGED", "OPEN")])
        everything = wait_until(lambda: len(readers["all"].events) >= 7 and readers["all"], timeout=20,
                                message="7 changes on the unfiltered stream")
        time.sleep(HEARTBEAT_S)  # anything a filter let through wrongly would have arrived by now
        assert sorted(everything.ids()) == sorted([
            "00000000000000a1:1", "00000000000000a2:1", "00000000000000a3:1", "00000000000000a4:1",
            "00000000000000a1:2", "00000000000000b1.1:1", "00000000000000b1.1:2"])
        assert "00000000000000f0:3" not in everything.ids()  # written before the API started: never replayed
        # One key's transitions keep their order (one partition).
        assert [i for i in everything.ids() if i.startswith("00000000000000a1")] == [
            "00000000000000a1:1", "00000000000000a1:2"]
        assert readers["prod_db_critical_alerts"].ids() == ["00000000000000a1:1", "00000000000000a1:2"]
        assert readers["acknowledged_incidents"].ids() == ["00000000000000b1.1:2"]
        assert sorted(readers["firing"].ids()) == [f"00000000000000a{n}:1" for n in range(1, 5)]

        by_id = {event_id: (kind, data) for kind, event_id, data in everything.events}
        kind, acked = by_id["00000000000000b1.1:2"]
        assert kind == "incident"
        assert (acked["status"], acked["previous_status"], acked["actor"], acked["title"]) == (
            "ACKNOWLEDGED", "OPEN", "alice", HOSTILE_TITLE)  # quotes, markup and a newline come back intact
        kind, resolved = by_id["00000000000000a1:2"]
        assert kind == "alert"
        assert (resolved["status"], resolved["severity"], resolved["labels"]["team"], resolved["value"]) == (
            "RESOLVED", "critical", "db", 97.5)
        assert resolved["ends_at"] is not None
        assert by_id["00000000000000a2:1"][1]["value"] is None  # NaN: JSON has no such number

        headers = readers["all"].headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-cache"
        assert headers["x-accel-buffering"] == "no"
        # Only the changes since the API started were read: the three earlier transitions were dropped.
        assert metric(live, 'vigil_api_stream_events_total{kind="alert"}') == 5
    finally:
        for reader in readers.values():
            reader.close()


@pytest.mark.integration
def test_a_quiet_stream_sends_heartbeats(live):
    reader = SseReader(live.http, kind="incident", label="env=nowhere")
    try:
        wait_until(lambda: any("keepalive" in c for c in reader.comments), timeout=HEARTBEAT_S * 4,
                   message="a heartbeat comment")
        assert reader.events == []
    finally:
        reader.close()


@pytest.mark.integration
def test_a_client_that_goes_away_is_forgotten(live):
    subscribers = lambda: metric(live, "vigil_api_stream_subscribers")  # noqa: E731
    wait_until(lambda: subscribers() == 0, timeout=5, message="the earlier tests' streams gone")
    readers = [SseReader(live.http), SseReader(live.http, kind="alert")]
    assert subscribers() == 2
    readers[0].close()
    wait_until(lambda: subscribers() == 1, timeout=5, message="the closed stream's subscription freed")
    readers[1].close()
    wait_until(lambda: subscribers() == 0, timeout=5, message="every subscription freed")


@pytest.mark.integration
@pytest.mark.parametrize(("params", "at_fault"), [
    ({"kind": "metric"}, "kind"),
    ({"status": "bogus"}, "status"),
    ({"kind": "alert", "status": "open"}, "status"),  # an incident status: it could never match an alert
    ({"label": "env"}, "label"),
    ({"label": "1env=prod"}, "label"),
    ({"label": "env=" + "x" * 1025}, "label"),
    ({"severity": "x" * 201}, "severity"),
    ({"label": [f"l{i}=v" for i in range(21)]}, "label"),
    ({"stauts": "firing"}, "stauts"),  # a typo must not widen the stream to everything
])
def test_bad_filters_are_refused_naming_the_parameter(live, params, at_fault):
    answer = live.http.get(STREAM, params=params)
    assert answer.status_code == 422, answer.text
    assert at_fault in [err["loc"][-1] for err in answer.json()["errors"]], answer.json()


@pytest.mark.integration
def test_a_revoked_keys_stream_ends_at_the_next_heartbeat(live):
    key = create_key(live.env.dsn, "viewer", "soon-revoked")
    client = httpx.Client(base_url=live.http.base_url, timeout=httpx.Timeout(10, read=HEARTBEAT_S * 5),
                          headers={"Authorization": f"Bearer {key}"})
    reader = SseReader(client)
    try:
        with psycopg.connect(live.env.dsn, autocommit=True) as conn:
            conn.execute("UPDATE api_keys SET revoked_at = now() WHERE name = 'soon-revoked'")
        wait_until(lambda: [kind for kind, _, _ in reader.events] == ["revoked"], timeout=HEARTBEAT_S * 5,
                   message="the revoked event")
        reader._thread.join(timeout=HEARTBEAT_S * 5)
        assert not reader._thread.is_alive(), "the stream stayed open after its key was revoked"
    finally:
        reader.close()
        client.close()


@pytest.mark.integration
def test_no_key_no_stream(live):
    url = str(live.http.base_url).rstrip("/") + STREAM
    assert httpx.get(url, timeout=5).status_code == 401
    assert httpx.get(url, timeout=5, headers={"Authorization": "Bearer vk_nope_nope"}).status_code == 401


def test_a_slow_subscriber_gets_overflow_and_is_dropped():
    """Pure fan-out, no broker: a subscriber never holds more than its limit; the others go on."""

    async def scenario() -> None:
        feed = LiveFeed("127.0.0.1:1", Topics("unit"), queue_limit=3)
        slow = feed.subscribe(lambda event: True)
        picky = feed.subscribe(lambda event: event.kind == "incident")
        feed.deliver([LiveEvent("alert", f"a:{n}") for n in range(5)] + [LiveEvent("incident", "i:1")])
        assert feed.subscribers == 1 and slow.pending() == 4  # three events and the overflow marker
        got = [await slow.next() for _ in range(4)]
        assert [event.kind for event in got] == ["alert", "alert", "alert", "overflow"]
        assert (await picky.next()).id == "i:1"
        feed.deliver([LiveEvent("incident", "i:2")])
        assert slow.pending() == 0 and picky.pending() == 1  # a dropped subscriber gets nothing more

    asyncio.run(scenario())
