"""`/api/v1/silences` against a real `vigil api`: every change saved in Postgres and published to the silences topic."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from schemas import codec
from tests.api.conftest import start_api
from tests.harness import closed_port, drop_env, free_port, wait_http
from infra.topic_reader import TopicReader, close_readers

pytestmark = pytest.mark.integration

SILENCES = "/api/v1/silences"


def at(**delta) -> str:
    """An RFC 3339 time this far from now."""
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat()


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


DROP = object()  # a change that leaves the field out


def body(**changes) -> dict:
    """A valid silence body with these fields changed (DROP: left out)."""
    document = {"matchers": ['alertname="HighCPU"', 'host=~"web-.*"'], "duration": "2h", "created_by": "alice",
                "comment": "kernel upgrade"} | changes
    return {k: v for k, v in document.items() if v is not DROP}


@pytest.fixture
def topic(api):
    """A reader of the API's silences topic, from the beginning."""
    reader = TopicReader(api.env.settings, api.env.settings.topics.silences, codec.silence())
    yield reader
    close_readers()


def records_of(reader: TopicReader, silence_id: str, count: int) -> list[dict]:
    """The silence's records on the topic once `count` of them arrived, in order."""
    reader.wait_for(lambda rs: sum(r["id"] == silence_id for r in rs) >= count,
                    what=f"{count} records of {silence_id}")
    return [r for r in reader.records if r["id"] == silence_id]


def test_create_update_expire_are_saved_versioned_and_published(api, topic):
    before = datetime.now(timezone.utc)
    created = api.http.post(SILENCES, json=body())
    assert created.status_code == 201, created.text
    made = created.json()
    sid = made["id"]
    assert uuid.UUID(sid).version == 4
    assert created.headers["Location"] == f"{SILENCES}/{sid}" and created.headers["ETag"] == '"1"'
    assert (made["version"], made["state"], made["created_by"], made["comment"]) == (1, "active", "alice",
                                                                                    "kernel upgrade")
    assert made["matchers"] == [{"name": "alertname", "op": "=", "value": "HighCPU"},
                                {"name": "host", "op": "=~", "value": "web-.*"}]
    starts = datetime.fromisoformat(made["starts_at"])
    assert before - timedelta(seconds=1) <= starts <= datetime.now(timezone.utc)
    assert datetime.fromisoformat(made["ends_at"]) - starts == timedelta(hours=2)
    assert api.http.get(f"{SILENCES}/{sid}").json() == made

    changed = api.http.put(f"{SILENCES}/{sid}", json=body(comment="takes longer", duration="3h"),
                           headers={"If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["version"], changed.json()["comment"]) == (2, "takes longer")
    assert changed.json()["starts_at"] == made["starts_at"], "a started silence keeps its start"
    same = api.http.put(f"{SILENCES}/{sid}", json=body(comment="takes longer", ends_at=changed.json()["ends_at"],
                                                       duration=DROP) | {"starts_at": made["starts_at"]})
    assert same.status_code == 200 and same.json()["version"] == 2, "an unchanged silence keeps its version"

    expired = api.http.delete(f"{SILENCES}/{sid}")
    assert expired.status_code == 200, expired.text
    assert (expired.json()["version"], expired.json()["state"]) == (3, "expired")
    assert datetime.fromisoformat(expired.json()["ends_at"]) <= datetime.now(timezone.utc)
    kept = api.http.get(f"{SILENCES}/{sid}")
    assert kept.status_code == 200 and kept.json()["state"] == "expired", "an expired silence stays readable"

    versions = api.http.get(f"{SILENCES}/{sid}/versions").json()
    assert versions["id"] == sid
    assert [(v["version"], v["change"], v["comment"]) for v in versions["versions"]] == [
        (1, "created", "kernel upgrade"), (2, "updated", "takes longer"), (3, "expired", "takes longer")]
    records = records_of(topic, sid, 3)
    assert [(r["version"], r["deleted"], r["comment"]) for r in records] == [
        (1, False, "kernel upgrade"), (2, False, "takes longer"), (3, True, "takes longer")]
    assert records[0]["matchers"] == made["matchers"] and records[0]["created_by"] == "alice"
    assert (records[0]["starts_at_ms"], records[0]["ends_at_ms"]) == (ms(made["starts_at"]), ms(made["ends_at"]))
    assert records[2]["ends_at_ms"] == ms(expired.json()["ends_at"]) and records[2]["updated_at_ms"] > 0


def test_the_three_matcher_forms_give_the_same_matchers(api):
    text = ['a="1"', 'b!="2"', 'c=~"3.*"', 'd!~"4|5"']
    objects = [{"name": "a", "op": "=", "value": "1"}, {"name": "b", "op": "!=", "value": "2"},
               {"name": "c", "op": "=~", "value": "3.*"}, {"name": "d", "op": "!~", "value": "4|5"}]
    alertmanager = [{"name": "a", "value": "1", "isRegex": False},
                    {"name": "b", "value": "2", "isRegex": False, "isEqual": False},
                    {"name": "c", "value": "3.*", "isRegex": True, "isEqual": True},
                    {"name": "d", "value": "4|5", "isRegex": True, "isEqual": False}]
    answers = [api.http.post(SILENCES, json=body(matchers=form)) for form in (text, objects, alertmanager)]
    assert [a.status_code for a in answers] == [201, 201, 201], [a.text for a in answers]
    assert all(a.json()["matchers"] == objects for a in answers)
    hostile = {"name": "q", "op": "=", "value": "x' OR '1'='1 \"quoted\" ünïcødé\nline"}
    saved = api.http.post(SILENCES, json=body(matchers=[hostile]))
    assert api.http.get(f"{SILENCES}/{saved.json()['id']}").json()["matchers"] == [hostile]


def test_pending_silences_start_later_and_a_start_in_the_past_becomes_now(api):
    pending = api.http.post(SILENCES, json=body(starts_at=at(hours=1), ends_at=at(hours=2), duration=DROP))
    assert pending.status_code == 201 and pending.json()["state"] == "pending", pending.text
    expired = api.http.delete(f"{SILENCES}/{pending.json()['id']}").json()
    assert expired["state"] == "expired" and expired["starts_at"] == expired["ends_at"], "Alertmanager's expiry"
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    backdated = api.http.post(SILENCES, json=body(starts_at=at(days=-3), duration="1h"))
    assert backdated.status_code == 201 and backdated.json()["state"] == "active"
    starts = datetime.fromisoformat(backdated.json()["starts_at"])
    assert starts >= before and datetime.fromisoformat(backdated.json()["ends_at"]) - starts == timedelta(hours=1)


def test_expired_silences_are_history_409_and_unknown_ids_404(api):
    sid = api.http.post(SILENCES, json=body()).json()["id"]
    assert api.http.delete(f"{SILENCES}/{sid}").status_code == 200
    again = api.http.delete(f"{SILENCES}/{sid}")
    assert again.status_code == 409 and again.json()["errors"][0]["loc"] == ["path", "id"], again.text
    assert "expired at" in again.json()["detail"]
    revived = api.http.put(f"{SILENCES}/{sid}", json=body())
    assert revived.status_code == 409 and "create a new one" in revived.json()["detail"]
    nobody = str(uuid.uuid4())
    for answer in (api.http.get(f"{SILENCES}/{nobody}"), api.http.put(f"{SILENCES}/{nobody}", json=body()),
                   api.http.delete(f"{SILENCES}/{nobody}"), api.http.get(f"{SILENCES}/{nobody}/versions")):
        assert answer.status_code == 404, answer.text
        assert answer.json()["detail"] == f"id: no silence with id {nobody}"


def test_if_match_guards_against_lost_updates(api):
    sid = api.http.post(SILENCES, json=body()).json()["id"]
    assert api.http.put(f"{SILENCES}/{sid}", json=body(comment="v2"), headers={"If-Match": '"1"'}).status_code == 200
    stale = api.http.put(f"{SILENCES}/{sid}", json=body(comment="lost"), headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["errors"][0]["loc"] == ["header", "If-Match"], stale.text
    assert "at version 2, not 1" in stale.json()["detail"]
    assert api.http.delete(f"{SILENCES}/{sid}", headers={"If-Match": '"7"'}).status_code == 412
    bad = api.http.put(f"{SILENCES}/{sid}", json=body(), headers={"If-Match": "yesterday"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["header", "If-Match"]
    assert api.http.get(f"{SILENCES}/{sid}").json()["comment"] == "v2"


@pytest.mark.parametrize(("changes", "loc", "words"), [
    ({"matchers": []}, ["body", "matchers"], "at least one matcher"),
    ({"matchers": ['env=""']}, ["body", "matchers"], "empty string"),
    ({"matchers": ['job=~".*"', 'env=~"a|"']}, ["body", "matchers"], "would silence every alert"),
    ({"matchers": ['host=~"("']}, ["body", "matchers", "0"], "invalid regex"),
    ({"matchers": ['a="1"', 'host=~"(?=x)"']}, ["body", "matchers", "1"], "invalid regex"),
    ({"matchers": [{"name": "host", "op": "=~", "value": "(a"}]}, ["body", "matchers", "0", "value"], "invalid regex"),
    ({"matchers": ["nonsense"]}, ["body", "matchers", "0"], "not a label matcher"),
    ({"matchers": [{"name": "0bad", "op": "=", "value": "x"}]}, ["body", "matchers", "0", "name"], "label name"),
    ({"matchers": [{"name": "a" * 129, "op": "=", "value": "x"}]}, ["body", "matchers", "0", "name"], "128"),
    ({"matchers": [{"name": "h", "op": "~", "value": "x"}]}, ["body", "matchers", "0", "op"], "not one of"),
    ({"matchers": [{"name": "h", "value": "x"}]}, ["body", "matchers", "0", "op"], "required"),
    ({"matchers": [{"name": "h", "value": "x", "isRegex": "yes"}]}, ["body", "matchers", "0", "isRegex"],
     "true or false"),
    ({"matchers": [{"name": "h", "op": "=", "value": "x", "extra": 1}]}, ["body", "matchers", "0", "extra"],
     "unknown field"),
    ({"matchers": [{"name": "h", "op": "=", "value": 5}]}, ["body", "matchers", "0", "value"], "must be a string"),
    ({"matchers": [7]}, ["body", "matchers", "0"], "expected a matcher"),
    ({"matchers": 'job="x"'}, ["body", "matchers"], "list"),
    ({"matchers": [f'l{i}="v"' for i in range(65)]}, ["body", "matchers"], "at most 64"),
    ({"matchers": [{"name": "h", "op": "=", "value": "v" * 1025}]}, ["body", "matchers", "0", "value"], "1024 bytes"),
    ({"matchers": ['h="' + "é" * 600 + '"']}, ["body", "matchers", "0"], "1024 bytes"),
    ({"matchers": [{"name": "h", "op": "=", "value": "a\x00b"}]}, ["body", "matchers", "0", "value"], "NUL"),
    ({"matchers": ['h="\ud800"']}, ["body", "matchers", "0"], "surrogate"),
    ({"ends_at": at(hours=-1), "duration": DROP}, ["body", "ends_at"], "in the past"),
    ({"starts_at": at(hours=3), "ends_at": at(hours=2), "duration": DROP}, ["body", "ends_at"], "not after starts_at"),
    ({"ends_at": "tomorrow", "duration": DROP}, ["body", "ends_at"], "RFC 3339"),
    ({"ends_at": "2030-01-01T00:00:00", "duration": DROP}, ["body", "ends_at"], "no time zone"),
    ({"starts_at": "0001-01-01T00:00:00+05:00"}, ["body", "starts_at"], "out of range"),
    ({"ends_at": at(hours=1)}, ["body", "duration"], "not both"),
    ({"duration": DROP}, ["body", "ends_at"], "required"),
    ({"duration": "soon"}, ["body", "duration"], "not a duration"),
    ({"duration": "0s"}, ["body", "duration"], "longer than 0s"),
    ({"duration": "99999999d"}, ["body", "duration"], "too long"),
    ({"duration": 7200}, ["body", "duration"], "string"),
    ({"comment": ""}, ["body", "comment"], "blank"),
    ({"comment": "x" * 4097}, ["body", "comment"], "4 KiB"),
    ({"comment": "a\x00b"}, ["body", "comment"], "NUL"),
    ({"created_by": None}, ["body", "created_by"], "string"),
    ({"created_by": 7}, ["body", "created_by"], "string"),
    ({"created_by": "x\ud800"}, ["body", "created_by"], "surrogate"),
    ({"created_by": "a" * 257}, ["body", "created_by"], "256"),
    ({"startsAt": at(hours=1)}, ["body", "startsAt"], "starts_at here"),
    ({"id": str(uuid.uuid4())}, ["body", "id"], "set by the silence store"),
    ({"bogus": 1}, ["body", "bogus"], "unknown field"),
])
def test_invalid_silences_are_422_naming_the_field(api, changes, loc, words):
    answer = api.http.post(SILENCES, content=json.dumps(body(**{"comment": "invalid-case"} | changes)),
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    problem = answer.json()["errors"][0]
    assert problem["loc"] == loc and words in problem["msg"], answer.json()
    assert answer.json()["detail"].startswith(".".join(loc[1:]) + ": ")
    saved = api.http.get(SILENCES, params={"limit": 1000}).json()["items"]
    assert not [s for s in saved if s["comment"] == "invalid-case"], "nothing of an invalid silence is saved"


@pytest.mark.parametrize(("raw", "status", "words"), [
    (b'{"matchers": [', 422, "not valid JSON"),
    (b'[{"matchers": []}]', 422, "expected a JSON object"),
    (b"\xff\xfe{}", 422, "not UTF-8"),
    (b"[" * 30_000 + b"]" * 30_000, 422, "nested too deeply"),
    (b"[" * 50_000 + b"]" * 50_000, 413, "larger than 64 KB"),
    (b"", 422, "not valid JSON"),
    (b"{}", 422, "Field required"),
])
def test_malformed_bodies_are_4xx_never_500(api, raw, status, words):
    answer = api.http.post(SILENCES, content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    assert words in answer.json()["detail"]


def test_huge_bodies_are_413_and_other_content_types_415(api):
    huge = body(comment="x" * 70_000)
    answer = api.http.post(SILENCES, json=huge)
    assert answer.status_code == 413 and answer.json()["errors"][0]["loc"] == ["body"]
    assert api.http.post(SILENCES, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415


@pytest.mark.parametrize("path", ["x'%20OR%20'1'%3D'1", "..%2F..%2Fetc", "a%00b", "not-a-uuid", "1" * 300])
def test_hostile_ids_in_the_path_are_422_or_404_never_5xx(api, path):
    for answer in (api.http.get(f"{SILENCES}/{path}"), api.http.delete(f"{SILENCES}/{path}"),
                   api.http.put(f"{SILENCES}/{path}", json=body()), api.http.get(f"{SILENCES}/{path}/versions")):
        assert answer.status_code in (404, 422), answer.text
        if answer.status_code == 422:
            assert answer.json()["errors"][0]["loc"] == ["path", "id"]


def test_list_filters_by_state_creator_and_alert_labels_and_pages_newest_first(api):
    who = "lister"
    made = []
    for i, matchers in enumerate([['alertname="Disk"', 'env!="prod"'], ['alertname="Disk"', 'env="prod"'],
                                  ['service=~"billing-.*"'], ['alertname=~"Disk|CPU"', 'host="db-1"']]):
        made.append(api.http.post(SILENCES, json=body(matchers=matchers, created_by=who, comment=f"n{i}")).json())
    pending = api.http.post(SILENCES, json=body(matchers=['team="x"'], created_by=who, starts_at=at(hours=1),
                                                duration="1h")).json()
    api.http.delete(f"{SILENCES}/{made[2]['id']}")

    def comments(**params) -> list[str]:
        answer = api.http.get(SILENCES, params={"created_by": who, **params})
        assert answer.status_code == 200, answer.text
        return [item["comment"] for item in answer.json()["items"]]

    assert comments() == ["kernel upgrade", "n3", "n2", "n1", "n0"]  # newest first
    assert comments(state="active") == ["n3", "n1", "n0"]
    assert comments(state=["pending", "EXPIRED"]) == ["kernel upgrade", "n2"]
    assert comments(matches="alertname=Disk") == ["n0"]  # env missing reads as "", which is not prod
    assert comments(matches=["alertname=Disk", 'env="prod"']) == ["n1"]
    assert comments(matches=["alertname=CPU", "host=db-1"]) == ["n3"]
    assert comments(matches=["service=billing-eu"]) == ["n2"]  # expired ones too, unless state says
    assert comments(matches=["service=billing-eu"], state="active") == []
    assert api.http.get(SILENCES, params={"created_by": who, "state": "pending"}).json()["items"][0]["id"] == \
        pending["id"]
    seen, cursor = [], None
    while True:
        page = api.http.get(SILENCES, params={"created_by": who, "limit": 2} | ({"cursor": cursor} if cursor else {}))
        seen += [item["comment"] for item in page.json()["items"]]
        if (cursor := page.json()["next_cursor"]) is None:
            break
    assert seen == comments()
    for params, name in (({"limit": 0}, "limit"), ({"state": "firing"}, "state"), ({"matches": "nonsense"}, "matches"),
                         ({"matches": ["a=1", "a=2"]}, "matches"), ({"matches": 'a="\\q"'}, "matches"),
                         ({"cursor": "garbage!"}, "cursor"), ({"created_by": "a\x00b"}, "created_by")):
        answer = api.http.get(SILENCES, params=params)
        assert answer.status_code == 422 and answer.json()["errors"][0]["loc"][-1] == name, answer.text


def test_no_request_of_this_module_was_answered_500(api):
    metrics = api.http.get("/metrics/").text
    assert 'route="/api/v1/silences' in metrics
    assert not [line for line in metrics.splitlines() if 'status="500"' in line]
    assert "Traceback" not in api.env.log(api.env.processes[0])


def test_kafka_down_is_503_and_nothing_is_saved(stack):
    running = start_api(stack, ready_path="/openapi.json", VIGIL_KAFKA_BOOTSTRAP=f"127.0.0.1:{closed_port()}")
    try:
        answer = running.http.post(SILENCES, json=body(created_by="unsent"))
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "5", answer.text
        assert answer.json()["detail"].startswith("kafka unavailable, nothing was saved")
        assert running.http.get(SILENCES, params={"created_by": "unsent"}).json()["items"] == []
    finally:
        running.http.close()
        drop_env(running.env)


def test_a_restarted_api_republishes_every_silence_to_an_emptied_topic(stack):
    running = start_api(stack)
    env = running.env
    try:
        kept = running.http.post(SILENCES, json=body()).json()["id"]
        running.http.put(f"{SILENCES}/{kept}", json=body(comment="changed"))
        gone = running.http.post(SILENCES, json=body()).json()["id"]
        running.http.delete(f"{SILENCES}/{gone}")
        drop_env(env)  # stops the API and deletes the topics, as a restart of the in-memory broker does
        port = free_port()
        wait_http(f"http://127.0.0.1:{port}/healthz", env.start("api", extra_env={"VIGIL_API_PORT": str(port)}))
        reader = TopicReader(env.settings, env.settings.topics.silences, codec.silence())
        latest = reader.wait_for(lambda rs: {r["id"] for r in rs} >= {kept, gone}, what="republished silences")
        assert {(r["id"], r["version"], r["deleted"], r["comment"]) for r in latest} == {
            (kept, 2, False, "changed"), (gone, 2, True, "kernel upgrade")}
    finally:
        running.http.close()
        close_readers()
        drop_env(env)
