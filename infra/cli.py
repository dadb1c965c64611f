"""`vigil`: one command-line tool that starts every Vigil process and the embedded stack."""

from __future__ import annotations

import logging
import os
import sys

import typer
from rich.console import Console
from rich.table import Table

from infra.cli_settings import load_settings

app = typer.Typer(help="Vigil: monitoring and alerting on Kafka.", no_args_is_help=True, add_completion=False)
stack_app = typer.Typer(help="The embedded stack of real servers (Tansu, Postgres, Redis, VictoriaMetrics, Mosquitto).",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")
connectors_app = typer.Typer(help="Device connectors (MQTT/Zigbee2MQTT, Modbus TCP, …) from VIGIL_CONNECTORS_CONFIG.")
app.add_typer(connectors_app, name="connectors")
console = Console()


def _add_rules_app() -> None:
    from infra import backtest_cli
    from infra.rules_cli import rules_app

    backtest_cli.register(rules_app)

    app.add_typer(rules_app, name="rules")


_add_rules_app()


def _add_routes_app() -> None:
    from infra.routes_cli import routes_app

    app.add_typer(routes_app, name="routes")


_add_routes_app()


def _add_keys_app() -> None:
    from infra.keys_cli import keys_app

    app.add_typer(keys_app, name="keys")


_add_keys_app()


def _settings(cls):
    return load_settings(cls, console)


def _logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request's full URL at INFO ("HTTP Request: POST https://hooks.slack.com/services/
    # T…/B…/<token>"), and httpcore its connection details at DEBUG: a Slack or webhook URL is the
    # receiver's credential, so neither may log below WARNING, whatever VIGIL_LOG_LEVEL says. Vigil
    # logs each delivery itself, with the integration id instead of the URL (notifier/dispatch.py).
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


@stack_app.command("up")
def stack_up() -> None:
    """Start the embedded stack in the background (it keeps running after this command)."""
    from kernel.settings import StackSettings
    from infra.stack import Stack, StackError

    stack = Stack(_settings(StackSettings))
    try:
        stack.up(attached=False, progress=lambda name, what: console.print(f"  {name:<9} {what}"))
    except StackError as exc:
        console.print(f"[red]stack failed:[/] {exc}")
        stack.down(only_started=True)
        raise typer.Exit(1) from None
    console.print("[green]stack ready[/]")


@stack_app.command("down")
def stack_down() -> None:
    """Stop every server of the embedded stack started from this state dir."""
    from kernel.settings import StackSettings
    from infra.stack import Stack

    stopped = Stack(_settings(StackSettings)).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@stack_app.command("status")
def stack_status() -> None:
    """Show each server: port, pid, health, log file."""
    from kernel.settings import StackSettings
    from infra.stack import Stack

    table = Table("part", "port", "pid", "health", "log")
    statuses = Stack(_settings(StackSettings)).status()
    for s in statuses:
        health = "[green]up[/]" if s.healthy else "[red]down[/]"
        table.add_row(s.name, str(s.port), str(s.pid or "-"), health, s.log)
    console.print(table)
    if not all(s.healthy for s in statuses):
        raise typer.Exit(1)


@app.command()
def ingest() -> None:
    """Run the ingest HTTP server (Influx line protocol on /write and /api/v2/write)."""
    from infra.ingest_processes import CHILD_ENV, supervise
    from kernel.settings import IngestSettings

    settings = _settings(IngestSettings)
    _logging(settings.log_level)
    if settings.ingest_processes > 1 and CHILD_ENV not in os.environ:
        supervise(settings)
        return
    from ingest.app import run

    run(settings)


@app.command()
def streams() -> None:
    """Run a Faust worker evaluating alert rules."""
    from kernel.settings import StreamsSettings
    from streams.worker import run

    settings = _settings(StreamsSettings)
    _logging(settings.log_level)
    run(settings)


@app.command()
def sinks() -> None:
    """Run the sinks: metrics → time-series store, alerts and deliveries → Postgres."""
    from kernel.settings import SinksSettings
    from sinks.runner import run

    settings = _settings(SinksSettings)
    _logging(settings.log_level)
    run(settings)


@app.command()
def notifier() -> None:
    """Run the notifier: deliver pages to Slack-compatible webhooks."""
    from kernel.settings import NotifierSettings
    from notifier.service import run

    settings = _settings(NotifierSettings)
    _logging(settings.log_level)
    run(settings)


@connectors_app.callback(invoke_without_command=True)
def connectors(ctx: typer.Context) -> None:
    """Run every connector of VIGIL_CONNECTORS_CONFIG (status on :8095/status)."""
    if ctx.invoked_subcommand is not None:
        return
    from kernel.settings import ConnectorsSettings
    from ingest.connectors.config import ConnectorsConfigError, load
    from ingest.connectors_app import run
    from ingest.registry import connector_kinds
    from ingest.sources import ConfigError, Sources
    from ingest.sources import load as load_sources

    settings = _settings(ConnectorsSettings)
    _logging(settings.log_level)
    if settings.connectors_config is None:
        console.print("[red]set VIGIL_CONNECTORS_CONFIG[/] to the YAML file describing your connectors and devices")
        raise typer.Exit(2)
    try:
        configs = load(settings.connectors_config, connector_kinds())
        sources = Sources(load_sources(settings.ingest_config))
    except (ConnectorsConfigError, ConfigError) as exc:  # FILE:LINE: key.path: reason, one a line
        from rich.markup import escape

        console.print(f"[red]invalid configuration[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    run(settings, configs, sources)


@connectors_app.command("status")
def connectors_status() -> None:
    """Each connector's devices: up/down, last seen, last error, samples/s."""
    import time
    import httpx

    from kernel.settings import ConnectorsSettings

    settings = _settings(ConnectorsSettings)
    try:
        devices = httpx.get(f"http://127.0.0.1:{settings.connectors_port}/status", timeout=5).json()["devices"]
    except httpx.HTTPError as exc:
        console.print(f"[red]vigil connectors is not answering on :{settings.connectors_port}[/] ({exc})")
        raise typer.Exit(1) from None
    table = Table("connector", "device", "state", "last seen", "samples/s", "last error")
    now = time.time()
    for d in devices:
        state = {True: "[green]up[/]", False: "[red]down[/]", None: "[dim]unknown[/]"}[d["up"]]
        seen = f"{now - d['last_seen_ms'] / 1000:.0f}s ago" if d["last_seen_ms"] else "never"
        table.add_row(d["connector"], d["device"], state, seen, f"{d['samples_per_s']:.1f}", d["last_error"][:80])
    console.print(table)


@app.command()
def api() -> None:
    """Run the HTTP API for analysts (port 8080)."""
    from api.main import run
    from kernel.settings import ApiSettings

    settings = _settings(ApiSettings)
    _logging(settings.log_level)
    run(settings)


@app.command()
def up(demo: bool = typer.Option(True, help="feed demo traffic and run a local page receiver")) -> None:
    """Start the embedded stack and every Vigil process; show live what flows. Ctrl-C stops all."""
    from kernel.settings import StackSettings
    from infra.up import run_up

    raise typer.Exit(run_up(_settings(StackSettings), demo=demo, console=console))


if __name__ == "__main__":
    app()
