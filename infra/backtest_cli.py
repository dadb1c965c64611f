"""`vigil rules backtest`: replay one rule (saved, or from a file) over the metrics stored in
VictoriaMetrics and print the transitions it would have produced. The replay is the live
engine's own evaluation (streams/backtest.py); streams/backtest_source.py reads the samples.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from infra.rules_cli import bad_file, console, run_with_store, store_settings

err_console = Console(stderr=True)
_TIME_HELP = "RFC 3339 (2026-11-25T10:00:00Z), unix seconds, `now`, or relative to now: -6h, -90m, -2d"


def _usage_error(argument: str, message: str) -> typer.Exit:
    """Print `argument: message` to stderr; the Exit(2) to raise."""
    from rich.markup import escape

    err_console.print(f"[red]{escape(argument)}[/]: {escape(message)}", soft_wrap=True)
    return typer.Exit(2)


def _when(argument: str, text: str, now_s: float) -> int:
    """Milliseconds of `now`, `-6h` / `now-6h`, unix seconds or an RFC 3339 time; exit 2 naming the argument."""
    from api.errors import BadParam
    from api.timerange import parse_time
    from kernel.rules import parse_duration

    given = text.strip()
    if given == "now":
        return int(now_s * 1000)
    if given.removeprefix("now").startswith("-"):
        try:
            return int((now_s - parse_duration(given.removeprefix("now")[1:])) * 1000)
        except ValueError as exc:
            raise _usage_error(argument, f"{given!r}: {exc}") from None
    try:
        value = parse_time(argument, given)
    except BadParam as exc:
        raise _usage_error(argument, f"{exc.msg}; use {_TIME_HELP}") from None
    return int(round(value * 1000))


def _iso(ms: int) -> str:
    """RFC 3339 UTC, milliseconds only when there are some (pasteable into --from/--to)."""
    from datetime import datetime, timezone

    stamp = datetime.fromtimestamp(ms / 1000, timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S") + (f".{ms % 1000:03d}" if ms % 1000 else "") + "Z"


def _rule_to_backtest(rule_id: str | None, file: Path | None, pick: str | None):
    """The rule of `--file` (by `--rule`/RULE_ID, or its only one), or the saved rule RULE_ID."""
    from kernel.rules import RuleError, parse_rule, read_rules_file

    if file is not None:
        try:
            rules = read_rules_file(file)
        except RuleError as exc:
            raise bad_file(exc) from None
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

    stored = run_with_store(False, saved)
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
    settings = store_settings()
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


def register(rules: typer.Typer) -> None:
    """Add `backtest` to the `vigil rules` group."""
    rules.command("backtest")(backtest_rule)
