"""`vigil rules backtest` as a real subprocess over samples written into the session's VictoriaMetrics."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

import pytest

from tests.harness import REPO, VigilEnv, closed_port, wait_until

pytestmark = pytest.mark.integration

HOSTS = 40
STEP_S = 5
SPAN_S = 2 * 3600
RULES = """
rules:
  - id: cpu-high
    alert: HighCPU
    metric: {metric}
    matchers: ['host=~"web-.*"']
    threshold: 90
    for: 1m
    labels: {{severity: page}}
  - id: silent
    alert: HostSilent
    type: absent
    metric: {metric}
    absent_for: 2m
"""


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def value_at(host: int, t: int, base: int) -> float | None:
    """web-1 is above 90 for ten minutes, web-2 is silent for ten; the others idle along."""
    if host == 2 and base + 1800 <= t < base + 2400:
        return None
    if host == 1 and base + 600 <= t < base + 1200:
        return 95.0
    return 20.0 + host % 7


@pytest.fixture(scope="module")
def seeded(stack):
    """(metric, base, samples): HOSTS series every STEP_S over SPAN_S from `base` (3 h ago), visible in exports."""
    measurement = f"bt{secrets.token_hex(4)}_cpu_usage"
    base = int(time.time()) // 60 * 60 - 3 * 3600
    lines = [f"{measurement},host=web-{h} usage={v} {t * 10**9}"
             for h in range(1, HOSTS + 1) for t in range(base, base + SPAN_S, STEP_S)
             if (v := value_at(h, t, base)) is not None]
    tsdb = f"http://127.0.0.1:{stack.tsdb_port}"
    for i in range(0, len(lines), 50_000):
        request = urllib.request.Request(f"{tsdb}/api/v2/write", data="\n".join(lines[i:i + 50_000]).encode(),
                                         method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 204
    metric = measurement  # the stack's VictoriaMetrics runs with -influxSkipSingleField (infra/stack/parts.py)

    def exported() -> int:
        urllib.request.urlopen(f"{tsdb}/internal/force_flush", timeout=10).read()
        form = f"match[]={metric}&start={base - 60}&end={base + SPAN_S}".encode()
        with urllib.request.urlopen(urllib.request.Request(f"{tsdb}/api/v1/export", data=form), timeout=30) as answer:
            return sum(len(json.loads(line)["timestamps"]) for line in answer.read().splitlines() if line)
    wait_until(lambda: exported() == len(lines), timeout=60, interval=1, message=f"{len(lines)} samples exported")
    return metric, base, len(lines)


@pytest.fixture
def rules_file(seeded, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES.format(metric=seeded[0]))
    return path


def vigil(env: VigilEnv, *args: str, extra_env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `vigil ARGS` with the test's VIGIL_* environment; stdout and stderr kept apart."""
    return subprocess.run([sys.executable, "-m", "infra.cli", *args], cwd=REPO, text=True, capture_output=True,
                          env={**os.environ, **env.env, "COLUMNS": "200", "NO_COLOR": "1", **(extra_env or {})},
                          timeout=300)


def transitions(result: subprocess.CompletedProcess) -> tuple[list[tuple], dict]:
    """(status, time, host) of each JSON transition line, and the summary line."""
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["kind"] for r in rows] == ["transition"] * (len(rows) - 1) + ["summary"]
    return [(r["status"], r["at"], r["labels"].get("host")) for r in rows[:-1]], rows[-1]


def test_threshold_rule_from_a_file_prints_when_it_fired_and_resolved(vigil_env, seeded, rules_file):
    _, base, samples = seeded
    result = vigil(vigil_env, "rules", "backtest", "--file", str(rules_file), "--rule", "cpu-high",
                   "--from", iso(base - 60), "--to", str(base + SPAN_S), "--json")
    rows, summary = transitions(result)
    assert rows == [("FIRING", iso(base + 660), "web-1"), ("RESOLVED", iso(base + 1200), "web-1")]
    assert json.loads(result.stdout.splitlines()[0])["labels"] == {
        "host": "web-1", "severity": "page", "alertname": "HighCPU"}
    assert (summary["alerts"], summary["firings"], summary["longest_s"], summary["samples"]) == (1, 1, 540, samples)
    assert "samples/s" in result.stderr

    table = vigil(vigil_env, "rules", "backtest", "--file", str(rules_file), "--rule", "cpu-high",
                  "--from", iso(base - 60), "--to", str(base + SPAN_S))
    assert table.returncode == 0, table.stdout + table.stderr
    fired = next(line for line in table.stdout.splitlines() if "FIRING" in line)
    assert iso(base + 660) in fired and "HighCPU" in fired and "host=web-1" in fired and "95" in fired
    assert "1 alert fired 1 time; longest 9m" in table.stdout and "Traceback" not in table.stderr


def test_a_long_range_is_read_in_chunks_with_the_same_result(vigil_env, seeded, rules_file):
    _, base, samples = seeded
    result = vigil(vigil_env, "rules", "backtest", "-f", str(rules_file), "--rule", "cpu-high", "--from=-8h",
                   "--json")
    rows, summary = transitions(result)
    assert rows == [("FIRING", iso(base + 660), "web-1"), ("RESOLVED", iso(base + 1200), "web-1")]
    assert summary["samples"] == samples, "every sample is read exactly once across the chunks"
    progress = [line for line in result.stderr.splitlines() if line.startswith("read ")]
    assert len(progress) == 8 and "(8/8)" in progress[-1], result.stderr
    print(result.stderr.splitlines()[-1])  # the throughput, for the record


def test_absent_rule_fires_on_a_gap_and_resolves_when_data_returns(vigil_env, seeded, rules_file):
    _, base, _ = seeded
    result = vigil(vigil_env, "rules", "backtest", "--file", str(rules_file), "--rule", "silent",
                   "--from", str(base), "--to", iso(base + 3600), "--json")
    rows, summary = transitions(result)
    assert rows == [("FIRING", iso(base + 1795 + 120), "web-2"), ("RESOLVED", iso(base + 2400), "web-2")]
    assert summary["episodes"][0]["duration_s"] == 2400 - 1915


def test_a_saved_rule_is_backtested_by_its_id(vigil_env, seeded, rules_file):
    _, base, _ = seeded
    applied = vigil(vigil_env, "rules", "apply", str(rules_file))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    rows, _ = transitions(vigil(vigil_env, "rules", "backtest", "cpu-high", "--from", iso(base),
                                "--to", iso(base + 3600), "--json"))
    assert rows == [("FIRING", iso(base + 660), "web-1"), ("RESOLVED", iso(base + 1200), "web-1")]
    unknown = vigil(vigil_env, "rules", "backtest", "cpu-low", "--from", "-1h")
    assert unknown.returncode == 2, unknown.stdout + unknown.stderr
    assert "RULE_ID" in unknown.stderr and "no saved rule with id 'cpu-low'" in unknown.stderr


@pytest.mark.parametrize(("args", "words"), [
    (["--rule", "nope", "--from", "-1h"], "--rule: no rule with id 'nope'"),
    (["--from", "-1h"], "--rule: "),  # the file holds two rules
    (["--rule", "cpu-high", "--from", "yesterday"], "--from: 'yesterday' is neither unix seconds nor an RFC 3339 time; use RFC 3339"),
    (["--rule", "cpu-high", "--from", "2026-11-25T10:00:00"], "--from: '2026-11-25T10:00:00' has no time zone"),
    (["--rule", "cpu-high", "--from", "-1h", "--to", "-2h"], "--to: "),
])
def test_bad_arguments_exit_2_naming_the_argument(vigil_env, rules_file, args, words):
    result = vigil(vigil_env, "rules", "backtest", "--file", str(rules_file), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert words in " ".join(result.stderr.split()) and "Traceback" not in result.stderr


def test_a_bad_rules_file_exits_2_and_an_unreachable_tsdb_exits_1(vigil_env, rules_file, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {id: a, alert: A, metric: m, type: rate, threshold: 1}\n")
    result = vigil(vigil_env, "rules", "backtest", "--file", str(bad), "--from", "-1h")
    assert result.returncode == 2 and str(bad) in result.stdout and "window" in result.stdout

    down = vigil(vigil_env, "rules", "backtest", "--file", str(rules_file), "--rule", "cpu-high", "--from", "-1h",
                 extra_env={"VIGIL_TSDB_URL": f"http://127.0.0.1:{closed_port()}"})
    assert down.returncode == 1, down.stdout + down.stderr
    assert "VictoriaMetrics unavailable" in down.stderr and "Traceback" not in down.stderr
