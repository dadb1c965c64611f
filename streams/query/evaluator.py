"""The query evaluator of one worker: the query rule groups it owns, evaluated at their interval.

Each group runs as Prometheus runs it (kernel/prom_rules `RuleGroup`: one alert per output series,
pending/`for`/`keep_firing_for`, resolved alerts, `$value`/`$labels`, `limit`, group labels), with
PromQL evaluated by kernel/promql over raw samples from VictoriaMetrics (victoria.py). What a
group evaluation produces becomes what the stream rules produce: AlertEvents (FIRING / RESOLVED
transitions, fingerprint of the alert's labels, a sequence per fingerprint) for the worker's `emit`
path, and recorded samples for the metrics topic.

A tick has three steps, so that the blocking part never runs on the event loop and the state store
is only touched there: `plan` (on the loop: which owned groups are due, their state loaded from the
table), `run` (in a thread: HTTP to the store and PromQL), `settle` (on the loop: sequences, state
records, emits). When the store can't be reached, each failing rule keeps its alerts as they are (no
resolve storm, Prometheus' behaviour for a failed rule), the failure is counted and `health()` says so.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field, replace

from prometheus_client import Counter, Gauge, Histogram

from kernel.prom_rules import (AlertState, AlertTransition, GroupEvaluation, RuleEvaluationError, RuleGroup,
                               StateCodecError, engine_query_func)
from kernel.prom_rules.alerting import ALERTS_FOR_STATE_METRIC, ALERTS_METRIC
from kernel.prom_rules.group_state import GroupState
from kernel.prom_rules.templates import alert_expander
from kernel.promql import Engine, Storage
from schemas import codec
from schemas.records import AlertEvent, Sample
from schemas.series_id import fingerprint, partition_for, series_id
from streams.engine import Emit
from kernel.rules import Rule
from streams.state import StateStore

from .evaluation_storage import EvaluationStorage, RecentSamples
from .group_record import GroupRecord, from_value, record_key, to_value
from .groups import GroupDef, build_groups, group_partition, next_due_ms
from .victoria import StoreRefused, StoreUnavailable

log = logging.getLogger(__name__)

LOOKBACK_MS = 300_000  # Prometheus' --query.lookback-delta
RECORDING_SOURCE = "recording"
_WRITTEN_ELSEWHERE = frozenset({ALERTS_METRIC, ALERTS_FOR_STATE_METRIC})  # kept in memory, not published

EVALUATIONS = Counter("vigil_streams_query_group_evaluations_total", "Query rule group evaluations, by outcome",
                      ["outcome"])
STORE_FAILURES = Counter("vigil_streams_query_store_failures_total",
                         "Group evaluations the time-series store could not serve, by reason", ["reason"])
RULE_FAILURES = Counter("vigil_streams_query_rule_failures_total", "Query rules whose evaluation failed "
                        "(bad query, limit exceeded, store unavailable)")
GROUPS = Gauge("vigil_streams_query_groups", "Query rule groups this worker owns")
DURATION = Histogram("vigil_streams_query_group_evaluation_seconds", "Wall time of one group evaluation",
                     buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))


@dataclass
class _Live:
    """A group this worker owns, in memory."""

    definition: GroupDef
    group: RuleGroup
    sequences: dict[str, int]
    evaluated_at_ms: int
    partition: int


@dataclass
class _Done:
    """One group evaluation, as the thread hands it back."""

    live: _Live
    evaluation: GroupEvaluation
    store_failure: StoreUnavailable | None


@dataclass
class QueryOutput:
    """What a tick produced: AlertEvents to emit (state written after the broker acknowledged them), samples."""

    emits: list[Emit] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    evaluated: int = 0


@dataclass
class StoreHealth:
    """The store as the evaluator last saw it."""

    ok: bool = True
    error: str = ""
    failures: int = 0
    since_ms: int | None = None  # first failure of the current outage


class QueryEvaluator:
    """Evaluates the query rule groups of the partitions a worker owns; Faust-free (streams/app.py drives it)."""

    def __init__(self, feed, store: StateStore, partitions: int, storage: Storage,
                 lookback_ms: int = LOOKBACK_MS, external_labels: dict[str, str] | None = None,
                 external_url: str = "") -> None:
        self.feed = feed  # anything with `.index` (a RuleIndex with `query_rules`)
        self.store = store
        self.partitions = partitions
        self.recent = RecentSamples(lookback_ms)
        self.storage = EvaluationStorage(storage, self.recent)
        self.engine = Engine(self.storage, lookback_ms)
        self.health = StoreHealth()
        self._query = _query_func(self.engine)
        # Prometheus' external labels: `$externalLabels` in templates, and added to each alert that lacks them.
        self._external = dict(external_labels or {})
        self._expand = alert_expander(self._external, external_url, self._query)
        self._index = None
        self._definitions: dict[str, GroupDef] = {}
        self._live: dict[str, _Live] = {}

    # --- the tick ---

    async def tick(self, now_ms: int, owned: set[int]) -> QueryOutput:
        """Evaluate every owned group that is due at `now_ms` (the store is read in a worker thread)."""
        out = QueryOutput()
        self._sync(now_ms, owned, out)
        due = self.plan(now_ms)
        if due:
            done = await asyncio.to_thread(self.run, due)
            self.settle(done, out)
        GROUPS.set(len(self._live))
        return out

    def plan(self, now_ms: int) -> list[tuple[_Live, int]]:
        """(group, evaluation time) of each owned group whose next slot has come."""
        due = []
        for live in self._live.values():
            at_ms = next_due_ms(live.definition, now_ms)
            if at_ms > live.evaluated_at_ms:
                due.append((live, at_ms))
        return due

    def run(self, due: list[tuple[_Live, int]]) -> list[_Done]:
        """Evaluate the due groups, one after the other (blocking: the store is read over HTTP)."""
        done = []
        for live, at_ms in due:
            started = time.perf_counter()
            self.storage.begin()
            try:
                evaluation = live.group.evaluate(at_ms)
            except Exception:  # a bug of ours must not stop the other groups, nor the worker's timer
                log.exception("query group %s: evaluation at %d failed", live.definition.name, at_ms)
                EVALUATIONS.labels("crashed").inc()
                live.evaluated_at_ms = at_ms
                continue
            live.evaluated_at_ms = at_ms
            DURATION.observe(time.perf_counter() - started)
            done.append(_Done(live, evaluation, self.storage.failure))
        if due:
            self.recent.trim(max(at for _, at in due))
        return done

    def settle(self, done: list[_Done], out: QueryOutput) -> None:
        """Turn evaluations into AlertEvents and samples, and save each group's state."""
        for item in done:
            live, evaluation = item.live, item.evaluation
            out.evaluated += 1
            failed = sum(o.error is not None for o in evaluation.outcomes)
            RULE_FAILURES.inc(failed)
            if item.store_failure is not None:
                self._store_failed(item.store_failure, evaluation.at_ms)
                EVALUATIONS.labels("store_unavailable").inc()
            else:
                self._store_ok()
                EVALUATIONS.labels("rule_error" if failed else "ok").inc()
            emits = [self._event(live, t) for t in evaluation.transitions]
            emits = [e for e in emits if e is not None]
            self._save(live, held=bool(emits), write=bool(evaluation.transitions) and not emits)
            out.emits.extend(Emit(event, self.store, record_key(live.definition.name)) for event in emits)
            out.samples.extend(_recorded(evaluation))

    # --- groups: which, and their state ---

    def _sync(self, now_ms: int, owned: set[int], out: QueryOutput) -> None:
        """Follow rule changes and ownership: build, rebuild (state carried over) or drop live groups."""
        index = self.feed.index
        if index is not self._index:
            self._index = index
            self._definitions = build_groups(getattr(index, "query_rules", []))
        for name, live in list(self._live.items()):
            definition = self._definitions.get(name)
            if live.partition not in owned:
                del self._live[name]  # another worker's now; the state was checkpointed when it moved
            elif definition is None:
                self._retire(live, now_ms, out)
                del self._live[name]
            elif definition.versions != live.definition.versions:
                self._rebuild(live, definition, now_ms, out)
        for name, definition in self._definitions.items():
            partition = group_partition(name, self.partitions)
            if name not in self._live and partition in owned:
                self._live[name] = self._load(definition, partition)

    def _load(self, definition: GroupDef, partition: int) -> _Live:
        """A group taken over: its state from the table (a restart or a rebalance), or a fresh one."""
        key = record_key(definition.name)
        record = None
        value = self.store.get(key)
        if value is not None:
            try:
                record = from_value(dict(value))
            except StateCodecError as exc:
                log.error("query group %s: state not restored, starting afresh: %s", definition.name, exc)
        if record is None:
            record = GroupRecord(GroupState(definition.name, []))
        else:
            log.info("query group %s: restored %d alert(s), last evaluated at %d", definition.name,
                     sum(len(r.alerts) for r in record.state.rules), record.evaluated_at_ms)
        group = self._new_group(definition, record.state)
        return _Live(definition, group, record.sequences, record.evaluated_at_ms, partition)

    def _new_group(self, definition: GroupDef, state: GroupState | None) -> RuleGroup:
        return RuleGroup(definition.spec, query=self._query, expand=self._expand, appender=self.recent,
                         default_interval_ms=definition.interval_ms, state=state)

    def _rebuild(self, live: _Live, definition: GroupDef, now_ms: int, out: QueryOutput) -> None:
        """Rules of the group changed: carry the state over as Prometheus' reload does; resolve what is gone."""
        before = _firing(live)
        live.group = self._new_group(definition, live.group.snapshot())
        old = live.definition
        live.definition = definition
        after = {fp for fp, _ in _firing(live).items()}
        gone = [(fp, alert_rule) for fp, alert_rule in before.items() if fp not in after]
        self._resolve(live, gone, old, now_ms, out)

    def _retire(self, live: _Live, now_ms: int, out: QueryOutput) -> None:
        """Every rule of the group was deleted (or left the query evaluator): its firing alerts resolve."""
        gone = list(_firing(live).items())
        old = live.definition
        live.definition = replace(old, spec=replace(old.spec, rules=()), rules=())
        live.group = self._new_group(live.definition, None)  # an empty state is what gets saved
        self._resolve(live, gone, old, now_ms, out)

    def _resolve(self, live: _Live, gone: list, definition: GroupDef, now_ms: int, out: QueryOutput) -> None:
        events = []
        for fp, (rule_name, alert) in gone:
            rule = _rule_of(definition.rules, rule_name, alert.labels)
            seq = live.sequences.get(fp, 0) + 1
            live.sequences[fp] = seq
            events.append(_alert_event(rule, fp, seq, "RESOLVED", {**self._external, **dict(alert.labels)},
                                       dict(alert.annotations),
                                       alert.value, alert.fired_at_ms or alert.active_at_ms, now_ms, now_ms))
        self._save(live, held=bool(events), write=False)
        out.emits.extend(Emit(e, self.store, record_key(live.definition.name)) for e in events)

    def _save(self, live: _Live, held: bool, write: bool) -> None:
        """Put the group's record in the state store: held back until its AlertEvents are acknowledged
        (emit writes it then), written now after a transition without an event (pending), else at the next checkpoint."""
        key = record_key(live.definition.name)
        if held:
            self.store.hold(key)
        self.store.put(key, live.partition, to_value(GroupRecord(live.group.snapshot(), live.sequences,
                                                                 live.evaluated_at_ms)))
        if write:
            self.store.write(key)

    def reset(self) -> None:
        """Partitions moved: forget every live group (the owners load them from the table)."""
        self._live.clear()

    # --- events ---

    def _event(self, live: _Live, t: AlertTransition) -> AlertEvent | None:
        if t.to_state is AlertState.FIRING:
            status = "FIRING"
        elif t.to_state is AlertState.INACTIVE and t.from_state is AlertState.FIRING:
            status = "RESOLVED"
        else:
            return None  # pending, or a pending alert dropped: no page either way, as for stream rules
        labels = dict(t.labels)
        fp = fingerprint(labels)
        seq = live.sequences.get(fp, 0) + 1
        live.sequences[fp] = seq
        rule = _rule_of(live.definition.rules, t.rule, t.labels)
        starts = t.fired_at_ms if t.fired_at_ms is not None else t.active_at_ms  # Prometheus' StartsAt: FiredAt
        ends = (t.resolved_at_ms or t.at_ms) if status == "RESOLVED" else None
        return _alert_event(rule, fp, seq, status, {**self._external, **labels}, dict(t.annotations), t.value,
                            starts, ends, t.at_ms)

    # --- health ---

    def _store_failed(self, exc: StoreUnavailable, at_ms: int) -> None:
        STORE_FAILURES.labels(exc.reason).inc()
        if self.health.ok:
            log.warning("query evaluator: time-series store unavailable, alerts kept as they are: %s", exc)
            self.health.since_ms = at_ms
        self.health.ok, self.health.error = False, str(exc)[:300]
        self.health.failures += 1

    def _store_ok(self) -> None:
        if not self.health.ok:
            log.info("query evaluator: time-series store reachable again")
        self.health.ok, self.health.error, self.health.since_ms = True, "", None

    def describe(self) -> dict:
        """The evaluator's state for the worker's /healthz body."""
        return {"groups": len(self._definitions), "owned_groups": len(self._live),
                "firing_alerts": sum(len(_firing(live)) for live in self._live.values()),
                "store": "ok" if self.health.ok else "unavailable", "store_error": self.health.error or None,
                "store_failures": self.health.failures, "store_unavailable_since_ms": self.health.since_ms}


def _query_func(engine: Engine):
    """The group's QueryFunc: a store outage or refusal becomes a rule error, so the rule keeps its alerts."""
    inner = engine_query_func(engine)

    def query(expr: str, at_ms: int):
        try:
            return inner(expr, at_ms)
        except StoreUnavailable as exc:
            raise RuleEvaluationError(f"time-series store unavailable: {exc}") from None
        except StoreRefused as exc:
            raise RuleEvaluationError(str(exc)) from None

    return query


def _firing(live: _Live) -> dict:
    """fingerprint → (rule name, alert) of every firing alert of the group."""
    out = {}
    for rule in live.group.alerting_rules():
        for alert in rule.active.values():
            if alert.state is AlertState.FIRING:
                out[fingerprint(dict(alert.labels))] = (rule.name, alert)
    return out


def _rule_of(rules: tuple[Rule, ...], name: str, labels) -> Rule:
    """The Vigil rule behind an alert: by name, and by its literal labels when two rules share the name."""
    named = [r for r in rules if r.alert == name]
    if len(named) > 1:
        have = dict(labels)
        for rule in named:
            if all(have.get(k) == v for k, v in rule.labels.items() if "{{" not in v and v != ""):
                return rule
    return named[0] if named else rules[0]


def _alert_event(rule: Rule, fp: str, seq: int, status: str, labels: dict, annotations: dict, value: float,
                 starts_at_ms: int, ends_at_ms: int | None, at_ms: int) -> AlertEvent:
    return AlertEvent(fingerprint=fp, sequence=seq, status=status, rule_id=rule.id, rule_version=rule.version,
                      alertname=labels.get("alertname", rule.alert or ""), labels=labels, annotations=annotations,
                      value=value, series_id=series_id(labels.get("alertname", ""), labels),
                      starts_at_ms=starts_at_ms, ends_at_ms=ends_at_ms, event_time_ms=at_ms)


def _recorded(evaluation: GroupEvaluation) -> list[Sample]:
    """The recording rules' samples as metrics-topic samples (staleness markers and ALERTS series left out)."""
    out = []
    for s in evaluation.samples:
        labels = dict(s.labels)
        name = labels.pop("__name__", "")
        if name in _WRITTEN_ELSEWHERE or math.isnan(s.value):
            continue
        labels = {k: v for k, v in labels.items() if v != ""}
        out.append(Sample(series_id=series_id(name, labels), name=name, labels=labels, value=s.value,
                          timestamp_ms=s.timestamp_ms))
    return out


def recorded_batches(samples: list[Sample], partitions: int, now_ms: int) -> list[tuple[int, bytes]]:
    """Recorded samples as metrics-topic records: one SeriesBatch per partition, as ingest sends them."""
    by_partition: dict[int, list[Sample]] = {}
    for sample in samples:
        by_partition.setdefault(partition_for(sample["series_id"], partitions), []).append(sample)
    batch_codec = codec.series_batch()
    return [(p, batch_codec.encode({"partition": p, "source": RECORDING_SOURCE, "accepted_at_ms": now_ms,
                                    "samples": group})) for p, group in sorted(by_partition.items())]
