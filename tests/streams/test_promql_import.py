"""`vigil rules import`: Prometheus rule files become Vigil rules, and what can't be imported says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.promql_import import MAX_EXPR_CHARS, Problem, _alert, _NotImported, _validated, translate, translate_file
from kernel.rules import RuleError

GOLDEN = Path(__file__).parent / "testdata" / "prometheus_rules.yml"


def one(expr: str, **rule) -> tuple[dict | None, Problem | None]:
    """Translate a single alerting rule: all its fields (durations in seconds), or its problem."""
    result = translate({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr, **rule}]}]}, "t.yml")
    assert len(result.rules) + len(result.problems) == 1
    return (result.rules[0].model_dump(by_alias=True) if result.rules else None), \
        (result.problems[0] if result.problems else None)


def stream_refusal(expr: str, **rule) -> str | None:
    """Why the stream evaluator can't take an alerting rule (None when it can)."""
    try:
        body, text = _alert({"alert": "A", "expr": expr, **rule}, 60.0, {})
        _validated({**body, "id": "a"}, text)
    except _NotImported as exc:
        return exc.reason
    return None


def test_golden_file_imports_the_stream_rules():
    result = translate_file(GOLDEN)
    assert [r.spec() for r in result.rules if r.evaluator == "stream"] == [
        {"id": "node-exporter-nodetextfilecollectorscrapeerror", "alert": "NodeTextFileCollectorScrapeError",
         "metric": "node_textfile_scrape_error", "match": {"job": "node"}, "op": "==", "threshold": 1.0,
         "labels": {"severity": "warning"},
         "annotations": {"summary": "Node Exporter text file collector failed to scrape."}},
        {"id": "node-exporter-noderaiddiskfailure", "alert": "NodeRAIDDiskFailure", "metric": "node_md_disks",
         "match": {"state": "failed", "job": "node"}, "matchers": ('device=~"(/dev/)?(nvme.+|sd.+|vd.+|md.+)"',),
         "threshold": 0.0, "labels": {"severity": "warning"},
         "annotations": {"description": "At least one device in RAID array at {{ $labels.instance }} failed."}},
        {"id": "node-exporter-nodememorymajorpagesfaults", "alert": "NodeMemoryMajorPagesFaults", "type": "rate",
         "metric": "node_vmstat_pgmajfault", "match": {"job": "node"}, "threshold": 500.0, "for": 900.0,
         "window": 300.0, "labels": {"severity": "warning"},
         "annotations": {"description": "Major page faults at {{ $labels.instance }}: {{ $value | humanize }}/s."}},
        {"id": "node-exporter-nodesystemdservicefailed", "alert": "NodeSystemdServiceFailed",
         "metric": "node_systemd_unit_state", "match": {"job": "node", "state": "failed"}, "op": "==",
         "threshold": 1.0, "for": 300.0, "labels": {"severity": "warning"},
         "annotations": {"summary": "Unit {{ $labels.name | toUpper }} failed on {{ .Labels.instance }}."}},
        {"id": "api-instancedown", "alert": "InstanceDown", "metric": "up", "matchers": ('job=~"api|web"',),
         "op": "==", "threshold": 0.0, "for": 120.0, "keep_firing_for": 300.0,
         "labels": {"team": "payments", "severity": "page"},
         "annotations": {"summary": "{{ $labels.instance }} of {{ $labels.job }} is down"}},
        {"id": "api-apilatencyhigh", "alert": "ApiLatencyHigh", "type": "quantile_over_time",
         "metric": "http_request_duration_seconds", "match": {"job": "api"}, "matchers": ('route!~"/health.*"',),
         "threshold": 0.5, "for": 300.0, "window": 600.0, "quantile": 0.99,
         "labels": {"team": "payments", "severity": "page"},
         "annotations": {"summary": "p99 latency of {{ $labels.route }} is {{ $value | humanizeDuration }}"}},
        {"id": "api-apimetricsmissing", "alert": "ApiMetricsMissing", "type": "absent", "metric": "up",
         "match": {"job": "api"}, "absent_for": 600.0, "by": (), "labels": {"team": "payments", "severity": "page"},
         "annotations": {"summary": "No api target has been scraped for 10 minutes."}},
        {"id": "api-apitargetsgone", "alert": "ApiTargetsGone", "type": "absent", "metric": "up",
         "match": {"job": "api"}, "absent_for": 30.0, "by": (), "labels": {"team": "payments"},
         "annotations": {"summary": "Cluster {{ $externalLabels.cluster }}: api targets are gone."}},
        {"id": "api-billingheartbeatmissing", "alert": "BillingHeartbeatMissing", "type": "absent",
         "metric": "heartbeat_timestamp_seconds", "match": {"service": "billing"}, "for": 60.0, "absent_for": 900.0,
         "by": (), "labels": {"team": "payments"}},
        {"id": "api-queuebacklog", "alert": "QueueBacklog", "metric": "queue_depth", "match": {"queue": "orders"},
         "op": ">=", "threshold": 1000.0, "for": 600.0, "labels": {"team": "payments"},
         "annotations": {"description": "Backlog {{ $value }} on {{ $labels.queue }} "
                                        "({{ $value | humanizePercentage }} of nothing)."}},
        {"id": "api-queuebacklog-2", "alert": "QueueBacklog", "type": "increase", "metric": "queue_dead_letters_total",
         "match": {"queue": "orders"}, "threshold": 0.0, "window": 3600.0, "labels": {"team": "payments"}},
    ]
    assert (result.recording, result.imported("recording")) == (2, 2) and result.problems == []


def test_golden_file_rules_the_stream_evaluator_cant_take_run_on_the_query_evaluator_saying_why():
    result = translate_file(GOLDEN)
    query = {r.alert: result.why[r.id] for r in result.rules if r.evaluator == "query" and r.alert}
    assert query["NodeRAIDDegraded"].endswith("'ignoring(state)' vector matching)")
    assert query["ApiErrorRatio"].startswith("query every 30s (sum by (route)(rate(")
    assert query["DiskFull"] == "query every 30s (annotations.summary: a Go template the stream templates lack)"
    assert query["Watchdog"] == "query every 30s (vector(): a function the stream evaluator lacks)"
    disk = next(r for r in result.rules if r.alert == "DiskFull")
    assert disk.expr and disk.group.name == "api" and disk.group.interval_s == 30
    refusals = [(r.alert, stream_refusal(r.expr, annotations=r.annotations)) for r in result.rules
                if r.evaluator == "query" and r.alert and r.alert != "DiskFull"]
    # the stream templates' own wording (kernel/rule_template.py) is theirs: only where it points is checked here
    assert stream_refusal(disk.expr, annotations=disk.annotations).startswith("annotations: template of 'summary': ")
    assert refusals == [
        ("NodeFilesystemAlmostOutOfSpace",
         "the 'and' set operator is not supported: a Vigil rule is one condition on one series"),
        ("NodeNetworkReceiveErrs",
         "arithmetic '/' is not supported: Vigil compares one series with a number"),
        ("NodeCPUHighUsage",
         "arithmetic '*' is not supported: Vigil compares one series with a number"),
        ("NodeRAIDDegraded",
         "'ignoring(state)' vector matching is not supported: Vigil evaluates one series at a time"),
        ("NodeClockNotSynchronising",
         "the 'and' set operator is not supported: a Vigil rule is one condition on one series"),
        ("ApiErrorRatio",
         "arithmetic '/' is not supported: Vigil compares one series with a number"),
        ("RequestsStopped",
         "the 'unless' set operator is not supported: a Vigil rule is one condition on one series"),
        ("CertificateExpiry",
         "arithmetic '-' is not supported: Vigil compares one series with a number"),
        ("Watchdog",
         "vector() is not supported: Vigil evaluates rate, increase, deriv, *_over_time and absent of a selector"),
    ]



def test_imported_rules_select_the_series_prometheus_would():
    rules = {r.alert: r for r in translate_file(GOLDEN).rules}
    down = rules["InstanceDown"]
    assert down.matches({"job": "web", "instance": "a"}) and not down.matches({"job": "webhook"})
    latency = rules["ApiLatencyHigh"]
    assert latency.matches({"job": "api", "route": "/orders"}) and not latency.matches({"job": "api", "route": "/healthz"})


@pytest.mark.parametrize("expr, expected", [
    ("up == 0", {"metric": "up", "op": "==", "threshold": 0.0}),
    ("0 == up", {"metric": "up", "op": "==", "threshold": 0.0}),
    ("5 < queue_depth", {"metric": "queue_depth", "op": ">", "threshold": 5.0}),
    ("5 >= queue_depth", {"metric": "queue_depth", "op": "<=", "threshold": 5.0}),
    ("temp != -1.5e3", {"metric": "temp", "op": "!=", "threshold": -1500.0}),
    ("temp < -(2)", {"metric": "temp", "op": "<", "threshold": -2.0}),
    ("age > 86400 * 14", {"metric": "age", "threshold": 1209600.0}),
    ("age > 0x10", {"metric": "age", "threshold": 16.0}),
    ("((temp{room='a b'}) > (30))", {"metric": "temp", "match": {"room": "a b"}, "threshold": 30.0}),
    ('{__name__="temp", room=~"k.*"} > 30', {"metric": "temp", "matchers": ('room=~"k.*"',), "threshold": 30.0}),
    ('temp{room="say \\"hi\\"\\n", x=""} > 1', {"metric": "temp", "match": {"room": 'say "hi"\n', "x": ""}}),
    ('temp{a="1", a!="2", a="3"} > 1', {"match": {"a": "1"}, "matchers": ('a!="2"', 'a="3"')}),
    ("rate(requests_total[5m]) > 10", {"type": "rate", "window": 300.0, "threshold": 10.0}),
    ("increase(errors_total{job='api'}[1h]) > 0", {"type": "increase", "window": 3600.0, "match": {"job": "api"}}),
    ("deriv(disk_free[30m]) < 0", {"type": "deriv", "window": 1800.0, "op": "<"}),
    ("avg_over_time(temp[10m]) > 30", {"type": "avg_over_time", "window": 600.0}),
    ("min_over_time(temp[90s]) < 5", {"type": "min_over_time", "window": 90.0}),
    ("max_over_time(temp[1h30m]) > 40", {"type": "max_over_time", "window": 5400.0}),
    ("sum_over_time(rain[1d]) > 100", {"type": "sum_over_time", "window": 86400.0}),
    ("count_over_time(up[5m]) < 3", {"type": "count_over_time", "window": 300.0, "op": "<"}),
    ("quantile_over_time(0.95, latency[5m]) > 0.5", {"type": "quantile_over_time", "quantile": 0.95}),
])
def test_supported_expressions(expr, expected):
    spec, problem = one(expr)
    assert problem is None, problem
    assert {k: spec[k] for k in expected} == expected


@pytest.mark.parametrize("expr, reason", [
    ("temp > +Inf", "threshold: must be a finite number"),
    ("node_up", "an expression without a comparison fires for every series it returns"),
    ("rate(requests_total[5m])", "an expression without a comparison"),
    ("sum(up) == 0", "sum(...) aggregation is not supported: Vigil evaluates one series at a time"),
    ("max by (job) (up) == 0", "max by (job)(...) aggregation is not supported"),
    ("topk(3, cpu) > 1", "topk(...) aggregation is not supported"),
    ("errors / requests > 0.9", "arithmetic '/' is not supported"),
    ("-temp > 1", "negating a series (-temp) is not supported"),
    ("up == 0 or absent(up)", "the 'or' set operator is not supported"),
    ("up > bool 0", "'> bool' is not supported"),
    ("up > on(job) other", "'on(job)' vector matching is not supported"),
    ("a / ignoring(x) b > 1", "'ignoring(x)' vector matching is not supported"),
    ("a > b", "comparing two expressions (a > b) is not supported"),
    ("up offset 5m == 0", "the 'offset' modifier is not supported"),
    ("up offset -5m == 0", "the 'offset' modifier is not supported"),
    ("rate(x[5m] offset 1h) > 0", "the 'offset' modifier is not supported"),
    ("rate(x[1e400]) > 0", "not valid PromQL"),  # the parser panics on this duration
    ("up @ 1700000000 == 0", "the '@' modifier is not supported"),
    ("max_over_time(rate(x[1m])[10m:1m]) > 1", "the subquery rate(x[1m])[10m:1m] is not supported"),
    ("histogram_quantile(0.9, rate(h_bucket[5m])) > 1", "histogram_quantile() is not supported"),
    ("predict_linear(disk[6h], 3600) < 0", "predict_linear() is not supported"),
    ("time() - last_seen > 300", "arithmetic '-' is not supported"),
    ("up > NaN", "comparing with NaN is not supported: '> NaN' never holds"),
    ("up != NaN", "'!= NaN' always holds"),
    ('{job="api"} > 1', 'the selector {job="api"} has no metric name'),
    ('{__name__=~"node_.*"} > 1', 'the matcher __name__=~"node_.*" is not supported'),
    ('up{job="a" or job="b"} == 0', "'or' between label matchers is not supported"),
    ("absent(up == 1)", "absent() of the expression up == 1 is not supported"),
    ("absent(sum(up))", "absent() of the expression sum(up) is not supported"),
    ("absent(up) == 1", "absent() compared with a number is not supported"),
    ("quantile_over_time(scalar(q), x[5m]) > 1", "quantile_over_time needs a number as its quantile"),
    ("vector(1)", "vector() is not supported"),
    ("1 > bool 0", "'> bool' is not supported"),
    ('"text"', 'a string ("text") is not an alert condition'),
    ("up > 1 > 0", "a comparison inside another expression (up > 1) is not supported"),
    ("up{", "not valid PromQL: unexpected end of input inside braces"),
    ("up == ", "not valid PromQL"),
    ("rate(x[2d]) > 1", "window: at most 24h"),
    ("quantile_over_time(1.5, x[5m]) > 1", "quantile: Input should be less than or equal to 1"),
    ('up{job=~"a(b"} == 0', "not valid PromQL"),
])
def test_what_the_stream_evaluator_cant_take_is_named_and_runs_on_the_query_evaluator(expr, reason):
    assert reason in stream_refusal(expr)
    spec, problem = one(expr)
    if problem is not None:  # not PromQL at all: neither evaluator takes it
        assert "not valid PromQL" in problem.reason and problem.expr == expr
        assert problem.where == "t.yml: groups[0] (g) rules[0] (A)"
    else:
        assert spec["evaluator"] == "query" and spec["expr"] == expr


def test_absent_takes_the_rules_for_or_one_evaluation_interval():
    spec, _ = one("absent(up{job='api'})", **{"for": "10m", "keep_firing_for": "1m"})
    assert spec["absent_for"] == 600 and spec["for"] == 0 and spec["by"] == () and spec["keep_firing_for"] == 60
    spec, _ = one("absent(up{job='api'})")
    assert spec["absent_for"] == 60  # Prometheus' default evaluation_interval
    spec, _ = one("absent(up{job='api'})", **{"for": "0s"})
    assert spec["absent_for"] == 60
    result = translate({"groups": [{"name": "g", "interval": "15s", "rules": [{"alert": "A", "expr": "absent(up)"}]}]},
                       "t.yml")
    assert result.rules[0].absent_for_s == 15
    spec, _ = one("absent_over_time(up{job='api'}[15m])", **{"for": "2m"})
    assert spec["absent_for"] == 900 and spec["for"] == 120


def test_prometheus_durations_and_yaml_scalars():
    spec, _ = one("up == 0", **{"for": "1w", "labels": {"priority": 1, "page": True, "empty": None}})
    assert spec["for"] == 7 * 86400
    assert spec["labels"] == {"priority": "1", "page": "true"}  # an empty value removes the label, as in Prometheus
    spec, _ = one("sum(up) == 0", **{"labels": {"empty": None}})
    assert spec["labels"] == {"empty": ""}  # the query evaluator removes it (and the series' label of that name)
    spec, problem = one("up == 0", **{"for": "soon"})
    assert spec is None and problem.expr == "" and problem.reason.startswith("for: 'soon' is not a duration")


def test_group_labels_are_merged_under_the_rules_own():
    document = {"groups": [{"name": "g", "labels": {"team": "a", "severity": "info"},
                            "rules": [{"alert": "A", "expr": "up == 0", "labels": {"severity": "page"}}]}]}
    assert translate(document, "t.yml").rules[0].labels == {"team": "a", "severity": "page"}


def test_ids_are_slugs_of_group_and_alert_made_unique():
    long_group = "Very Long Group " * 10
    document = {"groups": [
        {"name": "Node Exporter (prod)", "rules": [{"alert": "HostDown", "expr": "up == 0"},
                                                   {"alert": "HostDown", "expr": "up == 0"},
                                                   {"alert": "HostDown", "expr": "sum(up) == 0"},  # query
                                                   {"alert": "HostDown", "expr": "up < 1"}]},
        {"name": long_group, "rules": [{"alert": "A", "expr": "up == 0"}, {"alert": "A", "expr": "up == 0"}]},
        {"rules": [{"alert": "NoGroupName", "expr": "up == 0"}]},
    ]}
    ids = [r.id for r in translate(document, "t.yml").rules]
    assert ids[:4] == ["node-exporter-prod-hostdown", "node-exporter-prod-hostdown-2", "node-exporter-prod-hostdown-3",
                       "node-exporter-prod-hostdown-4"]
    ids = ids[1:]
    assert len(ids[3]) <= 128 and ids[3].startswith("very-long-group-very-long-group") and ids[3][-1] != "-"
    assert len(ids[4]) == 128 and ids[4].endswith("-2") and ids[4][:126] == ids[3][:126]
    assert ids[5] == "nogroupname"


@pytest.mark.parametrize("rule, reason", [
    ({"alert": "A", "expr": "up == 0", "severity": "page"}, "severity: not a field of a Prometheus"),
    ({"alert": "A"}, "expr: missing"),
    ({"alert": "A", "expr": "  "}, "expr: missing"),
    ({"alert": "A", "record": "b", "expr": "up"}, "a rule has 'alert' or 'record', not both"),
    ({"expr": "up == 0"}, "alert: missing"),
    ("up == 0", "a rule is a mapping"),
    ({"alert": "A", "expr": "sum(up) == 0", "annotations": {"a": "{{ if }}"}}, "template of 'a'"),
    ({"alert": "A", "expr": "up == 0", "labels": ["severity"]}, "labels: Input should be a valid dictionary"),
])
def test_malformed_rules_are_problems_and_the_rest_still_imports(rule, reason):
    document = {"groups": [{"name": "g", "rules": [rule, {"alert": "Fine", "expr": "up == 0"}]}]}
    result = translate(document, "t.yml")
    assert [r.alert for r in result.rules] == ["Fine"]
    assert len(result.problems) == 1 and reason in result.problems[0].reason
    assert result.problems[0].where.startswith("t.yml: groups[0] (g) rules[0]") and result.problems[0].expr == ""


def test_malformed_groups_are_problems():
    document = {"groups": ["nope", {"name": "x"}, {"name": "y", "interval": "often", "rules": []},
                           {"name": "z", "rules": [{"alert": "A", "expr": "up == 0"}]}]}
    result = translate(document, "t.yml")
    assert [r.id for r in result.rules] == ["z-a"]
    assert [(p.where, p.reason) for p in result.problems] == [
        ("t.yml: groups[0]", "a group is a mapping with a name and a 'rules:' list"),
        ("t.yml: groups[1] (x)", "a group is a mapping with a name and a 'rules:' list"),
        ("t.yml: groups[2] (y)", "interval: 'often' is not a duration like 30s, 5m or 1h30m"),
    ]


def test_recording_rules_import_on_the_query_evaluator():
    document = {"groups": [{"name": "g", "interval": "1s", "rules": [
        {"record": "a:b", "expr": "sum(x)", "labels": {"team": "x"}}, {"record": "c", "expr": "y"},
        {"record": "bad name", "expr": "y"}]}]}
    result = translate(document, "t.yml")
    assert [(r.id, r.record, r.evaluator, r.query_group().position) for r in result.rules] == [
        ("g-a-b", "a:b", "query", 0), ("g-c", "c", "query", 1)]
    assert result.why["g-a-b"] == "query every 1s (a recording rule)"
    assert [p.reason for p in result.problems] == ["record: 'bad name' is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"]
    assert (result.recording, result.imported("recording")) == (3, 2)


def test_prometheus_alert_names_are_kept_and_ids_derived():
    document = {"groups": [{"name": "cassandra", "rules": [
        {"alert": "CassandraCommitlogPendingTasks(criteo)", "expr": "x > 15"}, {"alert": "High CPU", "expr": "sum(x) > 1"}]}]}
    rules = translate(document, "t.yml").rules
    assert [(r.id, r.alert) for r in rules] == [
        ("cassandra-cassandracommitlogpendingtasks-criteo", "CassandraCommitlogPendingTasks(criteo)"),
        ("cassandra-high-cpu", "High CPU")]


@pytest.mark.parametrize("text, message", [
    ("groups: [", ":1: not valid YAML: while parsing a flow node, expected the node content"),
    ("- name: g\n  rules: []\n", ": expected a Prometheus rule file: a mapping with a 'groups:' list"),
    ("rules: []\n", ": expected a Prometheus rule file"),
    ("groups: {a: 1}\n", ": expected a Prometheus rule file"),
    ("", ": expected a Prometheus rule file"),
])
def test_files_that_are_not_rule_files_raise_naming_the_file(tmp_path, text, message):
    path = tmp_path / "rules.yml"
    path.write_text(text)
    with pytest.raises(RuleError) as err:
        translate_file(path)
    assert str(err.value).startswith(f"{path}{message}")


def test_unreadable_files_raise(tmp_path):
    with pytest.raises(RuleError, match="cannot read rule file"):
        translate_file(tmp_path / "missing.yml")
    binary = tmp_path / "rules.yml"
    binary.write_bytes(b"groups: \xff\xfe")
    with pytest.raises(RuleError, match="not UTF-8 text"):
        translate_file(binary)


def test_huge_or_deeply_nested_expressions_are_problems_not_crashes():
    assert stream_refusal("up > " + "-(" * 1000 + "1" + ")" * 1000) == "the expression nests too deeply to be one Vigil evaluates"
    # deep enough to overflow promql-parser's native stack: the stream check never hands it over
    assert stream_refusal("(" * 5000 + "up" + ")" * 5000 + " > 1") == f"the expression is longer than {MAX_EXPR_CHARS} characters"
    _, problem = one("(" * 5000 + "up" + ")" * 5000 + " > 1")
    assert problem is None or "nests too deeply" in problem.reason


_PROMQL = st.sampled_from([
    "up", "x", "{", "}", "(", ")", "[", "]", "5m", "1h", ":", ",", '"a"', "'b'", "`c`", '"\\q"', "=", "!=", "=~", "!~",
    ">", "<", ">=", "==", " bool ", "+", "-", "*", "/", "^", "%", " and ", " or ", " unless ", " on ", " ignoring ",
    " group_left ", " by ", " without ", " offset ", "@", "sum", "rate", "absent", "absent_over_time", "quantile_over_time",
    "histogram_quantile", "avg_over_time", "0", "1.5", "-1", "1e9", "Inf", "NaN", "0x1f", "__name__", "job", " ", "\n",
    "start()", "vector", "time()", "label_replace", "deriv", "count_over_time",
])
_EXPR = st.lists(_PROMQL, max_size=25).map("".join) | st.text(max_size=40)
_VALUE = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.fixed_dictionaries({"alert": st.sampled_from(["A", "B", "bad name"]), "expr": _EXPR},
                                      optional={"for": _VALUE, "keep_firing_for": _VALUE,
                                                "labels": st.dictionaries(st.text(max_size=5), _VALUE, max_size=3),
                                                "annotations": st.dictionaries(st.text(max_size=5), _EXPR, max_size=2)}),
                max_size=5))
def test_any_expression_is_imported_or_reported(rules):
    result = translate({"groups": [{"name": "g", "rules": rules}]}, "t.yml")
    assert len(result.rules) + len(result.problems) == len(rules)
    assert len({r.id for r in result.rules}) == len(result.rules)


_DOCUMENT = st.recursive(
    _VALUE | _EXPR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["groups", "name", "rules", "alert", "record", "expr", "for", "labels", "interval", "x"]),
        inner, max_size=5),
    max_leaves=25)


@settings(max_examples=500, deadline=None)
@given(_DOCUMENT)
def test_any_document_translates_or_raises_rule_error(document):
    try:
        translate(document, "t.yml")
    except RuleError:
        pass
