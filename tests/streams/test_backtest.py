"""The backtest replay on synthetic series: the live engine's semantics, whatever the chunking."""

from __future__ import annotations

import random

import pytest

from streams.backtest import Replay, backtest, format_duration, summarize
from streams.backtest_source import _series, chunks, selector
from kernel.rules import Rule

S = 1000  # ms


def rule_of(**fields) -> Rule:
    return Rule.model_validate({"id": "r", "alert": "A", "metric": "m", **fields})


def every(start_s: int, stop_s: int, step_s: int = 10) -> list[int]:
    return [t * S for t in range(start_s, stop_s, step_s)]


def brief(rows) -> list[tuple]:
    return [(r.status, r.at_ms // S, r.labels.get("host", r.labels.get("dc"))) for r in rows]


def replay_in_chunks(rule: Rule, series, start_ms: int, end_ms: int, bounds: list[int]):
    """Feed every series a chunk at a time, chunks ending at `bounds` (then at end_ms)."""
    replay = Replay(rule, start_ms, end_ms)
    lo = replay.earliest_ms
    for hi in [*bounds, end_ms]:
        for labels, ts, vs in series:
            picked = [(t, v) for t, v in zip(ts, vs) if lo <= t <= hi]
            if picked:
                replay.feed(labels, [t for t, _ in picked], [v for _, v in picked])
        replay.close_chunk(hi)
        lo = hi + 1
    return replay.finish()


def test_threshold_fires_after_for_and_resolves_with_rendered_labels():
    rule = rule_of(threshold=90, **{"for": "30s"}, labels={"severity": "page", "team": "{{ $labels.host }}-ops"})
    ts = every(0, 200)
    values = [95 if 40 <= t // S <= 120 else 10 for t in ts]
    other = ({"host": "web-2"}, ts, [10.0] * len(ts))
    rows = backtest(rule, [({"host": "web-1"}, ts, values), other], 0, 300 * S)
    assert brief(rows) == [("FIRING", 70, "web-1"), ("RESOLVED", 130, "web-1")]
    assert rows[0].labels == {"host": "web-1", "severity": "page", "team": "web-1-ops", "alertname": "A"}
    assert rows[0].value == 95 and rows[0].fingerprint == rows[1].fingerprint


def test_series_the_matchers_exclude_and_samples_outside_the_range_are_ignored():
    rule = rule_of(threshold=1, matchers=['host=~"web-.*"', 'dc!="us"'])
    ts = every(0, 100)
    high = [5.0] * len(ts)
    rows = backtest(rule, [({"host": "db-1", "dc": "eu"}, ts, high), ({"host": "web-1", "dc": "us"}, ts, high),
                           ({"host": "web-2", "dc": "eu"}, ts, high)], 50 * S, 80 * S)
    assert brief(rows) == [("FIRING", 50, "web-2")], "the replay starts inactive at start_ms"


def test_window_rule_fires_and_resolves_as_the_spike_enters_and_leaves_the_window():
    rule = rule_of(type="max_over_time", window="1m", threshold=50)
    ts = every(0, 300)
    values = [99.0 if t == 100 * S else 1.0 for t in ts]
    rows = backtest(rule, [({"host": "a"}, ts, values)], 0, 300 * S)
    assert brief(rows) == [("FIRING", 100, "a"), ("RESOLVED", 160, "a")]
    assert rows[0].value == 99


def test_samples_before_the_range_warm_the_window_but_report_no_transition():
    rule = rule_of(type="max_over_time", window="1m", threshold=50)
    ts = every(0, 300)
    values = [99.0 if t == 100 * S else 1.0 for t in ts]
    rows = backtest(rule, [({"host": "a"}, ts, values)], 130 * S, 300 * S)
    assert brief(rows) == [("FIRING", 130, "a"), ("RESOLVED", 160, "a")], "the spike at 100s is in the window at 130s"


def test_absent_per_series_fires_at_the_deadline_of_a_gap_and_resolves_when_data_returns():
    rule = rule_of(type="absent", absent_for="30s", labels={"severity": "page"})
    ts = every(0, 101) + every(200, 301)
    steady = every(0, 400)
    rows = backtest(rule, [({"host": "a"}, ts, [1.0] * len(ts)), ({"host": "b"}, steady, [1.0] * len(steady))],
                    0, 400 * S)
    assert brief(rows) == [("FIRING", 130, "a"), ("RESOLVED", 200, "a"), ("FIRING", 330, "a")]
    assert rows[0].labels == {"host": "a", "severity": "page", "alertname": "A"}
    summary = summarize(rows, 400 * S)
    assert [(e.fired_ms // S, e.resolved_ms and e.resolved_ms // S, e.duration_ms // S) for e in summary.episodes] \
        == [(130, 200, 70), (330, None, 70)]
    assert (summary.alerts, summary.firings, summary.still_firing, summary.longest_ms) == (1, 2, 1, 70 * S)


def test_absent_for_is_added_to_for_and_a_sample_at_the_deadline_keeps_it_quiet():
    rule = rule_of(type="absent", absent_for="30s", **{"for": "10s"})
    ts = [0, 40 * S, 100 * S]  # 40 s is exactly the deadline of the sample at 0
    rows = backtest(rule, [({"host": "a"}, ts, [1.0] * 3)], 0, 200 * S)
    assert brief(rows) == [("FIRING", 80, "a"), ("RESOLVED", 100, "a"), ("FIRING", 140, "a")]


def test_absent_selector_fires_when_nothing_ever_arrives_and_groups_fire_per_group():
    nothing = rule_of(type="absent", absent_for="1m", match={"job": "api"}, by=[])
    (row,) = backtest(nothing, [], 0, 600 * S)
    assert (row.status, row.at_ms, row.labels) == ("FIRING", 60 * S, {"job": "api", "alertname": "A"})

    per_dc = rule_of(type="absent", absent_for="30s", by=["dc"])
    east, b, c = every(0, 300), every(0, 60) + every(200, 250), every(60, 200)  # b and c take turns in west
    series = [({"host": "a", "dc": "east"}, east, [1.0] * len(east)), ({"host": "b", "dc": "west"}, b, [1.0] * len(b)),
              ({"host": "c", "dc": "west"}, c, [1.0] * len(c))]
    assert brief(backtest(per_dc, series, 0, 400 * S)) == [("FIRING", 270, "west"), ("FIRING", 320, "east")]
    whole = rule_of(type="absent", absent_for="30s", by=[])
    assert brief(backtest(whole, series[1:], 0, 400 * S)) == [("FIRING", 270, None)]


def test_a_per_series_rule_watches_its_selector_until_data_comes():
    rule = rule_of(type="absent", absent_for="30s")
    late = every(100, 200)
    rows = backtest(rule, [({"host": "a"}, late, [1.0] * len(late))], 0, 200 * S)
    assert [(r.status, r.at_ms // S, r.labels) for r in rows] == [
        ("FIRING", 30, {"alertname": "A"}), ("RESOLVED", 100, {"alertname": "A"})]


def test_absence_clocks_of_series_seen_just_before_the_range_carry_into_it():
    rule = rule_of(type="absent", absent_for="30s")
    ts = every(0, 91)
    assert brief(backtest(rule, [({"host": "a"}, ts, [1.0] * len(ts))], 100 * S, 300 * S)) == [("FIRING", 120, "a")]


CHUNKED_RULES = [
    rule_of(threshold=50, **{"for": "20s", "keep_firing_for": "10s"}),
    rule_of(type="rate", window="1m", threshold=0.1),
    rule_of(type="quantile_over_time", window="45s", quantile=0.9, threshold=70),
    rule_of(type="anomaly", threshold=3, warmup=20),
    rule_of(type="absent", absent_for="25s"),
    rule_of(type="absent", absent_for="25s", **{"for": "5s"}, by=["dc"]),
    rule_of(type="absent", absent_for="25s", by=[]),
]


@pytest.mark.parametrize("rule", CHUNKED_RULES, ids=lambda r: f"{r.type}-by{r.by}")
def test_chunk_boundaries_never_change_the_result(rule):
    rng = random.Random(7)
    series = []
    for i in range(6):
        ts, values, t, counter = [], [], rng.randrange(0, 20) * S, 0.0
        while t < 1200 * S:
            counter += rng.choice([0, 0, 1, 3])
            if not 700 * S < t < 760 * S:  # every series is silent for a minute
                ts.append(t)
                spike = 80 if 400 * S < t < 500 * S else 0
                values.append(counter if rule.type == "rate" else rng.gauss(40, 15) + spike)
            t += rng.choice([5, 10, 10, 15, 40]) * S
        series.append(({"host": f"h{i}", "dc": "east" if i % 2 else "west"}, ts, values))
    start, end = 100 * S, 1100 * S
    whole = backtest(rule, series, start, end)
    assert whole, "the synthetic data makes every rule fire at least once"
    for _ in range(5):
        bounds = sorted(rng.sample(range(start - 60 * S, end, 250), rng.randrange(1, 40)))
        assert replay_in_chunks(rule, series, start, end, bounds) == whole, f"bounds {bounds}"


def test_summary_and_durations():
    assert [format_duration(ms) for ms in (250, 45_000, 750_000, 7_500_000, 93_600_000)] == [
        "250ms", "45s", "12m30s", "2h5m", "1d2h"]
    assert summarize([], 0).longest_ms is None and summarize([], 0).firings == 0


def test_the_selector_quotes_values_and_keeps_regexes():
    rule = rule_of(threshold=1, match={"host": 'we"b\\1'}, matchers=['code=~"5.."'])
    assert selector(rule) == 'm{host="we\\"b\\\\1",code=~"5.."}'
    assert selector(rule_of(threshold=1)) == "m"


def test_chunks_cover_the_range_without_overlap():
    hour = 3600 * S
    assert [(c.start_ms, c.end_ms) for c in chunks(0, 6 * hour)] == [(0, 6 * hour)]
    parts = chunks(5, 48 * hour + 5)
    assert len(parts) == 48 and parts[0].start_ms == 5 and parts[-1].end_ms == 48 * hour + 5
    assert all(b.start_ms == a.end_ms + 1 for a, b in zip(parts, parts[1:]))


def test_export_lines_with_infinities_and_a_plus_inf_label():
    line = '{"metric":{"__name__":"b","le":"+Inf"},"values":[+Inf,1,-Inf],"timestamps":[1,2,3]}'
    assert _series(line) == ({"le": "+Inf"}, [1, 2, 3], [float("inf"), 1, float("-inf")])
