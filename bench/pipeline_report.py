"""What `bench/pipeline.py` prints: a line per measurement as it comes, and the summary table at the end."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.alert_latency import KINDS, LatencyFigures
from bench.storage_chain import ChainFigures

if TYPE_CHECKING:
    from bench.pipeline import Results

KEEPS_UP_S = 1.0  # a worker less than this many seconds of sending behind when sending ended keeps up


def _fail_lines(f: ChainFigures) -> list[str]:
    if f.exact:
        return []
    lines = [f"  !!!!!!!! FAIL ({f.side}): sent {f.sent:,} ≠ stored {f.stored:,} "
             f"({f.sent - f.stored:+,} samples) !!!!!!!!"]
    if f.stats.failures:
        lines.append(f"  !!!!!!!! {len(f.stats.failures)} bodies refused for good, e.g. {f.stats.failures[:2]}")
    return lines


def lag_verdict(f: ChainFigures) -> str:
    """Whether the streams worker kept up with what was sent, from its lag when sending ended."""
    if f.lag_at_send_end is None:
        return ""
    send_rate = f.sent / f.send_seconds if f.send_seconds else 0.0
    behind_s = f.lag_at_send_end / send_rate if send_rate else 0.0
    verdict = "keeps up" if behind_s <= KEEPS_UP_S else "falls behind"
    return f"{verdict} (lag {f.lag_at_send_end:,.0f} samples ≈ {behind_s:.1f} s of sending when sending ended)"


def lag_trend(f: ChainFigures) -> str:
    """Samples sent but not yet evaluated at quarters of the sending time: growing means falling behind."""
    points = []
    for quarter in (0.25, 0.5, 0.75, 1.0):
        at = f.send_seconds * quarter
        before = [(sent - done) for t, sent, _, done in f.timeline if t <= at]
        points.append(f"{before[-1]:,.0f}" if before else "—")
    return " / ".join(points)


def storage_line(f: ChainFigures) -> str:
    """One storage-chain measurement, with its CPU per process and the exactness check."""
    cpu = ", ".join(f"{name} {seconds:.1f}" for name, seconds in sorted(f.cpu.items(), key=lambda kv: -kv[1]))
    lines = [f"  {f.side}: {f.samples_per_s:,.0f} samples/s end to end ({f.sent:,} in {f.seconds:.1f} s; "
             f"last 2xx at {f.send_seconds:.1f} s, store complete at {f.store_seconds:.1f} s), "
             f"{f.per_core_second:,.0f} samples per core-second",
             f"    server CPU s: {cpu} (total {f.cpu_total:.1f} = {f.cpu_total / f.seconds:.2f} cores)",
             f"    {f.stats.retries:,} retries ({f.stats.refused_share():.1%} of answers 429/503); "
             f"sent {f.sent:,} {'=' if f.sent == f.stored else '≠'} stored {f.stored:,}"
             f"{'  ok' if f.exact else ''}"]
    if f.evaluated_seconds is not None:
        lines.append(f"    streams worker evaluated all at {f.evaluated_seconds:.1f} s "
                     f"({f.sent / f.evaluated_seconds:,.0f} samples/s); {lag_verdict(f)}; "
                     f"max lag {f.max_lag:,.0f} samples")
        lines.append(f"    worker lag at 1/4, 1/2, 3/4 and the end of sending: {lag_trend(f)} samples")
    return "\n".join(lines + _fail_lines(f))


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _quantiles(f: LatencyFigures, kind: str) -> str:
    """p50 / p99 / max in ms of one kind of probe."""
    return " / ".join(_ms(f.quantile_ms(kind, q)) for q in (0.5, 0.99, 1.0))


def _never(f: LatencyFigures, kind: str) -> str:
    return f"{len(f.missing[kind])} of {len(f.missing[kind]) + len(f.latencies_ms[kind])}"


def latency_line(f: LatencyFigures) -> str:
    """One side at one offered rate."""
    probes = "; ".join(f"{kind}: p50/p99/max {_quantiles(f, kind)} ms, {_never(f, kind)} never paged"
                       for kind in KINDS)
    return (f"  {f.side} @ {f.offered_per_s:,.0f}/s offered: {f.accepted_per_s:,.0f}/s accepted, "
            f"{f.load.refused_share():.1%} of answers 429/503 ({f.load.retries:,} retries, "
            f"{len(f.load.failures)} refused for good; 2xx after p50 {_ms(f.load.answer_ms(0.5))} ms, "
            f"p99 {_ms(f.load.answer_ms(0.99))} ms)\n    probes {probes}")


def _storage_rows(vigil: ChainFigures | None, anchor: ChainFigures | None) -> list[list[str]]:
    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if a and b else ""

    def cells(label: str, fn, with_ratio: bool = False) -> list[str]:
        v, a = (fn(f) if f else None for f in (vigil, anchor))
        return [label, "" if v is None else f"{v:,.0f}" if isinstance(v, (int, float)) else v,
                "" if a is None else f"{a:,.0f}" if isinstance(a, (int, float)) else a,
                ratio(v, a) if with_ratio and v is not None and a is not None else ""]

    rows = [cells("storage: samples/s end to end", lambda f: f.samples_per_s, True),
            cells("storage: samples per core-second", lambda f: f.per_core_second, True),
            cells("storage: server CPU, cores", lambda f: f"{f.cpu_total / f.seconds:.2f}"),
            cells("storage: retries (429/503 share)", lambda f: f"{f.stats.retries:,} "
                  f"({f.stats.refused_share():.1%})"),
            cells("storage: sent = stored", lambda f: "ok" if f.exact else "FAIL")]
    names = dict.fromkeys([*(vigil.cpu if vigil else {}), *(anchor.cpu if anchor else {})])
    for name in names:
        rows.append(cells(f"  cores: {name}", lambda f: f"{f.cpu[name] / f.seconds:.2f}" if name in f.cpu else ""))
    return rows


def print_summary(results: Results, elapsed_s: float) -> None:
    """The table of every figure of the run, Vigil next to its anchor."""
    o = results.options
    rows: list[list[str]] = [["", "Vigil", "anchor", "Vigil/anchor"]]
    vigil = next((f for f in results.storage if f.side == "Vigil"), None)
    anchor = next((f for f in results.storage if f.side != "Vigil"), None)
    if vigil or anchor:
        rows += _storage_rows(vigil, anchor)
    if results.rules is not None:
        f = results.rules
        rows += [["with 1,000 rules: samples/s (stored and evaluated)", f"{f.samples_per_s:,.0f}", "", ""],
                 ["with 1,000 rules: store complete, samples/s", f"{f.sent / f.store_seconds:,.0f}", "", ""],
                 ["with 1,000 rules: streams evaluated, samples/s",
                  f"{f.sent / f.evaluated_seconds:,.0f}" if f.evaluated_seconds else "—", "", ""],
                 ["with 1,000 rules: lag when sending ended", f"{f.lag_at_send_end or 0:,.0f}", "", ""],
                 ["with 1,000 rules: sent = stored", "ok" if f.exact else "FAIL", "", ""]]
    for rate in o.rates:
        pick = {("Vigil" if f.side == "Vigil" else "anchor"): f for f in results.latency if f.offered_per_s == rate}
        if not pick:
            continue

        def cells(label: str, fn) -> list[str]:
            return [f"@{rate:,.0f}/s: {label}", *(fn(pick[k]) if k in pick else "" for k in ("Vigil", "anchor")), ""]

        rows.append(cells("accepted samples/s", lambda f: f"{f.accepted_per_s:,.0f}"))
        rows.append(cells("answered 429/503", lambda f: f"{f.load.refused_share():.1%}"))
        rows.append(cells("2xx after p50/p99 ms", lambda f: f"{_ms(f.load.answer_ms(0.5))} / "
                                                            f"{_ms(f.load.answer_ms(0.99))}"))
        for kind in KINDS:
            rows.append(cells(f"{kind} p50/p99/max ms", lambda f: _quantiles(f, kind)))
            rows.append(cells(f"{kind} never paged", lambda f: _never(f, kind)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    ran = {"storage": f"storage {o.samples:,} samples over {o.series:,} series ({o.clients} clients, "
                      f"{o.ingest_processes} ingest processes)",
           "rules": f"rules {o.rules_samples:,} samples",
           "latency": f"latency at {', '.join(f'{r:,.0f}' for r in o.rates)}/s for {o.duration_s:.0f} s each"}
    print(f"\n== pipeline summary: {'; '.join(ran[p] for p in o.parts)}; {elapsed_s:.0f} s in all ==")
    for row in rows:
        print("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths))))
    for f in [*results.storage, *([results.rules] if results.rules else [])]:
        for line in _fail_lines(f):
            print(line)
