"""Query rules through the real stack: a public rule file imported with `vigil rules import`, samples on the
metrics topic, the sink writing them to VictoriaMetrics, a worker evaluating the groups → AlertEvents; a
recording rule's output in VictoriaMetrics; a restart that keeps a firing alert firing; a store outage that
resolves nothing.

VictoriaMetrics is shared by the session, so every series carries this test's prefix as its zone.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from kernel.prom_rules import RuleGroup, engine_query_func
from kernel.prom_rules.templates import alert_expander
from kernel.promql import Engine, MemoryStorage
from schemas import codec
from streams.query.groups import build_groups
from tests.corpus import PROMETHEUS_RULES
from tests.harness import closed_port, free_port, wait_until
from infra.topic_reader import TopicReader
from tests.kafka_io import produce_samples, sample
from tests.test_rules_cli import vigil_rules

pytestmark = pytest.mark.integration

CORPUS_FILE = PROMETHEUS_RULES / "awesome-prometheus-alerts/cloudflare/lablabs-cloudflare-exporter.yml"
RECORDING = """
groups:
  - name: cloudflare-recording
    interval: 1s
    rules:
      - record: zone:cloudflare_zone_requests_status:rate1m
        expr: sum by (zone) (rate(cloudflare_zone_requests_status[1m]))
        labels: {source_file: test, empty: ""}
"""
METRIC = "cloudflare_zone_requests_status"


def corpus_file(tmp_path: Path) -> Path:
    """The corpus file unchanged but for a 1s group interval, so the test waits seconds, not 15s slots."""
    document = yaml.safe_load(CORPUS_FILE.read_text())
    for group in document["groups"]:
        group["interval"] = "1s"
    path = tmp_path / CORPUS_FILE.name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def traffic(zone: str, start_ms: int, seconds: int) -> list[dict]:
    """Per-status request counters of one zone, one sample a second: half the requests are 5xx."""
    return [sample(METRIC, {"zone": zone, "status": status}, t * rate, start_ms + t * 1000)
            for t in range(seconds) for status, rate in (("200", 10), ("503", 10))]


def start_worker(vigil_env, name: str, **env: str):
    port = free_port()
    proc = vigil_env.start("streams", health_port=port, name=name, extra_env={
        "VIGIL_STREAMS_WEB_PORT": str(port), "VIGIL_DATA_DIR": str(vigil_env.stack.state_dir / "faust" / name), **env})
    return proc, port


def healthz(port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def export(tsdb_url: str, selector: str) -> list[dict]:
    query = urllib.parse.urlencode({"match[]": selector})
    with urllib.request.urlopen(f"{tsdb_url}/api/v1/export?{query}", timeout=5) as response:
        return [json.loads(line) for line in response.read().splitlines() if line.strip()]


def prometheus_alert(path: Path, samples: list[dict], at_ms: int) -> tuple[dict, dict]:
    """Labels and annotations of CloudflareHttp5xxErrorRate as Prometheus' semantics give them on the same data
    (kernel.prom_rules, checked against promtool by its own tests), at the worker's evaluation time."""
    from streams.promql_import import translate_file

    rules = [r for r in translate_file(path).rules if r.alert == "CloudflareHttp5xxErrorRate"]
    (group,) = build_groups(rules).values()
    storage = MemoryStorage()
    for s in samples:
        storage.add({"__name__": s["name"], **s["labels"]}, s["timestamp_ms"], s["value"])
    query = engine_query_func(Engine(storage))
    evaluation = RuleGroup(group.spec, query=query, expand=alert_expander({}, "", query)).evaluate(at_ms)
    (transition,) = evaluation.transitions
    return dict(transition.labels), dict(transition.annotations)


@pytest.mark.skipif(not CORPUS_FILE.is_file(), reason=f"public rule file not present at {CORPUS_FILE}")
def test_a_public_rule_file_fires_records_survives_a_restart_and_a_store_outage(vigil_env, tmp_path):
    settings = vigil_env.settings
    zone = f"{vigil_env.prefix}.example"
    rules_file = corpus_file(tmp_path)
    imported = vigil_rules(vigil_env, "import", str(rules_file))
    flat = " ".join(imported.stdout.split())
    assert imported.returncode == 0, imported.stdout
    assert "CloudflareHttp5xxErrorRate — query every 1s (" in flat and "2 of 2 rule(s) imported (100.0%)" in flat
    recording = tmp_path / "recording.yml"
    recording.write_text(RECORDING)
    assert vigil_rules(vigil_env, "import", str(recording)).returncode == 0

    sinks_port = free_port()
    vigil_env.start("sinks", health_port=sinks_port, extra_env={"VIGIL_SINKS_HEALTH_PORT": str(sinks_port)})
    first, port = start_worker(vigil_env, "w1")
    alerts = TopicReader(settings, settings.topics.alerts, codec.alert_event())
    start_ms = int(time.time() * 1000) - 60_000
    history = traffic(zone, start_ms, 60)
    produce_samples(settings, history)

    (fired,) = alerts.wait_for(lambda r: len(r) >= 1, timeout=30, what="FIRING from the query evaluator")
    assert (fired["status"], fired["sequence"], fired["alertname"]) == ("FIRING", 1, "CloudflareHttp5xxErrorRate")
    assert fired["rule_id"].startswith("lablabscloudflareexporter-cloudflarehttp5xxerrorrate")
    assert fired["value"] == pytest.approx(50.0)
    labels, annotations = prometheus_alert(rules_file, history, fired["event_time_ms"])
    assert fired["labels"] == labels == {"alertname": "CloudflareHttp5xxErrorRate", "severity": "critical",
                                         "zone": zone}
    assert fired["annotations"] == annotations
    assert f"LABELS = map[zone:{zone}]" in fired["annotations"]["description"]

    # The recording rule's samples reach the store through the metrics topic and the sink.
    recorded = wait_until(lambda: export(settings.tsdb_url, f'zone:{METRIC}:rate1m{{zone="{zone}"}}'),
                          timeout=20, message="the recorded series in VictoriaMetrics")
    assert recorded[0]["metric"] == {"__name__": f"zone:{METRIC}:rate1m", "zone": zone, "source_file": "test"}
    assert all(0 < v <= 20.0 + 1e-9 for v in recorded[0]["values"])  # at most 10/s of each status, summed

    # Restarted against an unreachable store: the state comes back firing, nothing resolves, health says why.
    first.stop(timeout=10)
    _, port = start_worker(vigil_env, "w2", VIGIL_TSDB_URL=f"http://127.0.0.1:{closed_port()}")
    health = wait_until(lambda: (h := healthz(port)["query_evaluator"])["store"] == "unavailable" and h,
                        timeout=30, message="the store outage in /healthz")
    assert health["store_failures"] >= 1 and "unreachable" in health["store_error"]
    assert alerts.read_for(3) == [fired]
    vigil_env.processes[-1].stop(timeout=10)

    # Back on the store: still firing from the restored state, and no second page.
    _, port = start_worker(vigil_env, "w3")
    health = wait_until(lambda: (h := healthz(port)["query_evaluator"])["owned_groups"] >= 2 and h, timeout=30,
                        message="groups owned again")
    time.sleep(2)  # a few evaluations at 1s
    health = healthz(port)["query_evaluator"]
    assert (health["store"], health["firing_alerts"]) == ("ok", 1)
    assert alerts.read_for(2) == [fired]
