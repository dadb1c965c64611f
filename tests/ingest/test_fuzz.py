"""Fuzzing every ingest protocol against a real `vigil ingest` (issue 15): malformed bodies never get a 5xx.

Per protocol, CASES bodies from tests/ingest/fuzz_bodies.py (seeded: VIGIL_FUZZ_SEED overrides
DEFAULT_SEED, and a failure names the seed and case index that replay it) go to a fresh ingest
process over one keep-alive HTTP client shared by CONCURRENCY threads, or over UDP for StatsD.
Every HTTP answer must be a 4xx naming what was wrong, or a 2xx for a body that is in fact valid
(checked with the spec's own message classes, not ingest's parser); never a 5xx, a reset or a
timeout. Afterwards the process must still be healthy: /healthz is 200 and a valid write lands in Kafka.

A 5xx is replayed alone and matched to the traceback it leaves in ingest's log; bugs already
reported are listed in KNOWN_BUGS (and pinned by an xfail(strict) regression test each), so the fuzz
run stays green for them and fails for anything new.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass

import cramjam
import httpx
import psycopg
import pytest
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from prometheus_client.parser import text_string_to_metric_families
from psycopg.types.json import Jsonb

from ingest.otlp.wire.metrics_raw_pb2 import (
    ExportMetricsServiceRequest as RawExportMetricsServiceRequest,
)
from ingest.remote_write.prompb.remote_pb2 import Label, WriteRequest, WriteRequestRaw
from ingest.remote_write.prompb.write_v2_pb2 import Request
from schemas import codec
from tests.ingest.fuzz_bodies import PROTOCOLS, Case, make_case
from infra.topic_reader import TopicReader

pytestmark = pytest.mark.integration

DEFAULT_SEED = 15_2026
SEED = int(os.environ.get("VIGIL_FUZZ_SEED", DEFAULT_SEED))
CASES = 10_000  # bodies per protocol per run
TIME_BUDGET_S = 60.0  # per protocol; measured on 2 cores, 10k take 16-23 s (Influx, remote write), 25-31 s (OTLP)
CONCURRENCY = 24  # requests in flight (ingest sheds past VIGIL_INGEST_MAX_IN_FLIGHT, 32)
REQUEST_TIMEOUT_S = 15.0  # an answer slower than this is a hang
MAX_BODY_BYTES = 256 * 1024
SLOWEST_KEPT = 5
MAX_REPLAYED = 100  # 5xx replayed alone to find their traceback
MAX_REPORTED = 25  # failures listed in a failure message; the rest are counted
HTTP_PROTOCOLS = [p for p in PROTOCOLS if p != "statsd"]
V2_HEADERS = {"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request",
              "Content-Encoding": "snappy", "X-Prometheus-Remote-Write-Version": "2.0.0"}
V1_HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
              "X-Prometheus-Remote-Write-Version": "0.1.0"}


@dataclass(frozen=True)
class KnownBug:
    """A bug the fuzzer found and that is reported, not yet fixed: how to recognise its traceback."""

    protocol: str
    signature: str  # regex over the traceback a replay of the case leaves in ingest's log
    summary: str


KNOWN_BUGS: list[KnownBug] = []  # none open; the fixed ones are pinned by the regression tests at the end


@pytest.fixture
def ingest(start_ingest):
    """A running `vigil ingest` (256 KiB bodies, StatsD flushed every 0.5 s); yields (http client, env, process)."""
    # No linger: each 400 waits for its dead-letter record to be acknowledged, and 20 ms of batching
    # per answer was most of a request's time here.
    with start_ingest(max_body_bytes=MAX_BODY_BYTES, VIGIL_STATSD_FLUSH_INTERVAL_S="0.5",
                      VIGIL_INGEST_LINGER_MS="0") as (http, env):
        yield http, env, env.processes[-1]


# --- what a right answer is ------------------------------------------------------------------------

def _decoded(case: Case) -> bytes | None:
    """The body as ingest should read it after Content-Encoding, or None when that can't be done."""
    encoding = case.headers.get("Content-Encoding", "").strip().lower()
    if case.protocol.startswith("remote_write"):
        try:
            return bytes(cramjam.snappy.decompress_raw(case.body))
        except cramjam.DecompressionError:
            return None
    if encoding in ("", "identity"):
        return case.body
    try:
        return gzip.decompress(case.body) if encoding == "gzip" else None
    except (OSError, EOFError, ValueError):
        return None


def _valid_influx(body: bytes) -> bool:
    """Every line that is not blank or a comment (whose bytes nobody reads, as in InfluxDB) is UTF-8 `m f=v`."""
    for raw in body.split(b"\n"):
        try:
            line = raw.decode().strip()
        except UnicodeDecodeError:
            if raw.lstrip().startswith(b"#"):
                continue
            return False
        if line and not line.startswith("#") and not (" " in line and "=" in line):
            return False
    return True


def _named_once(pairs: list[tuple[str, str]]) -> bool:
    """A label set as the spec wants it: __name__ set, no empty name (empty values are absent), no name twice
    (even when a copy's value is empty)."""
    names = [name for name, value in pairs if value]
    every = [name for name, _ in pairs]
    return "__name__" in names and "" not in names and len(set(every)) == len(every)


def _valid_remote_write_v1(body: bytes) -> bool:
    # Exemplars and metadata are ignored by ingest (docs/protocols.md), so only series and samples are read here.
    try:
        request = WriteRequestRaw.FromString(body)
        return all(_named_once([(l.name, l.value) for l in map(Label.FromString, series.labels)])
                   for series in request.timeseries if series.samples)
    except DecodeError:
        return False


def _valid_remote_write_v2(body: bytes) -> bool:
    try:
        request = Request.FromString(body)
    except DecodeError:
        return False
    symbols = list(request.symbols)
    if request.timeseries and (not symbols or symbols[0] != ""):
        return False
    for series in request.timeseries:
        refs = list(series.labels_refs)
        if (len(refs) % 2 or any(r >= len(symbols) for r in refs) or series.histograms
                or series.metadata.help_ref >= len(symbols) or series.metadata.unit_ref >= len(symbols)):
            return False
        if series.samples and not _named_once([(symbols[a], symbols[b]) for a, b in zip(refs[::2], refs[1::2])]):
            return False
    return True


def _valid_otlp(body: bytes, is_json: bool) -> bool:
    try:
        if not is_json:
            ExportMetricsServiceRequest.FromString(body)
            return True
        document = json.loads(body)
        if not isinstance(document, dict):
            return False
        json_format.ParseDict(document, ExportMetricsServiceRequest(), ignore_unknown_fields=True)
        return True
    except DecodeError:
        return _valid_otlp_but_unread_points(body)
    except (ValueError, json_format.ParseError, RecursionError, TypeError, AttributeError):
        return False


def _valid_otlp_but_unread_points(body: bytes) -> bool:
    """Valid but for attributes of points flagged "no recorded value", which are skipped unread (docs/protocols.md)."""
    try:
        request = RawExportMetricsServiceRequest.FromString(body)  # the wire view: attributes as bytes
        for resource_metrics in request.resource_metrics:
            for raw in resource_metrics.resource.attributes:
                KeyValue.FromString(raw)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    for point in getattr(metric, kind).data_points if kind else ():
                        for raw in point.attributes if not point.flags & 1 else ():
                            KeyValue.FromString(raw)
    except DecodeError:
        return False
    return True


def _accepted_validly(case: Case, answer: httpx.Response) -> str | None:
    """None when a 2xx answer was right (the body is valid by the spec's own classes); else why not."""
    body = _decoded(case)
    if body is None:
        return "2xx for a body whose Content-Encoding does not decode"
    media = case.headers.get("Content-Type", "").partition(";")[0].strip().lower()
    if case.protocol == "influx":
        ok = _valid_influx(body)
    elif case.protocol.startswith("remote_write"):
        ok = _valid_remote_write_v1(body) or _valid_remote_write_v2(body)  # the Content-Type picks one; either is fine
    else:
        ok = _valid_otlp(body, media == "application/json")
        if not ok and answer.status_code == 200 and _refusal_message(case, answer):
            return None  # OTLP's partial success: the points that could not be read are named and refused
    return None if ok else "2xx for a body the spec's own decoder refuses"


def _refusal_message(case: Case, answer: httpx.Response) -> str:
    """The partialSuccess.errorMessage of an OTLP 200 ('' when none)."""
    try:
        if answer.headers.get("content-type", "").startswith("application/json"):
            return json_format.Parse(answer.text, ExportMetricsServiceResponse()).partial_success.error_message
        return ExportMetricsServiceResponse.FromString(answer.content).partial_success.error_message
    except (ValueError, DecodeError, json_format.ParseError):
        return ""


def _reason(case: Case, answer: httpx.Response) -> str:
    """The reason a 4xx answer gives, in the protocol's error format ('' when there is none)."""
    try:
        if case.protocol == "influx":
            payload = answer.json()
            return str(payload.get("message") or payload.get("error") or "")
        if case.protocol == "otlp":
            if answer.headers.get("content-type", "").startswith("application/json"):
                return str(answer.json().get("message", ""))
            return Status.FromString(answer.content).message
    except (ValueError, DecodeError, AttributeError):
        return ""
    return answer.text.strip()


def _verdict(case: Case, answer: httpx.Response) -> str | None:
    """None when the answer is right for the case; else what is wrong with it."""
    if 200 <= answer.status_code < 300:
        return _accepted_validly(case, answer)
    if 400 <= answer.status_code < 500:
        return None if _reason(case, answer) else f"{answer.status_code} without a reason in the body"
    return f"answered {answer.status_code}"


# --- sending --------------------------------------------------------------------------------------

@dataclass
class Failure:
    """A case whose answer was wrong (or never came)."""

    case: Case
    problem: str
    status: int | None
    answer: str
    traceback: str = ""

    def describe(self) -> str:
        body = self.case.body
        shown = body[:300].hex() + ("…" if len(body) > 300 else "")
        return (f"- {self.case.protocol} case {self.case.index} ({self.case.recipe}): {self.problem}; answer "
                f"{self.status} {self.answer[:300]!r}\n  POST {self.case.path} params={self.case.params} "
                f"headers={self.case.headers} body[{len(body)}]={shown}"
                + (f"\n  ingest log: {self.traceback}" if self.traceback else ""))


@dataclass
class Run:
    """What one protocol's run sent and got back."""

    sent: int = 0
    seconds: float = 0.0
    statuses: Counter | None = None
    failures: list[Failure] | None = None
    out_of_time: bool = False
    slowest: list[tuple[float, int, str]] | None = None  # (seconds, case index, recipe) of the slowest answers


def _send_all(base_url: str, protocol: str, now_ms: int) -> Run:
    """Send the protocol's cases from CONCURRENCY threads over one keep-alive client, until CASES or the budget."""
    run = Run(statuses=Counter(), failures=[], slowest=[])
    deadline = time.monotonic() + TIME_BUDGET_S
    indices = iter(range(CASES))
    lock = threading.Lock()
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)

    def record(case: Case, seconds: float, status, failure: Failure | None) -> None:
        with lock:
            run.sent += 1
            run.statuses[status] += 1
            if failure is not None:
                run.failures.append(failure)
            run.slowest.append((round(seconds, 3), case.index, case.recipe))
            if len(run.slowest) > 50:
                run.slowest = sorted(run.slowest, reverse=True)[:SLOWEST_KEPT]

    def worker(http: httpx.Client) -> None:
        while True:
            with lock:
                index = next(indices, None)
            if index is None:
                return
            if time.monotonic() > deadline:
                run.out_of_time = True
                return
            case = make_case(protocol, SEED, index, now_ms)
            sent_at = time.monotonic()
            try:
                answer = http.post(case.path, content=case.body, headers=case.headers, params=case.params)
            except httpx.TransportError as exc:
                record(case, time.monotonic() - sent_at, "no answer",
                       Failure(case, f"no answer: {type(exc).__name__} {exc}", None, ""))
                continue
            problem = _verdict(case, answer)
            record(case, time.monotonic() - sent_at, answer.status_code, None if problem is None else
                   Failure(case, problem, answer.status_code, answer.text))

    started = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
        threads = [threading.Thread(target=worker, args=(http,), name=f"fuzz-{i}") for i in range(CONCURRENCY)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    run.seconds = time.monotonic() - started
    return run


def _triage(http: httpx.Client, env, proc, failures: list[Failure]) -> None:
    """Replay each 5xx alone and attach the traceback it leaves in ingest's log (the last frame and error)."""
    for failure in [f for f in failures if f.status is not None and f.status >= 500][:MAX_REPLAYED]:
        before = len(env.log(proc))
        case = failure.case
        answer = http.post(case.path, content=case.body, headers=case.headers, params=case.params)
        time.sleep(0.2)
        logged = env.log(proc)[before:]
        frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', logged)
        errors = re.findall(r"^(\w+(?:Error|Exception)\b.*)$", logged, re.MULTILINE)
        where = " <- ".join(f"{path.split('/work/main/')[-1]}:{line} {func}" for path, line, func in frames[-3:][::-1])
        failure.traceback = (f"replayed: {answer.status_code}; {errors[-1] if errors else 'no exception logged'}"
                             f" at {where or '?'}")


def _known(failure: Failure) -> KnownBug | None:
    return next((bug for bug in KNOWN_BUGS if bug.protocol == failure.case.protocol
                 and failure.traceback and re.search(bug.signature, failure.traceback)), None)


def _collateral(http: httpx.Client, failures: list[Failure], known_5xx: int) -> list[Failure]:
    """Transport errors that are the known 5xx's doing: uvicorn closes a connection after an unhandled
    exception, so the request sent next on it is reset. Each must answer rightly when replayed alone,
    and there may be no more of them than known 5xx answers."""
    lost = [f for f in failures if f.status is None]
    if not lost or len(lost) > known_5xx:
        return []
    for failure in lost:
        case = failure.case
        try:
            answer = http.post(case.path, content=case.body, headers=case.headers, params=case.params)
        except httpx.TransportError:
            return []
        if _verdict(case, answer) is not None:
            return []
    return lost


def _report(protocol: str, run: Run) -> str:
    rate = run.sent / run.seconds if run.seconds else 0
    return (f"{protocol}: seed {SEED} (VIGIL_FUZZ_SEED), {run.sent} bodies in {run.seconds:.1f}s ({rate:.0f}/s), "
            f"answers {dict(sorted(run.statuses.items(), key=str))}, slowest (s, case, recipe) "
            f"{sorted(run.slowest, reverse=True)[:SLOWEST_KEPT]}")


# --- a valid write still lands afterwards ---------------------------------------------------------

def _valid_write(protocol: str, name: str, now_ms: int) -> tuple[str, dict, bytes]:
    """(path, headers, body) of one valid sample named `name` (Influx adds its field name: `name_value`)."""
    if protocol == "influx":
        return "/api/v2/write?precision=ms", {}, f"{name},host=fuzz value=1 {now_ms}".encode()
    if protocol == "remote_write_v1":
        req = WriteRequest()
        ts = req.timeseries.add()
        ts.labels.add(name="__name__", value=name)
        ts.samples.add(value=1.0, timestamp=now_ms)
        return "/api/v1/write", V1_HEADERS, bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
    if protocol == "remote_write_v2":
        req = Request(symbols=["", "__name__", name])
        ts = req.timeseries.add(labels_refs=[1, 2])
        ts.samples.add(value=1.0, timestamp=now_ms)
        return "/api/v1/write", V2_HEADERS, bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name=name)
    metric.gauge.data_points.add(as_double=1.0, time_unix_nano=now_ms * 1_000_000)
    return "/v1/metrics", {"Content-Type": "application/x-protobuf"}, req.SerializeToString()


def _assert_still_healthy(http: httpx.Client, env, protocol: str) -> None:
    assert http.get("/healthz").status_code == 200, f"{protocol}: /healthz is not 200 after fuzzing"
    name = f"fuzz_after_{secrets.token_hex(4)}"
    path, headers, body = _valid_write(protocol, name, int(time.time() * 1000))
    answer = http.post(path, headers=headers, content=body)
    assert 200 <= answer.status_code < 300, (
        f"{protocol}: a valid write after fuzzing got {answer.status_code} {answer.text}")
    _wait_for_sample(env, name if protocol != "influx" else f"{name}_value")


def _wait_for_sample(env, name: str, timeout: float = 40.0) -> dict:
    """The first sample named `name` on the env's metrics topic."""
    reader = TopicReader(env.settings, env.settings.topics.metrics, codec.series_batch())
    found: list[dict] = []
    scanned = 0

    def arrived(batches: list) -> bool:  # looks at each batch once: fuzzing leaves tens of thousands
        nonlocal scanned
        found.extend(s for b in batches[scanned:] for s in b["samples"] if s["name"] == name)
        scanned = len(batches)
        return bool(found)
    try:
        reader.wait_for(arrived, timeout=timeout, what=f"the sample {name} on the metrics topic (of {scanned} batches)")
        return found[0]
    finally:
        reader.close()


# --- the tests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", HTTP_PROTOCOLS)
def test_malformed_http_bodies_get_a_4xx_with_a_reason_and_ingest_stays_healthy(ingest, protocol):
    http, env, proc = ingest
    print(f"\nfuzzing {protocol} with seed {SEED} (set VIGIL_FUZZ_SEED to replay another run)")
    now_ms = int(time.time() * 1000)
    run = _send_all(str(http.base_url), protocol, now_ms)
    print(_report(protocol, run))
    _triage(http, env, proc, run.failures)
    known = [(f, bug) for f in run.failures if (bug := _known(f))]
    collateral = _collateral(http, run.failures, len(known))
    for failure, bug in known:
        print(f"known bug ({bug.summary}):\n{failure.describe()}")
    for failure in collateral:
        print(f"reset after a known bug's 500 (answers rightly alone):\n{failure.describe()}")
    new = [f for f in run.failures if not _known(f) and f not in collateral]
    replay = f"replay: VIGIL_FUZZ_SEED={SEED}, cases made with now_ms={now_ms} (python -m tests.ingest.fuzz_bodies)"
    assert not new, (f"{len(new)} wrong answers; {_report(protocol, run)}; {replay}\n"
                     + "\n".join(f.describe() for f in new[:MAX_REPORTED]))
    assert not run.out_of_time and run.sent >= CASES, (
        f"{protocol}: the time budget of {TIME_BUDGET_S:.0f}s ran out after {run.sent} of {CASES} bodies")
    _assert_still_healthy(http, env, protocol)


def _statsd_refused_lines(datagram: bytes) -> int:
    """Lines any StatsD parser must refuse: invalid UTF-8, or a metric line with no '|' (no type)."""
    try:
        lines = datagram.decode().split("\n")
    except UnicodeDecodeError:
        refused = 0
        for raw in datagram.split(b"\n"):
            try:
                line = raw.decode().strip()
            except UnicodeDecodeError:
                refused += 1
                continue
            refused += bool(line) and "|" not in line and not line.startswith("_e{")
        return refused
    return sum(1 for line in map(str.strip, lines) if line and "|" not in line and not line.startswith("_e{"))


def _counter(http: httpx.Client, name: str, **labels: str) -> float:
    """The sum of a counter's samples in ingest's /metrics whose labels include `labels`."""
    total = 0.0
    for family in text_string_to_metric_families(http.get("/metrics/").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def test_malformed_statsd_datagrams_are_counted_and_ingest_stays_healthy(ingest):
    http, env, _ = ingest
    port = int(env.env["VIGIL_STATSD_PORT"])
    print(f"\nfuzzing statsd with seed {SEED} (set VIGIL_FUZZ_SEED to replay another run)")
    now_ms = int(time.time() * 1000)
    rejected_before = _counter(http, "vigil_ingest_rejected_total", protocol="statsd")
    received_before = _counter(http, "vigil_ingest_statsd_bytes_total")
    sent = sent_bytes = must_refuse = 0
    started = time.monotonic()
    deadline = started + TIME_BUDGET_S
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for index in range(CASES):
            if time.monotonic() > deadline:
                break
            case = make_case("statsd", SEED, index, now_ms)
            udp.sendto(case.body, ("127.0.0.1", port))
            sent, sent_bytes = sent + 1, sent_bytes + len(case.body)
            must_refuse += _statsd_refused_lines(case.body)
            if sent % 500 == 0:  # pace to what ingest has read, so the socket buffer never overflows
                _wait_for_counter(http, "vigil_ingest_statsd_bytes_total", received_before + sent_bytes - 1_000_000)
    seconds = time.monotonic() - started
    print(f"statsd: seed {SEED} (VIGIL_FUZZ_SEED), {sent} datagrams ({sent_bytes} bytes) in {seconds:.1f}s, "
          f"{must_refuse} lines that must be refused")
    assert sent >= CASES, f"statsd: the time budget of {TIME_BUDGET_S:.0f}s ran out after {sent} of {CASES} datagrams"
    _wait_for_counter(http, "vigil_ingest_statsd_bytes_total", received_before + sent_bytes)
    rejected = _wait_for_counter(http, "vigil_ingest_rejected_total", rejected_before + must_refuse, protocol="statsd")
    print(f"statsd: ingest counted {rejected - rejected_before:.0f} refused lines")
    assert http.get("/healthz").status_code == 200, "statsd: /healthz is not 200 after fuzzing"
    name = f"fuzz_after_{secrets.token_hex(4)}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(f"{name}:1|c".encode(), ("127.0.0.1", port))
    _wait_for_sample(env, name, timeout=15)


def _wait_for_counter(http: httpx.Client, name: str, at_least: float, timeout: float = 30.0, **labels: str) -> float:
    deadline = time.monotonic() + timeout
    while (value := _counter(http, name, **labels)) < at_least:
        assert time.monotonic() < deadline, f"{name}{labels} is {value}, expected at least {at_least} within {timeout}s"
        time.sleep(0.1)
    return value


# --- bugs the fuzzer found, fixed: each pinned as it should behave ---------------------------------

def test_otlp_json_key_with_a_lone_surrogate_is_a_400(ingest):
    http, _, _ = ingest
    answer = http.post("/v1/metrics", content=rb'{"\ud800": 1}', headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["message"]


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_a_label_name_sent_twice_refuses_the_series_even_when_one_value_is_empty(ingest, version):
    http, _, _ = ingest
    now_ms = int(time.time() * 1000)
    if version == "1.0":
        req = WriteRequest()
        ts = req.timeseries.add()
        for name, value in (("__name__", "up"), ("job", ""), ("job", "api")):
            ts.labels.add(name=name, value=value)
        headers = V1_HEADERS
    else:
        req = Request(symbols=["", "__name__", "up", "job", "api"])
        ts = req.timeseries.add(labels_refs=[1, 2, 3, 0, 3, 4])
        headers = V2_HEADERS
    ts.samples.add(value=1.0, timestamp=now_ms)
    body = bytes(cramjam.snappy.compress_raw(req.SerializeToString()))
    answer = http.post("/api/v1/write", headers=headers, content=body)
    assert answer.status_code == 400 and "appears twice" in answer.text


def test_statsd_timers_summing_past_the_float_range_do_not_stop_every_later_flush(ingest):
    _, env, _ = ingest
    port = int(env.env["VIGIL_STATSD_PORT"])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"huge:1e308|ms\nhuge:1e308|ms", ("127.0.0.1", port))
        time.sleep(1.5)  # three flushes
        udp.sendto(b"after_huge:1|c", ("127.0.0.1", port))
    _wait_for_sample(env, "after_huge", timeout=10)


def test_a_nul_byte_in_a_host_label_does_not_switch_enrichment_off_for_others(ingest):
    http, env, _ = ingest
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO devices (device_id, labels) VALUES (%s, %s)", ("web-9", Jsonb({"team": "payments"})))
    stamp = int(time.time() * 1000)
    http.post("/api/v2/write?precision=ms", content=f"nul,host=a\x00b usage=1 {stamp}".encode())
    answer = http.post("/api/v2/write?precision=ms", content=f"enriched,host=web-9 usage=1 {stamp}".encode())
    assert answer.status_code == 204
    assert _wait_for_sample(env, "enriched_usage")["labels"].get("team") == "payments"
