"""The query evaluator without servers: groups over an in-memory store, state through a table stand-in."""

from __future__ import annotations

import asyncio

from kernel.promql import MemoryStorage
from schemas.series_id import fingerprint, series_id
from streams.query import QueryEvaluator, StoreUnavailable, recorded_batches
from streams.query.groups import group_partition
from kernel.rules import Rule, RuleIndex
from streams.state import StateStore

PARTITIONS = 4
S = 1000


class Table:
    """What StateStore reads of a Faust table: a dict (the changelog is Faust's business, tested end to end)."""

    def __init__(self) -> None:
        self.data: dict = {}

    def get(self, key):
        return self.data.get(key)


class Feed:
    def __init__(self, rules: list[dict]) -> None:
        self.index = RuleIndex(Rule.model_validate(r) for r in rules)


class CountingStorage:
    """A MemoryStorage that counts selects, and can be switched off like an unreachable store."""

    def __init__(self) -> None:
        self.memory = MemoryStorage()
        self.selects = 0
        self.down = False

    def select(self, matchers, start_ms, end_ms):
        if self.down:
            raise StoreUnavailable("connection refused", "unreachable")
        self.selects += 1
        return self.memory.select(matchers, start_ms, end_ms)


GROUP = {"name": "jobs", "interval": "1s"}
JOB_DOWN = {"id": "jobs-jobdown", "evaluator": "query", "alert": "JobDown(all)", "expr": "sum by (job) (up) < 1",
            "for": "2s", "labels": {"severity": "page", "empty": ""},
            "annotations": {"summary": "{{ $labels.job }} has {{ $value }} up; {{ range $k, $v := $labels }}{{ $k }} {{ end }}"},
            "group": {**GROUP, "position": 0}}


def evaluator(rules, storage, table=None) -> tuple[QueryEvaluator, StateStore]:
    store = StateStore(table or Table(), None)
    return QueryEvaluator(Feed(rules), store, PARTITIONS, storage), store


def tick(ev: QueryEvaluator, at_ms: int, owned=None):
    return asyncio.run(ev.tick(at_ms, set(range(PARTITIONS)) if owned is None else owned))


def acknowledge(out):
    """What the worker's emit does once the broker has the events: write the held states."""
    for item in out.emits:
        item.store.write(item.key)


def test_an_aggregation_fires_after_for_with_prometheus_labels_and_resolves_once():
    storage = CountingStorage()
    for t in range(0, 20):
        storage.memory.add({"__name__": "up", "job": "api", "instance": "a"}, t * S, 0 if t >= 5 else 1)
        storage.memory.add({"__name__": "up", "job": "api", "instance": "b"}, t * S, 0 if 5 <= t < 12 else 1)
    ev, _ = evaluator([JOB_DOWN], storage)
    events = []
    for t in range(0, 16):
        out = tick(ev, t * S + 500)
        acknowledge(out)
        events += [e.event for e in out.emits]
    fired, resolved = events
    labels = {"alertname": "JobDown(all)", "job": "api", "severity": "page"}  # the empty label is dropped
    assert fired["status"] == "FIRING" and fired["labels"] == labels and fired["sequence"] == 1
    assert fired["fingerprint"] == fingerprint(labels) and fired["rule_id"] == "jobs-jobdown"
    offset = ev._live["jobs"].definition.offset_ms  # the group's place in each interval
    assert fired["event_time_ms"] == fired["starts_at_ms"] == 7 * S + offset  # pending at 5s, `for` 2s
    assert fired["annotations"] == {"summary": "api has 0 up; job "}  # $labels: the series' own
    assert (resolved["status"], resolved["sequence"], resolved["ends_at_ms"]) == ("RESOLVED", 2, 12 * S + offset)
    assert resolved["annotations"]["summary"].startswith("api has 0 up")  # rendered when it last held


def test_a_store_outage_keeps_alerts_firing_and_is_reported():
    storage = CountingStorage()
    for t in range(0, 30):
        storage.memory.add({"__name__": "up", "job": "api"}, t * S, 0)
    ev, _ = evaluator([{**JOB_DOWN, "for": "0s"}], storage)
    (fired,) = tick(ev, 1 * S).emits
    storage.down = True
    outs = [tick(ev, t * S) for t in range(2, 6)]
    assert [e for out in outs for e in out.emits] == []
    assert ev.describe()["store"] == "unavailable" and ev.describe()["store_failures"] == 4
    storage.down = False
    assert tick(ev, 6 * S).emits == [] and ev.describe()["store"] == "ok"


def test_state_survives_a_new_evaluator_on_the_same_table_without_a_second_page():
    storage = CountingStorage()
    for t in range(0, 30):
        storage.memory.add({"__name__": "up", "job": "api"}, t * S, 0 if t < 20 else 1)
    table = Table()
    first, store = evaluator([{**JOB_DOWN, "for": "0s"}], storage, table)
    out = tick(first, 1 * S)
    acknowledge(out)
    (fired,) = [e.event for e in out.emits]
    acknowledge(tick(first, 2 * S))
    store.checkpoint(force=True)
    second, _ = evaluator([{**JOB_DOWN, "for": "0s"}], storage, table)  # a restart, or the new owner
    events = [e for t in range(3, 23) for e in tick(second, t * S).emits]
    (resolved,) = events  # no second FIRING: it stayed firing
    assert (resolved.event["status"], resolved.event["sequence"], resolved.event["starts_at_ms"]) == \
        ("RESOLVED", 2, fired["starts_at_ms"])


def test_only_the_owner_of_the_groups_partition_evaluates_it():
    storage = CountingStorage()
    storage.memory.add({"__name__": "up", "job": "api"}, 0, 0)
    ev, _ = evaluator([{**JOB_DOWN, "for": "0s"}], storage)
    mine = group_partition("jobs", PARTITIONS)
    assert tick(ev, S, owned=set(range(PARTITIONS)) - {mine}).evaluated == 0 and storage.selects == 0
    assert len(tick(ev, 2 * S, owned={mine}).emits) == 1


def test_recording_rules_publish_samples_and_later_rules_see_them_at_once():
    storage = CountingStorage()
    for t in range(0, 5):
        for i, code in enumerate(["200", "500", "500"]):
            storage.memory.add({"__name__": "http_requests_total", "code": code, "i": str(i)}, t * S, t * 10.0)
    rules = [{"id": "r", "evaluator": "query", "record": "code:http_requests:rate1m",
              "expr": "sum by (code) (http_requests_total)", "labels": {"team": "web"},
              "group": {**GROUP, "position": 0}},
             {"id": "a", "evaluator": "query", "alert": "Errors", "expr": 'code:http_requests:rate1m{code="500"} > 1',
              "group": {**GROUP, "position": 1}}]
    ev, _ = evaluator(rules, storage)
    out = tick(ev, 4 * S + 999)
    names = sorted((s["name"], s["labels"]["code"], s["value"]) for s in out.samples)
    assert names == [("code:http_requests:rate1m", "200", 40.0), ("code:http_requests:rate1m", "500", 80.0)]
    sample = out.samples[0]
    assert sample["series_id"] == series_id(sample["name"], sample["labels"]) and sample["labels"]["team"] == "web"
    assert [e.event["labels"]["code"] for e in out.emits] == ["500"]  # the alert read the recorded series
    assert sum(len(b) > 0 for _, b in recorded_batches(out.samples, PARTITIONS, 0)) >= 1


def test_selectors_repeated_in_one_evaluation_are_fetched_once():
    storage = CountingStorage()
    storage.memory.add({"__name__": "up", "job": "api"}, 0, 1)
    rules = [{"id": f"r{i}", "evaluator": "query", "alert": f"A{i}", "expr": expr, "group": {**GROUP, "position": i}}
             for i, expr in enumerate(["up == 0", "sum(up) == 0", "count(up) > 5", "avg_over_time(up[10m]) < 0"])]
    ev, _ = evaluator(rules, storage)
    tick(ev, S)
    assert storage.selects == 2  # the instant selector's lookback window, then the wider [10m] once


def test_a_deleted_group_resolves_its_firing_alerts():
    storage = CountingStorage()
    storage.memory.add({"__name__": "up", "job": "api"}, 0, 0)
    ev, _ = evaluator([{**JOB_DOWN, "for": "0s"}], storage)
    (fired,) = tick(ev, S).emits
    ev.feed.index = RuleIndex([])
    (resolved,) = tick(ev, 2 * S).emits
    assert (resolved.event["status"], resolved.event["fingerprint"], resolved.event["sequence"]) == \
        ("RESOLVED", fired.event["fingerprint"], 2)
