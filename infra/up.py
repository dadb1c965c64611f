"""`vigil up`: the embedded stack, every Vigil process, demo traffic and a live view; Ctrl-C stops all."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from kernel.kafka import ensure_topics
from kernel.migrate import migrate
from infra.process import ManagedProcess
from kernel.settings import CommonSettings, StackSettings
from infra.stack import Stack, StackError

REPO = Path(__file__).resolve().parent.parent
DEMO_RECEIVER_PORT = 8094
DEMO_PLC_PORT = 15020


@dataclass(frozen=True)
class Service:
    """A Vigil process `vigil up` runs and the port its /healthz answers on."""

    command: str
    port: int


SERVICES = [Service("ingest", 8090), Service("streams", 8091), Service("sinks", 8092), Service("notifier", 8093),
            Service("api", 8080)]
DEMO_RULES = REPO / "infra" / "demo" / "rules.yaml"
DEMO_ALERTING = REPO / "infra" / "demo" / "alerting.yaml"
DEMO_KEY_NAME = "demo-admin"
DEMO_PD_ROUTING_KEY = "vigildemo" + "0" * 23  # PagerDuty integration keys are 32 characters
CONNECTORS = Service("connectors", 8095)  # with the demo devices, or when VIGIL_CONNECTORS_CONFIG is set


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def _accepted_total(port: int) -> float:
    """vigil_ingest_samples_accepted_total summed over protocols, from ingest's /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/", timeout=1) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vigil_ingest_samples_accepted_total{"))


def _page_line(arrival) -> str:
    """One line per page the demo receiver took: Slack's text, PagerDuty's action and summary."""
    body = arrival.body
    if arrival.dialect == "pagerduty":
        summary = (body.get("payload") or {}).get("summary") or body.get("dedup_key", "")
        return f"[PagerDuty {body.get('event_action', '?')}] {summary}"[:110]
    if arrival.dialect == "webhook":
        return f"[webhook {body.get('status', '?')}] {body.get('groupKey', '')}"[:110]
    return str(body.get("text", ""))[:110]


class LiveView:
    """Samples/s in, alerts firing, pages delivered: polled once a second."""

    def __init__(self, dsn: str, processes: list[ManagedProcess], services: list[Service], receiver=None,
                 traffic=None) -> None:
        self.dsn = dsn
        self.processes = processes
        self.services = services
        self.devices: list[dict] = []
        self.receiver = receiver
        self.traffic = traffic
        self.rates: deque[tuple[float, float]] = deque(maxlen=6)
        self.firing: list[tuple] = []
        self.delivered = 0
        self.incidents: list[tuple[str, int]] = []
        self.pages: deque[str] = deque(maxlen=6)
        self._seen_pages = 0

    def poll(self) -> list[str]:
        """Refresh the figures; returns the pages received since the last poll."""
        self.rates.append((time.monotonic(), _accepted_total(8090)))
        try:
            with psycopg.connect(self.dsn, connect_timeout=2) as conn:
                self.firing = conn.execute(
                    "SELECT alertname, COALESCE(labels->>'host', labels->>'device'), value, starts_at FROM alerts "
                    "WHERE status = 'FIRING' "
                    "ORDER BY starts_at DESC LIMIT 8").fetchall()
                self.delivered = conn.execute("SELECT count(*) FROM deliveries WHERE status = 'DELIVERED'").fetchone()[0]
                self.incidents = conn.execute("SELECT status, count(*) FROM incidents WHERE status <> 'RESOLVED' "
                                              "GROUP BY status ORDER BY status").fetchall()
        except psycopg.Error:
            pass
        if CONNECTORS in self.services:
            self.devices = _devices(CONNECTORS.port)
        new = []
        if self.receiver is not None:
            pages = self.receiver.arrivals()
            new = [f"{time.strftime('%H:%M:%S')}  {_page_line(page)}" for page in pages[self._seen_pages:]]
            self.pages.extend(new)
            self._seen_pages = len(pages)
        return new

    def rate(self) -> float:
        if len(self.rates) < 2:
            return 0.0
        (t0, c0), (t1, c1) = self.rates[0], self.rates[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0

    def summary(self) -> str:
        devices = (f"   devices up: {sum(1 for d in self.devices if d['up'])}/{len(self.devices)}"
                   if CONNECTORS in self.services else "")
        return (f"samples/s in: {self.rate():,.0f}   accepted: {self.rates[-1][1] if self.rates else 0:,.0f}   "
                f"alerts firing: {len(self.firing)}   open incidents: {sum(n for _, n in self.incidents)}"
                f"{' (' + ', '.join(f'{n} {s.lower()}' for s, n in self.incidents) + ')' if self.incidents else ''}"
                f"   pages delivered: {self.delivered}{devices}")

    def render(self) -> Group:
        procs = Table("process", "pid", "health", box=None, pad_edge=False)
        for proc, service in zip(self.processes, self.services):
            ok = proc.alive() and _healthy(service.port)
            procs.add_row(proc.name, str(proc.pid), "[green]up[/]" if ok else "[red]down[/]")
        alerts = Table("alert", "host", "value", "since", box=None, pad_edge=False)
        for name, host, value, since in self.firing:
            alerts.add_row(f"[red]{name}[/]", host or "", f"{value:g}", since.strftime("%H:%M:%S"))
        flow = f"[bold]{self.summary()}[/]"
        if self.traffic is not None and self.traffic.last_error:
            flow += f"\n[yellow]demo traffic: {self.traffic.last_error}[/]"
        pages = "\n".join(self.pages) or "[dim]no page yet — web-3's CPU spikes ~15 s after start; HighCPU fires 10 s later[/]"
        return Group(Panel(flow, title="Vigil — Ctrl-C stops everything"), Panel(procs, title="processes"),
                     Panel(alerts if self.firing else "[dim]none[/]", title="alerts firing"),
                     Panel(pages, title="pages received (demo Slack webhook)"))


def _devices(port: int) -> list[dict]:
    """Devices from `vigil connectors`' /status (empty while it doesn't answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=1) as resp:
            return json.loads(resp.read())["devices"]
    except (OSError, ValueError, KeyError):
        return []


def _register_demo_devices(dsn: str) -> None:
    from infra.demo.traffic import DEVICES

    with psycopg.connect(dsn) as conn:
        for device_id, labels in DEVICES.items():
            conn.execute("INSERT INTO devices (device_id, labels) VALUES (%s, %s) ON CONFLICT (device_id) "
                         "DO UPDATE SET labels = EXCLUDED.labels, updated_at = now()", (device_id, Jsonb(labels)))


def _apply_demo_rules(env: dict[str, str], console: Console) -> None:
    """Save the demo rules through `vigil rules apply` (they show in the API and can be edited there)."""
    done = subprocess.run([sys.executable, "-m", "infra.cli", "rules", "apply", str(DEMO_RULES)], env={
        **os.environ, **env}, cwd=REPO, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise StackError(f"vigil rules apply {DEMO_RULES} failed:\n{done.stdout}{done.stderr}")
    console.print(f"  rules     {done.stdout.strip().splitlines()[-1]} ({DEMO_RULES.relative_to(REPO)})")


def _demo_admin_key(dsn: str, path: Path) -> str:
    """The demo's admin key, kept in the state dir (0600) and reused while it is live; made once otherwise."""
    import asyncio

    from kernel.keys import KeyStore, Role

    async def ensure() -> str:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            store = KeyStore(conn)
            if path.exists() and await store.by_key(path.read_text().strip()):
                return path.read_text().strip()
            for stale in await store.list(roles=[Role.ADMIN]):
                if stale.name == DEMO_KEY_NAME:
                    await store.revoke(stale.id)
            _, key = await store.create(DEMO_KEY_NAME, Role.ADMIN, "vigil up")
            path.touch(mode=0o600)
            path.write_text(key + "\n")
            path.chmod(0o600)
            return key

    return asyncio.run(ensure())


def run_up(stack_settings: StackSettings, demo: bool, console: Console) -> int:
    """Run everything until Ctrl-C or SIGTERM; returns the exit code."""
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    stack = Stack(stack_settings)
    processes: list[ManagedProcess] = []
    receiver = traffic = zigbee = plc = None
    logs = stack_settings.state_dir.resolve() / "logs"
    services = SERVICES + ([CONNECTORS] if demo or os.environ.get("VIGIL_CONNECTORS_CONFIG") else [])
    try:
        console.print("[bold]starting the embedded stack[/] (state in %s)" % stack_settings.state_dir.resolve())
        stack.up(attached=True, progress=lambda name, what: console.print(f"  {name:<9} {what}"))
        env = stack_settings.common(data_dir=stack_settings.state_dir.resolve() / "streams")
        common = CommonSettings(**{k.removeprefix("VIGIL_").lower(): v for k, v in env.items()
                                   if k.removeprefix("VIGIL_").lower() in CommonSettings.model_fields})
        migrate(common.postgres_dsn.get_secret_value())
        ensure_topics(common)
        # Two ingest processes on :8090 (SO_REUSEPORT): one process parses about a core's worth of samples.
        env["VIGIL_INGEST_PROCESSES"] = os.environ.get("VIGIL_INGEST_PROCESSES", "2")
        if demo:
            from infra.demo.receiver import DemoReceiver

            receiver = DemoReceiver(DEMO_RECEIVER_PORT)
            receiver.start()
            env["VIGIL_SLACK_WEBHOOK_URL"] = receiver.url
            env["VIGIL_ALERTING_CONFIG"] = str(DEMO_ALERTING)  # Slack for all, PagerDuty for paging alerts
            env["VIGIL_DEMO_PD_URL"] = receiver.pagerduty_url
            env["VIGIL_DEMO_PD_ROUTING_KEY"] = DEMO_PD_ROUTING_KEY
            _register_demo_devices(common.postgres_dsn.get_secret_value())
            from infra.demo.devices import connectors_yaml

            config = stack_settings.state_dir.resolve() / "demo-connectors.yaml"
            config.write_text(connectors_yaml(stack_settings.mqtt_port, DEMO_PLC_PORT))
            env["VIGIL_CONNECTORS_CONFIG"] = str(config)
            _apply_demo_rules(env, console)
            key_file = stack_settings.state_dir.resolve() / "demo-admin.key"
            demo_key = _demo_admin_key(common.postgres_dsn.get_secret_value(), key_file)
        for service in services:
            proc = ManagedProcess(name=service.command, argv=[sys.executable, "-m", "infra.cli", service.command],
                                  env=env, cwd=REPO, log_path=logs / f"{service.command}.log",
                                  pid_path=stack_settings.state_dir.resolve() / "run" / f"{service.command}.pid")
            proc.start(attached=True)
            processes.append(proc)
        for proc, service in zip(processes, services):
            _wait_healthy(proc, service, console)
        console.print("[green]all processes up[/]: ingest http://127.0.0.1:8090  api http://127.0.0.1:8080/docs")
        if demo:
            console.print(f"  live board http://127.0.0.1:8080/board  admin key (also in {key_file}): {demo_key}",
                          soft_wrap=True)
        if demo:
            from infra.demo.traffic import DemoTraffic

            from infra.demo.devices import DemoZigbee

            traffic = DemoTraffic("http://127.0.0.1:8090")
            traffic.start()
            zigbee = DemoZigbee(stack_settings.mqtt_port)
            zigbee.start()
            from infra.demo.plc import DemoPlc

            plc = DemoPlc(DEMO_PLC_PORT)
            plc.start()
        view = LiveView(common.postgres_dsn.get_secret_value(), processes, services, receiver, traffic)
        _watch(view, console)
        return 0
    except KeyboardInterrupt:
        return 0
    except StackError as exc:
        console.print(f"[red]stack failed:[/] {exc}")
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        console.print("[bold]stopping[/] …")
        if traffic is not None:
            traffic.stop()
        if zigbee is not None:
            zigbee.stop()
        if plc is not None:
            plc.stop()
        for proc in reversed(processes):
            proc.stop(timeout=15)
        if receiver is not None:
            receiver.stop()
        stopped = stack.down(only_started=True)
        console.print(f"stopped Vigil processes and {', '.join(stopped) or 'no stack part (it was already running)'}")


def _wait_healthy(proc: ManagedProcess, service: Service, console: Console, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            tail = proc.log_path.read_text(errors="replace")[-2500:]
            raise StackError(f"vigil {service.command} exited; its log ({proc.log_path}) ends with:\n{tail}")
        if _healthy(service.port):
            console.print(f"  {service.command:<9} up (pid {proc.pid}, http://127.0.0.1:{service.port}/healthz)")
            return
        time.sleep(0.2)
    raise StackError(f"vigil {service.command} not healthy after {timeout:.0f}s; see {proc.log_path}")


def _watch(view: LiveView, console: Console) -> None:
    if console.is_terminal:
        with Live(view.render(), console=console, refresh_per_second=2) as live:
            while True:
                view.poll()
                live.update(view.render())
                time.sleep(1)
    while True:  # not a terminal (CI, a pipe): each page as it arrives, a status line every 5 s
        for _ in range(5):
            for line in view.poll():
                console.print(f"page: {line}")
            time.sleep(1)
        console.print(view.summary())
        for proc, service in zip(view.processes, view.services):
            if not proc.alive():
                raise StackError(f"vigil {service.command} exited; see {proc.log_path}")
