"""The stream evaluator gives Prometheus' answers: `for` and `keep_firing_for` on event-time progress,
resolution of a series that went stale, empty labels dropped, templates re-rendered with the current
value. The oracle is Prometheus' own `promtool test rules` (Debian's, 2.42): every case below was
run through it, and `test_promtool_agrees_with_the_stream_evaluator` runs it again on the stream
evaluator's answers.

Time is driven as a worker sees it: samples arrive in time order, other series on the partition
move stream time on (a `clock` series every minute), and the worker's tick moves pending and
firing alerts to stream time. Prometheus evaluates every minute (`evaluation_interval: 1m`); the
alerts firing after the tick at minute M are compared with those promtool reports at M.

The stream evaluator is Prometheus evaluated at every instant: a series with no sample for more
than 5 m is stale. Prometheus notices only at its next evaluation, so a gap between 5 m and
5 m + its interval goes unnoticed when no evaluation falls inside it (samples on its evaluation
grid, as promtool's are); the cases below use gaps on either side of that, not inside.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
import yaml

from schemas.series_id import series_id
from streams.engine import Engine
from streams.evaluate import state_event
from kernel.rules import Rule, RuleIndex
from streams.state import StateStore

MINUTE = 60_000


class _Table:
    """The part of a Faust table the state store reads (no changelog here)."""

    def __init__(self) -> None:
        self.data: dict = {}

    def get(self, key: str):
        return self.data.get(key)


@dataclass
class Case:
    """One Prometheus rule, the same rule as a stream rule, one input series, and promtool's answer."""

    name: str
    prometheus: dict  # the rule as in a Prometheus rule file
    stream: dict  # the Vigil stream rule
    series: str  # promtool's input series, e.g. 'up{job="x",instance="a"}'
    values: str  # one value per minute from 0, `_` for none
    minutes: int  # evaluate 0..minutes
    firing: list[int]  # minutes promtool reports the alert firing
    external_labels: dict[str, str] = field(default_factory=dict)
    external_url: str = ""


DOWN = {"alert": "Down", "expr": 'up{job="x"} != 1'}
DOWN_STREAM = {"id": "down", "alert": "Down", "metric": "up", "match": {"job": "x"}, "op": "!=", "threshold": 1}
HOT = {"alert": "Hot", "expr": "t > 0.5"}
HOT_STREAM = {"id": "hot", "alert": "Hot", "metric": "t", "op": ">", "threshold": 0.5}
TEMPLATES = {
    "labels": {"job_name": "", "instance": "", "severity": "{{ if gt $value 2.0 }}critical{{ end }}",
               "owner": "{{ $labels.nothere }}", "team": "{{ $labels.job | toUpper }}"},
    "annotations": {"all": "{{ $labels }}", "value": '{{ $value }} {{ humanize $value }} {{ printf "%.1f" $value }}',
                    "name": "{{ $labels.__name__ }}", "external": "{{ $externalLabels }} {{ $externalURL }}",
                    "empty": "", "title": '{{ reReplaceAll "(.+)-(.+)" "$2" "web-3" | title }}',
                    "loop": "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}"},
}

CASES = [
    Case("dense: for completes at 2m, resolves 5m after the last sample", {**DOWN, "for": "2m"},
         {**DOWN_STREAM, "for": "2m"}, 'up{job="x",instance="a"}', "0 0 0 0 0", 11, list(range(2, 10))),
    Case("a sample every 4m: for completes between samples", {**DOWN, "for": "2m"}, {**DOWN_STREAM, "for": "2m"},
         'up{job="x",instance="a"}', "0 _ _ _ 0 _ _ _ 0", 14, list(range(2, 14))),
    Case("a sample every 7m: resolves when stale at 6m, fires again 2m after the next", {**DOWN, "for": "2m"},
         {**DOWN_STREAM, "for": "2m"}, 'up{job="x",instance="a"}', "0 _ _ _ _ _ _ 0", 14, [2, 3, 4, 5, 9, 10, 11, 12]),
    Case("one sample: current for exactly 5m, so for: 5m fires at 5m", {**DOWN, "for": "5m"},
         {**DOWN_STREAM, "for": "5m"}, 'up{job="x",instance="a"}', "0", 7, [5]),
    Case("a gap longer than the lookback restarts for", {**DOWN, "for": "3m"}, {**DOWN_STREAM, "for": "3m"},
         'up{job="x",instance="a"}', "0 _ 0 _ _ _ _ _ _ 0 0 0 0", 14, [3, 4, 5, 6, 7, 12, 13, 14]),
    Case("keep_firing_for runs from the first sample where the condition stopped holding",
         {**HOT, "keep_firing_for": "2m"}, {**HOT_STREAM, "keep_firing_for": "2m"}, "t", "1 1 1 0 0 0 0 1 1 0", 12,
         [0, 1, 2, 3, 4, 7, 8, 9, 10]),
    Case("keep_firing_for after the series went stale", {**HOT, "keep_firing_for": "2m"},
         {**HOT_STREAM, "keep_firing_for": "2m"}, "t", "1 1", 10, list(range(0, 9))),
    Case("rate: resolves when the window holds fewer than two samples",
         {"alert": "Rising", "expr": "rate(c[2m]) > 0"},
         {"id": "rising", "alert": "Rising", "metric": "c", "type": "rate", "window": "2m", "op": ">", "threshold": 0},
         'c{job="x"}', "0 1 2 3 4 5", 8, list(range(1, 7))),
    Case("templates: empty labels dropped, annotations re-rendered with the current value",
         {"alert": "Up", "expr": 'up{job="x"} > 0', **TEMPLATES},
         {"id": "up", "alert": "Up", "metric": "up", "match": {"job": "x"}, "op": ">", "threshold": 0, **TEMPLATES},
         'up{job="x",instance="web-3"}', "1 2 3 4", 5, [0, 1, 2, 3, 4, 5],
         external_labels={"cluster": "eu-1"}, external_url="https://vigil.example/"),
]


def _parse_series(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.partition("{")
    labels = {}
    for pair in filter(None, rest.rstrip("}").split(",")):
        key, _, value = pair.partition("=")
        labels[key] = value.strip('"')
    return name, labels


def stream_timeline(case: Case) -> dict[int, list[dict]]:
    """The alerts firing after the worker's tick at each minute: labels and annotations as rendered now."""
    rule = Rule.model_validate(case.stream)
    engine = Engine(SimpleNamespace(index=RuleIndex([rule])), StateStore(_Table(), None), StateStore(_Table(), None),
                    partitions=1, lateness_ms=0, external_labels=case.external_labels, external_url=case.external_url)
    name, labels = _parse_series(case.series)
    sid = series_id(name, labels)
    values = case.values.split()
    timeline = {}
    firing_from_events: dict[str, dict] = {}
    for minute in range(case.minutes + 1):
        ts = minute * MINUTE
        batch = [{"series_id": series_id("clock", {}), "name": "clock", "labels": {}, "value": 0.0, "timestamp_ms": ts}]
        if minute < len(values) and values[minute] != "_":
            batch.insert(0, {"series_id": sid, "name": name, "labels": labels, "value": float(values[minute]),
                             "timestamp_ms": ts})
        emits = engine.on_batch(batch, 0, now_ms=0).emits + engine.tick(0, {0}, {0})
        for emit in emits:
            if emit.event["status"] == "FIRING":
                firing_from_events[emit.event["fingerprint"]] = emit.event
            else:
                firing_from_events.pop(emit.event["fingerprint"], None)
        now = []
        for key, state in engine.series.live.items():
            if state["life"]["s"] == "firing":
                event = state_event(rule, key.split("/", 1)[1], state, "FIRING", engine.context)
                now.append({"labels": event["labels"], "annotations": event["annotations"]})
        assert len(now) == len(firing_from_events), f"events and state disagree at {minute}m"
        timeline[minute] = now
    return timeline


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_alerts_fire_and_resolve_at_the_minutes_prometheus_does(case):
    timeline = stream_timeline(case)
    assert [minute for minute, alerts in timeline.items() if alerts] == case.firing


def test_labels_and_annotations_are_those_prometheus_renders_at_each_evaluation():
    timeline = stream_timeline(CASES[-1])
    (at_1m,), (at_3m,), (at_5m,) = timeline[1], timeline[3], timeline[5]
    # job_name: "" and instance: "" are dropped (the series' own instance too), as is an empty rendering;
    # the external labels are added as Prometheus adds them when it sends to Alertmanager.
    assert at_1m["labels"] == {"alertname": "Up", "job": "x", "team": "X", "cluster": "eu-1"}
    assert at_3m["labels"] == {"alertname": "Up", "job": "x", "team": "X", "severity": "critical", "cluster": "eu-1"}
    assert at_1m["annotations"] == {
        "all": "map[__name__:up instance:web-3 job:x]", "value": "2 2 2.0", "name": "up",
        "external": "map[cluster:eu-1] https://vigil.example/", "empty": "", "title": "3",
        "loop": "__name__=up;instance=web-3;job=x;"}
    assert at_3m["annotations"]["value"] == "4 4 4.0"
    assert at_5m["annotations"]["value"] == "4 4 4.0"  # no sample since 3m: the newest one is still current


def _promtool_file(case: Case, timeline: dict[int, list[dict]]) -> tuple[dict, dict]:
    """A rule file and a promtool unit test expecting exactly the stream evaluator's alerts at every minute."""
    rules = {"groups": [{"name": "parity", "rules": [case.prometheus]}]}
    tests = []
    for minute, alerts in timeline.items():
        expected = [{"exp_labels": {k: v for k, v in a["labels"].items()
                                    if k not in case.external_labels},  # promtool checks labels before sending
                     "exp_annotations": a["annotations"]} for a in alerts]
        tests.append({"eval_time": f"{minute}m", "alertname": case.prometheus["alert"], "exp_alerts": expected})
    test = {"interval": "1m", "input_series": [{"series": case.series, "values": case.values}],
            "alert_rule_test": tests}
    if case.external_labels:
        test.update(external_labels=case.external_labels, external_url=case.external_url)
    return rules, {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [test]}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_promtool_agrees_with_the_stream_evaluator(case, tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is the oracle of these tests: install it"
    rules, test = _promtool_file(case, stream_timeline(case))
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    run = subprocess.run([promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
