"""At saturation ingest answers 503 + Retry-After before reading the body, and takes data again after.

Two bounds (ingest/admission.py), each on the real stack: write requests in flight in one ingest
process, and the streams worker's evaluation lag read from its consumer group's committed offsets
(here a real consumer in that group, committing the offsets a worker would).
"""

from __future__ import annotations

import json
import threading
import time

import cramjam
import pytest
from confluent_kafka import TopicPartition

from kernel.kafka import make_consumer
from ingest.remote_write.prompb.remote_pb2 import WriteRequest
from schemas import codec
from schemas.topics import streams_group
from tests.harness import wait_until
from tests.ingest.test_influx_http import samples_in_kafka

pytestmark = pytest.mark.integration

HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}


def body(name: str, value: float = 1.0) -> bytes:
    req = WriteRequest()
    ts = req.timeseries.add()
    ts.labels.add(name="__name__", value=name)
    ts.labels.add(name="job", value="saturation")
    ts.samples.add(value=value, timestamp=int(time.time() * 1000))
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def admission(http) -> dict:
    return http.get("/healthz").json()["admission"]


def test_a_write_beyond_the_in_flight_bound_is_refused_at_once_and_data_after_it_is_accepted(start_ingest):
    with start_ingest(max_body_bytes=1024 * 1024, VIGIL_INGEST_MAX_IN_FLIGHT="1",
                      VIGIL_INGEST_MAX_EVALUATION_LAG_S="0") as (http, env):
        # A sender whose body trickles in holds the one slot: the process is saturated while it lasts.
        payload, release = body("held_write"), threading.Event()

        def trickle():
            yield payload[:5]
            release.wait(20)
            yield payload[5:]
        held: dict = {}
        sender = threading.Thread(target=lambda: held.setdefault(
            "answer", http.post("/api/v1/write", headers=HEADERS, content=trickle())))
        sender.start()
        wait_until(lambda: admission(http)["in_flight"] == 1, timeout=10, message="the held write in flight")

        refused = http.post("/api/v1/write", headers=HEADERS, content=body("refused_rw"))
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        assert refused.text.startswith("Vigil is saturated: this ingest process is already handling 1 writes "
                                       "(limit 1, VIGIL_INGEST_MAX_IN_FLIGHT)")
        assert "retry it" in refused.text
        influx = http.post("/api/v2/write", content=b"refused_influx value=1")
        assert influx.status_code == 503 and influx.headers["Retry-After"] == "1"
        assert influx.json()["code"] == "unavailable" and "saturated" in influx.json()["message"]
        otlp = http.post("/v1/metrics", headers={"Content-Type": "application/json"}, content=b"{}")
        assert otlp.status_code == 503 and otlp.headers["Retry-After"] == "1"
        assert otlp.json()["code"] == 14 and "saturated" in otlp.json()["message"]  # google.rpc UNAVAILABLE
        health = admission(http)
        assert health["shedding"] and health["reasons"] == ["in_flight"] and health["max_in_flight"] == 1
        shed = http.get("/metrics/").text
        for protocol in ("remote_write", "influx", "otlp"):
            assert f'vigil_ingest_shed_total{{protocol="{protocol}",reason="in_flight"}} 1.0' in shed

        release.set()  # the pressure ends
        sender.join(20)
        assert held["answer"].status_code == 204, held["answer"].text
        after = http.post("/api/v1/write", headers=HEADERS, content=body("after_pressure"))
        assert after.status_code == 204, after.text
        # Both accepted writes are in Kafka; nothing refused is.
        assert sorted(s["name"] for s in samples_in_kafka(env, 2)) == ["after_pressure", "held_write"]


class StreamsGroup:
    """A consumer in the streams worker's group, committing offsets the way the worker would."""

    def __init__(self, env) -> None:
        self.topic = env.settings.topics.metrics
        self.consumer = make_consumer(env.settings, streams_group(env.settings.topic_prefix))
        self.consumer.subscribe([self.topic])
        self.next_offsets: dict[int, int] = {}  # partition → one past the last record read
        self.samples: list[dict] = []
        self._codec = codec.series_batch()
        deadline = time.monotonic() + 20
        while not self.consumer.assignment():  # joined: the group is stable with a member
            assert time.monotonic() < deadline, "the test consumer did not join the streams group"
            self._read(0.2)

    def _read(self, timeout: float) -> None:
        message = self.consumer.poll(timeout)
        if message is not None and message.error() is None:
            self.next_offsets[message.partition()] = message.offset() + 1
            self.samples.extend(self._codec.decode(message.value())["samples"])

    def commit_nothing_evaluated(self) -> None:
        partitions = range(len(self.consumer.list_topics(self.topic, timeout=5).topics[self.topic].partitions))
        self.consumer.commit(offsets=[TopicPartition(self.topic, p, 0) for p in partitions], asynchronous=False)

    def catch_up(self, samples: int) -> None:
        """Read until `samples` were seen, then commit past them: everything evaluated."""
        deadline = time.monotonic() + 20
        while len(self.samples) < samples:
            assert time.monotonic() < deadline, f"read {len(self.samples)} of {samples} samples"
            self._read(0.2)
        self.consumer.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in self.next_offsets.items()],
                             asynchronous=False)

    def close(self) -> None:
        self.consumer.close()


def test_a_streams_group_far_behind_makes_ingest_answer_503_until_it_catches_up(start_ingest):
    with start_ingest(max_body_bytes=1024 * 1024, VIGIL_INGEST_MAX_EVALUATION_LAG_S="1",
                      VIGIL_INGEST_LAG_POLL_S="0.2") as (http, env):
        accepted = [f"before_group_{i}" for i in range(3)]
        for name in accepted:  # no streams worker yet: nothing evaluates rules, nothing is refused
            assert http.post("/api/v1/write", headers=HEADERS, content=body(name)).status_code == 204
        assert admission(http)["evaluation_lag_s"] is None

        group = StreamsGroup(env)
        try:
            group.commit_nothing_evaluated()  # a worker that evaluated none of what ingest accepted
            wait_until(lambda: admission(http)["shedding"], timeout=10, message="ingest shedding on the lag")
            refused = http.post("/api/v1/write", headers=HEADERS, content=body("refused_lag"))
            assert refused.status_code == 503 and int(refused.headers["Retry-After"]) >= 1
            assert refused.text.startswith("Vigil is saturated: the rule evaluator is ")
            assert "behind on accepted data (limit 1s, VIGIL_INGEST_MAX_EVALUATION_LAG_S)" in refused.text
            health = admission(http)
            assert health["reasons"] == ["evaluation_lag"] and health["evaluation_lag_s"] > 1
            assert 'vigil_ingest_shed_total{protocol="remote_write",reason="evaluation_lag"} 1.0' \
                in http.get("/metrics/").text

            group.catch_up(len(accepted))  # the worker evaluated everything: ingest takes data again
            answer = wait_until(lambda: (a := http.post("/api/v1/write", headers=HEADERS,
                                                        content=body("after_catch_up"))).status_code == 204 and a,
                                timeout=10, message="ingest accepting again")
            assert answer.status_code == 204
            accepted.append("after_catch_up")
            assert admission(http)["evaluation_lag_s"] < 1

            group.commit_nothing_evaluated()  # behind again …
            wait_until(lambda: admission(http)["evaluation_lag_s"] > 1, timeout=10, message="behind again")
        finally:
            group.close()  # … and then the worker is gone: nobody evaluates, so nothing is refused
        wait_until(lambda: admission(http)["evaluation_lag_s"] is None, timeout=10, message="signal off")
        assert http.post("/api/v1/write", headers=HEADERS, content=body("no_worker")).status_code == 204
        accepted.append("no_worker")
        # Everything answered 2xx is in Kafka, the refused write is not.
        assert sorted(s["name"] for s in samples_in_kafka(env, len(accepted))) == sorted(accepted)
        assert json.dumps(admission(http))  # /healthz stays JSON throughout
