"""`GET /api/v1/query_range` against a real `vigil api` and a seeded VictoriaMetrics."""

from __future__ import annotations

import secrets
import time
import urllib.request

import pytest

from tests.harness import wait_until

pytestmark = pytest.mark.integration

HOSTS = ["web-1", "web-2", 'evil"}, up{x="', "back\\slash\nnewline"]


def _exposition_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@pytest.fixture(scope="module")
def series(api):
    """A fresh metric with 6 points per host (value = host index * 10 + point index), 5 minutes old."""
    metric = f"api_test_{secrets.token_hex(4)}"
    base = int(time.time()) // 10 * 10 - 300
    lines = [f'{metric}{{host="{_exposition_value(host)}",dc="eu"}} {h * 10 + k} {(base + k * 10) * 1000}'
             for h, host in enumerate(HOSTS) for k in range(6)]
    tsdb = f"http://127.0.0.1:{api.env.stack.tsdb_port}"
    urllib.request.urlopen(urllib.request.Request(f"{tsdb}/api/v1/import/prometheus", data="\n".join(lines).encode(),
                                                  method="POST"), timeout=10).read()
    urllib.request.urlopen(f"{tsdb}/internal/force_flush", timeout=10).read()

    def visible():
        answer = api.http.get("/api/v1/query_range", params={"metric": metric, "start": base, "end": base + 50,
                                                             "step": "10s"})
        return answer.status_code == 200 and len(answer.json()["series"]) == len(HOSTS)
    wait_until(visible, timeout=30, message=f"{metric} visible through the API")
    return metric, base


def query(api, **params):
    answer = api.http.get("/api/v1/query_range", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_one_host_reads_back_every_point_without_the_name_label(api, series):
    metric, base = series
    body = query(api, metric=metric, match="host=web-2", start=base, end=base + 50, step="10s")
    assert body["query"] == f'{metric}{{host="web-2"}}' and body["step"] == 10
    (only,) = body["series"]
    assert only["labels"] == {"host": "web-2", "dc": "eu"}
    assert only["points"] == [[base + k * 10, 10 + k] for k in range(6)]


def test_matchers_negate_and_match_regexes(api, series):
    metric, base = series

    def hosts(*match):
        body = query(api, metric=metric, match=list(match), start=base, end=base + 50, step="10s")
        return sorted(s["labels"]["host"] for s in body["series"])

    assert hosts("host!=web-1") == sorted(HOSTS[1:])
    assert hosts("host=~web-.*") == ["web-1", "web-2"]
    assert hosts("host!~web-.*", "dc=eu") == sorted(HOSTS[2:])
    assert hosts("dc=us") == []


@pytest.mark.parametrize("host", HOSTS[2:])
def test_hostile_label_values_select_exactly_their_series(api, series, host):
    metric, base = series
    body = query(api, metric=metric, match=f"host={host}", start=base, end=base + 50, step="10s")
    assert [s["labels"]["host"] for s in body["series"]] == [host]


def test_rfc3339_times_and_default_step(api, series):
    metric, base = series
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base))
    end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(base + 50))
    body = query(api, metric=metric, match="host=web-1", start=start, end=end)
    assert body["start"] == base and body["end"] == base + 50 and body["step"] == 1
    assert [v for _, v in body["series"][0]["points"]][::10] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize(("params", "name"), [
    ({}, "metric"),
    ({"metric": "up{}"}, "metric"),
    ({"metric": "9lives"}, "metric"),
    ({"metric": "x" * 201}, "metric"),
    ({"metric": "up", "match": "host"}, "match"),
    ({"metric": "up", "match": "9host=x"}, "match"),
    ({"metric": "up", "match": "host=~("}, "match"),
    ({"metric": "up", "match": "host=" + "x" * 1100}, "match"),
    ({"metric": "up", "match": [f"l{i}=x" for i in range(21)]}, "match"),
    ({"metric": "up", "match": "host=a\x00"}, "match"),
    ({"metric": "up", "start": "yesterday"}, "start"),
    ({"metric": "up", "end": "2026-11-25T10:00:00"}, "end"),
    ({"metric": "up", "end": "nan"}, "end"),
    ({"metric": "up", "start": "1e300"}, "start"),
    ({"metric": "up", "start": "200", "end": "100"}, "end"),
    ({"metric": "up", "step": "0"}, "step"),
    ({"metric": "up", "step": "-5s"}, "step"),
    ({"metric": "up", "step": "soon"}, "step"),
    ({"metric": "up", "step": "inf"}, "step"),
    ({"metric": "up", "start": "0", "end": "1000000000", "step": "1"}, "step"),
])
def test_bad_parameters_are_422_naming_the_parameter(api, params, name):
    answer = api.http.get("/api/v1/query_range", params=params)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["detail"].startswith(f"{name}: "), body
