"""1,000 query-evaluated rules next to vmalert on the same store (issue 13, must-deliver 7): `python -m bench query_rules`.

One fresh VictoriaMetrics holds 100,000 series (bench/query_fleet.py: 6 minutes of history, then
every series written again every interval, as a scrape would, for the whole run). The same Prometheus
rule file (50 groups × 20 rules) is evaluated, one side at a time so each side's store CPU is its own:

- Vigil: the file translated by `vigil rules import`'s own code (streams/promql_import.py); the 250 rules
  it would route to the stream evaluator (selector thresholds, `*_over_time`, `absent`) are made query
  rules with the same expression, so all 1,000 run on the query evaluator. A real `vigil streams` worker
  (its Kafka and Postgres from the embedded stack) evaluates them with VIGIL_TSDB_URL on this store.
- vmalert (Debian's) on the same file and store, notifying a local stub that answers 200.

Each side at 15 s and then at 1 s group intervals (the writer switches to 1 s scrapes for the 1 s
phases). Per phase: CPU of the evaluator and of VictoriaMetrics (also as the excess over a writes-only
baseline), group evaluations achieved vs scheduled, CPU per rule evaluation, firing alerts at the end.

    python -m bench.query_rules [--rules N] [--series N] [--interval 15s|1s …] [--duration S] [--profile S]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from bench import query_fleet
from bench.process_cpu import tree_cpu, used
from bench.servers import Server, Servers
from infra.sandbox import drop_env, free_port, new_env, start_stack
from infra.stack import Stack
from infra.stack.stack import remove_state
from streams.promql_import import translate
from streams.query.groups import build_groups
from kernel.rules import Rule

INTERVALS = ("15s", "1s")
RULES = query_fleet.JOBS * query_fleet.RULES_PER_GROUP
MISSED = "missed"  # vmalert's vmalert_iteration_missed_total: slots it skipped because the last run overran
DURATION_S = 60.0  # measured seconds per side and interval
BASELINE_S = 10.0  # writes only: the store's own cost of the scrapes
WARMUP_TIMEOUT_S = 90.0
VIGIL, VMALERT = "Vigil", "vmalert"
_SAMPLE = re.compile(r'^vigil_streams_query_group_evaluations_total\{outcome="([^"]+)"\} ([0-9.e+]+)$', re.M)
_VMALERT_ITER = re.compile(r'^vmalert_iteration_(total|missed_total)\{[^}]*\} ([0-9.e+]+)$', re.M)


@dataclass
class Phase:
    """One side at one interval."""

    side: str
    interval: str
    seconds: float
    evaluator_cpu_s: float
    store_cpu_s: float
    store_baseline_s: float  # the store's CPU for the writes alone over the same seconds
    group_evaluations: float
    scheduled: float
    rules_per_group: int
    firing: int
    outcomes: dict[str, float] = field(default_factory=dict)

    @property
    def rule_evaluations(self) -> float:
        return self.group_evaluations * self.rules_per_group

    @property
    def cpu_per_rule_ms(self) -> float | None:
        return self.evaluator_cpu_s / self.rule_evaluations * 1000 if self.rule_evaluations else None

    @property
    def store_per_rule_ms(self) -> float | None:
        excess = max(0.0, self.store_cpu_s - self.store_baseline_s)
        return excess / self.rule_evaluations * 1000 if self.rule_evaluations else None


def len_series(jobs: int) -> int:
    """Series of `jobs` jobs of the fleet."""
    return jobs * query_fleet.INSTANCES * query_fleet.SERIES_PER_TARGET


def _get(url: str, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return answer.read().decode()


def _seconds(interval: str) -> float:
    return float(interval.removesuffix("s"))


# --- rules ---------------------------------------------------------------------------------------------

def vigil_rules(document: dict) -> tuple[list[Rule], int]:
    """The file as `vigil rules import` translates it, every rule on the query evaluator; (rules, how many were forced)."""
    translation = translate(document, "query-bench.yml")
    if translation.problems:
        raise SystemExit(f"the bench rule file did not import whole: {translation.problems[:3]}")
    written = [(g, position, r) for g in document["groups"] for position, r in enumerate(g["rules"])]
    out, forced = [], 0
    for rule, (group, position, body) in zip(translation.rules, written, strict=True):  # file order: none refused
        if rule.evaluator == "query":
            out.append(rule)
            continue
        forced += 1
        out.append(Rule.model_validate({
            "id": rule.id, "evaluator": "query", "alert": body["alert"], "expr": body["expr"],
            "for": body["for"], "labels": body["labels"], "annotations": body["annotations"],
            "group": {"name": group["name"], "interval": group["interval"], "position": position}}))
    return out, forced


# --- vmalert's notifier --------------------------------------------------------------------------------

class _Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


class NotifierStub:
    """An Alertmanager stand-in answering 200 to vmalert's posts (this vmalert has no -notifier.blackhole)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), _Accept)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> NotifierStub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


# --- the scrape writer ---------------------------------------------------------------------------------

class Writer:
    """Writes every series every `interval_s` in a thread, on the interval's grid, until stopped."""

    def __init__(self, fleet: query_fleet.Fleet, store: Server) -> None:
        self.fleet, self.store = fleet, store
        self.interval_s = 15.0
        self.late = 0  # scrapes written more than one interval late
        self.written = 0
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="scrape-writer")

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        at = (time.time() // self.interval_s + 1) * self.interval_s
        while not self._stop.wait(max(0.0, at - time.time())):
            try:
                self.written += self.fleet.scrape(self.store.url, at)
            except Exception as exc:  # reported at the end of the interval's phases; the writer keeps going
                self.error = exc
            following = (time.time() // self.interval_s + 1) * self.interval_s  # the interval may have changed
            if following - at > 1.5 * self.interval_s:
                self.late += 1  # this write took so long that a whole scrape was skipped
            at = following

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


# --- the run -------------------------------------------------------------------------------------------

class QueryBench:
    """The store, the writer and the files; each phase starts its evaluator and stops it after."""

    def __init__(self, stack: Stack, jobs: int, groups: int, duration_s: float, profile_s: float) -> None:
        self.stack, self.duration_s, self.profile_s = stack, duration_s, profile_s
        self.jobs = groups  # rule groups: one per job, over the first `groups` jobs of the fleet
        self.fleet_jobs = jobs
        self.servers = Servers()
        self.phases: list[Phase] = []
        self.baselines: dict[str, float] = {}  # interval → store CPU s per s, writes only
        self.notes: list[str] = []
        self.forced = 0

    def prepare(self) -> None:
        """A fresh store filled with the fleet's history; the writer started."""
        started = time.perf_counter()
        self.fleet = query_fleet.Fleet(self.fleet_jobs)
        self.store = self.servers.victoria_metrics()
        print(f"  {len(self.fleet):,} series; writing {query_fleet.HISTORY_S} s of history at 15 s …", flush=True)
        samples = self.fleet.history(self.store.url, time.time() - 1, 15.0)
        self.writer = Writer(self.fleet, self.store)
        self.writer.start()
        deadline = time.monotonic() + 120
        while (n := _count(self.store, '{__name__=~"http_requests_total|temperature_celsius"}')) < len(self.fleet) * 16 // 50:
            if time.monotonic() > deadline:
                raise SystemExit(f"the store shows {n} of the fleet's series 120 s after the import")
            time.sleep(1)
        print(f"  {samples:,} samples imported; the store shows them after {time.perf_counter() - started:.0f} s",
              flush=True)

    def baseline(self, interval: str) -> None:
        """The store's CPU with only the scrapes running, per second."""
        before = tree_cpu({"vm": self.store.pid})
        time.sleep(BASELINE_S)
        self.baselines[interval] = used(before, tree_cpu({"vm": self.store.pid}))["vm"] / BASELINE_S
        print(f"  store baseline at {interval} scrapes (writes only): {self.baselines[interval]:.0%} of a core",
              flush=True)

    def _measure(self, side: str, interval: str, pid: int, count, firing, rules_per_group: int,
                 offsets_ms: list[int] | None = None) -> Phase:
        """CPU and evaluations over `duration_s`; scheduled from the groups' slots when their offsets are known."""
        before_cpu, before_count, began = tree_cpu({"eval": pid, "vm": self.store.pid}), count(), time.monotonic()
        began_ms = int(time.time() * 1000)
        profile = self._profile(pid, side, interval)
        time.sleep(self.duration_s)
        after_cpu, after_count, seconds = tree_cpu({"eval": pid, "vm": self.store.pid}), count(), time.monotonic() - began
        ended_ms = int(time.time() * 1000)
        if profile is not None:
            profile.wait(timeout=60)
        cpu = used(before_cpu, after_cpu)
        outcomes = {k: after_count.get(k, 0.0) - before_count.get(k, 0.0) for k in after_count}
        phase = Phase(side, interval, seconds, cpu["eval"], cpu["vm"], self.baselines[interval] * seconds,
                      sum(v for k, v in outcomes.items() if k != MISSED), _scheduled(offsets_ms, self.jobs, interval, began_ms, ended_ms),
                      rules_per_group, firing(),
                      outcomes)
        print(phase_line(phase), flush=True)
        return phase

    def _profile(self, pid: int, side: str, interval: str):
        if not self.profile_s or side != VIGIL:
            return None
        import subprocess

        out = Path.cwd() / f"query-bench-profile-{interval}.txt"
        spy = Path(sys.executable).parent / "py-spy"
        print(f"  py-spy: {self.profile_s:.0f} s of the worker → {out}", flush=True)
        return subprocess.Popen([str(spy), "record", "-p", str(pid), "-d", str(int(self.profile_s)), "-f", "raw",
                                 "-o", str(out), "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def vigil(self, interval: str) -> None:
        """A `vigil streams` worker evaluating the 1,000 rules as query rules at `interval`."""
        rules, self.forced = vigil_rules(query_fleet.rule_file(self.jobs, interval))
        path = self.servers.dir / f"vigil-rules-{interval}.yaml"
        path.write_text(yaml.safe_dump({"rules": [r.spec() for r in rules]}, sort_keys=False))
        env = new_env(self.stack.settings)
        try:
            port = free_port()
            worker = env.start("streams", health_port=port, name=f"streams-{interval}", extra_env={
                "VIGIL_STREAMS_WEB_PORT": str(port), "VIGIL_TSDB_URL": self.store.url, "VIGIL_RULES_FILE": str(path),
                "VIGIL_DATA_DIR": str(self.servers.dir / f"faust-{env.prefix}"), "VIGIL_LOG_LEVEL": "WARNING"})

            def count() -> dict[str, float]:
                return {k: float(v) for k, v in _SAMPLE.findall(_get(f"http://127.0.0.1:{port}/metrics"))}

            def firing() -> int:
                return _healthz(port)["query_evaluator"]["firing_alerts"]

            _wait(lambda: sum(count().values()) >= self.jobs, f"{VIGIL}'s first round of {self.jobs} groups")
            offsets = [g.offset_ms for g in build_groups(rules).values()]
            self.phases.append(self._measure(VIGIL, interval, worker.pid, count, firing,
                                             query_fleet.RULES_PER_GROUP, offsets))
        finally:
            drop_env(env)

    def vmalert(self, interval: str) -> None:
        """Debian's vmalert on the same rule file and store at `interval`."""
        rule_file = self.servers.dir / f"vmalert-rules-{interval}.yml"
        rule_file.write_text(yaml.safe_dump(query_fleet.rule_file(self.jobs, interval), sort_keys=False))
        with NotifierStub() as stub:
            port = free_port()
            server = self.servers._start("vmalert", [  # Servers.vmalert is fixed at 1 s with a real Alertmanager
                shutil.which("vmalert") or "vmalert", f"-httpListenAddr=127.0.0.1:{port}",
                f"-datasource.url={self.store.url}", f"-notifier.url=http://127.0.0.1:{stub.port}",
                f"-rule={rule_file}", f"-evaluationInterval={interval}", "-loggerLevel=WARN"], "/health", port)
            try:
                def count() -> dict[str, float]:
                    out = {"ok": 0.0, MISSED: 0.0}
                    for kind, value in _VMALERT_ITER.findall(_get(f"{server.url}/metrics")):
                        out["ok" if kind == "total" else MISSED] += float(value)
                    return out

                def firing() -> int:
                    alerts = json.loads(_get(f"{server.url}/api/v1/alerts"))["data"]["alerts"]
                    return sum(a.get("state") == "firing" for a in alerts)

                _wait(lambda: count()["ok"] >= self.jobs, f"{VMALERT}'s first round of {self.jobs} groups")
                self.phases.append(self._measure(VMALERT, interval, server.pid, count, firing,
                                                 query_fleet.RULES_PER_GROUP))
            finally:
                self.servers.stop_server(server)

    def run(self, intervals: tuple[str, ...]) -> None:
        """Every interval: the writer at that pace, the store's baseline, then Vigil and vmalert.

        At 1 s vmalert goes first: Vigil's windows then hold more 1 s samples than vmalert's did (the
        order that does not favour Vigil)."""
        for interval in intervals:
            self.writer.interval_s = _seconds(interval)
            print(f"\n[{interval}] scrapes every {interval}, groups every {interval}", flush=True)
            time.sleep(min(2.0, _seconds(interval)))
            self.baseline(interval)
            sides = (self.vigil, self.vmalert) if interval != "1s" else (self.vmalert, self.vigil)
            for side in sides:
                side(interval)
            if self.writer.error is not None:
                self.notes.append(f"the scrape writer failed at least once: {self.writer.error}")

    def close(self) -> None:
        if hasattr(self, "writer"):
            self.writer.stop()
            if self.writer.late:
                self.notes.append(f"{self.writer.late} scrape(s) were written more than an interval late")
        self.servers.stop()


def _scheduled(offsets_ms: list[int] | None, groups: int, interval: str, began_ms: int, ended_ms: int) -> float:
    """Group slots due in (began, ended]: exact from each group's offset (Vigil's groups.py), else pro rata."""
    step = int(_seconds(interval) * 1000)
    if offsets_ms is None:
        return groups * (ended_ms - began_ms) / step
    return float(sum((ended_ms - o) // step - (began_ms - o) // step for o in offsets_ms))


def _count(store: Server, selector: str) -> int:
    query = urllib.parse.urlencode({"query": f"count({selector})", "nocache": "1"})
    result = json.loads(_get(f"{store.url}/api/v1/query?{query}", timeout=60))["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def _healthz(port: int) -> dict:
    try:
        return json.loads(_get(f"http://127.0.0.1:{port}/healthz"))
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def _wait(predicate, what: str, timeout: float = WARMUP_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not happen within {timeout:.0f} s")
        time.sleep(0.5)


# --- report ----------------------------------------------------------------------------------------------

def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def phase_line(p: Phase) -> str:
    """One phase as a progress line."""
    extra = " (" + ", ".join(f"{k} {v:.0f}" for k, v in sorted(p.outcomes.items()) if v) + ")"
    return (f"  {p.side:<7} {p.interval:>3}: evaluator {p.evaluator_cpu_s / p.seconds:.0%} of a core, store "
            f"{p.store_cpu_s / p.seconds:.0%} (writes alone {p.store_baseline_s / p.seconds:.0%}); "
            f"{p.group_evaluations:.0f} of {p.scheduled:.0f} scheduled group evaluations{extra} in {p.seconds:.0f} s; "
            f"{_ms(p.cpu_per_rule_ms)} ms evaluator CPU per rule evaluation; {p.firing} firing")


def print_summary(bench: QueryBench, seconds: float) -> None:
    """The table of every phase, and Vigil/vmalert per interval."""
    print(f"\nquery rules: {bench.jobs * query_fleet.RULES_PER_GROUP:,} rules in {bench.jobs} groups over "
          f"{len_series(bench.fleet_jobs):,} series; {bench.forced} of them "
          f"`vigil rules import` routes to the stream evaluator, run here as query rules; expected firing "
          f"{query_fleet.expected_firing(bench.jobs)}; {bench.duration_s:.0f} s measured per phase")
    header = (f"{'side':<8}{'interval':>8}{'eval CPU':>10}{'store CPU':>11}{'store-writes':>14}{'groups/s':>10}"
              f"{'sched/s':>9}{'ms CPU/rule':>13}{'store ms/rule':>15}{'firing':>8}")
    print(header)
    for p in bench.phases:
        print(f"{p.side:<8}{p.interval:>8}{p.evaluator_cpu_s / p.seconds:>10.0%}{p.store_cpu_s / p.seconds:>11.0%}"
              f"{max(0.0, p.store_cpu_s - p.store_baseline_s) / p.seconds:>14.0%}{p.group_evaluations / p.seconds:>10.2f}"
              f"{p.scheduled / p.seconds:>9.2f}{_ms(p.cpu_per_rule_ms):>13}{_ms(p.store_per_rule_ms):>15}{p.firing:>8}")
    for interval in dict.fromkeys(p.interval for p in bench.phases):
        sides = {p.side: p for p in bench.phases if p.interval == interval}
        if VIGIL in sides and VMALERT in sides and sides[VIGIL].cpu_per_rule_ms and sides[VMALERT].cpu_per_rule_ms:
            v, a = sides[VIGIL], sides[VMALERT]
            print(f"  {interval}: Vigil/vmalert evaluator CPU per rule evaluation {v.cpu_per_rule_ms / a.cpu_per_rule_ms:.1f}×"
                  f"; firing {v.firing} vs {a.firing}" + ("" if v.firing == a.firing else " (they differ)"))
    for note in bench.notes:
        print(f"  note: {note}")
    print(f"  ({seconds:.0f} s in all)", flush=True)


def run(stack: Stack, jobs: int = query_fleet.JOBS, groups: int = query_fleet.JOBS,
        intervals: tuple[str, ...] = INTERVALS, duration_s: float = DURATION_S, profile_s: float = 0.0) -> QueryBench:
    """Every phase on `stack`; prints as it goes and the summary at the end."""
    started = time.perf_counter()
    print(f"query rules: {groups * query_fleet.RULES_PER_GROUP:,} rules over {len_series(jobs):,} series, Vigil's "
          f"query evaluator next to vmalert on one VictoriaMetrics", flush=True)
    bench = QueryBench(stack, jobs, groups, duration_s, profile_s)
    try:
        bench.prepare()
        bench.run(intervals)
    finally:
        bench.close()
    print_summary(bench, time.perf_counter() - started)
    return bench


def bench(stack: Stack) -> None:
    """The benchmark with its defaults, on the stack `python -m bench` started."""
    run(stack)


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt  # a SIGTERM stops every process we started, as Ctrl-C does


def main(argv: list[str]) -> int:
    """`python -m bench.query_rules`: a throwaway stack, the phases, everything stopped and removed."""
    parser = argparse.ArgumentParser(prog="python -m bench.query_rules", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", type=int, default=RULES, help=f"rules, a multiple of {query_fleet.RULES_PER_GROUP} "
                        f"(one group per job; default {RULES:,})")
    parser.add_argument("--series", type=int, default=len_series(query_fleet.JOBS),
                        help=f"series, a multiple of {len_series(1):,} (one job each; default {len_series(query_fleet.JOBS):,})")
    parser.add_argument("--interval", choices=INTERVALS, action="append", help="run only this interval (repeatable)")
    parser.add_argument("--duration", type=float, default=DURATION_S, help="measured seconds per side and interval")
    parser.add_argument("--profile", type=float, default=0.0,
                        help="py-spy the Vigil worker for this many seconds of each phase (raw output in the cwd)")
    args = parser.parse_args(argv)
    jobs, groups = args.series // len_series(1), args.rules // query_fleet.RULES_PER_GROUP
    if args.series % len_series(1) or args.rules % query_fleet.RULES_PER_GROUP or not 0 < groups <= jobs:
        parser.error(f"--series must be a multiple of {len_series(1):,} and --rules a multiple of "
                     f"{query_fleet.RULES_PER_GROUP}, with at most one group of rules per {len_series(1):,} series")
    signal.signal(signal.SIGTERM, _interrupted)
    print("starting a fresh embedded stack on free ports …", flush=True)
    stack = start_stack()
    try:
        run(stack, jobs, groups, tuple(i for i in INTERVALS if not args.interval or i in args.interval), args.duration,
            args.profile)
    finally:
        stack.down(only_started=True)
        remove_state(stack.settings)  # and the Postgres data kept outside it, if any
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
