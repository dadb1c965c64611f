"""`/api/v1/rules` against a real `vigil api`: every change saved in Postgres and published to the rules topic."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from schemas import codec
from tests.api.conftest import start_api
from tests.harness import closed_port, drop_env, free_port, wait_http
from infra.topic_reader import TopicReader, close_readers

pytestmark = pytest.mark.integration

RULES = "/api/v1/rules"


def cpu_rule(rule_id: str, **changes) -> dict:
    return {"id": rule_id, "alert": "HighCPU", "metric": "cpu_usage_user", "op": ">", "threshold": 90,
            "for": "5m", "labels": {"severity": "page"},
            "annotations": {"summary": "CPU on {{ $labels.host }} is {{ $value }}%"}} | changes


@pytest.fixture
def topic(api):
    """A reader of the API's rules topic, from the beginning."""
    reader = TopicReader(api.env.settings, api.env.settings.topics.rules, codec.rule())
    yield reader
    close_readers()


def records_of(reader: TopicReader, rule_id: str, count: int) -> list[dict]:
    """The rule's records on the topic once `count` of them arrived, in order."""
    reader.wait_for(lambda rs: sum(r["id"] == rule_id for r in rs) >= count, what=f"{count} records of {rule_id}")
    return [r for r in reader.records if r["id"] == rule_id]


def test_crud_round_trip_is_saved_versioned_and_published(api, topic):
    created = api.http.post(RULES, json=cpu_rule("crud-1"))
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"{RULES}/crud-1" and created.headers["ETag"] == '"1"'
    body = created.json()
    assert (body["id"], body["version"], body["deleted"], body["updated_by"]) == ("crud-1", 1, False, "tests-admin")
    assert body["rule"]["for"] == 300.0 and body["rule"]["threshold"] == 90.0  # normalised
    assert api.http.get(f"{RULES}/crud-1").json() == body

    changed = api.http.put(f"{RULES}/crud-1", json=cpu_rule("crud-1", threshold=95))
    assert changed.status_code == 200 and changed.json()["version"] == 2 and changed.json()["rule"]["threshold"] == 95
    same = api.http.put(f"{RULES}/crud-1", json=cpu_rule("crud-1", threshold=95.0, **{"for": 300}))
    assert same.json()["version"] == 2, "an unchanged rule keeps its version"
    deleted = api.http.delete(f"{RULES}/crud-1")
    assert deleted.status_code == 200 and deleted.json()["version"] == 3 and deleted.json()["deleted"] is True
    assert deleted.json()["rule"]["threshold"] == 95  # the last definition is kept
    gone = api.http.get(f"{RULES}/crud-1")
    assert gone.status_code == 404 and "deleted at version 3" in gone.json()["detail"]

    recreated = api.http.post(RULES, json=cpu_rule("crud-1", threshold=80))
    assert recreated.status_code == 201 and recreated.json()["version"] == 4

    versions = api.http.get(f"{RULES}/crud-1/versions").json()["versions"]
    assert [(v["version"], v["deleted"], v["rule"]["threshold"]) for v in versions] == [
        (1, False, 90), (2, False, 95), (3, True, 95), (4, False, 80)]
    records = records_of(topic, "crud-1", 4)
    assert [(r["version"], r["deleted"], json.loads(r["spec"])["threshold"]) for r in records] == [
        (1, False, 90), (2, False, 95), (3, True, 95), (4, False, 80)]
    assert all(r["updated_by"] == "tests-admin" and r["updated_at_ms"] > 0 for r in records)
    assert json.loads(records[-1]["spec"]) == recreated.json()["rule"]


def test_409_for_a_live_id_and_404_for_a_missing_one(api):
    assert api.http.post(RULES, json=cpu_rule("dup-1")).status_code == 201
    again = api.http.post(RULES, json=cpu_rule("dup-1", threshold=1))
    assert again.status_code == 409 and again.json()["errors"][0]["loc"] == ["body", "id"]
    assert "already exists (version 1)" in again.json()["detail"]
    for answer in (api.http.get(f"{RULES}/nope"), api.http.put(f"{RULES}/nope", json=cpu_rule("nope")),
                   api.http.delete(f"{RULES}/nope"), api.http.get(f"{RULES}/nope/versions")):
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"].startswith("id: no rule with id nope")


def test_if_match_guards_against_lost_updates(api):
    api.http.post(RULES, json=cpu_rule("guarded"))
    assert api.http.put(f"{RULES}/guarded", json=cpu_rule("guarded", threshold=91),
                        headers={"If-Match": '"1"'}).json()["version"] == 2
    stale = api.http.put(f"{RULES}/guarded", json=cpu_rule("guarded", threshold=92), headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["errors"][0]["loc"] == ["header", "If-Match"]
    assert "at version 2, not 1" in stale.json()["detail"]
    assert api.http.delete(f"{RULES}/guarded", headers={"If-Match": '"7"'}).status_code == 412
    bad = api.http.put(f"{RULES}/guarded", json=cpu_rule("guarded"), headers={"If-Match": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["header", "If-Match"]
    assert api.http.get(f"{RULES}/guarded").json()["rule"]["threshold"] == 91


def test_concurrent_changes_of_one_rule_never_both_win(api, topic):
    api.http.post(RULES, json=cpu_rule("race"))
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: api.http.put(f"{RULES}/race", json=cpu_rule("race", threshold=100 + i),
                                                       headers={"If-Match": '"1"'}), range(8)))
        creates = list(pool.map(lambda i: api.http.post(RULES, json=cpu_rule("race-new", threshold=i)), range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [412] * 7
    assert sorted(a.status_code for a in creates) == [201] + [409] * 7
    winner = next(a.json() for a in answers if a.status_code == 200)
    assert api.http.get(f"{RULES}/race").json()["rule"] == winner["rule"]
    assert [r["version"] for r in records_of(topic, "race", 2)] == [1, 2]


@pytest.mark.parametrize(("body", "loc", "words"), [
    ({"type": "rate"}, ["body", "window"], "needs a window"),
    ({"matchers": ['job=~"("']}, ["body", "matchers", "0"], "invalid regex"),
    ({"matchers": ['job="api"', "nonsense"]}, ["body", "matchers", "1"], ""),
    ({"matchers": ['job=~"' + "a" * 2000 + '"']}, ["body", "matchers", "0"], "longer than"),
    ({"annotations": {"summary": "{{ $foo }}"}}, ["body", "annotations", "summary"], '1:3: undefined variable "$foo"'),
    ({"labels": {"severity": "{{ $labels.host"}}, ["body", "labels", "severity"], "1:15: unclosed action"),
    ({"for": "-5m"}, ["body", "for"], "not a duration"),
    ({"for": -5}, ["body", "for"], "negative"),
    ({"window": "5m"}, ["body", "window"], "has no window"),
    ({"bogus": 1}, ["body", "bogus"], "unknown field"),
    ({"version": 3}, ["body", "version"], "set by the rule store"),
    ({"threshold": "high"}, ["body", "threshold"], "number"),
    ({"threshold": True}, ["body", "threshold"], "number"),
    ({"threshold": 1e400}, ["body", "threshold"], "finite"),
    ({"labels": ["a", "b"]}, ["body", "labels"], "object"),
    ({"matchers": 'job="api"'}, ["body", "matchers"], ""),
    ({"match": {"host": 7}}, ["body", "match", "host"], "string"),
    ({"annotations": {"summary": "a\x00b"}}, ["body", "annotations", "summary"], "NUL"),
    ({"alert": "x\ud800"}, ["body", "alert"], "surrogate"),
    ({"id": "x'; DROP TABLE rules; --"}, ["body", "id"], "pattern"),
    ({"id": "a" * 200}, ["body", "id"], "pattern"),
    ({"metric": "cpu usage"}, ["body", "metric"], "metric name"),
    ({"quantile": 2}, ["body", "quantile"], "1"),
])
def test_invalid_rules_are_422_naming_the_field(api, body, loc, words):
    raw = json.dumps(cpu_rule("bad-rule") | body).replace("1e+400", "1e400")
    for answer in (api.http.post(RULES, content=raw, headers={"Content-Type": "application/json"}),
                   api.http.post(f"{RULES}/validate", content=raw, headers={"Content-Type": "application/json"})):
        assert answer.status_code == 422, answer.text
        problem = answer.json()["errors"][0]
        assert problem["loc"] == loc and words in problem["msg"], answer.json()
        assert answer.json()["detail"].startswith(".".join(loc[1:]) + ": ")
    assert api.http.get(f"{RULES}/bad-rule").status_code == 404


@pytest.mark.parametrize(("raw", "words"), [
    (b'{"id": "x",', "not valid JSON"),
    (b'[{"id": "x"}]', "expected a JSON object"),
    (b'"rule"', "expected a JSON object"),
    (b'{"id": "x", "alert": "A", "metric": "m", "threshold": NaN}', "finite"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
    (b"[" * 50_000 + b"]" * 50_000, "larger than 64 KB"),
    (b"", "not valid JSON"),
])
def test_malformed_bodies_are_422_never_500(api, raw, words):
    answer = api.http.post(RULES, content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == (413 if len(raw) > 64 * 1024 else 422), answer.text
    assert words in answer.json()["detail"]


def test_huge_bodies_are_413_and_large_valid_ones_are_kept_exactly(api):
    huge = cpu_rule("huge", matchers=[f'l{i}="{"v" * 60}"' for i in range(2000)])
    answer = api.http.post(RULES, json=huge)
    assert answer.status_code == 413 and answer.json()["errors"][0]["loc"] == ["body"]
    hostile = {"odd": "x' OR '1'='1", "quote": 'say "hi"}', "uni": "ünïcødé ✓", "nl": "a\nb"}
    many = cpu_rule("many-matchers", matchers=[f'l{i}=~"v{i}|w.*"' for i in range(600)], labels=hostile)
    created = api.http.post(RULES, json=many)
    assert created.status_code == 201, created.text
    got = api.http.get(f"{RULES}/many-matchers").json()["rule"]
    assert got["matchers"] == many["matchers"] and got["labels"] == hostile
    assert api.http.post(RULES, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415


@pytest.mark.parametrize("path", ["x'%20OR%20'1'%3D'1", "..%2F..%2Fetc", "a%00b", "-leading-dash", "a" * 129])
def test_hostile_ids_in_the_path_are_422_never_5xx(api, path):
    for answer in (api.http.get(f"{RULES}/{path}"), api.http.delete(f"{RULES}/{path}"),
                   api.http.put(f"{RULES}/{path}", json=cpu_rule("x"))):
        assert answer.status_code in (404, 422), answer.text
        if answer.status_code == 422:
            assert answer.json()["errors"][0]["loc"] == ["path", "id"]


def test_put_body_id_must_match_the_path_or_be_absent(api):
    api.http.post(RULES, json=cpu_rule("put-id"))
    other = api.http.put(f"{RULES}/put-id", json=cpu_rule("someone-else"))
    assert other.status_code == 422 and other.json()["errors"][0]["loc"] == ["body", "id"]
    no_id = {k: v for k, v in cpu_rule("put-id", threshold=50).items() if k != "id"}
    answer = api.http.put(f"{RULES}/put-id", json=no_id)
    assert answer.status_code == 200 and answer.json()["version"] == 2 and answer.json()["rule"]["id"] == "put-id"


def test_validate_answers_the_normalised_rule_and_saves_nothing(api):
    answer = api.http.post(f"{RULES}/validate", json=cpu_rule("only-checked", type="rate", window="1h30m"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["rule"]["window"] == 5400.0 and answer.json()["rule"]["type"] == "rate"
    assert api.http.get(f"{RULES}/only-checked").status_code == 404


def test_list_filters_and_pages_by_id(api):
    def rule(i: int) -> dict:
        kind = {"type": "rate", "window": "5m"} if i % 3 == 0 else {}
        return cpu_rule(f"list-{i:02d}", metric="listed_metric", alert="Even" if i % 2 == 0 else "Odd", **kind)

    for i in range(10):
        assert api.http.post(RULES, json=rule(i)).status_code == 201
    api.http.delete(f"{RULES}/list-09")

    def ids(**params) -> list[str]:
        answer = api.http.get(RULES, params={"metric": "listed_metric", **params})
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert ids() == [f"list-{i:02d}" for i in range(9)]
    assert ids(include_deleted="true")[-1] == "list-09"
    assert ids(type="rate") == ["list-00", "list-03", "list-06"]
    assert ids(type="threshold", alertname="Even") == ["list-02", "list-04", "list-08"]
    assert ids(alertname="Nobody") == []
    seen, cursor = [], None
    while True:
        body = api.http.get(RULES, params={"metric": "listed_metric", "limit": 4} | (
            {"cursor": cursor} if cursor else {})).json()
        seen += [item["id"] for item in body["items"]]
        if (cursor := body["next_cursor"]) is None:
            break
    assert seen == ids()
    for params, name in (({"limit": 0}, "limit"), ({"limit": 5000}, "limit"), ({"type": "bogus"}, "type"),
                         ({"cursor": "garbage!"}, "cursor"), ({"metric": "a\x00b"}, "metric")):
        answer = api.http.get(RULES, params=params)
        assert answer.status_code == 422 and answer.json()["errors"][0]["loc"][-1] == name, answer.text


def query_rule(rule_id: str, **changes) -> dict:
    return {"id": rule_id, "evaluator": "query", "alert": "JobDown(prod)", "expr": "sum by (job) (up) < 1",
            "for": "1m", "annotations": {"summary": "{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}"},
            "group": {"name": "jobs", "interval": "1s", "position": 0}} | changes


def test_query_rules_are_saved_shown_with_their_evaluator_and_checked_by_field(api):
    created = api.http.post(RULES, json=query_rule("q-1"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["evaluator"] == "query" and body["rule"]["group"] == {"name": "jobs", "interval": 1.0}
    recording = api.http.post(RULES, json={"id": "q-2", "evaluator": "query", "record": "job:up:sum",
                                           "expr": "sum by (job) (up)", "group": {"name": "jobs", "position": 1}})
    assert recording.status_code == 201, recording.text
    api.http.post(RULES, json=cpu_rule("s-1"))
    listed = api.http.get(RULES, params={"evaluator": "query", "limit": 1000}).json()["items"]
    assert {(r["id"], r["evaluator"]) for r in listed} >= {("q-1", "query"), ("q-2", "query")}
    assert {r["evaluator"] for r in listed} == {"query"}
    thresholds = {r["id"] for r in api.http.get(RULES, params={"type": "threshold", "limit": 1000}).json()["items"]}
    assert "s-1" in thresholds and not thresholds & {"q-1", "q-2"}  # a query rule has no stream type
    assert api.http.get(f"{RULES}/s-1").json()["evaluator"] == "stream"
    for changes, loc, words in (
            ({"expr": "sum(("}, ["body", "expr"], "not valid PromQL"),
            ({"annotations": {"summary": "{{ if }}"}}, ["body", "annotations", "summary"], "missing value for if"),
            ({"threshold": 5}, ["body", "threshold"], "a query rule has no threshold"),
            ({"group": {"name": "jobs", "interval": "100ms"}}, ["body", "group", "interval"], "between 1s and 24h"),
            ({"record": "x"}, ["body", "alert"], "exactly one of 'alert'")):
        answer = api.http.post(f"{RULES}/validate", json=query_rule("q-3", **changes))
        assert answer.status_code == 422, answer.text
        problem = answer.json()["errors"][0]
        assert problem["loc"] == loc and words in problem["msg"], answer.json()


def test_no_request_of_this_module_was_answered_500(api):
    metrics = api.http.get("/metrics/").text
    assert 'route="/api/v1/rules' in metrics
    assert not [line for line in metrics.splitlines() if 'status="500"' in line]
    assert "Traceback" not in api.env.log(api.env.processes[0])


def test_kafka_down_is_503_and_nothing_is_saved(stack):
    running = start_api(stack, ready_path="/openapi.json", VIGIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{closed_port()}")
    try:
        answer = running.http.post(RULES, json=cpu_rule("unsent"))
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5", answer.text
        assert answer.json()["detail"].startswith("kafka unavailable, nothing was saved")
        assert running.http.get(f"{RULES}/unsent").status_code == 404
        assert running.http.get(f"{RULES}/unsent/versions").status_code == 404
    finally:
        running.http.close()
        drop_env(running.env)


def test_a_restarted_api_republishes_every_rule_to_an_emptied_topic(stack):
    running = start_api(stack)
    env = running.env
    try:
        running.http.post(RULES, json=cpu_rule("kept"))
        running.http.put(f"{RULES}/kept", json=cpu_rule("kept", threshold=99))
        running.http.post(RULES, json=cpu_rule("dropped"))
        running.http.delete(f"{RULES}/dropped")
        drop_env(env)  # stops the API and deletes the topics, as a restart of the in-memory broker does
        port = free_port()
        wait_http(f"http://127.0.0.1:{port}/healthz", env.start("api", extra_env={"VIGIL_API_PORT": str(port)}))
        reader = TopicReader(env.settings, env.settings.topics.rules, codec.rule())
        latest = reader.wait_for(lambda rs: {r["id"] for r in rs} >= {"kept", "dropped"}, what="republished rules")
        assert {(r["id"], r["version"], r["deleted"]) for r in latest} == {("kept", 2, False), ("dropped", 2, True)}
    finally:
        running.http.close()
        close_readers()
        drop_env(env)
