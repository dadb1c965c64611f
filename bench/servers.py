"""Servers a benchmark starts beside the embedded stack, on free ports in a temp dir, stopped by PID.

A fresh VictoriaMetrics per measurement (both sides write to one of their own, so neither pays
for the other's index), and the anchor chain from Debian's packages: vmagent (remote write in),
vmalert (rules over VictoriaMetrics) and Alertmanager (`prometheus-alertmanager`).
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from infra.process import ManagedProcess
from infra.sandbox import free_port
from infra.stack.parts import DEDUP_FLAG

READY_TIMEOUT_S = 30.0
_ROWS_ADDED = re.compile(r"^vm_rows_added_to_storage_total ([0-9.e+]+)$", re.M)


class ServerError(RuntimeError):
    """A server did not start; the message ends with its log."""


@dataclass(frozen=True)
class Server:
    """One running server: its process and base URL."""

    process: ManagedProcess
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid


def _get(url: str, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


class Servers:
    """Starts servers under one temp dir; `stop()` stops each by its PID and removes the dir."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="vigil-bench-pipeline-"))
        self.started: list[ManagedProcess] = []
        self._serial = itertools.count()  # names every server's files: never reused, even after a stop

    def _start(self, name: str, argv: list[str], ready_path: str, port: int) -> Server:
        name = f"{name}-{next(self._serial)}"
        proc = ManagedProcess(name=name, argv=argv, log_path=self.dir / "logs" / f"{name}.log",
                              pid_path=self.dir / "run" / f"{name}.pid", cwd=self.dir)
        proc.start(attached=True)
        self.started.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not proc.alive():
                break
            try:
                _get(url + ready_path, timeout=1)
                return Server(proc, url)
            except OSError:
                time.sleep(0.1)
        raise ServerError(f"{name} not ready on {url}; its log ends with:\n"
                          f"{proc.log_path.read_text(errors='replace')[-2000:]}")

    def victoria_metrics(self) -> Server:
        """A fresh, empty VictoriaMetrics, flagged as the embedded stack's (infra/stack/parts.py)."""
        port = free_port()
        data = self.dir / f"vm-{next(self._serial)}"
        return self._start("victoria-metrics", [
            shutil.which("victoria-metrics") or "victoria-metrics", f"-httpListenAddr=127.0.0.1:{port}",
            f"-storageDataPath={data}", "-retentionPeriod=1", "-search.latencyOffset=1s", DEDUP_FLAG,
            "-influxSkipSingleField", "-loggerLevel=WARN"], "/health", port)

    def vmagent(self, store: Server) -> Server:
        """vmagent taking remote write and forwarding it to `store`, its queue in a temp dir."""
        port = free_port()
        return self._start("vmagent", [
            shutil.which("vmagent") or "vmagent", f"-httpListenAddr=127.0.0.1:{port}",
            f"-remoteWrite.url={store.url}/api/v1/write",
            f"-remoteWrite.tmpDataPath={self.dir / f'vmagent-{next(self._serial)}'}", "-loggerLevel=WARN"],
            "/health", port)

    def alertmanager(self, webhook_url: str) -> Server:
        """Alertmanager paging every alert on its own at once (group_wait 0s) to `webhook_url`."""
        port = free_port()
        serial = next(self._serial)
        config = self.dir / f"alertmanager-{serial}.yml"
        config.write_text(yaml.safe_dump({
            "route": {"receiver": "bench", "group_by": ["..."], "group_wait": "0s", "group_interval": "1s",
                      "repeat_interval": "1h"},
            "receivers": [{"name": "bench", "webhook_configs": [{"url": webhook_url, "send_resolved": False}]}]}))
        return self._start("alertmanager", [
            shutil.which("prometheus-alertmanager") or "prometheus-alertmanager", f"--config.file={config}",
            f"--storage.path={self.dir / f'alertmanager-{serial}'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
            "/-/ready", port)

    def vmalert(self, store: Server, alertmanager: Server, rules: dict) -> Server:
        """vmalert evaluating `rules` (a Prometheus rule file) over `store` every second."""
        port = free_port()
        rule_file = self.dir / f"vmalert-rules-{next(self._serial)}.yml"
        rule_file.write_text(yaml.safe_dump(rules))
        return self._start("vmalert", [
            shutil.which("vmalert") or "vmalert", f"-httpListenAddr=127.0.0.1:{port}",
            f"-datasource.url={store.url}", f"-notifier.url={alertmanager.url}", f"-rule={rule_file}",
            "-evaluationInterval=1s", "-loggerLevel=WARN"], "/health", port)

    def stop_server(self, server: Server) -> None:
        """Stop one server by its PID (its data stays until `stop()`)."""
        server.process.stop(timeout=10)
        self.started.remove(server.process)

    def stop(self) -> None:
        """Stop every server this object started, newest first, each by its PID; remove the temp dir."""
        for proc in reversed(self.started):
            proc.stop(timeout=10)
        self.started.clear()
        shutil.rmtree(self.dir, ignore_errors=True)


def rows_added(store: Server) -> float:
    """VictoriaMetrics' own count of rows added to its storage (its /metrics): cheap to poll."""
    match = _ROWS_ADDED.search(_get(f"{store.url}/metrics"))
    return float(match.group(1)) if match else 0.0


def count_samples(store: Server, selector: str, since_ms: int) -> int:
    """The exact number of samples of `selector` stored since `since_ms`, from a query (no cache)."""
    window_s = max(60, int(time.time() - since_ms / 1000) + 60)
    query = urllib.parse.urlencode({"query": f"sum(count_over_time({selector}[{window_s}s]))",
                                    "time": f"{time.time():.3f}", "nocache": "1"})
    result = json.loads(_get(f"{store.url}/api/v1/query?{query}", timeout=60))["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def count_series(store: Server, selector: str) -> int:
    """How many series of `selector` an instant query sees now (no cache)."""
    query = urllib.parse.urlencode({"query": f"count({selector})", "nocache": "1"})
    result = json.loads(_get(f"{store.url}/api/v1/query?{query}", timeout=30))["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0
