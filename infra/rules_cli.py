"""`vigil rules …`: manage alert rules as data (apply a rules file, import Prometheus rules, backtest)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

rules_app = typer.Typer(help="Alert rules: apply a rules file, import Prometheus rule files, list, backtest.",
                        no_args_is_help=True)
console = Console(emoji=False)  # `job:up:sum` is a series name, not the :up: emoji

# These commands talk to Postgres and Kafka directly (no API needed), through the same RuleStore
# as the API: a change is committed only once the rules topic acknowledged it.

CLI_ACTOR = "cli"


def store_settings():
    """CommonSettings from VIGIL_* (where Postgres and Kafka are); a bad value exits 2 naming it."""
    from infra.cli_settings import load_settings
    from kernel.settings import CommonSettings

    return load_settings(CommonSettings, console)


def run_with_store(write: bool, action):
    """Migrate, (for writes) create topics, open a RuleStore and run `action(store)`; outages exit 1."""
    import asyncio

    import psycopg
    from confluent_kafka import KafkaException
    from rich.markup import escape

    from api.rule_store import RuleStoreError
    from api.versioned_store import Unavailable
    from kernel.migrate import migrate

    settings = store_settings()
    dsn = settings.postgres_dsn.get_secret_value()
    unsaved = ": nothing was saved" if write else ""
    try:
        migrate(dsn)
        if write:
            from kernel.kafka import ensure_topics

            ensure_topics(settings)
        return asyncio.run(_with_store(settings, dsn, write, action))
    except psycopg.OperationalError as exc:
        console.print(f"[red]Postgres unavailable[/] ({escape(str(exc).strip()[:300])}){unsaved}")
    except (KafkaException, Unavailable) as exc:
        console.print(f"[red]Kafka unavailable[/] ({escape(str(exc)[:300])}){unsaved}")
    except RuleStoreError as exc:
        console.print(f"[red]refused[/] {escape(str(exc))}{unsaved}")
    raise typer.Exit(1)


async def _with_store(settings, dsn: str, write: bool, action):
    import asyncio

    from psycopg import AsyncConnection

    from api.publisher import producer_overrides
    from api.rule_store import RuleStore
    from kernel.kafka import make_producer

    producer = make_producer(settings, **producer_overrides()) if write else None
    async with await AsyncConnection.connect(dsn, autocommit=True) as conn:
        try:
            return await action(RuleStore(conn, producer, settings.topics))
        finally:
            if producer is not None:
                await asyncio.to_thread(producer.flush, 5)


def _print_applied(results) -> None:
    """One line per rule: what happened and its version now, then the counts."""
    colour = {"created": "green", "updated": "yellow", "unchanged": "dim", "deleted": "red"}
    for r in results:
        console.print(f"[{colour[r.action]}]{r.action:<9}[/] {r.id}  version {r.version}", soft_wrap=True)
    counts = {action: sum(r.action == action for r in results) for action in colour}
    console.print(", ".join(f"{n} {action}" for action, n in counts.items()), soft_wrap=True)


def bad_file(exc: Exception) -> typer.Exit:
    from rich.markup import escape

    console.print(f"[red]invalid rules file[/] {escape(str(exc))}", soft_wrap=True)
    return typer.Exit(2)


@rules_app.command("apply")
def apply(
    file: Path = typer.Argument(..., help="a Vigil rules file (YAML with a `rules:` list)"),
    prune: bool = typer.Option(False, "--prune", help="delete stored rules that are not in the file"),
) -> None:
    """Make the stored rules match FILE: create new ones, update changed ones, leave the rest (one transaction)."""
    from kernel.rules import RuleError, read_rules_file

    try:
        rules = read_rules_file(file)
    except RuleError as exc:
        stop = bad_file(exc)
        if "'rules:' list" in str(exc):
            console.print(f"(a Prometheus rule file? translate it with: vigil rules import {file})", soft_wrap=True)
        raise stop from None
    _print_applied(run_with_store(True, lambda store: store.apply(rules, CLI_ACTOR, prune=prune)))


@rules_app.command("list")
def list_rules(deleted: bool = typer.Option(False, "--deleted", help="show deleted rules too")) -> None:
    """The stored rules: id, evaluator, type, what it watches (metric or PromQL), version, last change."""
    from rich.markup import escape
    from rich.table import Table

    from api.rule_store import DEFAULT_TYPE

    async def every_rule(store):
        rows, after = [], None
        while page := await store.list(include_deleted=deleted, after=after, limit=500):
            rows.extend(page)
            after = page[-1].id
        return rows

    table = Table("id", "evaluator", "type", "metric / expr", "version", "updated")
    for column in table.columns[:4]:
        column.overflow = "fold"  # ids and metric names are shown whole, folded when the terminal is narrow
    for column in table.columns[4:]:
        column.no_wrap = True
    for r in run_with_store(False, every_rule):
        version = f"{r.version} [red](deleted)[/]" if r.deleted else str(r.version)
        evaluator = r.spec.get("evaluator", "stream")
        if evaluator == "query":
            kind = "recording" if "record" in r.spec else "alerting"
            group = r.spec.get("group") or {}
            kind += f" every {group.get('interval', 15):g}s"
            watches = r.spec.get("expr", "")
        else:
            kind, watches = r.spec.get("type", DEFAULT_TYPE), r.spec.get("metric", "")
        table.add_row(escape(r.id), evaluator, kind, escape(watches), version,
                      f"{r.updated_at.astimezone():%Y-%m-%d %H:%M} {escape(r.updated_by)}")
    console.print(table)


@rules_app.command("import")
def import_rules(
    file: Path = typer.Argument(..., help="a Prometheus rule file (groups: [{name, rules: [...]}])"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would be imported; save nothing"),
) -> None:
    """Translate a Prometheus rule file into Vigil rules and save them (existing ones updated, none deleted)."""
    from rich.markup import escape

    from streams.promql_import import translate_file
    from kernel.rules import RuleError

    try:
        translation = translate_file(file)
    except RuleError as exc:
        raise bad_file(exc) from None
    for rule in translation.rules:
        console.print(f"[green]imported[/]     {escape(rule.id)}: {escape(rule.name)} — "
                      f"{escape(translation.why.get(rule.id, rule.evaluator))}", soft_wrap=True)
    for problem in translation.problems:
        console.print(f"[yellow]not imported[/] {escape(str(problem.where))}: {escape(str(problem.reason))}\n"
                      f"             expr: {escape(str(problem.expr))}", soft_wrap=True)
    alerting, recording = translation.imported("alerting"), translation.imported("recording")
    stream = sum(r.evaluator == "stream" for r in translation.rules)
    rate = f" ({len(translation.rules) / translation.total:.1%})" if translation.total else ""
    console.print(f"{len(translation.rules)} of {translation.total} rule(s) imported{rate}: "
                  f"{alerting} of {translation.alerting} alerting, {recording} of {translation.recording} recording; "
                  f"{stream} on the stream evaluator, {len(translation.rules) - stream} on the query evaluator; "
                  f"{len(translation.problems)} not imported", soft_wrap=True)
    if dry_run:
        console.print("dry run: nothing was saved")
        return
    rules = translation.rules
    _print_applied(run_with_store(True, lambda store: store.apply(rules, CLI_ACTOR)))


@rules_app.command("test")
def test_rules(
    files: list[Path] = typer.Argument(..., help="promtool unit-test files (rule_files, tests: [...])"),
) -> None:
    """Run Prometheus rule unit tests, as `promtool test rules` does; exit 1 if any test fails."""
    from kernel.prom_rules.unit_test_runner import run_test_files

    raise typer.Exit(run_test_files([str(f) for f in files]))
