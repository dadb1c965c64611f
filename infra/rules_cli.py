"""`vigil rules …`: manage alert rules as data (apply a rules file, import Prometheus rules, backtest)."""

from __future__ import annotations

import typer
from rich.console import Console

rules_app = typer.Typer(help="Alert rules: apply a rules file, import Prometheus rule files, list, backtest.",
                        no_args_is_help=True)
console = Console()

# --- apply / list / import (store) ---

# These commands talk to Postgres and Kafka directly (no API needed), through the same RuleStore
# as the API: a change is committed only once the rules topic acknowledged it.

from pathlib import Path  # noqa: E402  (kept inside this section: typer reads the annotations below)

CLI_ACTOR = "cli"


def _store_settings():
    """CommonSettings from VIGIL_* (where Postgres and Kafka are); a bad value exits 2 naming it."""
    from pydantic import ValidationError

    from infra.settings import CommonSettings

    try:
        return CommonSettings()
    except ValidationError as exc:
        for err in exc.errors():
            console.print(f"[red]invalid setting VIGIL_{'.'.join(map(str, err['loc'])).upper()}[/]: {err['msg']}")
        raise typer.Exit(2) from None


def _run_with_store(write: bool, action):
    """Migrate, (for writes) create topics, open a RuleStore and run `action(store)`; outages exit 1."""
    import asyncio

    import psycopg
    from confluent_kafka import KafkaException
    from rich.markup import escape

    from api.rule_store import RuleStoreError, Unavailable
    from infra.migrate import migrate

    settings = _store_settings()
    dsn = settings.postgres_dsn.get_secret_value()
    unsaved = ": nothing was saved" if write else ""
    try:
        migrate(dsn)
        if write:
            from infra.kafka import ensure_topics

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

    from api.rule_store import RuleStore, producer_overrides
    from infra.kafka import make_producer

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


def _bad_file(exc: Exception) -> typer.Exit:
    from rich.markup import escape

    console.print(f"[red]invalid rules file[/] {escape(str(exc))}", soft_wrap=True)
    return typer.Exit(2)


@rules_app.command("apply")
def apply(
    file: Path = typer.Argument(..., help="a Vigil rules file (YAML with a `rules:` list)"),
    prune: bool = typer.Option(False, "--prune", help="delete stored rules that are not in the file"),
) -> None:
    """Make the stored rules match FILE: create new ones, update changed ones, leave the rest (one transaction)."""
    from streams.rules import RuleError, read_rules_file

    try:
        rules = read_rules_file(file)
    except RuleError as exc:
        stop = _bad_file(exc)
        if "'rules:' list" in str(exc):
            console.print(f"(a Prometheus rule file? translate it with: vigil rules import {file})", soft_wrap=True)
        raise stop from None
    _print_applied(_run_with_store(True, lambda store: store.apply(rules, CLI_ACTOR, prune=prune)))


@rules_app.command("list")
def list_rules(deleted: bool = typer.Option(False, "--deleted", help="show deleted rules too")) -> None:
    """The stored rules: id, type, metric, version, last change."""
    from rich.markup import escape
    from rich.table import Table

    from api.rule_store import DEFAULT_TYPE

    async def every_rule(store):
        rows, after = [], None
        while page := await store.list(include_deleted=deleted, after=after, limit=500):
            rows.extend(page)
            after = page[-1].id
        return rows

    table = Table("id", "type", "metric", "version", "updated")
    for column in table.columns[:3]:
        column.overflow = "fold"  # ids and metric names are shown whole, folded when the terminal is narrow
    for column in table.columns[3:]:
        column.no_wrap = True
    for r in _run_with_store(False, every_rule):
        version = f"{r.version} [red](deleted)[/]" if r.deleted else str(r.version)
        table.add_row(escape(r.id), r.spec.get("type", DEFAULT_TYPE), escape(r.spec.get("metric", "")), version,
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
    from streams.rules import RuleError

    try:
        translation = translate_file(file)
    except RuleError as exc:
        raise _bad_file(exc) from None
    for rule in translation.rules:
        console.print(f"[green]imported[/]     {rule.id}: {rule.alert} ({rule.type} on {escape(rule.metric)})",
                      soft_wrap=True)
    for problem in translation.problems:
        console.print(f"[yellow]not imported[/] {escape(str(problem.where))}: {escape(str(problem.reason))}\n"
                      f"             expr: {escape(str(problem.expr))}", soft_wrap=True)
    if translation.skipped_recording:
        console.print(f"skipped {translation.skipped_recording} recording rule(s): Vigil evaluates alerting rules",
                      soft_wrap=True)
    console.print(f"{len(translation.rules)} rule(s) translated, {len(translation.problems)} not translatable",
                  soft_wrap=True)
    if dry_run:
        console.print("dry run: nothing was saved")
        return
    rules = translation.rules
    _print_applied(_run_with_store(True, lambda store: store.apply(rules, CLI_ACTOR)))


# --- backtest ---

# `vigil rules backtest`: replay one rule (saved, or from a file) over the metrics stored in
# VictoriaMetrics and print the transitions it would have produced. The replay is the live
# engine's own evaluation (streams/backtest.py); streams/backtest_source.py reads the samples.

err_console = Console(stderr=True)
_TIME_HELP = "RFC 3339 (2026-11-25T10:00:00Z), unix seconds, `now`, or relative to now: -6h, -90m, -2d"


def _usage_error(argument: str, message: str) -> typer.Exit:
    """Print `argument: message` to stderr; the Exit(2) to raise."""
    from rich.markup import escape

    err_console.print(f"[red]{escape(argument)}[/]: {escape(message)}", soft_wrap=True)
    return typer.Exit(2)


def _when(argument: str, text: str, now_s: float) -> int:
    """Milliseconds of `now`, `-6h` / `now-6h`, unix seconds or an RFC 3339 time; exit 2 naming the argument."""
    import math
    from datetime import datetime

    from streams.rules import parse_duration

    given = text.strip()
    if given == "now":
        return int(now_s * 1000)
    if given.removeprefix("now").startswith("-"):
        try:
            return int((now_s - parse_duration(given.removeprefix("now")[1:])) * 1000)
        except ValueError as exc:
            raise _usage_error(argument, f"{given!r}: {exc}") from None
    try:
        value = float(given)
    except ValueError:
        try:
            stamp = datetime.fromisoformat(given)
        except ValueError:
            raise _usage_error(argument, f"{given[:60]!r} is not {_TIME_HELP}") from None
        if stamp.tzinfo is None:
            raise _usage_error(argument, f"{given[:60]!r} has no time zone; add Z or +00:00") from None
        value = stamp.timestamp()
    if not math.isfinite(value) or not 0 <= value < 1e11:
        raise _usage_error(argument, f"{given[:60]!r} is out of range (unix seconds, 0 to 1e11)")
    return int(round(value * 1000))


def _iso(ms: int) -> str:
    """RFC 3339 UTC, milliseconds only when there are some (pasteable into --from/--to)."""
    from datetime import datetime, timezone

    stamp = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms % 1000:03d}" if ms % 1000 else "") + "Z"


def _rule_to_backtest(rule_id: str | None, file: Path | None, pick: str | None):
    """The rule of `--file` (by `--rule`/RULE_ID, or its only one), or the saved rule RULE_ID."""
    from streams.rules import RuleError, parse_rule, read_rules_file

    if file is not None:
        try:
            rules = read_rules_file(file)
        except RuleError as exc:
            raise _bad_file(exc) from None
        wanted = pick or rule_id
        ids = ", ".join(r.id for r in rules) or "none"
        if wanted is None:
            if len(rules) == 1:
                return rules[0]
            raise _usage_error("--rule", f"{file} has {len(rules)} rules ({ids}); choose one with --rule ID")
        found = next((r for r in rules if r.id == wanted), None)
        if found is None:
            raise _usage_error("--rule" if pick else "RULE_ID", f"no rule with id {wanted!r} in {file} (it has: {ids})")
        return found
    if pick is not None:
        raise _usage_error("--rule", "picks a rule of --file; give --file too, or the saved rule's id as RULE_ID")
    if rule_id is None:
        raise _usage_error("RULE_ID", "give a saved rule's id, or --file rules.yaml [--rule ID]")
    from api.rule_store import NotFound

    async def saved(store):
        try:
            return await store.get(rule_id)
        except NotFound:
            return None

    stored = _run_with_store(False, saved)
    if stored is None:
        raise _usage_error("RULE_ID", f"no saved rule with id {rule_id!r} (`vigil rules list` shows them)")
    if stored.deleted:
        raise _usage_error("RULE_ID", f"rule {rule_id!r} was deleted (its last version is {stored.version})")
    try:
        return parse_rule({**stored.spec, "id": stored.id, "version": stored.version}, f"saved rule {rule_id}")
    except RuleError as exc:
        raise _usage_error("RULE_ID", str(exc)) from None


def _progress_reporter():
    """(on_chunk callback, stop): a rich bar on a terminal, else one stderr line per chunk of a long range."""
    if err_console.is_terminal:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        bar = Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                       TextColumn("{task.fields[samples]} samples"), TimeRemainingColumn(),
                       console=err_console, transient=True)
        task = bar.add_task("replay", total=1.0, samples=0)
        bar.start()
        return (lambda chunk, samples: bar.update(task, completed=(chunk.index + 1) / chunk.count, samples=samples)
                ), bar.stop

    def line(chunk, samples):
        if chunk.count > 1 and (chunk.index + 1) * 20 // chunk.count != chunk.index * 20 // chunk.count:  # ≤ 20 lines
            err_console.print(f"read {_iso(chunk.start_ms)} .. {_iso(chunk.end_ms)} ({chunk.index + 1}/{chunk.count}):"
                              f" {samples} samples so far", soft_wrap=True, highlight=False)
    return line, lambda: None


def _fold_only(table, *folded: str) -> None:
    """Times, statuses and values are shown whole; only the named columns fold on a narrow terminal."""
    for column in table.columns:
        if column.header in folded:
            column.overflow = "fold"
        else:
            column.no_wrap = True


def _print_table(rule, result, start_ms: int, end_ms: int) -> None:
    """The transitions in time order, the episodes per alert, and the summary line."""
    from rich.markup import escape
    from rich.table import Table

    from streams.backtest import format_duration, summarize

    def shown(labels: dict) -> str:  # alertname has its own column
        return escape(", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname"))

    summary = summarize(result.rows, end_ms)
    if result.rows:
        table = Table("time (UTC)", "status", "alertname", "labels", "value", title="transitions")
        _fold_only(table, "alertname", "labels")
        for row in result.rows:
            status = "[red]FIRING[/]" if row.status == "FIRING" else "[green]RESOLVED[/]"
            table.add_row(_iso(row.at_ms), status, escape(row.labels["alertname"]), shown(row.labels), f"{row.value:g}")
        console.print(table)
        episodes = Table("alertname", "labels", "fired", "resolved", "duration", title="episodes")
        _fold_only(episodes, "alertname", "labels")
        for ep in summary.episodes:
            episodes.add_row(escape(ep.labels["alertname"]), shown(ep.labels), _iso(ep.fired_ms),
                             _iso(ep.resolved_ms) if ep.resolved_ms is not None else "still firing at end",
                             format_duration(ep.duration_ms))
        console.print(episodes)
    if not summary.firings:
        console.print(f"{escape(rule.alert)} would not have fired in {_iso(start_ms)} .. {_iso(end_ms)}",
                      soft_wrap=True, highlight=False)
        return
    still = f" ({summary.still_firing} still firing at end)" if summary.still_firing else ""
    console.print(f"{summary.alerts} alert{'s' * (summary.alerts != 1)} fired {summary.firings} "
                  f"time{'s' * (summary.firings != 1)}; longest {format_duration(summary.longest_ms)}{still}",
                  soft_wrap=True, highlight=False)


def _print_json(result, end_ms: int) -> None:
    """One JSON line per transition, then one summary line with the episodes."""
    import json
    import math

    from streams.backtest import summarize

    def number(value: float):  # JSON has no infinities
        return value if math.isfinite(value) else str(value)

    for row in result.rows:
        typer.echo(json.dumps({"kind": "transition", "at": _iso(row.at_ms), "at_ms": row.at_ms, "status": row.status,
                               "alertname": row.labels["alertname"], "fingerprint": row.fingerprint,
                               "labels": row.labels, "value": number(row.value)}))
    summary = summarize(result.rows, end_ms)
    episodes = [{"fingerprint": e.fingerprint, "alertname": e.labels["alertname"], "labels": e.labels,
                 "fired_at": _iso(e.fired_ms), "resolved_at": None if e.resolved_ms is None else _iso(e.resolved_ms),
                 "duration_s": e.duration_ms / 1000} for e in summary.episodes]
    typer.echo(json.dumps({"kind": "summary", "alerts": summary.alerts, "firings": summary.firings,
                           "still_firing": summary.still_firing,
                           "longest_s": None if summary.longest_ms is None else summary.longest_ms / 1000,
                           "samples": result.samples, "series": result.series, "episodes": episodes}))


@rules_app.command("backtest")
def backtest_rule(
    rule_id: str | None = typer.Argument(None, help="a saved rule's id"),
    file: Path | None = typer.Option(None, "--file", "-f", help="a Vigil rules file instead of a saved rule"),
    pick: str | None = typer.Option(None, "--rule", help="which rule of --file (needed when it holds several)"),
    start: str = typer.Option(..., "--from", help=_TIME_HELP),
    end: str = typer.Option("now", "--to", help=_TIME_HELP),
    as_json: bool = typer.Option(False, "--json", help="JSON lines (transitions, then a summary) for scripts"),
) -> None:
    """Replay a rule over the stored metrics of a past time range: when it would have fired and resolved."""
    import time

    import httpx
    from rich.markup import escape

    from streams.backtest_source import TsdbRefused, TsdbUnavailable, run, selector

    now_s = time.time()
    start_ms, end_ms = _when("--from", start, now_s), _when("--to", end, now_s)
    if end_ms < start_ms:
        raise _usage_error("--to", f"{_iso(end_ms)} is before --from {_iso(start_ms)}")
    rule = _rule_to_backtest(rule_id, file, pick)
    settings = _store_settings()
    on_chunk, stop = _progress_reporter()
    try:
        with httpx.Client(base_url=settings.tsdb_url, timeout=httpx.Timeout(120, connect=5)) as client:
            result = run(rule, client, start_ms, end_ms, on_chunk=on_chunk)
    except TsdbUnavailable as exc:
        err_console.print(f"[red]VictoriaMetrics unavailable[/] (VIGIL_TSDB_URL={escape(settings.tsdb_url)}): "
                          f"{escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    except TsdbRefused as exc:
        raise _usage_error(f"rule {rule.id}", str(exc)) from None
    finally:
        stop()
    if as_json:
        _print_json(result, end_ms)
    else:
        _print_table(rule, result, start_ms, end_ms)
    rate = f"{result.samples / result.seconds:,.0f}" if result.seconds > 0 else "-"
    err_console.print(f"replayed {result.samples} samples of {result.series} series matching {escape(selector(rule))}"
                      f" in {result.seconds:.2f}s ({rate} samples/s)" if result.samples else
                      f"[yellow]no stored samples match {escape(selector(rule))} in this range[/] (metric name and "
                      "matchers as stored?)", soft_wrap=True, highlight=False)
