"""The API benchmark's data: 1M alert events, incidents and a day of series, seeded by COPY and /api/v1/import."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx
import psycopg

from kernel.keys import KeyStore, Role

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
