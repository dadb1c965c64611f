"""`vigil`: one command-line tool that starts every Vigil process and the embedded stack."""

from __future__ import annotations

import logging
import sys

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="Vigil: monitoring and alerting on Kafka.", no_args_is_help=True, add_completion=False)
stack_app = typer.Typer(help="The embedded stack of real servers (Tansu, Postgres, Redis, VictoriaMetrics, Mosquitto).",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")
console = Console()


def _settings(cls):
    """Load a settings class; a bad value stops the process with the variable at fault."""
    try:
        return cls()
    except ValidationError as exc:
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            console.print(f"[red]invalid setting VIGIL_{field.upper()}[/]: {err['msg']}")
        raise typer.Exit(2) from None


def _logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@stack_app.command("up")
def stack_up() -> None:
    """Start the embedded stack in the background (it keeps running after this command)."""
    from infra.settings import StackSettings
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
    from infra.settings import StackSettings
    from infra.stack import Stack

    stopped = Stack(_settings(StackSettings)).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@stack_app.command("status")
def stack_status() -> None:
    """Show each server: port, pid, health, log file."""
    from infra.settings import StackSettings
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
    from infra.settings import IngestSettings
    from ingest.app import run

    settings = _settings(IngestSettings)
    _logging(settings.log_level)
    run(settings)


@app.command()
def streams() -> None:
    """Run a Faust worker evaluating alert rules."""
    from infra.settings import StreamsSettings
    from streams.worker import run

    settings = _settings(StreamsSettings)
    _logging(settings.log_level)
    run(settings)


@app.command()
def sinks() -> None:
    """Run the sinks: metrics → time-series store, alerts and deliveries → Postgres."""
    from infra.settings import SinksSettings
    from sinks.runner import run

    settings = _settings(SinksSettings)
    _logging(settings.log_level)
    run(settings)


@app.command()
def notifier() -> None:
    """Run the notifier: deliver pages to Slack-compatible webhooks."""
    from infra.settings import NotifierSettings
    from notifier.service import run

    settings = _settings(NotifierSettings)
    _logging(settings.log_level)
    run(settings)


@app.command()
def api() -> None:
    """Run the HTTP API for analysts (port 8080)."""
    from api.main import run
    from infra.settings import ApiSettings

    settings = _settings(ApiSettings)
    _logging(settings.log_level)
    run(settings)


@app.command()
def up(demo: bool = typer.Option(True, help="feed demo traffic and run a local page receiver")) -> None:
    """Start the embedded stack and every Vigil process; show live what flows. Ctrl-C stops all."""
    from infra.settings import StackSettings
    from infra.up import run_up

    raise typer.Exit(run_up(_settings(StackSettings), demo=demo, console=console))


if __name__ == "__main__":
    app()
