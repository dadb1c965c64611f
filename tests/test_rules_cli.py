"""`vigil rules apply / list / import` as real subprocesses against the session's Postgres and Kafka."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from schemas import codec
from tests.harness import REPO, VigilEnv, closed_port
from infra.topic_reader import TopicReader

pytestmark = pytest.mark.integration

TWO_RULES = """
rules:
  - id: cpu-high
    alert: HighCPU
    metric: cpu_usage_user
    threshold: {cpu}
    for: 1m
    labels: {{severity: page}}
  - id: disk-full
    alert: DiskFull
    type: max_over_time
    metric: disk_used_ratio
    window: 5m
    threshold: 0.9
"""

PROMETHEUS = """
groups:
  - name: node
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: HostDown
        expr: up == 0
        for: 5m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.instance }} is down"}
      - alert: HighErrorRate
        expr: sum by (job) (rate(http_requests_total{code=~"5.."}[5m])) > 1
      - alert: DiskFilling
        expr: rate(node_disk_written_bytes_total[10m]) > 1e6
"""


def vigil_rules(env: VigilEnv, *args: str) -> subprocess.CompletedProcess:
    """Run `vigil rules ARGS` with the test's VIGIL_* environment; output is stdout + stderr."""
    return subprocess.run([sys.executable, "-m", "infra.cli", "rules", *args], cwd=REPO, text=True,
                          env={**os.environ, **env.env, "COLUMNS": "200", "NO_COLOR": "1"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)


def lines(result: subprocess.CompletedProcess) -> list[str]:
    """The `action id version N` lines of an apply, normalised to single spaces."""
    return [" ".join(line.split()) for line in result.stdout.splitlines()
            if line.split()[:1] and line.split()[0] in ("created", "updated", "unchanged", "deleted")]


@pytest.fixture
def rules_topic(vigil_env):
    return TopicReader(vigil_env.settings, vigil_env.settings.topics.rules, codec.rule())


def test_apply_is_idempotent_bumps_changed_rules_and_prunes(vigil_env, rules_topic, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(TWO_RULES.format(cpu=90))
    first = vigil_rules(vigil_env, "apply", str(path))
    assert first.returncode == 0, first.stdout
    assert lines(first) == ["created cpu-high version 1", "created disk-full version 1"]
    again = vigil_rules(vigil_env, "apply", str(path))
    assert lines(again) == ["unchanged cpu-high version 1", "unchanged disk-full version 1"]

    path.write_text(TWO_RULES.format(cpu=95))
    changed = vigil_rules(vigil_env, "apply", str(path))
    assert lines(changed) == ["updated cpu-high version 2", "unchanged disk-full version 1"]

    path.write_text(TWO_RULES.format(cpu=95).split("  - id: disk-full")[0])
    kept = vigil_rules(vigil_env, "apply", str(path))
    assert lines(kept) == ["unchanged cpu-high version 2"], "without --prune nothing is deleted"
    pruned = vigil_rules(vigil_env, "apply", str(path), "--prune")
    assert lines(pruned) == ["unchanged cpu-high version 2", "deleted disk-full version 2"]

    records = rules_topic.wait_for(lambda rs: len(rs) >= 4, what="four rule records")
    rules_topic.read_for(1.0)
    assert [(r["id"], r["version"], r["deleted"], r["updated_by"]) for r in records] == [
        ("cpu-high", 1, False, "cli"), ("disk-full", 1, False, "cli"),
        ("cpu-high", 2, False, "cli"), ("disk-full", 2, True, "cli")], "unchanged rules are not republished"
    assert json.loads(records[2]["spec"])["threshold"] == 95

    listed = vigil_rules(vigil_env, "list")
    assert listed.returncode == 0 and "cpu-high" in listed.stdout and "disk-full" not in listed.stdout
    row = next(line for line in listed.stdout.splitlines() if "cpu-high" in line)
    assert "threshold" in row and "cpu_usage_user" in row and " 2 " in row
    with_deleted = vigil_rules(vigil_env, "list", "--deleted")
    assert "disk-full" in with_deleted.stdout and "(deleted)" in with_deleted.stdout


@pytest.mark.parametrize(("text", "words"), [
    ("rules:\n  - id: cpu-high\n    alert: HighCPU\n    metric: cpu\n    type: rate\n    threshold: 1\n",
     ":2: rules[0].window: a rate rule needs a window"),
    ("rules:\n  - {id: a, alert: A, metric: m, threshold: 1, matchers: ['job=~\"(\"']}\n", ":2: rules[0].matchers[0]:"),
    ("rules:\n  - {id: a, alert: A, metric: m, threshold: 1, version: 2}\n", ":2: rules[0].version: set by the rule store"),
    ("rules: [\n", ":2: not valid YAML:"),
    ("groups: []\n", ": expected a mapping with a 'rules:' list"),
])
def test_a_bad_rules_file_exits_2_naming_file_line_and_field(vigil_env, tmp_path, text, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    result = vigil_rules(vigil_env, "apply", str(path))
    flat = " ".join(result.stdout.split())
    assert result.returncode == 2, result.stdout
    assert f"{path}{words}" in flat and "Traceback" not in result.stdout
    assert "cpu-high" not in vigil_rules(vigil_env, "list").stdout


def test_import_saves_every_rule_on_its_evaluator_saying_why_and_lists_them(vigil_env, rules_topic, tmp_path):
    path = tmp_path / "prometheus.yml"
    path.write_text(PROMETHEUS)
    dry = vigil_rules(vigil_env, "import", str(path), "--dry-run")
    assert dry.returncode == 0, dry.stdout
    assert "node-hostdown" in dry.stdout and "nothing was saved" in dry.stdout
    assert "node-hostdown" not in vigil_rules(vigil_env, "list").stdout

    result = vigil_rules(vigil_env, "import", str(path))
    flat = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stdout
    assert ("imported node-hostdown: HostDown — stream (one series at a time: evaluated per sample, sub-second)"
            in flat)
    assert "imported node-diskfilling: DiskFilling — stream (" in flat
    assert "imported node-higherrorrate: HighErrorRate — query every 15s (sum by (job)" in flat
    assert "aggregation across series)" in flat
    assert "imported node-job-up-sum: job:up:sum — query every 15s (a recording rule)" in flat
    assert ("4 of 4 rule(s) imported (100.0%): 3 of 3 alerting, 1 of 1 recording; 2 on the stream evaluator, "
            "2 on the query evaluator; 0 not imported") in flat
    ids = ["node-job-up-sum", "node-hostdown", "node-higherrorrate", "node-diskfilling"]
    assert lines(result) == [f"created {i} version 1" for i in ids]
    records = rules_topic.wait_for(lambda rs: len(rs) >= 4, what="imported rules on the topic")
    spec = json.loads(next(r for r in records if r["id"] == "node-hostdown")["spec"])
    assert (spec["metric"], spec["op"], spec["threshold"], spec["for"]) == ("up", "==", 0.0, 300.0)
    spec = json.loads(next(r for r in records if r["id"] == "node-higherrorrate")["spec"])
    assert (spec["evaluator"], spec["group"]) == ("query", {"name": "node", "position": 2})

    again = vigil_rules(vigil_env, "import", str(path))
    assert lines(again) == [f"unchanged {i} version 1" for i in ids]
    listed = " ".join(vigil_rules(vigil_env, "list").stdout.split())
    assert "node-higherrorrate │ query │ alerting every 15s │ sum by (job)" in listed
    assert "node-hostdown │ stream │ threshold │ up" in listed


def test_import_of_an_unreadable_file_exits_2(vigil_env, tmp_path):
    missing = vigil_rules(vigil_env, "import", str(tmp_path / "nope.yml"))
    assert missing.returncode == 2 and "nope.yml" in missing.stdout and "Traceback" not in missing.stdout
    (tmp_path / "rules.yaml").write_text("rules: []\n")
    wrong = vigil_rules(vigil_env, "import", str(tmp_path / "rules.yaml"))
    assert wrong.returncode == 2 and "groups" in wrong.stdout


def test_kafka_down_exits_1_and_saves_nothing(vigil_env, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(TWO_RULES.format(cpu=90))
    down = VigilEnv(vigil_env.stack, vigil_env.prefix, {**vigil_env.env,
                                                         "VIGIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}"})
    result = vigil_rules(down, "apply", str(path))
    assert result.returncode == 1 and "Kafka unavailable" in result.stdout and "nothing was saved" in result.stdout
    assert "Traceback" not in result.stdout
    assert "cpu-high" not in vigil_rules(vigil_env, "list").stdout
