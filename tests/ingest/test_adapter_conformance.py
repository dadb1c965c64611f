"""One conformance test over the adapter registry (ingest/registry.py): every adapter keeps Vigil's promises.

Every HTTP adapter, against a real `vigil ingest` on the test's stack:
- a malformed body is a 4xx naming what is wrong (line / field / series);
- a body with one good and one bad record writes the good one (read back from Kafka) and names the bad one;
- an oversized body is a 413 naming the limit;
- saturated (a trickling write holds the only admission slot), a write is a 503 + Retry-After in the
  protocol's own wire format, counted in vigil_ingest_shed_total{protocol};
- with Kafka unreachable the pipeline raises KafkaUnavailable: a 503 + Retry-After in the protocol's
  format, nothing written, counted in vigil_ingest_publish_failures_total{protocol};
- vigil_ingest_request_seconds{protocol, code} (the requests histogram) and
  vigil_ingest_samples_accepted_total{protocol} are on /metrics for it.

Every listener and connector, built through the registry (its typed config from settings or from the
connectors file) on a real pipeline with a real peer: create → start → data in Kafka → stop → start again
→ data again → stop, through the same `running` lifecycle the processes use, with
vigil_ingest_samples_accepted_total{protocol} growing each time.

A registered adapter without a case here fails, naming the table to add it to.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cramjam
import httpx
import paho.mqtt.client as mqtt
import pytest
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (ExportMetricsServiceRequest,
                                                                          ExportMetricsServiceResponse)
from opentelemetry.proto.metrics.v1 import metrics_pb2 as pb
from prometheus_client import REGISTRY

import ingest
from infra.demo.plc import DemoPlc, modbus_yaml
from ingest.assembly import pipeline_for
from ingest.connectors.config import load as load_connectors
from ingest.registry import ADAPTERS, Adapter, Host, Running, connector_kinds, of_kind, running
from ingest.remote_write.prompb.remote_pb2 import WriteRequest
from ingest.sources import Sources
from ingest.sources import load as load_sources
from kernel.settings import IngestSettings
from schemas import codec
from tests.harness import closed_port, free_port, wait_http, wait_until
from tests.ingest.test_homeassistant import TOKEN, FakeHomeAssistant
from tests.ingest.test_hostile_bodies import metric_value
from tests.ingest.test_influx_http import samples_in_kafka
from tests.ingest.test_opcua_connector import Plant
from infra.topic_reader import TopicReader

HERE = "tests/ingest/test_adapter_conformance.py"
INGEST = Path(ingest.__file__).resolve().parent
MAX_BODY_BYTES = 64 * 1024
ROUND_TIMEOUT_S = 60  # one start → data → stop of a listener or connector

Record = tuple[str, dict[str, str], float]  # name, labels, value


def now_ms() -> int:
    return int(time.time() * 1000)


# --- how each HTTP protocol is written to and answers ---------------------------------------------------

@dataclass(frozen=True)
class HttpCase:
    """One HTTP protocol as a sender sees it: its endpoint, bodies built with its real encoders, its answers."""

    path: str
    headers: dict[str, str]
    encode: Callable[[list[Record], int], bytes]  # records stamped at t (ms) → a body
    malformed: bytes  # a body that can't be read
    malformed_named: str  # what the refusal of `malformed` names
    mixed: Callable[[str, int], bytes]  # a good record of that name, then a bad one → a body
    bad_named: str  # how the answer to `mixed` names the bad record
    message: Callable[[httpx.Response], str]  # a refusal's text, read from the protocol's error format
    partial: Callable[[httpx.Response], str]  # asserts a partial write's answer; the text naming what was refused
    unavailable: Callable[[httpx.Response], None]  # asserts a 503 is the protocol's own "unavailable"
    written: tuple[int, ...] = (204,)  # the 2xx of a write taken whole


def _influx_body(records: list[Record], t: int) -> bytes:
    return "\n".join(f"{name}{''.join(f',{k}={v}' for k, v in labels.items())} v={value} {t}"
                     for name, labels, value in records).encode()


def _influx_partial(answer: httpx.Response) -> str:
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["code"] == "invalid" and "1 sample(s) written" in body["message"], body
    return json.dumps(body["rejected"])


def _influx_unavailable(answer: httpx.Response) -> None:
    assert answer.headers["content-type"] == "application/json" and answer.json()["code"] == "unavailable"


def _remote_write_body(records: list[Record], t: int) -> bytes:
    request = WriteRequest()
    for name, labels, value in records:
        series = request.timeseries.add()
        for label, label_value in {"__name__": name, **labels}.items():
            if label_value:
                series.labels.add(name=label, value=label_value)
        series.samples.add(value=value, timestamp=t)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def _remote_write_partial(answer: httpx.Response) -> str:
    assert answer.status_code == 400 and answer.text.startswith("1 series rejected, 1 sample(s) written"), answer.text
    return answer.text


def _remote_write_unavailable(answer: httpx.Response) -> None:
    assert answer.headers["content-type"].startswith("text/plain")  # Prometheus logs the body of a refusal as text


def _otlp_body(records: list[Record], t: int, bad: bool = False) -> bytes:
    request = ExportMetricsServiceRequest()
    metrics = request.resource_metrics.add().scope_metrics.add().metrics
    for name, labels, value in records:
        attributes = [{"key": k, "value": {"string_value": v}} for k, v in labels.items()]
        metrics.add(name=name, gauge=pb.Gauge(data_points=[pb.NumberDataPoint(
            as_double=value, time_unix_nano=t * 1_000_000, attributes=attributes)]))
    if bad:  # a scale outside the spec's -10..20 (https://opentelemetry.io/docs/specs/otel/metrics/data-model/)
        metrics.add(name="conformance_otlp_bad", exponential_histogram=pb.ExponentialHistogram(data_points=[
            pb.ExponentialHistogramDataPoint(time_unix_nano=t * 1_000_000, count=1, scale=-11)]))
    return request.SerializeToString()


def _otlp_partial(answer: httpx.Response) -> str:
    assert answer.status_code == 200, answer.content  # OTLP: partial success is a 200 saying what was refused
    partial = ExportMetricsServiceResponse.FromString(answer.content).partial_success
    assert partial.rejected_data_points == 1, partial
    return partial.error_message


def _otlp_unavailable(answer: httpx.Response) -> None:
    assert answer.headers["content-type"] == "application/x-protobuf"
    assert Status.FromString(answer.content).code == 14  # google.rpc.Code UNAVAILABLE: OTLP exporters retry it


HTTP_CASES: dict[str, HttpCase] = {
    "influx": HttpCase(
        path="/api/v2/write?precision=ms", headers={},
        encode=_influx_body,
        malformed=b"conformance_influx_malformed", malformed_named="line 1: missing field set",
        mixed=lambda name, t: _influx_body([(name, {"host": "a"}, 1.0)], t) + b"\nconformance_influx_bad",
        bad_named='"location": "line 2", "reason": "missing field set',
        message=lambda answer: answer.json()["message"], partial=_influx_partial, unavailable=_influx_unavailable),
    "remote_write": HttpCase(
        path="/api/v1/write",
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
                 "X-Prometheus-Remote-Write-Version": "0.1.0"},
        encode=_remote_write_body,
        malformed=bytes(cramjam.snappy.compress_raw(b"\xff\xff\xff\x01")),
        malformed_named="body is not a prometheus.WriteRequest protobuf",
        mixed=lambda name, t: _remote_write_body([(name, {"job": "c"}, 1.0), ("", {"job": "c"}, 2.0)], t),
        bad_named="timeseries[1]: series has no __name__ label",
        message=lambda answer: answer.text, partial=_remote_write_partial, unavailable=_remote_write_unavailable),
    "otlp": HttpCase(
        path="/v1/metrics", headers={"Content-Type": "application/x-protobuf"},
        encode=_otlp_body,
        malformed=b"\xff\xff\xff", malformed_named="body is not an ExportMetricsServiceRequest protobuf",
        mixed=lambda name, t: _otlp_body([(name, {"host": "a"}, 1.0)], t, bad=True),
        bad_named="resourceMetrics[0].scopeMetrics[0].metrics[1] conformance_otlp_bad dataPoints[0]: scale -11",
        message=lambda answer: Status.FromString(answer.content).message, partial=_otlp_partial,
        unavailable=_otlp_unavailable, written=(200,)),
}


def _case(cases: dict, name: str, table: str):
    """The conformance case of a registered adapter, or a failure saying where to add it."""
    if name not in cases:
        pytest.fail(f"the {ADAPTERS[name].kind} adapter {name!r} is registered in ingest/registry.py but has no "
                    f"conformance case: add one to {table} in {HERE}", pytrace=False)
    return cases[name]


def _post(http: httpx.Client, case: HttpCase, body) -> httpx.Response:
    return http.post(case.path, headers=case.headers, content=body)


def _retry_after(answer: httpx.Response) -> int:
    assert "Retry-After" in answer.headers, (answer.status_code, answer.headers)
    return int(answer.headers["Retry-After"])


def _oversized(name: str, case: HttpCase, t: int) -> bytes:
    """A body of the protocol past MAX_BODY_BYTES even compressed (random label values, as many series as it takes)."""
    records = [(f"conformance_{name}_big", {"id": secrets.token_hex(16)}, 1.0) for _ in range(4000)]
    body = case.encode(records, t)
    assert len(body) > MAX_BODY_BYTES
    return body


# --- the HTTP adapters ------------------------------------------------------------------------------------

@pytest.mark.integration
@pytest.mark.parametrize("name", [adapter.name for adapter in of_kind("http")])
def test_http_adapter_names_bad_input_writes_the_good_and_exports_its_metrics(start_ingest, name):
    case = _case(HTTP_CASES, name, "HTTP_CASES")
    with start_ingest(max_body_bytes=MAX_BODY_BYTES) as (http, env):
        t = now_ms()
        malformed = _post(http, case, case.malformed)
        assert 400 <= malformed.status_code < 500, (malformed.status_code, malformed.text)
        assert case.malformed_named in case.message(malformed), case.message(malformed)

        good = f"conformance_{name}_good"
        mixed = _post(http, case, case.mixed(good, t))
        assert case.bad_named in case.partial(mixed)
        (sample,) = samples_in_kafka(env, 1)  # the good record, and nothing of the bad one
        assert sample["name"].startswith(good) and sample["timestamp_ms"] == t, sample

        oversized = _post(http, case, _oversized(name, case, t))
        assert oversized.status_code == 413, oversized.text
        assert f"the limit is {MAX_BODY_BYTES} bytes" in case.message(oversized)

        for code in (malformed.status_code, mixed.status_code, 413):
            assert metric_value(http, "vigil_ingest_request_seconds_count", protocol=name, code=str(code)) >= 1, code
        assert metric_value(http, "vigil_ingest_samples_accepted_total", protocol=name) == 1


@pytest.mark.integration
@pytest.mark.parametrize("name", [adapter.name for adapter in of_kind("http")])
def test_http_adapter_answers_503_with_retry_after_in_its_own_format_when_saturated(start_ingest, name):
    case = _case(HTTP_CASES, name, "HTTP_CASES")
    with start_ingest(max_body_bytes=MAX_BODY_BYTES, VIGIL_INGEST_MAX_IN_FLIGHT="1",
                      VIGIL_INGEST_MAX_EVALUATION_LAG_S="0") as (http, env):
        held_body, release, held = case.encode([(f"conformance_{name}_held", {}, 1.0)], now_ms()), threading.Event(), {}

        def trickle():  # a sender whose body trickles in holds the one admission slot while it lasts
            yield held_body[:2]
            release.wait(20)
            yield held_body[2:]
        sender = threading.Thread(target=lambda: held.setdefault("answer", _post(http, case, trickle())))
        sender.start()
        try:
            wait_until(lambda: http.get("/healthz").json()["admission"]["in_flight"] == 1, timeout=10,
                       message="the held write in flight")
            refused = _post(http, case, case.encode([(f"conformance_{name}_refused", {}, 1.0)], now_ms()))
            assert refused.status_code == 503 and _retry_after(refused) >= 1, refused.text
            case.unavailable(refused)
            assert "Vigil is saturated" in case.message(refused) and "retry" in case.message(refused)
            assert metric_value(http, "vigil_ingest_shed_total", protocol=name, reason="in_flight") == 1
            assert metric_value(http, "vigil_ingest_request_seconds_count", protocol=name, code="503") == 1
        finally:
            release.set()
            sender.join(20)
        assert held["answer"].status_code in case.written, held["answer"].text
        (sample,) = samples_in_kafka(env, 1)  # the held write, not the refused one
        assert sample["name"].startswith(f"conformance_{name}_held"), sample


@pytest.mark.integration
@pytest.mark.parametrize("name", [adapter.name for adapter in of_kind("http")])
def test_http_adapter_asks_for_a_retry_in_its_own_format_when_kafka_cannot_take_the_write(vigil_env, name):
    case = _case(HTTP_CASES, name, "HTTP_CASES")
    port = free_port()
    proc = vigil_env.start("ingest", extra_env={"VIGIL_INGEST_PORT": str(port), "VIGIL_PRODUCE_TIMEOUT_S": "1",
                                                "VIGIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed_port()}"})
    wait_http(f"http://127.0.0.1:{port}/metrics/", proc)  # /healthz is 503 without Kafka, as it should be
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        answer = _post(http, case, case.encode([(f"conformance_{name}_lost", {}, 1.0)], now_ms()))
        assert answer.status_code == 503 and _retry_after(answer) >= 1, answer.text
        case.unavailable(answer)
        assert "nothing of this request was written, retry it" in case.message(answer)
        assert metric_value(http, "vigil_ingest_publish_failures_total", protocol=name, reason="KafkaUnavailable") == 1
        assert metric_value(http, "vigil_ingest_request_seconds_count", protocol=name, code="503") == 1


# --- listeners and connectors: one lifecycle through the registry ---------------------------------------------

@dataclass
class Peer:
    """What a listener or connector reads from, started for the test: its config and a way to make it send."""

    env: dict[str, str] = field(default_factory=dict)  # VIGIL_* for the adapter's settings
    ingest_config: str = ""  # the ingest config file (scrape jobs), if the adapter reads one
    connectors_entry: str = ""  # the connectors-file entry, for a connector
    poke: Callable[[], None] = lambda: None  # called while waiting for data: make the peer send some
    expect: Callable[[dict], bool] = lambda sample: True  # a sample the adapter must have put in Kafka


def _settings(vigil_env, extra: dict[str, str]) -> IngestSettings:
    values = {key.removeprefix("VIGIL_").lower(): value for key, value in {**vigil_env.env, **extra}.items()}
    return IngestSettings(**{key: value for key, value in values.items() if key in IngestSettings.model_fields})


def _accepted(protocol: str) -> float:
    return REGISTRY.get_sample_value("vigil_ingest_samples_accepted_total", {"protocol": protocol}) or 0.0


@asynccontextmanager
async def _statsd(vigil_env, tmp_path: Path) -> AsyncIterator[Peer]:
    port = free_port()
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        yield Peer(env={"VIGIL_STATSD_PORT": str(port), "VIGIL_STATSD_FLUSH_INTERVAL_S": "0.2"},
                   poke=lambda: sender.sendto(b"conformance_statsd:1|c|#site:ams", ("127.0.0.1", port)),
                   expect=lambda sample: sample["name"].startswith("conformance_statsd"))
    finally:
        sender.close()


@asynccontextmanager
async def _scrape(vigil_env, tmp_path: Path) -> AsyncIterator[Peer]:
    class Target(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"# TYPE conformance_scrape_temperature gauge\nconformance_scrape_temperature 21.5\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield Peer(env={"VIGIL_SCRAPE": "true"}, ingest_config=f"""scrape_configs:
  - job_name: conformance
    scrape_interval: 500ms
    scrape_timeout: 400ms
    static_configs: [{{targets: ["127.0.0.1:{server.server_address[1]}"]}}]
""", expect=lambda sample: sample["name"] == "conformance_scrape_temperature")
    finally:
        server.shutdown()
        server.server_close()


@asynccontextmanager
async def _mqtt(vigil_env, tmp_path: Path) -> AsyncIterator[Peer]:
    base = f"z2m-conformance-{vigil_env.prefix}"
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"conformance-pub-{vigil_env.prefix}")
    publisher.connect("127.0.0.1", vigil_env.stack.mqtt_port)
    publisher.loop_start()
    try:
        yield Peer(connectors_entry=f"""  - type: mqtt
    name: conformance-mqtt
    port: {vigil_env.stack.mqtt_port}
    client_id: conformance-{vigil_env.prefix}
    availability_interval: 1s
    zigbee2mqtt: {{base_topic: {base}}}
""", poke=lambda: publisher.publish(f"{base}/kitchen", json.dumps({"temperature": 21.5}), qos=1),
                   expect=lambda sample: sample["name"] == "zigbee_temperature")
    finally:
        publisher.loop_stop()
        publisher.disconnect()


@asynccontextmanager
async def _modbus(vigil_env, tmp_path: Path) -> AsyncIterator[Peer]:
    plc = DemoPlc(free_port())
    plc.start()
    try:
        yield Peer(connectors_entry=modbus_yaml(plc.port, interval="500ms", timeout="300ms") + "\n",
                   expect=lambda sample: sample["name"] == "pump_speed_rpm")
    finally:
        plc.stop()


@asynccontextmanager
async def _opcua(vigil_env, tmp_path: Path) -> AsyncIterator[Peer]:
    plant = Plant(free_port())
    await plant.start()
    try:
        yield Peer(connectors_entry=f"""  - type: opcua
    name: line1
    endpoint: {plant.endpoint}
    device: line1-plc
    publishing_interval: 200ms
    availability_interval: 1s
    nodes: [{{name: line_speed, node_id: "ns=2;i=5", sampling_interval: 100ms}}]
""", expect=lambda sample: sample["name"] == "line_speed" and sample["value"] == 1.5)
    finally:
        await plant.stop()


@asynccontextmanager
async def _homeassistant(vigil_env, tmp_path: Path) -> AsyncIterator[Peer]:
    ha = FakeHomeAssistant(free_port())
    now = datetime.now(timezone.utc).isoformat()
    ha.states = [{**state, "last_updated": now} for state in ha.states]
    try:
        yield Peer(connectors_entry=f"""  - type: homeassistant
    name: house
    url: http://127.0.0.1:{ha.port}
    token: {TOKEN}
    interval: 300ms
""", expect=lambda sample: sample["name"] == "ha_sensor_temperature_celsius")
    finally:
        ha.stop()


LISTENER_CASES = {"statsd": _statsd, "scrape": _scrape}
CONNECTOR_CASES = {"mqtt": _mqtt, "modbus": _modbus, "opcua": _opcua, "homeassistant": _homeassistant}
ROUND_TRIP_CASES = {"listener": ("LISTENER_CASES", LISTENER_CASES), "connector": ("CONNECTOR_CASES", CONNECTOR_CASES)}


async def _config_of(adapter: Adapter, peer: Peer, settings: IngestSettings, sources: Sources, tmp_path: Path):
    """The adapter's typed config as its process builds it: from settings, or from the connectors file."""
    if adapter.kind == "connector":
        path = tmp_path / "connectors.yaml"
        path.write_text("connectors:\n" + peer.connectors_entry)
        (config,) = load_connectors(path, connector_kinds())
        assert config.type == adapter.name
        return config
    config = adapter.from_settings(settings, sources)
    assert config is not None, f"{adapter.name}'s config is off with the case's settings {peer.env}"
    return config


async def _one_round(adapter: Adapter, at_work: Running, peer: Peer, start: str) -> None:
    """Start, take data until the adapter's samples are acknowledged by Kafka, stop; no task of it is left."""
    before = _accepted(adapter.name)
    try:
        async with asyncio.timeout(ROUND_TIMEOUT_S):
            async with running([at_work]):
                while _accepted(adapter.name) <= before:
                    peer.poke()
                    await asyncio.sleep(0.2)
    except TimeoutError:
        pytest.fail(f"{adapter.name}, started {start}: no sample of it acknowledged by Kafka, or no stop, within "
                    f"{ROUND_TIMEOUT_S} s", pytrace=False)
    await asyncio.sleep(0.1)  # a task cancelled without being awaited ends at the loop's next turn
    left = [task.get_name() for task in asyncio.all_tasks() if not task.done() and _runs_adapter_code(task, adapter)]
    assert not left, f"{adapter.name} left tasks running after its stop: {left}"


def _runs_adapter_code(task: asyncio.Task, adapter: Adapter) -> bool:
    """Whether the task runs code of the adapter's folder (or the connectors' supervision), not the pipeline's."""
    code = getattr(task.get_coro(), "cr_code", None)
    folders = [INGEST / adapter.name] + ([INGEST / "connectors"] if adapter.kind == "connector" else [])
    return code is not None and any(Path(code.co_filename).is_relative_to(folder) for folder in folders)


async def _lifecycle(vigil_env, tmp_path: Path, adapter: Adapter, case) -> Peer:
    async with case(vigil_env, tmp_path) as peer:
        ingest_config = None
        if peer.ingest_config:
            ingest_config = tmp_path / "ingest.yaml"
            ingest_config.write_text(peer.ingest_config)
        settings = _settings(vigil_env, {"VIGIL_STATSD_PORT": "0", "VIGIL_SCRAPE": "false", **peer.env})
        sources = Sources(load_sources(ingest_config))
        config = await _config_of(adapter, peer, settings, sources, tmp_path)
        async with pipeline_for(settings, sources) as pipeline:
            at_work = adapter.build(config, Host(pipeline))  # created once: started, stopped, started again
            await _one_round(adapter, at_work, peer, "once")
            await _one_round(adapter, at_work, peer, "again after a stop")
        return peer


def _in_kafka(vigil_env, peer: Peer, protocol: str) -> None:
    reader = TopicReader(vigil_env.settings, vigil_env.settings.topics.metrics, codec.series_batch())
    reader.wait_for(lambda records: any(peer.expect(s) for b in records for s in b["samples"]),
                    what=f"a sample of the {protocol} adapter's peer")
    reader.close()


@pytest.mark.integration
@pytest.mark.parametrize("name", [adapter.name for adapter in of_kind("listener", "connector")])
def test_listener_or_connector_starts_stops_and_starts_again_through_the_registry(vigil_env, tmp_path, name):
    table, cases = ROUND_TRIP_CASES[ADAPTERS[name].kind]
    peer = asyncio.run(_lifecycle(vigil_env, tmp_path, ADAPTERS[name], _case(cases, name, table)))
    _in_kafka(vigil_env, peer, name)


def test_every_registered_adapter_has_conformance_cases_and_every_case_an_adapter():
    tables = {"http": ("HTTP_CASES", HTTP_CASES), **ROUND_TRIP_CASES}
    missing = [f"{adapter.kind} adapter {adapter.name!r}: add it to {tables[adapter.kind][0]}"
               for adapter in ADAPTERS.values() if adapter.name not in tables[adapter.kind][1]]
    assert not missing, f"registered in ingest/registry.py without conformance cases in {HERE}: {missing}"
    stale = [f"{table}[{name!r}]" for kind, (table, cases) in tables.items() for name in cases
             if name not in ADAPTERS or ADAPTERS[name].kind != kind]
    assert not stale, f"conformance cases for adapters the registry does not hold (as that kind): {stale}"
