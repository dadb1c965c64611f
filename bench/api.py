"""API latency with 100 concurrent clients: the alerts list over 1M alert events, and query_range.

Seeds Postgres by COPY (100,000 alerts × 10 transitions = 1,000,000 `alert_events`, the current
`alerts` rows, a few thousand incidents) and VictoriaMetrics (`/api/v1/import`: 1,000 series, one
day at one-minute resolution), starts one real `vigil api` and drives it from a separate process
(aiohttp on uvloop) with CLIENTS clients, each on its own keep-alive connection:

- **closed loop**: every client sends its next request as soon as the last one answered. The
  throughput is the API's capacity; the latency is mostly queueing (≈ clients / throughput).
- **open loop**: each client on a fixed schedule, together OPEN_LOOP_SHARE of that capacity.
  Latency counts from the *scheduled* send time, so a slow answer cannot hide the requests that
  should have gone out meanwhile. This p99 answers the issue's target (p99 ≤ 50 ms): it is what
  an analyst sees while the API is busy but not overloaded.

Each run also prints the CPU of the API, Postgres, VictoriaMetrics, the client and of other
programs on the machine, and CPU per request, which moves little when other programs slow a run.

`python -m bench api` runs it (about 70 s); `python -m bench.api [--quick]` runs it alone on its
own stack (`--quick`: a tenth of the data and 5-second runs, under 30 s in all).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import aiohttp
import httpx
import orjson
import psycopg
import uvloop

from api.keys import KeyStore, Role
from bench.http_load import cpu_seconds
from infra.stack import Stack
from tests.harness import VigilEnv, drop_env, free_port, new_env, start_test_stack, wait_http

CLIENTS = 100
OPEN_LOOP_SHARE = 0.7
TARGET_P99_MS = 50
DAY_S = 86_400
HISTORY_DAYS = 30
ALERT_NAMES = ("HostDown", "HighCPU", "HighMemory", "DiskFull", "DiskIOSaturated", "NetworkErrors", "HighLoad",
               "ClockSkew", "OOMKill", "SwapUsage", "CertificateExpiry", "ServiceDown", "HighLatency",
               "ErrorRate", "QueueBacklog", "ReplicationLag", "TooManyRestarts", "FilesystemReadOnly",
               "NTPUnsynced", "InodesLow")
SEVERITIES, SEVERITY_WEIGHTS = ("critical", "warning", "info"), (10, 60, 30)
CLUSTERS = tuple(f"{region}-{n}" for region in ("eu", "us", "ap") for n in range(1, 7))
TEAMS = ("platform", "storage", "network", "payments", "search", "data", "web", "mobile")
HOSTS = 5000
# Current state of the 100k alerts: mostly resolved, as in any system that has run for a while.
FINAL_STATES, FINAL_WEIGHTS = ("RESOLVED", "FIRING", "PENDING"), (85, 12, 3)
METRICS = ("node_cpu_usage_ratio", "node_memory_used_ratio", "node_load1", "node_network_receive_bytes_total")
# Visits: an analyst paging the alerts list (first page, then next_cursor 1–2 times) or a dashboard panel.
VISITS, VISIT_WEIGHTS = ("alerts", "query_range"), (1, 2)
ENDPOINTS = ("alerts (first page)", "alerts (next page)", "query_range")
CHUNK_ROWS = 20_000
PROGRESS_EVERY_S = 2.0


@dataclass(frozen=True)
class Scale:
    """How much data and how long each run."""

    fingerprints: int
    transitions: int
    incidents: int
    hosts_with_series: int  # × len(METRICS) series in the TSDB
    minutes: int
    warmup_s: float
    run_s: float


FULL = Scale(fingerprints=100_000, transitions=10, incidents=5_000, hosts_with_series=250, minutes=1440,
             warmup_s=3, run_s=20)
QUICK = Scale(fingerprints=10_000, transitions=10, incidents=500, hosts_with_series=25, minutes=360,
              warmup_s=1, run_s=5)


def shape(scale: Scale) -> str:
    """One line saying what the benchmark holds and does."""
    return (f"{scale.fingerprints * scale.transitions:,} alert events ({scale.fingerprints:,} alerts × "
            f"{scale.transitions}), {scale.incidents:,} incidents, "
            f"{scale.hosts_with_series * len(METRICS):,} series × "
            f"{scale.minutes:,} points; {CLIENTS} clients, {scale.run_s:.0f} s per run")


# ---- seeding ----------------------------------------------------------------------------------------------------

def _ts(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat()


def _episodes(rng: random.Random, count: int, final: str) -> list[str]:
    """`count` transitions that end in `final`: closed episodes (F R, P F R, P R), then an open one."""
    tail = {"RESOLVED": [], "FIRING": rng.choice((["FIRING"], ["PENDING", "FIRING"])), "PENDING": ["PENDING"]}[final]
    states: list[str] = []
    while len(states) < count - len(tail):
        left = count - len(tail) - len(states)
        if left in (2, 4):  # keep what is left fillable by episodes of 2 and 3
            states += rng.choice((["FIRING", "RESOLVED"], ["PENDING", "RESOLVED"]))
        else:
            states += ["PENDING", "FIRING", "RESOLVED"]
    return states + tail


class _CopyProgress:
    """Prints rows/s of a COPY every PROGRESS_EVERY_S."""

    def __init__(self, table: str, total: int) -> None:
        self.table, self.total, self.rows, self.printed_rows = table, total, 0, -1
        self.started = self.printed = time.perf_counter()

    def add(self, rows: int, final: bool = False) -> None:
        self.rows += rows
        now = time.perf_counter()
        if (final and self.rows != self.printed_rows) or now - self.printed >= PROGRESS_EVERY_S:
            self.printed, self.printed_rows = now, self.rows
            rate = self.rows / (now - self.started)
            print(f"    {self.table}: {self.rows:,} of {self.total:,} rows ({rate:,.0f} rows/s)", flush=True)


def seed_postgres(dsn: str, scale: Scale, now: float) -> None:
    """COPY the alert events, the current alerts and some incidents, then VACUUM ANALYZE them."""
    rng = random.Random(7)
    alerts, by_group = [], {}
    events = _CopyProgress("alert_events", scale.fingerprints * scale.transitions)
    with psycopg.connect(dsn, autocommit=True) as conn:
        with conn.cursor().copy("COPY alert_events (fingerprint, sequence, status, rule_id, rule_version, alertname, "
                                "labels, annotations, value, starts_at, ends_at, event_time, recorded_at) "
                                "FROM STDIN") as copy:
            lines = []
            for i in range(scale.fingerprints):
                host = rng.randrange(HOSTS)
                name, severity = rng.choice(ALERT_NAMES), rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0]
                labels = {"alertname": name, "severity": severity, "host": f"host-{host:04d}",
                          "cluster": CLUSTERS[host % len(CLUSTERS)], "team": TEAMS[host % len(TEAMS)],
                          "instance": f"host-{host:04d}:9100", "job": "node"}
                fingerprint = hashlib.blake2b(f"{i}".encode(), digest_size=8).hexdigest()
                labels_json = json.dumps(labels, separators=(",", ":"))
                annotations_json = json.dumps({"summary": f"{name} on {labels['host']}",
                                               "runbook_url": f"https://runbooks.example/{name}"})
                final = rng.choices(FINAL_STATES, FINAL_WEIGHTS)[0]
                states = _episodes(rng, scale.transitions, final)
                # Firing alerts changed recently; resolved ones any time in the last HISTORY_DAYS.
                at = now - rng.uniform(0, 2 * DAY_S if final != "RESOLVED" else HISTORY_DAYS * DAY_S)
                times = [at]
                for state in reversed(states[1:]):  # the gap before a resolve is how long it fired
                    gap = rng.uniform(300, 14_400) if state == "RESOLVED" else rng.uniform(60, 259_200)
                    times.append(times[-1] - gap)
                times.reverse()
                starts = times[0]
                for seq, (state, at) in enumerate(zip(states, times), 1):
                    if state == "PENDING" or (state == "FIRING" and states[seq - 2:seq - 1] != ["PENDING"]):
                        starts = at
                    value = rng.uniform(0, 100)
                    ends = _ts(at) if state == "RESOLVED" else "\\N"
                    stamp = _ts(at)
                    lines.append(f"{fingerprint}\t{seq}\t{state}\t{name.lower()}\t1\t{name}\t{labels_json}\t"
                                 f"{annotations_json}\t{value:.3f}\t{_ts(starts)}\t{ends}\t{stamp}\t{stamp}\n")
                alerts.append((fingerprint, name.lower(), 1, name, state, severity, labels_json, annotations_json,
                               value, len(states), _ts(starts), None if state != "RESOLVED" else _ts(at), _ts(at)))
                by_group.setdefault((name, labels["cluster"]), []).append((fingerprint, severity, at))
                if len(lines) >= CHUNK_ROWS:
                    copy.write("".join(lines))
                    events.add(len(lines))
                    lines = []
            copy.write("".join(lines))
        events.add(len(lines), final=True)
        current = _CopyProgress("alerts", len(alerts))
        with conn.cursor().copy("COPY alerts (fingerprint, rule_id, rule_version, alertname, status, severity, labels, "
                                "annotations, value, sequence, starts_at, ends_at, updated_at) FROM STDIN") as copy:
            for row in alerts:
                copy.write_row(row)
        current.add(len(alerts), final=True)
        _seed_incidents(conn, rng, by_group, scale.incidents)
        print("    VACUUM ANALYZE (as autovacuum would have by now) …", flush=True)
        for table in ("alerts", "alert_events", "incidents", "incident_events"):
            conn.execute(f"VACUUM ANALYZE {table}")


def _seed_incidents(conn: psycopg.Connection, rng: random.Random, by_group: dict, count: int) -> None:
    """`count` incidents grouped by (alertname, cluster), each opened, acknowledged, and mostly resolved."""
    groups = rng.sample(sorted(by_group), min(count, len(by_group)))
    incidents, events = [], []
    for n in range(count):
        name, cluster = groups[n % len(groups)]
        members = by_group[(name, cluster)][:5]
        group_id = hashlib.blake2b(f"0|{name}|{cluster}".encode(), digest_size=8).hexdigest()
        opened = min(at for _, _, at in members) - rng.uniform(0, 600) - n  # distinct per episode of a group
        key = f"{group_id}.{int(opened * 1000)}"
        acked, resolved = opened + rng.uniform(60, 900), rng.random() < 0.9
        status = "RESOLVED" if resolved else "ACKNOWLEDGED"
        common = (key, json.dumps({"alertname": name, "cluster": cluster}), "0.1", "oncall-" + cluster.split("-")[0],
                  "default", f"{name} in {cluster}", members[0][1], json.dumps([f for f, _, _ in members]))
        chain = [("OPEN", None, "first_notification", None, opened),
                 ("ACKNOWLEDGED", "OPEN", "acknowledged", "alice", acked)]
        if resolved:
            chain.append(("RESOLVED", "ACKNOWLEDGED", "all_alerts_resolved", None, acked + rng.uniform(60, 7200)))
        for seq, (state, previous, reason, actor, at) in enumerate(chain, 1):
            events.append((key, seq, state, previous, reason, actor, "", key.split(".")[0], common[1], common[2],
                           common[3], common[4], "[]", common[5], common[6], 0 if state == "RESOLVED" else len(members),
                           common[7], _ts(opened), _ts(at)))
        incidents.append((key, group_id, common[1], common[2], common[3], common[4], status, common[5], common[6],
                          0 if resolved else len(members), common[7], _ts(opened), _ts(acked), "alice",
                          _ts(chain[-1][4]) if resolved else None, None, None, _ts(chain[-1][4]), len(chain)))
    with conn.cursor().copy("COPY incident_events (incident_key, sequence, status, previous_status, reason, actor, "
                            "comment, group_key, group_labels, route, receiver, escalation_policy, notified, title, "
                            "severity, firing, fingerprints, opened_at, event_time) FROM STDIN") as copy:
        for row in events:
            copy.write_row(row)
    with conn.cursor().copy("COPY incidents (incident_key, group_key, group_labels, route, receiver, "
                            "escalation_policy, status, title, severity, firing, fingerprints, opened_at, "
                            "acknowledged_at, acknowledged_by, resolved_at, resolved_by, escalated_at, updated_at, "
                            "sequence) FROM STDIN") as copy:
        for row in incidents:
            copy.write_row(row)
    print(f"    incidents: {len(incidents):,} rows, incident_events: {len(events):,} rows", flush=True)


def seed_tsdb(tsdb_url: str, scale: Scale, now: float) -> None:
    """Import METRICS × hosts series, one point a minute up to `now`, and wait until queries see them all."""
    rng = random.Random(11)
    stamps = [int((now - (scale.minutes - i) * 60) * 1000) for i in range(scale.minutes)]
    started, lines = time.perf_counter(), []
    with httpx.Client(base_url=tsdb_url, timeout=60) as http:
        for h in range(scale.hosts_with_series):
            labels = {"host": f"host-{h:04d}", "cluster": CLUSTERS[h % len(CLUSTERS)], "team": TEAMS[h % len(TEAMS)],
                      "instance": f"host-{h:04d}:9100", "job": "node"}
            base, counter = rng.uniform(0.1, 0.7), 0.0
            waves = {"node_cpu_usage_ratio": [min(1.0, base + 0.2 * rng.random()) for _ in stamps],
                     "node_memory_used_ratio": [base + 0.001 * i / len(stamps) for i in range(len(stamps))],
                     "node_load1": [4 * base + rng.random() for _ in stamps]}
            waves["node_network_receive_bytes_total"] = [counter := counter + rng.uniform(1e5, 1e6) for _ in stamps]
            for metric, values in waves.items():
                lines.append(json.dumps({"metric": {"__name__": metric, **labels}, "values": values,
                                         "timestamps": stamps}))
            if len(lines) >= 100 or h == scale.hosts_with_series - 1:
                http.post("/api/v1/import", content="\n".join(lines).encode()).raise_for_status()
                lines = []
        samples = scale.hosts_with_series * len(METRICS) * scale.minutes
        print(f"    tsdb: {samples:,} samples imported ({samples / (time.perf_counter() - started):,.0f} samples/s)",
              flush=True)
        http.get("/internal/force_flush")
        expected, deadline = scale.hosts_with_series * len(METRICS), time.monotonic() + 60
        while time.monotonic() < deadline:
            answer = http.get("/api/v1/query", params={"query": 'count({job="node"})', "time": f"{now:.0f}"}).json()
            result = answer["data"]["result"]
            if result and int(float(result[0]["value"][1])) == expected:
                return
            time.sleep(0.5)
        raise SystemExit(f"the TSDB does not show {expected} series within 60 s: {answer}")


def create_key(dsn: str) -> str:
    """A viewer key (what analysts and Grafana use) whose rate limit the benchmark can't reach."""
    async def make() -> str:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            _, key = await KeyStore(conn).create("bench-api", Role.VIEWER, "bench", rate_per_s=1e6, burst=1_000_000)
            return key

    return asyncio.run(make())


# ---- load (runs in its own process) -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """What one load process does; sent to it pickled."""

    base_url: str
    key: str
    prometheus_shape: bool  # query_range takes `query=` (PromQL); else the older `metric=` + `match=`
    hosts: list[str]
    warmup_s: float
    run_s: float
    visits_per_s: float | None  # per client; None: closed loop
    pids: dict[str, int]


def _alerts_params(rng: random.Random) -> list[tuple[str, str]]:
    cluster, team = rng.choice(CLUSTERS), rng.choice(TEAMS)
    return rng.choice((
        [("status", "firing")],
        [("status", "firing"), ("severity", "critical")],
        [("label", f"cluster={cluster}")],
        [("status", "firing"), ("label", f"cluster={cluster}"), ("label", f"team={team}")],
        [("severity", "warning")],
        [("status", "firing"), ("alertname", rng.choice(ALERT_NAMES))],
        [],
    )) + [("limit", "100")]


def _range_params(rng: random.Random, plan: Plan) -> list[tuple[str, str]]:
    """A Grafana panel: (PromQL, the older metric+match form of the nearest selector, span, step)."""
    cluster, team, host = rng.choice(CLUSTERS), rng.choice(TEAMS), rng.choice(plan.hosts)
    promql, metric, match, span, step = rng.choice((
        (f'node_cpu_usage_ratio{{cluster="{cluster}"}}', "node_cpu_usage_ratio", [f"cluster={cluster}"], 3600, 15),
        ("avg by (cluster) (node_load1)", "node_load1", [f"team={team}"], 6 * 3600, 60),
        (f'rate(node_network_receive_bytes_total{{host="{host}"}}[5m])', "node_network_receive_bytes_total",
         [f"host={host}"], DAY_S, 300),
        (f'node_memory_used_ratio{{team="{team}"}}', "node_memory_used_ratio", [f"team={team}"], 3600, 30),
    ))
    end = int(time.time()) // step * step  # Grafana aligns the range to the step
    when = [("start", str(end - span)), ("end", str(end)), ("step", str(step))]
    if plan.prometheus_shape:
        return [("query", promql), *when]
    return [("metric", metric), *[("match", m) for m in match], *when]


class _Recorder:
    """Latencies per endpoint for requests sent inside the measured window."""

    def __init__(self) -> None:
        self.start = self.end = float("inf")
        self.latencies: dict[str, list[float]] = {name: [] for name in ENDPOINTS}
        self.errors: dict[str, list[str]] = {name: [] for name in ENDPOINTS}
        self.lag: list[float] = []

    def add(self, endpoint: str, started: float, status: int, body: bytes) -> None:
        if not self.start <= started < self.end:
            return
        self.latencies[endpoint].append((time.perf_counter() - started) * 1000)
        if status != 200:
            self.errors[endpoint].append(f"{status} {body[:200]!r}")


async def _visit(session, rng: random.Random, plan: Plan, rec: _Recorder, scheduled: float | None = None) -> None:
    """One analyst action: alerts pages following next_cursor, or one query_range."""
    started = scheduled if scheduled is not None else time.perf_counter()
    if rng.choices(VISITS, VISIT_WEIGHTS)[0] == "query_range":
        async with session.get("/api/v1/query_range", params=_range_params(rng, plan)) as resp:
            rec.add("query_range", started, resp.status, await resp.read())
        return
    params = _alerts_params(rng)
    for page in range(rng.choice((2, 3))):
        async with session.get("/api/v1/alerts", params=params) as resp:
            body = await resp.read()
        rec.add("alerts (first page)" if page == 0 else "alerts (next page)", started, resp.status, body)
        cursor = orjson.loads(body).get("next_cursor") if resp.status == 200 else None
        if not cursor:
            return
        params = [p for p in params if p[0] != "cursor"] + [("cursor", cursor)]
        started = time.perf_counter()


async def _client(n: int, plan: Plan, rec: _Recorder, stop_at: float) -> None:
    """One client on its own keep-alive connection: back to back (closed loop) or on a fixed schedule."""
    rng = random.Random(n)
    async with aiohttp.ClientSession(plan.base_url, headers={"Authorization": f"Bearer {plan.key}"},
                                     timeout=aiohttp.ClientTimeout(total=60),
                                     connector=aiohttp.TCPConnector(limit=0)) as session:
        if plan.visits_per_s is None:
            while time.perf_counter() < stop_at:
                await _visit(session, rng, plan, rec)
            return
        interval = 1 / plan.visits_per_s
        due, pending = time.perf_counter() + rng.random() * interval, set()
        while due < stop_at:
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            if rec.start <= due < rec.end:
                rec.lag.append((time.perf_counter() - due) * 1000)
            task = asyncio.create_task(_visit(session, rng, plan, rec, scheduled=due))
            pending.add(task)
            task.add_done_callback(pending.discard)
            due += interval
        if pending:
            await asyncio.wait(pending)


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process (with its children: Postgres' backends), and of the machine."""
    children: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            children[int(fields[1])] = children.get(int(fields[1]), 0.0) + (
                int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    seconds = {name: cpu_seconds(pid) + (children.get(pid, 0.0) if name == "postgres" else 0.0)
               for name, pid in pids.items()}
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    seconds["machine"] = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    return seconds


def _load_main(plan: Plan, out) -> None:
    """The load process: warm up, measure run_s, send back latencies and CPU shares."""
    async def run() -> dict:
        rec = _Recorder()
        begin = time.perf_counter()
        stop_at = begin + plan.warmup_s + plan.run_s
        clients = [asyncio.create_task(_client(n, plan, rec, stop_at)) for n in range(CLIENTS)]
        await asyncio.sleep(plan.warmup_s)
        cpu_before, rec.start = _cpu({**plan.pids, "client": os.getpid()}), time.perf_counter()
        rec.end = rec.start + plan.run_s
        await asyncio.sleep(max(0.0, rec.end - time.perf_counter()))
        cpu_after, elapsed = _cpu({**plan.pids, "client": os.getpid()}), time.perf_counter() - rec.start
        await asyncio.gather(*clients)
        return {"seconds": elapsed, "latencies": rec.latencies, "errors": rec.errors, "lag": rec.lag,
                "cpu": {name: (cpu_after[name] - cpu_before[name]) / elapsed for name in cpu_after}}

    out.send(uvloop.run(run()))
    out.close()


def run_load(plan: Plan) -> dict:
    """Run one load phase in a fresh process (so the client never shares the API's core budget unseen)."""
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_load_main, args=(plan, send), name="bench-api-load")
    proc.start()
    send.close()
    try:
        if not receive.poll(plan.warmup_s + plan.run_s + 120):
            raise SystemExit("the load process gave no answer")
        return receive.recv()
    finally:
        proc.join(timeout=10)
        if proc.is_alive():
            proc.kill()


# ---- report -----------------------------------------------------------------------------------------------------

def _pct(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(len(values) * share))]


def report(figures: dict) -> tuple[float, float]:
    """Print per-endpoint percentiles and throughput, and CPU; returns (visits/s completed, p99 of all in ms)."""
    everything = []
    for name in ENDPOINTS:
        values = sorted(figures["latencies"][name])
        everything += values
        errors = figures["errors"][name]
        if values:
            print(f"    {name:<20} p50 {_pct(values, .5):6.1f}  p90 {_pct(values, .9):6.1f}  "
                  f"p99 {_pct(values, .99):6.1f}"
                  f"  max {values[-1]:6.1f} ms  {len(values) / figures['seconds']:7,.0f} req/s"
                  + (f"  {len(errors):,} errors, e.g. {errors[0]}" if errors else ""), flush=True)
    everything.sort()
    print(f"    {'all':<20} p50 {_pct(everything, .5):6.1f}  p90 {_pct(everything, .9):6.1f}  "
          f"p99 {_pct(everything, .99):6.1f}  max {everything[-1]:6.1f} ms  "
          f"{len(everything) / figures['seconds']:7,.0f} req/s", flush=True)
    cpu = figures["cpu"]
    ours = cpu["api"] + cpu["postgres"] + cpu["tsdb"] + cpu["client"]
    # Other programs on the machine take cores from the API: their share says how far to trust a run.
    print(f"    CPU (share of one core): api {cpu['api']:.0%}, postgres {cpu['postgres']:.0%}, "
          f"victoria-metrics {cpu['tsdb']:.0%}, load client {cpu['client']:.0%}; whole machine "
          f"{cpu['machine']:.0%} of {os.cpu_count()} cores, {max(0.0, cpu['machine'] - ours):.0%} of it other programs",
          flush=True)
    # CPU time per request hardly moves when other programs slow the run down: compare runs by it.
    pages = len(figures["latencies"]["alerts (first page)"]) + len(figures["latencies"]["alerts (next page)"])
    ranges = len(figures["latencies"]["query_range"])
    ms = 1000 * figures["seconds"]
    print(f"    CPU per request: api {cpu['api'] * ms / max(1, len(everything)):.1f} ms, "
          f"postgres {cpu['postgres'] * ms / max(1, pages):.1f} ms per alerts page, "
          f"victoria-metrics {cpu['tsdb'] * ms / max(1, ranges):.1f} ms per query_range", flush=True)
    if figures["lag"]:
        lag = sorted(figures["lag"])
        print(f"    client schedule lag p99 {_pct(lag, .99):.1f} ms (the client kept its schedule if this is small)",
              flush=True)
    visits = len(figures["latencies"]["alerts (first page)"]) + ranges
    return visits / figures["seconds"], _pct(everything, .99)


# ---- the benchmark ----------------------------------------------------------------------------------------------

def _prometheus_shape(base_url: str, key: str) -> bool:
    """Does query_range take Prometheus' `query=` yet (a colleague is moving it there)?"""
    now = int(time.time())
    answer = httpx.get(f"{base_url}/api/v1/query_range", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                       params={"query": "node_load1", "start": now - 600, "end": now, "step": 60})
    return answer.status_code == 200


def run(env: VigilEnv, stack: Stack, scale: Scale) -> None:
    """Seed, start the API, run the closed loop and the open loop at OPEN_LOOP_SHARE of its capacity."""
    now = time.time()
    print("  seeding Postgres (COPY) …", flush=True)
    seed_postgres(env.dsn, scale, now)
    print("  seeding VictoriaMetrics (/api/v1/import) …", flush=True)
    seed_tsdb(env.env["VIGIL_TSDB_URL"], scale, now)
    key, port = create_key(env.dsn), free_port()
    api = env.start("api", extra_env={"VIGIL_API_PORT": str(port)})
    base_url = f"http://127.0.0.1:{port}"
    wait_http(f"{base_url}/healthz", api)
    prometheus = _prometheus_shape(base_url, key)
    print("  query_range in " + ("the Prometheus shape (query=PromQL)" if prometheus else
                                 "the older shape (metric= + match=): the query= route is not there yet"), flush=True)
    servers = {proc.name: proc.pid for proc in stack.started}
    plan = Plan(base_url=base_url, key=key, prometheus_shape=prometheus, hosts=[f"host-{h:04d}" for h in range(
        scale.hosts_with_series)], warmup_s=scale.warmup_s, run_s=scale.run_s, visits_per_s=None,
        pids={"api": api.pid, "postgres": servers["postgres"], "tsdb": servers["tsdb"]})
    print(f"  closed loop: {CLIENTS} clients back to back for {scale.run_s:.0f} s (capacity; p99 here is queueing)",
          flush=True)
    capacity, _ = report(run_load(plan))
    offered = OPEN_LOOP_SHARE * capacity
    print(f"  open loop: {CLIENTS} clients at a fixed rate, together {offered:,.0f} visits/s "
          f"({OPEN_LOOP_SHARE:.0%} of the {capacity:,.0f} visits/s above); latency from the scheduled send "
          f"— this p99 is the one for the target of {TARGET_P99_MS} ms", flush=True)
    _, p99 = report(run_load(Plan(**{**asdict(plan), "visits_per_s": offered / CLIENTS})))
    verdict = "met" if p99 <= TARGET_P99_MS else "missed"
    print(f"  target p99 ≤ {TARGET_P99_MS} ms at {OPEN_LOOP_SHARE:.0%} load: {verdict} "
          f"(p99 {p99:.0f} ms over both endpoints)", flush=True)


def _drop_database(env: VigilEnv) -> None:
    """The seeded database holds about half a gigabyte: drop it rather than leave it until the stack goes."""
    with psycopg.connect(env.dsn.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{env.prefix}" WITH (FORCE)')


def bench(stack: Stack, scale: Scale = FULL) -> None:
    """Print the closed- and open-loop figures of the alerts list and query_range on a slice of the stack."""
    print(f"api: {shape(scale)}", flush=True)
    env = new_env(stack.settings)
    try:
        run(env, stack, scale)
    finally:
        drop_env(env)
        _drop_database(env)


def main(argv: list[str]) -> int:
    """`python -m bench.api [--quick]`: this benchmark alone, on its own fresh stack."""
    if set(argv) - {"--quick"}:
        print("usage: python -m bench.api [--quick]", file=sys.stderr)
        return 2
    stack = start_test_stack()
    try:
        bench(stack, QUICK if "--quick" in argv else FULL)
    finally:
        stack.down(only_started=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
