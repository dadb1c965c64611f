"""Real third-party peers for ingest tests: Debian's Prometheus and node-exporter as local processes."""

from __future__ import annotations

import shutil
from pathlib import Path

from infra.process import ManagedProcess
from infra.stack.parts import SBIN, tcp_open
from tests.harness import free_port, wait_http, wait_until


def _which(program: str) -> str:
    path = shutil.which(program) or shutil.which(program, path=SBIN)  # mosquitto is in /usr/sbin
    if path is None:  # a missing peer fails the test (STYLE.md): install it, don't skip
        raise AssertionError(f"{program} is not installed; `make test` installs it (infra/bootstrap.sh)")
    return path


def start_node_exporter(state: Path) -> tuple[ManagedProcess, int]:
    """prometheus-node-exporter on a free port; returns it and the port."""
    port = free_port()
    proc = ManagedProcess(name="node-exporter", log_path=state / "node-exporter.log",
                          pid_path=state / "node-exporter.pid",
                          argv=[_which("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{port}",
                                "--no-collector.systemd"])
    proc.start(attached=True)
    wait_http(f"http://127.0.0.1:{port}/metrics", proc)
    return proc, port


def start_prometheus(state: Path, config: str, port: int) -> ManagedProcess:
    """Prometheus on `port` with `config` (YAML text) and its own TSDB under `state`."""
    (state / "prometheus.yml").write_text(config)
    proc = ManagedProcess(name="prometheus", log_path=state / "prometheus.log", pid_path=state / "prometheus.pid",
                          argv=[_which("prometheus"), f"--config.file={state / 'prometheus.yml'}",
                                f"--storage.tsdb.path={state / 'prom'}", f"--web.listen-address=127.0.0.1:{port}",
                                "--storage.remote.flush-deadline=1s"])
    proc.start(attached=True)
    wait_http(f"http://127.0.0.1:{port}/-/ready", proc)
    return proc


def start_mosquitto(state: Path, port: int) -> ManagedProcess:
    """A Mosquitto broker of the test's own on `port` (the test may stop and restart it)."""
    state.mkdir(parents=True, exist_ok=True)
    conf = state / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = ManagedProcess(name="mosquitto", log_path=state / "mosquitto.log", pid_path=state / "mosquitto.pid",
                          argv=[_which("mosquitto"), "-c", str(conf)])
    proc.start(attached=True)
    wait_until(lambda: tcp_open(port), timeout=10, message=f"mosquitto on :{port}")
    return proc
