"""Vigil scraping a real node-exporter, a dead target and a file_sd target, into Kafka."""

from __future__ import annotations

import json

import httpx
import pytest

from schemas import codec
from tests.harness import closed_port, free_port, wait_until
from infra.topic_reader import TopicReader
from tests.peers import start_node_exporter

pytestmark = pytest.mark.integration


def test_scrapes_node_exporter_with_up_and_reports_dead_targets(vigil_env, tmp_path):
    node, node_port = start_node_exporter(tmp_path)
    dead = f"127.0.0.1:{closed_port()}"
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps([{"targets": [dead], "labels": {"rack": "r9"}}]))
    config = tmp_path / "ingest.yaml"
    config.write_text(f"""
scrape_configs:
  - job_name: node
    scrape_interval: 1s
    scrape_timeout: 900ms
    static_configs: [{{targets: ["127.0.0.1:{node_port}"], labels: {{env: test}}}}]
  - job_name: files
    scrape_interval: 1s
    scrape_timeout: 500ms
    file_sd_configs: [{{files: ["{tmp_path}/*.json"], refresh_interval: 1s}}]
""")
    port = free_port()
    vigil_env.start("ingest", health_port=port, extra_env={"VIGIL_INGEST_PORT": str(port),
                                                          "VIGIL_INGEST_CONFIG": str(config)})
    try:
        reader = TopicReader(vigil_env.settings, vigil_env.settings.topics.metrics, codec.series_batch())

        def series(name: str, job: str) -> list[dict]:
            return [s for b in reader.records for s in b["samples"] if s["name"] == name and s["labels"]["job"] == job]
        # One scrape's samples span several partitions (several Kafka records): wait for each series.
        wanted = [("up", "node"), ("up", "files"), ("node_memory_MemTotal_bytes", "node"),
                  ("scrape_samples_scraped", "node")]
        reader.wait_for(lambda r: all(series(name, job) for name, job in wanted), timeout=60,
                        what="up for both jobs and node-exporter's series")
        node_up = series("up", "node")[0]
        assert node_up["value"] == 1
        assert node_up["labels"] == {"job": "node", "instance": f"127.0.0.1:{node_port}", "env": "test"}
        (mem, *_) = series("node_memory_MemTotal_bytes", "node")
        assert mem["value"] > 0 and mem["labels"]["env"] == "test"
        assert series("scrape_samples_scraped", "node")[0]["value"] > 100
        dead_up = series("up", "files")[0]
        assert dead_up["value"] == 0 and dead_up["labels"] == {"job": "files", "instance": dead, "rack": "r9"}
        active = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
        health = {t["scrapeUrl"]: (t["health"], t["lastError"]) for t in active}
        assert health[f"127.0.0.1:{node_port}"] == ("up", "")
        assert health[dead][0] == "down" and "connect" in health[dead][1].lower()

        targets.write_text(json.dumps([{"targets": [f"127.0.0.1:{node_port}"]}]))  # file_sd picks up a change

        def moved():
            active = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5).json()["data"]["activeTargets"]
            return {t["scrapeUrl"] for t in active if t["scrapePool"] == "files"} == {f"127.0.0.1:{node_port}"}
        wait_until(moved, timeout=20, message="file_sd change picked up")
        reader.close()
    finally:
        node.stop(timeout=10)
