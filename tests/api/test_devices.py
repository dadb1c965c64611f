"""`/api/v1/devices` against a real `vigil api`: the registry in Postgres, audited, seen by a real `vigil ingest`."""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime

import httpx
import psycopg
import pytest
import redis

from kernel.device_cache import CACHE_KEY_PREFIX
from schemas import codec
from tests.harness import free_port
from infra.topic_reader import TopicReader, close_readers

pytestmark = pytest.mark.integration

DEVICES = "/api/v1/devices"


def audit_rows(api, device_id: str) -> list[dict]:
    """The audit log's rows about this device, oldest first."""
    with psycopg.connect(api.env.dsn) as conn:
        cur = conn.execute("SELECT action, resource, resource_id, key_name, role, before, after FROM audit_log "
                           "WHERE resource = 'device' AND resource_id = %s ORDER BY id", (device_id,))
        names = [c.name for c in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]


def all_pages(http: httpx.Client, **params) -> tuple[list[str], int]:
    """Every device id of a listing followed page by page, and how many pages it took."""
    ids, pages, cursor = [], 0, None
    while True:
        answer = http.get(DEVICES, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        pages += 1
        ids += [d["device_id"] for d in answer.json()["items"]]
        cursor = answer.json()["next_cursor"]
        if cursor is None:
            return ids, pages


def test_put_registers_then_replaces_and_delete_removes_each_change_audited(api):
    created = api.http.put(f"{DEVICES}/pump-7", json={"labels": {"site": "plant-2", "vendor": "acme"}})
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"{DEVICES}/pump-7"
    assert created.json()["device_id"] == "pump-7" and created.json()["labels"] == {"site": "plant-2",
                                                                                    "vendor": "acme"}
    assert api.http.get(f"{DEVICES}/pump-7").json() == created.json()

    replaced = api.http.put(f"{DEVICES}/pump-7", json={"labels": {"site": "plant-3"}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["labels"] == {"site": "plant-3"}, "PUT replaces every label"
    assert datetime.fromisoformat(replaced.json()["updated_at"]) > datetime.fromisoformat(created.json()["updated_at"])
    same = api.http.put(f"{DEVICES}/pump-7", json={"labels": {"site": "plant-3"}})
    assert same.status_code == 200 and same.json() == replaced.json(), "unchanged labels change nothing"

    gone = api.http.delete(f"{DEVICES}/pump-7")
    assert gone.status_code == 200 and gone.json() == replaced.json()
    missing = api.http.get(f"{DEVICES}/pump-7")
    assert missing.status_code == 404 and "pump-7" in missing.json()["detail"]
    assert api.http.delete(f"{DEVICES}/pump-7").status_code == 404

    rows = audit_rows(api, "pump-7")
    assert [r["action"] for r in rows] == ["device.update", "device.update", "device.delete"]
    assert {(r["key_name"], r["role"]) for r in rows} == {("tests-admin", "admin")}
    assert rows[0]["before"] is None and rows[0]["after"]["labels"] == {"site": "plant-2", "vendor": "acme"}
    assert rows[1]["before"]["labels"] == {"site": "plant-2", "vendor": "acme"}
    assert rows[1]["after"]["labels"] == {"site": "plant-3"}
    assert rows[2]["before"]["labels"] == {"site": "plant-3"} and rows[2]["after"] is None


def test_device_ids_may_hold_slashes_spaces_and_unicode(api):
    for device_id in ("zigbee2mqtt/kitchen sensor", "Pumpe-Süd", "a" * 256):
        url = f"{DEVICES}/{device_id}"  # httpx percent-encodes the space and the ü
        put = api.http.put(url, json={"labels": {"room": "kitchen"}})
        assert put.status_code == 201, put.text
        assert api.http.get(url).json()["device_id"] == device_id
        assert api.http.delete(url).status_code == 200


def test_list_filters_sorts_and_pages_with_a_cursor(api):
    ids = [f"lst-{i}" for i in range(7)]
    for i, device_id in enumerate(ids):
        labels = {"site": "a" if i % 2 == 0 else "b", "rack": str(i % 3)}
        assert api.http.put(f"{DEVICES}/{device_id}", json={"labels": labels}).status_code == 201
    assert api.http.put(f"{DEVICES}/other-1", json={"labels": {"site": "a"}}).status_code == 201
    assert api.http.put(f"{DEVICES}/lst-0", json={"labels": {"site": "a", "rack": "9"}}).status_code == 200

    assert all_pages(api.http, device_id="lst-", limit=3) == (ids, 3)
    assert all_pages(api.http, device_id="lst-", limit=3, sort="-device_id") == (ids[::-1], 3)
    by_change = [*ids[1:], "lst-0"]  # lst-0 changed last
    assert all_pages(api.http, device_id="lst-", limit=2, sort="updated_at") == (by_change, 4)
    assert all_pages(api.http, device_id="lst-", limit=2, sort="-updated_at") == (by_change[::-1], 4)
    assert all_pages(api.http, device_id="lst-", label="site=a") == (["lst-0", "lst-2", "lst-4", "lst-6"], 1)
    assert all_pages(api.http, label=["site=a", "rack=0"], limit=1) == (["lst-6"], 1)
    assert all_pages(api.http, label="site=a", device_id="oth") == (["other-1"], 1)
    assert all_pages(api.http, label="site=nowhere") == ([], 1)

    first = api.http.get(DEVICES, params={"device_id": "lst-", "limit": 2}).json()
    other_sort = api.http.get(DEVICES, params={"cursor": first["next_cursor"], "sort": "updated_at"})
    assert other_sort.status_code == 422 and "sort=device_id" in other_sort.json()["detail"]


def test_viewers_read_operators_and_viewers_cannot_write(api):
    assert api.http.put(f"{DEVICES}/role-1", json={"labels": {"site": "x"}}).status_code == 201
    for role in ("viewer", "operator"):
        with api.client(role) as http:
            assert http.get(f"{DEVICES}/role-1").status_code == 200
            assert http.get(DEVICES).status_code == 200
            assert http.put(f"{DEVICES}/role-2", json={"labels": {"site": "x"}}).status_code == 403
            assert http.put(f"{DEVICES}/role-1", json={"labels": {"site": "y"}}).status_code == 403
            assert http.delete(f"{DEVICES}/role-1").status_code == 403
    anonymous = httpx.get(f"{api.http.base_url}{DEVICES}")
    assert anonymous.status_code == 401
    assert api.http.get(f"{DEVICES}/role-1").json()["labels"] == {"site": "x"}
    assert api.http.get(f"{DEVICES}/role-2").status_code == 404
    assert [r["action"] for r in audit_rows(api, "role-1")] == ["device.update"]


@pytest.mark.parametrize("body, field", [
    ({"labels": {"a-b": "x"}}, "a-b"),
    ({"labels": {"__name__": "x"}}, "__name__"),
    ({"labels": {"9lives": "x"}}, "9lives"),
    ({"labels": {"site": 1}}, "site"),
    ({"labels": {"site": None}}, "site"),
    ({"labels": {"site": ["a"]}}, "site"),
    ({"labels": "site=a"}, "labels"),
    ({"labels": {f"l{i}": "v" for i in range(65)}}, "labels"),
    ({"labels": {"site": "x" * 1025}}, "site"),
    ({"labels": {"site": "nul\x00byte"}}, "site"),
    ({"labels": {"site": "a"}, "device_id": "other"}, "device_id"),
    ({}, "labels"),
])
def test_bad_bodies_are_422_naming_the_field(api, body, field):
    answer = api.http.put(f"{DEVICES}/bad-body", json=body)
    assert answer.status_code == 422, answer.text
    assert field in json.dumps(answer.json()["errors"])
    assert api.http.get(f"{DEVICES}/bad-body").status_code == 404


def test_hostile_requests_are_4xx_never_5xx(api):
    assert api.http.put(f"{DEVICES}/victim", json={"labels": {"site": "a"}}).status_code == 201
    put = f"{DEVICES}/hostile"
    assert api.http.put(put, content=b"{" * 100_000, headers={"Content-Type": "application/json"}).status_code == 422
    assert api.http.put(put, content=b'{"labels": {"a": "\\ud800"}}').status_code == 422
    assert api.http.put(put, content=b"[1, 2]").status_code == 422
    assert api.http.put(put, content=b"labels=a", headers={"Content-Type": "text/plain"}).status_code == 415
    huge = json.dumps({"labels": {"site": "x" * 2_000_000}}).encode()
    assert api.http.put(put, content=huge).status_code == 413
    assert api.http.put(f"{DEVICES}/{'d' * 257}", json={"labels": {}}).status_code == 422
    assert api.http.put(f"{DEVICES}/bad%00id", json={"labels": {}}).status_code == 422
    assert api.http.put(f"{DEVICES}/tab%09id", json={"labels": {}}).status_code == 422
    assert api.http.get(f"{DEVICES}/%ff%fe").status_code in (404, 422)

    for params in ({"label": "x'; DROP TABLE devices;--=1"}, {"label": "site"}, {"label": "=a"},
                   {"label": "site=" + "x" * 1025}, {"label": [f"l{i}=v" for i in range(21)]},
                   {"sort": "device_id; DROP TABLE devices"}, {"sort": "labels"}, {"limit": 1001}, {"limit": 0},
                   {"limit": "ten"}, {"cursor": "not-a-cursor"}, {"cursor": "WyJkZXZpY2VfaWQiLDFd"},
                   {"cursor": "x" * 5000}, {"device_id": "x" * 257}, {"devic_id": "victim"},
                   {"label": "site=a\x00"}):
        answer = api.http.get(DEVICES, params=params)
        assert 400 <= answer.status_code < 500, (params, answer.text)
    for params, found in (({"label": "site=' OR '1'='1"}, []), ({"device_id": "%"}, []), ({"device_id": "_ictim"}, []),
                          ({"device_id": "' OR 1=1 --"}, []), ({"label": 'site=a"}'}, [])):
        answer = api.http.get(DEVICES, params=params)
        assert answer.status_code == 200 and answer.json()["items"] == found, (params, answer.text)
    assert [d["device_id"] for d in api.http.get(DEVICES, params={"device_id": "victim"}).json()["items"]] == [
        "victim"]


def test_a_change_reaches_ingest_within_seconds(api):
    """A sample sent to a real `vigil ingest` carries the registry's labels as they are after each change."""
    port = free_port()
    # A cache TTL far beyond the test: only the API's invalidation can make ingest see a change in time.
    api.env.start("ingest", health_port=port, name="ingest-devices", extra_env={
        "VIGIL_INGEST_PORT": str(port), "VIGIL_DEVICE_CACHE_TTL_S": "3600"})
    cache = redis.Redis.from_url(api.env.env["VIGIL_REDIS_URL"])
    key = CACHE_KEY_PREFIX.format(prefix=api.env.prefix) + "pump-9"
    reader = TopicReader(api.env.settings, api.env.settings.topics.metrics, codec.series_batch())
    values = itertools.count(1)

    def sample_labels() -> dict[str, str]:
        """Send one sample of pump-9 and answer the labels it reached Kafka with."""
        value = next(values)
        sent = httpx.post(f"http://127.0.0.1:{port}/api/v2/write", params={"precision": "ms"},
                          content=f"flow,device=pump-9 rate={value} {int(time.time() * 1000)}".encode())
        assert sent.status_code == 204, sent.text

        def arrived(batches):
            return [s for b in batches for s in b["samples"] if s["value"] == value]

        reader.wait_for(arrived, what=f"the sample of value {value}")
        return arrived(reader.records)[0]["labels"]

    def eventually(expected: dict[str, str], within_s: float = 15.0) -> None:
        deadline = time.monotonic() + within_s
        while (labels := sample_labels()) != expected:
            assert time.monotonic() < deadline, f"ingest still enriches with {labels}, not {expected}"
            time.sleep(0.5)

    try:
        assert api.http.put(f"{DEVICES}/pump-9", json={"labels": {"site": "plant-1"}}).status_code == 201
        eventually({"device": "pump-9", "site": "plant-1"})
        assert json.loads(cache.get(key)) == {"site": "plant-1"}, "ingest caches the device in Redis"

        assert api.http.put(f"{DEVICES}/pump-9", json={"labels": {"site": "plant-2"}}).status_code == 200
        assert cache.get(key) is None, "the API deleted ingest's cache entry"
        eventually({"device": "pump-9", "site": "plant-2"})

        assert api.http.delete(f"{DEVICES}/pump-9").status_code == 200
        assert cache.get(key) is None
        eventually({"device": "pump-9"})
    finally:
        cache.close()
        close_readers()
