"""Prometheus' query API as Grafana uses it, against a real `vigil api` and a seeded VictoriaMetrics."""

from __future__ import annotations

import json
import secrets
import time
import urllib.request

import httpx
import pytest

from tests.api.conftest import start_api
from tests.harness import closed_port, create_key, drop_env, wait_until

pytestmark = pytest.mark.integration

HOSTS = ["web-1", "web-2", 'evil"}, up{x="', "back\\slash\nnewline"]
COUNTER_STEP = {"web-1": 10, "web-2": 20}  # increase per 10 s sample: rate 1/s and 2/s
RANGE_MAX_POINTS_ERROR = ("exceeded maximum resolution of 11,000 points per timeseries. "
                          "Try decreasing the query resolution (?step=XX)")


def _exposition_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _promql_string(value: str) -> str:
    """A PromQL double-quoted string: its escapes are JSON's for these characters."""
    return json.dumps(value)


@pytest.fixture(scope="module")
def seeded(api):
    """A gauge (6 points per host, value = host index * 10 + point index) and a counter, 5 minutes old."""
    prefix = f"prom_api_{secrets.token_hex(4)}"
    gauge, counter = f"{prefix}_temperature", f"{prefix}_requests_total"
    base = int(time.time()) // 10 * 10 - 300
    lines = [f'{gauge}{{host="{_exposition_value(host)}",dc="eu"}} {h * 10 + k} {(base + k * 10) * 1000}'
             for h, host in enumerate(HOSTS) for k in range(6)]
    lines += [f'{counter}{{host="{host}",dc="eu"}} {step * k} {(base + k * 10) * 1000}'
              for host, step in COUNTER_STEP.items() for k in range(13)]
    tsdb = f"http://127.0.0.1:{api.env.stack.tsdb_port}"
    urllib.request.urlopen(urllib.request.Request(f"{tsdb}/api/v1/import/prometheus", data="\n".join(lines).encode(),
                                                  method="POST"), timeout=10).read()
    urllib.request.urlopen(f"{tsdb}/internal/force_flush", timeout=10).read()

    def visible():
        answer = api.http.get("/api/v1/query", params={
            "query": f'count({{__name__=~"{prefix}_.*"}})', "time": base + 50})
        result = answer.json()["data"]["result"] if answer.status_code == 200 else []
        return result and result[0]["value"][1] == str(len(HOSTS) + len(COUNTER_STEP))
    wait_until(visible, timeout=30, message=f"{prefix}_* visible through the API")
    return gauge, counter, base


def success(answer: httpx.Response):
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "success", body
    return body["data"]


def test_instant_query_aggregates_by_label(api, seeded):
    gauge, _, base = seeded
    data = success(api.http.get("/api/v1/query", params={"query": f"sum by (dc) ({gauge})", "time": base + 50}))
    assert data == {"resultType": "vector", "result": [{"metric": {"dc": "eu"}, "value": [base + 50, "80"]}]}


def test_range_query_runs_rate_per_host(api, seeded):
    _, counter, base = seeded
    data = success(api.http.get("/api/v1/query_range", params={
        "query": f"sum by (host) (rate({counter}[1m]))", "start": base + 60, "end": base + 120, "step": "30s"}))
    assert data["resultType"] == "matrix"
    rates = {series["metric"]["host"]: series["values"] for series in data["result"]}
    assert rates == {"web-1": [[base + 60, "1"], [base + 90, "1"], [base + 120, "1"]],
                     "web-2": [[base + 60, "2"], [base + 90, "2"], [base + 120, "2"]]}


def test_range_query_reads_back_every_point_with_rfc3339_times(api, seeded):
    gauge, _, base = seeded
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base))
    end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(base + 50))
    data = success(api.http.get("/api/v1/query_range", params={
        "query": f'{gauge}{{host="web-2"}}', "start": start, "end": end, "step": 10}))
    (only,) = data["result"]
    assert only["metric"] == {"__name__": gauge, "host": "web-2", "dc": "eu"}
    assert only["values"] == [[base + k * 10, str(10 + k)] for k in range(6)]


def test_post_form_bodies_answer_like_get(api, seeded):
    """Grafana's default: POST application/x-www-form-urlencoded, one match[] per selector."""
    gauge, counter, base = seeded
    params = {"query": f"sum by (host) (rate({counter}[1m]))", "start": str(base + 60), "end": str(base + 120),
              "step": "30"}
    posted = api.http.post("/api/v1/query_range", data=params)
    assert posted.headers["content-type"] == "application/json"
    assert success(posted) == success(api.http.get("/api/v1/query_range", params=params))
    names = success(api.http.post("/api/v1/labels", data={"match[]": [gauge, counter], "start": str(base - 60),
                                                          "end": str(base + 200)}))
    assert names == ["__name__", "dc", "host"]
    series = success(api.http.post("/api/v1/series", data={"match[]": f'{counter}{{host="web-1"}}',
                                                           "start": str(base - 60), "end": str(base + 200)}))
    assert series == [{"__name__": counter, "host": "web-1", "dc": "eu"}]


def test_series_labels_and_values_take_match(api, seeded):
    gauge, counter, base = seeded
    span = {"start": base - 60, "end": base + 200}
    series = success(api.http.get("/api/v1/series", params={"match[]": [f'{gauge}{{host=~"web-.*"}}'], **span}))
    assert sorted(s["host"] for s in series) == ["web-1", "web-2"]
    assert success(api.http.get("/api/v1/label/host/values", params={"match[]": gauge, **span})) == sorted(HOSTS)
    assert success(api.http.get("/api/v1/label/host/values", params={"match[]": counter, "limit": 1, **span})) in (
        ["web-1"], ["web-2"])
    prefix = gauge.rsplit("_", 1)[0]
    assert success(api.http.get("/api/v1/label/__name__/values", params={
        "match[]": f'{{__name__=~"{prefix}_.*"}}', **span})) == sorted([gauge, counter])
    assert success(api.http.get("/api/v1/labels", params={"match[]": counter, **span})) == ["__name__", "dc", "host"]


@pytest.mark.parametrize("host", HOSTS[2:])
def test_hostile_label_values_select_exactly_their_series(api, seeded, host):
    gauge, _, base = seeded
    data = success(api.http.get("/api/v1/query", params={
        "query": f"{gauge}{{host={_promql_string(host)}}}", "time": base + 50}))
    assert [s["metric"]["host"] for s in data["result"]] == [host]


def test_promql_set_operators_are_just_promql(api, seeded):
    """`or vector(1)` is a query of its own, not an injection: nothing here is built from strings."""
    gauge, _, base = seeded
    data = success(api.http.get("/api/v1/query", params={
        "query": f'{gauge}{{host="web-1"}} or vector(1)', "time": base + 50}))
    assert sorted((s["metric"].get("host", ""), s["value"][1]) for s in data["result"]) == [("", "1"), ("web-1", "5")]


def test_grafana_probes_answer(api):
    info = success(api.http.get("/api/v1/status/buildinfo"))
    assert info["version"] == "2.45.0" and "features" not in info  # plain Prometheus to Grafana
    assert success(api.http.post("/api/v1/status/buildinfo")) == info
    assert success(api.http.get("/api/v1/query_exemplars", params={"query": "up", "start": 1, "end": 2})) == []
    assert isinstance(success(api.http.get("/api/v1/metadata", params={"limit": 5})), dict)
    assert success(api.http.post("/api/v1/query", data={"query": "1+1", "time": "1764579600"}))["result"][0][
        "value"] == [1764579600, "2"]  # Grafana's "Save & test"


def test_grafana_auth_bearer_or_basic_with_the_key_as_password(api):
    key = create_key(api.env.dsn, "viewer", "grafana")
    base_url = str(api.http.base_url)
    assert httpx.get(f"{base_url}/api/v1/query", params={"query": "1"},
                     headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert httpx.get(f"{base_url}/api/v1/query", params={"query": "1"}, auth=("grafana", key)).status_code == 200
    missing = httpx.post(f"{base_url}/api/v1/query", data={"query": "1"})
    assert missing.status_code == 401 and "API key" in missing.json()["detail"]
    assert httpx.get(f"{base_url}/api/v1/labels", auth=("grafana", "vk_not_a_key")).status_code == 401


OVERSIZED = "x" * (16 * 1024 + 1)


@pytest.mark.parametrize(("method", "path", "params", "status", "error_type", "says"), [
    ("GET", "/api/v1/query", {}, 400, "bad_data", 'invalid parameter "query": missing'),
    ("GET", "/api/v1/query", {"query": "  "}, 400, "bad_data", 'invalid parameter "query": missing'),
    ("POST", "/api/v1/query", {"query": OVERSIZED}, 400, "bad_data", "longer than 16384 bytes"),
    ("GET", "/api/v1/query", {"query": OVERSIZED}, 400, "bad_data", "longer than 16384 bytes"),
    ("GET", "/api/v1/query", {"query": "rate("}, 422, "execution", 'rate('),
    ("GET", "/api/v1/query", {"query": "sum by (host) (up"}, 422, "execution", "unexpected token"),
    ("GET", "/api/v1/query", {"query": "no_such_function(up)"}, 422, "execution", 'unknown func'),
    ("GET", "/api/v1/query", {"query": 'up{job=~"("}'}, 422, "execution", "regexp"),
    ("GET", "/api/v1/query", {"query": "up", "time": "yesterday"}, 400, "bad_data", 'invalid parameter "time"'),
    ("GET", "/api/v1/query", {"query": "up", "timeout": "soon"}, 400, "bad_data", 'invalid parameter "timeout"'),
    ("GET", "/api/v1/query", {"query": "up\x00"}, 400, "bad_data", "NUL"),
    ("POST", "/api/v1/query", {"query": "up\x00"}, 400, "bad_data", "NUL"),
    ("GET", "/api/v1/query_range", {"query": "up", "start": "1", "end": "2"}, 400, "bad_data",
     'invalid parameter "step": missing'),
    ("GET", "/api/v1/query_range", {"query": "up", "end": "2", "step": "1"}, 400, "bad_data",
     'invalid parameter "start": missing'),
    ("GET", "/api/v1/query_range", {"query": "up", "start": "2026-11-25T10:00:00", "end": "1", "step": "1"}, 400,
     "bad_data", 'invalid parameter "start": \'2026-11-25T10:00:00\' has no time zone'),
    ("GET", "/api/v1/query_range", {"query": "up", "start": "1", "end": "nan", "step": "1"}, 400, "bad_data",
     'invalid parameter "end"'),
    ("GET", "/api/v1/query_range", {"query": "up", "start": "1e300", "end": "1", "step": "1"}, 400, "bad_data",
     'invalid parameter "start"'),
    ("GET", "/api/v1/query_range", {"query": "up", "start": "200", "end": "100", "step": "1"}, 400, "bad_data",
     "end timestamp must not be before start time"),
    ("GET", "/api/v1/query_range", {"query": "up", "start": "1", "end": "2", "step": "0"}, 400, "bad_data",
     'invalid parameter "step"'),
    ("GET", "/api/v1/query_range", {"query": "up", "start": "1", "end": "2", "step": "-5s"}, 400, "bad_data",
     'invalid parameter "step"'),
    ("GET", "/api/v1/query_range", {"query": "up", "start": "1", "end": "2", "step": "inf"}, 400, "bad_data",
     'invalid parameter "step"'),
    ("POST", "/api/v1/query_range", {"query": "up", "start": "0", "end": "1000000000", "step": "60"}, 400,
     "bad_data", RANGE_MAX_POINTS_ERROR),
    ("GET", "/api/v1/series", {}, 400, "bad_data", "no match[] parameter provided"),
    ("GET", "/api/v1/series", {"match[]": "sum(up)"}, 400, "bad_data", 'invalid parameter "match[]"'),
    ("GET", "/api/v1/series", {"match[]": 'up{job="x"'}, 400, "bad_data", 'invalid parameter "match[]"'),
    ("GET", "/api/v1/series", {"match[]": 'up{job="x"} or vector(1)'}, 400, "bad_data", 'invalid parameter "match[]"'),
    ("POST", "/api/v1/series", {"match[]": "up" + " " * 16000 + "!"}, 400, "bad_data", 'invalid parameter "match[]"'),
    ("GET", "/api/v1/labels", {"match[]": [f"m{i}" for i in range(65)]}, 400, "bad_data", "at most 64 selectors"),
    ("GET", "/api/v1/labels", {"limit": "-1"}, 400, "bad_data", 'invalid parameter "limit"'),
    ("GET", "/api/v1/label/job/values", {"limit": "ten"}, 400, "bad_data", 'invalid parameter "limit"'),
    ("GET", "/api/v1/label/job/values", {"start": "3", "end": "2"}, 400, "bad_data", "end timestamp"),
    ("GET", "/api/v1/label/jo-b/values", {}, 400, "bad_data", "invalid label name: 'jo-b'"),
    ("GET", "/api/v1/label/9lives/values", {}, 400, "bad_data", "invalid label name"),
    ("GET", "/api/v1/label/" + "a" * 300 + "/values", {}, 400, "bad_data", 'invalid parameter "name"'),
    ("GET", "/api/v1/metadata", {"metric": "up{}"}, 400, "bad_data", 'invalid parameter "metric"'),
    ("GET", "/api/v1/query_exemplars", {}, 400, "bad_data", 'invalid parameter "query"'),
])
def test_bad_input_answers_prometheus_errors_naming_the_problem(api, method, path, params, status, error_type, says):
    if method == "GET":
        answer = api.http.get(path, params=params)
    else:
        answer = api.http.post(path, data=params)
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["status"] == "error" and body["errorType"] == error_type, body
    assert says in body["error"], body


@pytest.mark.parametrize(("content", "headers", "says"), [
    (b'{"query": "up"}', {"Content-Type": "application/json"}, "must be application/x-www-form-urlencoded"),
    (b"query=%FF%FE", {"Content-Type": "application/x-www-form-urlencoded"}, "not percent-encoded UTF-8"),
    (b"query=\xff", {"Content-Type": "application/x-www-form-urlencoded"}, "not percent-encoded UTF-8"),
    (b"&".join(b"f%d=1" % i for i in range(300)), {"Content-Type": "application/x-www-form-urlencoded"},
     "more than 200 fields"),
    (b"query=" + b"x" * (300 * 1024), {"Content-Type": "application/x-www-form-urlencoded"}, "larger than"),
])
def test_bad_form_bodies_are_bad_data(api, content, headers, says):
    answer = api.http.post("/api/v1/query", content=content, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errorType"] == "bad_data" and says in answer.json()["error"], answer.text


def test_unknown_parameters_are_ignored_like_prometheus(api, seeded):
    """Grafana adds its own parameters (and a data source's custom ones); none of them reaches the store."""
    gauge, _, base = seeded
    data = success(api.http.get("/api/v1/query", params={"query": f"sum({gauge})", "time": base + 50,
                                                         "stats": "all", "nocache": "1", "extra_label": "x=y"}))
    assert data["result"][0]["value"] == [base + 50, "80"]


@pytest.fixture(scope="module")
def no_tsdb(stack):
    """A `vigil api` whose time-series store is on a port nobody listens on (Postgres, so keys, still work)."""
    running = start_api(stack, VIGIL_TSDB_URL=f"http://127.0.0.1:{closed_port()}", ready_path="/openapi.json")
    yield running
    running.http.close()
    drop_env(running.env)


@pytest.mark.parametrize(("path", "params"), [
    ("/api/v1/query", {"query": "up"}),
    ("/api/v1/query_range", {"query": "up", "start": "1", "end": "60", "step": "15"}),
    ("/api/v1/series", {"match[]": "up"}),
    ("/api/v1/labels", {}),
    ("/api/v1/label/job/values", {}),
    ("/api/v1/metadata", {}),
])
def test_store_down_is_503_unavailable_with_retry_after(no_tsdb, path, params):
    answer = no_tsdb.http.post(path, data=params)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5", answer.text
    assert answer.json() == {"status": "error", "errorType": "unavailable",
                             "error": "the time-series store is unreachable (ConnectError)"}


def test_store_down_still_answers_bad_input_and_probes(no_tsdb):
    assert no_tsdb.http.get("/api/v1/query", params={"query": "up", "time": "soon"}).status_code == 400
    assert no_tsdb.http.get("/api/v1/status/buildinfo").status_code == 200
