"""Hostile and malformed requests to the alerts, incidents, rules and silences routes of a running `vigil api`.

Wrong types, huge pages, unknown filters, SQL injection in filters and label matchers, oversized,
NUL-laden, non-UTF-8 and deeply nested bodies: each is a clear 4xx naming what is wrong (or a 2xx
that treats the text as data), never a 5xx; afterwards every table and every seeded row is still there.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.types.json import Jsonb

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
ALERTS, INCIDENTS, RULES, SILENCES = "/api/v1/alerts", "/api/v1/incidents", "/api/v1/rules", "/api/v1/silences"
LISTS = (ALERTS, INCIDENTS, RULES, SILENCES)
SEEDED_ALERTS = 6
SEEDED_INCIDENTS = 4
INCIDENT_KEY = "00000000ba5e0001.1"
FINGERPRINT = "00000000ba5e0a01"
BODY_LIMIT = 64 * 1024
INJECTIONS = ("x' OR 1=1 --", "';DROP TABLE alerts;--", "1; DELETE FROM incidents", '" OR ""="', "x\\' OR '1'='1")


def seed_alerts_and_incidents(dsn: str) -> None:
    """Rows as the Postgres sink writes them: a few firing alerts and open incidents."""
    with psycopg.connect(dsn) as conn:
        for i in range(SEEDED_ALERTS):
            labels = {"alertname": "HighCPU", "host": f"web-{i}", "severity": "page"}
            conn.execute("""INSERT INTO alerts (fingerprint, rule_id, rule_version, alertname, status, severity, labels,
                            annotations, value, sequence, starts_at, ends_at, updated_at)
                            VALUES (%s, 'high-cpu', 1, 'HighCPU', 'FIRING', 'page', %s, '{}', %s, 1, %s, NULL, %s)""",
                         (f"00000000ba5e0a0{i + 1}", Jsonb(labels), 90.0 + i, T0, T0 + timedelta(minutes=i)))
        for i in range(SEEDED_INCIDENTS):
            conn.execute("""INSERT INTO incidents (incident_key, group_key, group_labels, route, receiver, status,
                            title, severity, firing, fingerprints, opened_at, updated_at, sequence)
                            VALUES (%s, %s, %s, '0', 'ops', 'OPEN', 't', 'critical', 1, '[]', %s, %s, 1)""",
                         (f"00000000ba5e000{i + 1}.1", f"00000000ba5e000{i + 1}", Jsonb({"env": "prod"}),
                          T0, T0 + timedelta(minutes=i)))


@pytest.fixture(scope="module")
def seeded(api) -> dict[str, list[str]]:
    """Alerts and incidents in Postgres (as the sink writes them), a rule and a silence made through the API."""
    seed_alerts_and_incidents(api.env.dsn)
    rule = api.http.post(RULES, json={"id": "high-cpu", "alert": "HighCPU", "metric": "cpu_usage_user",
                                      "op": ">", "threshold": 90, "labels": {"severity": "page"}})
    assert rule.status_code == 201, rule.text
    silence = api.http.post(SILENCES, json={"matchers": ['host="web-3"'], "duration": "2h", "created_by": "alice",
                                            "comment": "kernel upgrade"})
    assert silence.status_code == 201, silence.text
    return {"rules": ["high-cpu"], "silences": [silence.json()["id"]]}


def refused(answer, status: int, name: str) -> None:
    """The answer is `status` in the API's error shape, and names `name` as the field at fault."""
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert name in body["detail"], body
    assert any(problem["loc"][-1] == name for problem in body["errors"]), body


# --- query parameters ---

@pytest.mark.parametrize(("path", "params", "name"), [
    (ALERTS, {"limit": "ten"}, "limit"),
    (ALERTS, {"limit": "1.5"}, "limit"),
    (ALERTS, {"status": "burning"}, "status"),
    (ALERTS, {"label": "no-equals-sign"}, "label"),
    (ALERTS, {"cursor": "not a cursor!"}, "cursor"),
    (INCIDENTS, {"since": "yesterday-ish"}, "since"),
    (INCIDENTS, {"sort": "sideways"}, "sort"),
    (INCIDENTS, {"status": ["open", 7]}, "status"),
    (RULES, {"include_deleted": "maybe"}, "include_deleted"),
    (RULES, {"type": "telepathy"}, "type"),
    (RULES, {"limit": ""}, "limit"),
    (SILENCES, {"state": "sleeping"}, "state"),
    (SILENCES, {"matches": "=x"}, "matches"),
    (SILENCES, {"limit": "[1]"}, "limit"),
    (f"{ALERTS}/not-hex", {}, "fingerprint"),
    (f"{INCIDENTS}/zz", {}, "key"),
    (f"{RULES}/..bad", {}, "id"),
    (f"{SILENCES}/123", {}, "id"),
])
def test_wrong_types_are_422_naming_the_parameter(api, seeded, path, params, name):
    refused(api.http.get(path, params=params), 422, name)


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize("limit", [10**9, 10**30, 0, -1])
def test_page_sizes_outside_1_to_1000_are_422_naming_limit(api, seeded, path, limit):
    answer = api.http.get(path, params={"limit": limit})
    refused(answer, 422, "limit")
    assert "1000" in answer.text or "1" in answer.text


@pytest.mark.parametrize(("path", "allowed"), [(ALERTS, "status"), (INCIDENTS, "receiver"), (RULES, "metric"),
                                               (SILENCES, "created_by")])
def test_unknown_filters_are_422_naming_them_and_listing_the_allowed_ones(api, seeded, path, allowed):
    answer = api.http.get(path, params={"stauts": "firing", "limit": 5, "hostname": "web-1"})
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert [problem["loc"] for problem in body["errors"]] == [["query", "stauts"], ["query", "hostname"]]
    assert body["detail"].startswith("stauts: unknown parameter; this route takes ")
    assert allowed in body["detail"] and "limit" in body["detail"]


@pytest.mark.parametrize("path", [f"{ALERTS}/{FINGERPRINT}", f"{INCIDENTS}/{INCIDENT_KEY}", f"{RULES}/high-cpu",
                                  f"{RULES}/high-cpu/versions"])
def test_detail_routes_take_no_query_parameters(api, seeded, path):
    answer = api.http.get(path, params={"expand": "all"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == "expand: unknown parameter; this route takes no query parameters"


def test_routes_that_opt_out_take_any_parameter(api, seeded):
    # The Prometheus API opts out (api/strict_params.ANY_QUERY): Grafana sends parameters of its own.
    answer = api.http.get("/api/v1/status/buildinfo", params={"grafana_extra": "1"})
    assert answer.status_code == 200, answer.text


# --- SQL injection: text is data, never SQL ---

@pytest.mark.parametrize(("path", "name", "value"), [
    (ALERTS, "label", "host=x' OR 1=1 --"),
    (ALERTS, "alertname", "';DROP TABLE alerts;--"),
    (ALERTS, "severity", "page' OR '1'='1"),
    (ALERTS, "label", 'host=web-1" OR "1"="1'),
    (INCIDENTS, "label", "env=prod' OR 1=1 --"),
    (INCIDENTS, "receiver", "';DROP TABLE incidents;--"),
    (INCIDENTS, "severity", "critical') OR ('1'='1"),
    (RULES, "alertname", "';DROP TABLE rules;--"),
    (RULES, "metric", "cpu_usage_user' OR '1'='1"),
    (SILENCES, "created_by", "';DROP TABLE silences;--"),
    (SILENCES, "matches", "host=web-3' OR 1=1 --"),
])
def test_injection_in_filters_matches_nothing(api, seeded, path, name, value):
    answer = api.http.get(path, params={name: value})
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == []


@pytest.mark.parametrize(("path", "params", "name"), [
    (ALERTS, {"label": "host' OR 1=1 --=x"}, "label"),
    (ALERTS, {"status": "firing' OR '1'='1"}, "status"),
    (INCIDENTS, {"sort": "-updated_at; DROP TABLE incidents"}, "sort"),
    (INCIDENTS, {"label": "env;DROP TABLE incidents=x"}, "label"),
    (SILENCES, {"matches": "host' OR 1=1 --=x"}, "matches"),
    (SILENCES, {"state": "active' OR 1=1 --"}, "state"),
])
def test_injection_where_only_a_name_or_keyword_fits_is_422(api, seeded, params, path, name):
    refused(api.http.get(path, params=params), 422, name)


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_in_silence_matchers_is_stored_and_answered_verbatim(api, seeded, value):
    created = api.http.post(SILENCES, json={"matchers": [f"host={json.dumps(value)}"], "duration": "1h",
                                            "created_by": value, "comment": value})
    assert created.status_code == 201, created.text
    silence = api.http.get(f"{SILENCES}/{created.json()['id']}").json()
    assert silence["matchers"] == [{"name": "host", "op": "=", "value": value}]
    assert silence["created_by"] == silence["comment"] == value
    listed = api.http.get(SILENCES, params={"matches": f"host={json.dumps(value)}", "state": "active"}).json()
    assert [item["id"] for item in listed["items"]] == [silence["id"]]
    assert api.http.delete(f"{SILENCES}/{silence['id']}").status_code == 200


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_in_rule_matchers_is_validated_as_data(api, seeded, value):
    rule = {"id": "inj", "alert": "Inj", "metric": "cpu_usage_user", "op": ">", "threshold": 1,
            "match": {"host": value}, "annotations": {"summary": value}}
    answer = api.http.post(f"{RULES}/validate", json=rule)
    assert answer.status_code == 200, answer.text
    assert answer.json()["rule"]["match"] == {"host": value}


# --- bodies ---

def post_raw(api, path: str, raw: bytes, content_type: str = "application/json"):
    """POST these exact bytes (httpx would encode a `json=` body itself)."""
    return api.http.post(path, content=raw, headers={"Content-Type": content_type})


WRITE_PATHS = (RULES, f"{RULES}/validate", SILENCES, f"{INCIDENTS}/{INCIDENT_KEY}/acknowledge")


@pytest.mark.parametrize("path", WRITE_PATHS)
def test_oversized_bodies_are_refused_with_413_or_422(api, seeded, path):
    big = json.dumps({"comment": "x" * (4 * BODY_LIMIT), "matchers": ['a="b"'] * 10_000}).encode()
    answer = post_raw(api, path, big)
    assert answer.status_code in (413, 422), answer.text
    assert answer.json()["detail"]


@pytest.mark.parametrize(("path", "body", "name"), [
    (RULES, {"id": "nul", "alert": "High\x00CPU", "metric": "cpu", "op": ">", "threshold": 1}, "alert"),
    (f"{RULES}/validate", {"id": "nul", "alert": "A", "metric": "cpu", "op": ">", "threshold": 1,
                           "labels": {"team": "o\x00ps"}}, "team"),
    (SILENCES, {"matchers": ['host="a\\u0000b"'], "duration": "1h", "created_by": "al\x00ice", "comment": "c"},
     "created_by"),
    (SILENCES, {"matchers": ['host="web-1"'], "duration": "1h", "created_by": "alice", "comment": "\x00"}, "comment"),
    (f"{INCIDENTS}/{INCIDENT_KEY}/acknowledge", {"comment": "on\x00it"}, "comment"),
])
def test_nul_bytes_in_bodies_are_422_naming_the_field(api, seeded, path, body, name):
    answer = post_raw(api, path, json.dumps(body).encode())
    assert answer.status_code == 422, answer.text
    assert any(problem["loc"][-1] == name for problem in answer.json()["errors"]), answer.json()


@pytest.mark.parametrize(("path", "params", "name"), [
    (ALERTS, {"alertname": "High\x00CPU"}, "alertname"),
    (INCIDENTS, {"receiver": "o\x00ps"}, "receiver"),
    (RULES, {"metric": "\x00"}, "metric"),
    (SILENCES, {"created_by": "al\x00ice"}, "created_by"),
    (ALERTS, {"la\x00bel": "x"}, "la\\0bel"),
])
def test_nul_bytes_in_query_parameters_are_422_naming_the_parameter(api, seeded, path, params, name):
    refused(api.http.get(path, params=params), 422, name)


@pytest.mark.parametrize("path", WRITE_PATHS)
@pytest.mark.parametrize("raw", [b'{"comment": "caf\xe9"}', b"\xff\xfe{\x00}", b'{"id": "\xc3\x28"}'])
def test_non_utf8_bodies_are_4xx_in_the_error_shape(api, seeded, path, raw):
    answer = post_raw(api, path, raw)
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["detail"]


@pytest.mark.parametrize("path", WRITE_PATHS)
@pytest.mark.parametrize("shape", ["array", "object"])
def test_deeply_nested_json_is_4xx_never_a_crash(api, seeded, path, shape):
    depth = 20_000  # fits the 64 KB limit, far past any parser's recursion limit
    raw = ("[" * depth + "]" * depth) if shape == "array" else ('{"a":' * depth + "1" + "}" * depth)
    answer = post_raw(api, path, raw.encode())
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["detail"]
    nested_in_field = {"id": "deep", "alert": "Deep", "metric": "cpu", "op": ">", "threshold": 1,
                       "labels": json.loads('{"a":' * 100 + "1" + "}" * 100), "comment": "c", "matchers": ['a="b"']}
    answer = api.http.post(path, json=nested_in_field)
    assert 400 <= answer.status_code < 500, answer.text


# --- afterwards ---

def test_every_table_and_seeded_row_is_intact_and_no_request_was_a_server_error(api, seeded):
    # Runs last in this module (pytest keeps file order): every hostile request above has been answered.
    with psycopg.connect(api.env.dsn) as conn:
        counts = conn.execute("SELECT (SELECT count(*) FROM alerts), (SELECT count(*) FROM incidents), "
                              "(SELECT count(*) FROM rules WHERE id = 'high-cpu'), "
                              "(SELECT count(*) FROM silences WHERE id = %s)", (seeded["silences"][0],)).fetchone()
    assert counts[:2] == (SEEDED_ALERTS, SEEDED_INCIDENTS) and counts[2] >= 1 and counts[3] >= 1
    assert len(api.http.get(ALERTS).json()["items"]) == SEEDED_ALERTS
    assert len(api.http.get(INCIDENTS).json()["items"]) == SEEDED_INCIDENTS
    assert api.http.get(f"{RULES}/high-cpu").status_code == 200
    assert api.http.get(f"{SILENCES}/{seeded['silences'][0]}").json()["state"] == "active"
    metrics = api.http.get("/metrics/").text
    assert 'route="/api/v1/alerts"' in metrics
    assert not [line for line in metrics.splitlines() if 'status="5' in line]
    assert "Traceback" not in api.env.log(api.env.processes[0])
