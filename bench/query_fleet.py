"""The data and the rule file of `bench/query_rules.py`: 100,000 series of a scraped fleet and 1,000 alerting rules.

The fleet is Prometheus' shape: 50 jobs × 40 instances (targets), each target exposing 50 series
(request counters by method and code, a latency histogram with 8 buckets, `_sum`, `_count`, a CPU
counter, 10 queue gauges, `up`, memory usage/limit, 10 error counters, 12 temperature sensors),
written straight into VictoriaMetrics as a scrape would: every series every interval, one sample each.

Values are deterministic so the firing set is known: jobs 0, 10, 20, 30, 40 are "hot" (errors, latency,
queues, one target down), and instances 0 and 20 of every job run hot (CPU, memory, temperature).

The rule file has one group per job (50 groups), the same 20 rules in each, selecting that job's
series: aggregations, ratios, `histogram_quantile`, `*_over_time`, `absent`, `predict_linear`,
thresholds on selectors. `EXPECTED_FIRING` is what should fire once every `for` has passed.
"""

from __future__ import annotations

import time
import urllib.request

import orjson

JOBS, INSTANCES = 50, 40
SERIES_PER_TARGET = 50
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf")
# Cumulative requests/s per bucket (10 requests/s per target): normal targets are fast, hot jobs slow.
NORMAL_BUCKETS = (5.0, 8.0, 9.5, 9.95, 10.0, 10.0, 10.0, 10.0)
HOT_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0, 8.0, 9.5, 10.0)
HISTORY_S = 360  # written before the measurement: every 5m window is full from the first evaluation
WRITE_CHUNK = 10_000  # series per import request


def hot_job(job: int) -> bool:
    """A job whose error, latency and queue rules fire."""
    return job % 10 == 0


def hot_instance(instance: int) -> bool:
    """A target whose CPU, memory and temperature rules fire, in every job."""
    return instance % 20 == 0


def job_name(job: int) -> str:
    return f"job-{job:02d}"


def _series_of_target(job: int, instance: int) -> list[tuple[dict, float, float]]:
    """(labels, value at start, increase per second) of the 50 series of one target."""
    base = {"job": job_name(job), "instance": f"10.0.{job}.{instance}:9100", "env": "prod"}
    hot, hot_i = hot_job(job), hot_instance(instance)
    out = []
    for method, ok_rate in (("GET", 10.0), ("POST", 5.0)):
        out.append(({"__name__": "http_requests_total", **base, "method": method, "code": "200"}, 1e6, ok_rate))
        out.append(({"__name__": "http_requests_total", **base, "method": method, "code": "500"}, 1e3,
                    2.0 if hot else 0.05))
    for le, rate in zip(BUCKETS, HOT_BUCKETS if hot else NORMAL_BUCKETS):
        out.append(({"__name__": "http_request_duration_seconds_bucket", **base, "le": le}, 0.0, rate))
    out.append(({"__name__": "http_request_duration_seconds_sum", **base}, 0.0, 20.0 if hot else 1.0))
    out.append(({"__name__": "http_request_duration_seconds_count", **base}, 0.0, 10.0))
    out.append(({"__name__": "process_cpu_seconds_total", **base}, 100.0, 0.95 if hot_i else 0.2))
    for q in range(10):
        out.append(({"__name__": "queue_depth", **base, "queue": f"q{q}"}, (500.0 if hot else 10.0) + q, 0.0))
    out.append(({"__name__": "up", **base}, 0.0 if hot and instance == INSTANCES - 1 else 1.0, 0.0))
    out.append(({"__name__": "memory_usage_bytes", **base}, 9.5e8 if hot_i else 4e8, 0.0))
    out.append(({"__name__": "memory_limit_bytes", **base}, 1e9, 0.0))
    for k in range(10):
        out.append(({"__name__": "errors_total", **base, "kind": f"k{k}"}, 0.0, 1.0 if hot else 0.01))
    for s in range(12):
        out.append(({"__name__": "temperature_celsius", **base, "sensor": f"s{s}"},
                    95.0 if hot_i and s == 0 else 40.0 + s, 0.0))
    assert len(out) == SERIES_PER_TARGET
    return out


class Fleet:
    """The series of `jobs` × INSTANCES targets, and how to write them to VictoriaMetrics."""

    def __init__(self, jobs: int = JOBS) -> None:
        self.jobs = jobs
        self.series = [s for j in range(jobs) for i in range(INSTANCES) for s in _series_of_target(j, i)]
        self.start_s = time.time() - HISTORY_S
        # Prometheus text exposition lines without value and timestamp (VictoriaMetrics' /api/v1/import/prometheus).
        self._prefixes = [_exposition(labels) + " " for labels, _, _ in self.series]
        self._values = [(v0, rate) for _, v0, rate in self.series]

    def __len__(self) -> int:
        return len(self.series)

    def value(self, index: int, at_s: float) -> float:
        v0, rate = self._values[index]
        return v0 + rate * (at_s - self.start_s)

    def history(self, url: str, until_s: float, step_s: float) -> int:
        """Write every series from the fleet's start until `until_s` every `step_s` (JSON lines import); samples written."""
        stamps = [self.start_s + k * step_s for k in range(int((until_s - self.start_s) // step_s) + 1)]
        ms = [int(t * 1000) for t in stamps]
        written = 0
        for first in range(0, len(self.series), WRITE_CHUNK):
            lines = []
            for n in range(first, min(first + WRITE_CHUNK, len(self.series))):
                v0, rate = self._values[n]
                lines.append(orjson.dumps({"metric": self.series[n][0], "timestamps": ms,
                                           "values": [v0 + rate * (t - self.start_s) for t in stamps]}))
                written += len(ms)
            _post(f"{url}/api/v1/import", b"\n".join(lines))
        return written

    def scrape(self, url: str, at_s: float) -> int:
        """Write one sample of every series at `at_s`, as one scrape of every target would; samples written."""
        at_ms = int(at_s * 1000)
        elapsed = at_s - self.start_s
        body = "".join([f"{p}{v0 + rate * elapsed!r} {at_ms}\n" for p, (v0, rate) in zip(self._prefixes, self._values)])
        _post(f"{url}/api/v1/import/prometheus", body.encode())
        return len(self._prefixes)


def _exposition(labels: dict) -> str:
    name = labels["__name__"]
    rest = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
    return f"{name}{{{rest}}}"


def _post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        if answer.status // 100 != 2:
            raise RuntimeError(f"VictoriaMetrics refused a write to {url}: HTTP {answer.status}")


# --- the rule file -----------------------------------------------------------------------------------

# (alert, expr with {J} for the job's selector, for, alerts per hot job, alerts per other job)
RULES = (
    ("HighErrorRatio", 'sum by (job) (rate(http_requests_total{{{J},code="500"}}[5m])) / '
                       'sum by (job) (rate(http_requests_total{{{J}}}[5m])) > 0.05', "0s", 1, 0),
    ("HighRequestRate", "sum by (instance) (rate(http_requests_total{{{J}}}[5m])) > 18", "30s", INSTANCES, 0),
    ("LatencyP99High", "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{{{J}}}[5m]))) "
                       "> 2", "0s", 1, 0),
    ("InstanceLatencyP90High", "histogram_quantile(0.9, sum by (instance, le) "
                               "(rate(http_request_duration_seconds_bucket{{{J}}}[5m]))) > 1", "30s", INSTANCES, 0),
    ("MeanLatencyHigh", "sum(rate(http_request_duration_seconds_sum{{{J}}}[5m])) / "
                        "sum(rate(http_request_duration_seconds_count{{{J}}}[5m])) > 0.5", "0s", 1, 0),
    ("QueueBacklog", 'avg_over_time(queue_depth{{{J},queue="q3"}}[5m]) > 100', "30s", INSTANCES, 0),
    ("QueueTotalHigh", "sum by (queue) (queue_depth{{{J}}}) > 10000", "0s", 10, 0),
    ("TargetDown", "up{{{J}}} == 0", "0s", 1, 0),
    ("JobAbsent", "absent(up{{{J}}})", "0s", 0, 0),
    ("JobUpRatioLow", "sum(up{{{J}}}) / count(up{{{J}}}) < 0.99", "0s", 1, 0),
    ("CpuHigh", "rate(process_cpu_seconds_total{{{J}}}[5m]) > 0.9", "30s", 2, 2),
    ("JobCpuHigh", "sum by (job) (rate(process_cpu_seconds_total{{{J}}}[5m])) > 30", "0s", 0, 0),
    ("MemoryPressure", "memory_usage_bytes{{{J}}} / memory_limit_bytes{{{J}}} > 0.9", "0s", 2, 2),
    ("ErrorsBurst", "sum by (job) (rate(errors_total{{{J}}}[5m])) > 100", "0s", 1, 0),
    ("ErrorKindIncrease", "sum by (kind) (increase(errors_total{{{J}}}[5m])) > 1000", "0s", 10, 0),
    ("Overheating", "max by (instance) (temperature_celsius{{{J}}}) > 90", "0s", 2, 2),
    ("SensorWarm", 'avg_over_time(temperature_celsius{{{J},sensor="s5"}}[5m]) > 80', "0s", 0, 0),
    ("HotSensors", "count by (job) (temperature_celsius{{{J}}} > 90) > 1", "0s", 1, 1),
    ("MethodErrorRatio", 'sum by (method) (rate(http_requests_total{{{J},code="500"}}[5m])) / '
                         'sum by (method) (rate(http_requests_total{{{J}}}[5m])) > 0.1', "0s", 2, 0),
    ("QueueFillPredicted", 'predict_linear(queue_depth{{{J},queue="q0"}}[5m], 3600) > 10000', "0s", 0, 0),
)
RULES_PER_GROUP = len(RULES)


def rule_file(jobs: int, interval: str) -> dict:
    """The Prometheus rule file: one group per job, RULES_PER_GROUP rules each, evaluated every `interval`."""
    groups = []
    for j in range(jobs):
        selector = f'job="{job_name(j)}"'
        rules = [{"alert": alert, "expr": expr.format(J=selector), "for": for_,
                  "labels": {"severity": "warning", "team": f"team-{j % 7}"},
                  "annotations": {"summary": f"{alert} on {{{{ $labels.job }}}}",
                                  "description": "value {{ $value | humanize }} (labels: {{ $labels }})"}}
                 for alert, expr, for_, _, _ in RULES]
        groups.append({"name": job_name(j), "interval": interval, "rules": rules})
    return {"groups": groups}


def expected_firing(jobs: int) -> int:
    """How many alerts fire once every rule's `for` has passed."""
    return sum(hot if hot_job(j) else other for j in range(jobs) for _, _, _, hot, other in RULES)
