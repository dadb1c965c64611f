"""Relabeling, pure: each action as Prometheus documents it, and bad rules refused with the field named."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from ingest.relabel import RelabelRule, relabel, relabel_samples

RULES = TypeAdapter(tuple[RelabelRule, ...])


def rules(*raw: dict) -> tuple[RelabelRule, ...]:
    return RULES.validate_python(raw)


LABELS = {"job": "node", "instance": "web-1:9100", "env": "prod"}


def test_replace_with_groups_and_separator():
    got = relabel("up", LABELS, rules({"source_labels": ["job", "instance"], "regex": r"(\w+);([^:]+):\d+",
                                        "target_label": "node", "replacement": "$1-${2}"}))
    assert got == ("up", {**LABELS, "node": "node-web-1"})


def test_replace_defaults_copy_and_empty_result_removes_the_label():
    assert relabel("up", LABELS, rules({"source_labels": ["env"], "target_label": "stage"}))[1]["stage"] == "prod"
    got = relabel("up", LABELS, rules({"source_labels": ["missing"], "target_label": "env"}))
    assert "env" not in got[1]


def test_replace_can_rename_the_metric():
    got = relabel("node_cpu", LABELS, rules({"source_labels": ["__name__"], "regex": "node_(.*)",
                                              "target_label": "__name__", "replacement": "host_$1"}))
    assert got[0] == "host_cpu"


def test_no_match_leaves_the_series_alone():
    assert relabel("up", LABELS, rules({"source_labels": ["env"], "regex": "dev", "target_label": "x",
                                         "replacement": "y"})) == ("up", LABELS)


def test_keep_and_drop_are_anchored():
    keep = rules({"source_labels": ["__name__"], "regex": "node_.*", "action": "keep"})
    assert relabel("node_load1", LABELS, keep) is not None
    assert relabel("go_node_x", LABELS, keep) is None  # anchored: must match the whole value
    drop = rules({"source_labels": ["env"], "regex": "prod", "action": "drop"})
    assert relabel("up", LABELS, drop) is None and relabel("up", {"env": "production"}, drop) is not None


def test_labeldrop_and_labelkeep_never_touch_the_name():
    assert relabel("up", LABELS, rules({"regex": "inst.*", "action": "labeldrop"}))[1] == {"job": "node", "env": "prod"}
    assert relabel("up", LABELS, rules({"regex": "job|env", "action": "labelkeep"})) == ("up", {"job": "node",
                                                                                               "env": "prod"})


def test_relabel_samples_adds_agent_labels_that_win_and_keeps_sharing():
    shared = {"host": "a", "site": "spoofed"}
    samples = [{"name": "cpu_user", "labels": shared, "value": 1.0}, {"name": "cpu_idle", "labels": shared, "value": 2.0},
               {"name": "go_gc", "labels": shared, "value": 3.0}]
    out = relabel_samples(samples, {"site": "eu-1"}, rules({"source_labels": ["__name__"], "regex": "go_.*",
                                                             "action": "drop"}))
    assert [s["name"] for s in out] == ["cpu_user", "cpu_idle"]
    assert out[0]["labels"] == {"host": "a", "site": "eu-1"} and shared["site"] == "spoofed"


@pytest.mark.parametrize(("raw", "message"), [
    ({"source_labels": ["a"], "regex": "(", "target_label": "x"}, "does not compile"),
    ({"source_labels": ["a"]}, "needs target_label"),
    ({"action": "keep"}, "needs source_labels"),
    ({"action": "hashmod", "source_labels": ["a"]}, "action"),
    ({"source_labels": ["a"], "target_label": "9bad"}, "not a label name"),
    ({"source_labels": ["a"], "target_label": "x", "modulus": 3}, "modulus"),
])
def test_bad_rules_are_refused_naming_the_problem(raw, message):
    with pytest.raises(ValidationError) as caught:
        rules(raw)
    assert message in str(caught.value)


@pytest.mark.timeout(60)  # a backtracking engine (Python's re) would not finish this
def test_regexes_are_re2_as_in_prometheus():
    hostile = {"path": "a" * 10_000 + "c"}
    assert relabel("up", hostile, rules({"source_labels": ["path"], "regex": "(a+)+b", "action": "drop"})) is not None
    assert relabel("up", {"code": "200"}, rules({"source_labels": ["code"], "regex": 200, "action": "keep"}))
    assert relabel("up", {"msg": "a\nb"}, rules({"source_labels": ["msg"], "regex": "a.b", "action": "drop"})) is None
    with pytest.raises(ValidationError, match="RE2 syntax"):
        rules({"source_labels": ["job"], "regex": "node(?=x)", "action": "keep"})
