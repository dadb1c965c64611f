"""docker-compose.yml, as Debian's docker-compose reads it: what a user running Vigil at scale relies on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kernel import settings as settings_module
from infra.stack.parts import DEDUP_FLAG

ROOT = Path(__file__).resolve().parent.parent
VIGIL_SERVICES = ("ingest", "streams", "sinks", "notifier", "connectors", "api")
SERVERS = ("kafka", "postgres", "redis", "victoriametrics", "mosquitto")


@pytest.fixture(scope="module")
def compose() -> dict:
    """The file after docker-compose resolved anchors, defaults and merges."""
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is not installed: `apt-get install docker-compose` (make test's setup does it)")
    run = subprocess.run(["docker-compose", "-f", "docker-compose.yml", "config"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, f"docker-compose config refused the file:\n{run.stderr}"
    return yaml.safe_load(run.stdout)


def settings_env_names() -> set[str]:
    """Every VIGIL_* variable some process reads (pydantic-settings field names, upper-cased)."""
    classes = [getattr(settings_module, name) for name in dir(settings_module) if name.endswith("Settings")]
    return {f"VIGIL_{field.upper()}" for cls in classes if hasattr(cls, "model_fields") for field in cls.model_fields}


def test_every_vigil_process_waits_for_healthy_servers(compose):
    for name in VIGIL_SERVICES:
        depends = compose["services"][name]["depends_on"]
        assert {server: depends.get(server, {}).get("condition") for server in SERVERS[:4]} == dict.fromkeys(
            SERVERS[:4], "service_healthy"), name


def test_every_service_has_a_healthcheck(compose):
    missing = [name for name in SERVERS + VIGIL_SERVICES if "test" not in compose["services"][name].get("healthcheck", {})]
    assert missing == []


def test_kafka_is_apache_kafka_in_kraft_mode(compose):
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert not any("zookeeper" in name for name in compose["services"])


def test_ingest_and_api_ports_are_published(compose):
    published = {name: [str(p) for p in compose["services"][name].get("ports", [])] for name in ("ingest", "api")}
    assert any("8090" in p for p in published["ingest"]) and any("8080" in p for p in published["api"])
    assert compose["services"]["ingest"]["environment"]["VIGIL_INGEST_HOST"] == "0.0.0.0"
    assert compose["services"]["api"]["environment"]["VIGIL_API_HOST"] == "0.0.0.0"


def test_scale_settings(compose):
    services = compose["services"]
    assert {name: services[name].get("scale", 1) for name in ("streams", "sinks")} == {"streams": 2, "sinks": 2}
    assert {services[name]["environment"]["VIGIL_METRICS_PARTITIONS"] for name in VIGIL_SERVICES} == {"12"}


def test_every_vigil_variable_is_a_real_setting(compose):
    """A typo in a variable name would be silently ignored by the process: catch it here."""
    known = settings_env_names()
    unknown = {(name, var) for name in VIGIL_SERVICES
               for var in compose["services"][name]["environment"] if var.startswith("VIGIL_") and var not in known}
    assert unknown == set()


def test_the_rules_file_the_streams_worker_reads_is_mounted(compose):
    streams = compose["services"]["streams"]
    target = streams["environment"]["VIGIL_RULES_FILE"]
    mounts = [str(v) for v in streams["volumes"]]
    assert any(m.endswith(f"{target}:ro") and "infra/demo/rules.yaml" in m for m in mounts), mounts


def test_victoriametrics_stores_a_retried_write_once(compose):
    """Ingest may publish a batch twice and a sink re-write it: the store keeps one sample per series and ms."""
    assert DEDUP_FLAG in compose["services"]["victoriametrics"]["command"]
