"""SIGKILL of every Vigil process and of every server behind it, one after another, under steady load.

What the docs (docs/faults.md) promise, and this test holds the pipeline to:
- acknowledged = stored: every sample ingest answered 204 for is in the time-series store, whatever was
  killed meanwhile (the sender retries what was refused, as Prometheus and Telegraf do);
- pages once: an alert firing across a kill pages once and resolves once; an alert that fires while a
  process is dead pages once when it is back;
- every process is healthy again, with nothing done by hand but starting what was killed.
The broker is the exception (it keeps everything in memory): see test_broker_restart.py.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from infra.stack.parts import Part, Postgres, Redis, Tansu, VictoriaMetrics
from tests.faults.conftest import SERVICES, Pipeline, running_pipeline, show_logs, write, written
from tests.harness import api_client, new_env, wait_until
from tests.own_servers import OwnServer

pytestmark = pytest.mark.integration

RULE = {"id": "probe-high", "alert": "ProbeHigh", "metric": "probe_v", "op": ">", "threshold": 90,
        "labels": {"severity": "page"}, "annotations": {"summary": "probe {{ $labels.host }} at {{ $value }}"}}
SERVERS: dict[str, type[Part]] = {"broker": Tansu, "postgres": Postgres, "redis": Redis, "tsdb": VictoriaMetrics}
KILLED = ("ingest", "sinks", "streams", "notifier", "api", "tsdb", "postgres", "redis")


@pytest.fixture
def servers(stack):
    """A broker, Postgres, Redis and VictoriaMetrics of the test's own, run as `vigil up` runs them: it kills them."""
    own = {name: OwnServer(stack, kind, durable=True) for name, kind in SERVERS.items()}
    for server in own.values():
        server.start()
    yield own
    for server in own.values():
        server.stop()


@pytest.fixture
def pipeline(stack, servers, tmp_path):
    ports = {kind: servers[name].port for name, kind in
             (("broker", "kafka_port"), ("postgres", "postgres_port"), ("redis", "redis_port"), ("tsdb", "tsdb_port"))}
    vigil_env = new_env(stack.model_copy(update=ports))
    yield from running_pipeline(vigil_env, tmp_path / "faust")
    show_logs(vigil_env)
    vigil_env.stop_all()


@dataclass
class SteadyLoad:
    """A sender as Prometheus is one: batches at a steady rate, each retried until ingest answers 204.

    Sample n has value n and a timestamp of its own millisecond, so the store's copy of each is known.
    """

    ingest: httpx.Client
    batch: int = 50
    batches_per_s: float = 20
    acked: list[int] = field(default_factory=list)
    refusals: list[float] = field(default_factory=list)  # monotonic times of attempts not answered 204
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.start_ms = int(time.time() * 1000) - 600_000  # ten minutes back: never ahead of the clock
        self.thread = threading.Thread(target=self.run, name="steady-load", daemon=True)

    def run(self) -> None:
        seq = 0
        while not self.stopping.is_set():
            began = time.monotonic()
            values = range(seq, seq + self.batch)
            lines = [f"load,src=faults v={n} {(self.start_ms + n) * 1_000_000}" for n in values]
            while write(self.ingest, lines) != 204:
                self.refusals.append(time.monotonic())
                if self.stopping.wait(0.2):
                    return
            self.acked.extend(values)
            seq += self.batch
            self.stopping.wait(max(0.0, 1 / self.batches_per_s - (time.monotonic() - began)))

    def __enter__(self) -> SteadyLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)


def stored(tsdb: OwnServer) -> set[int]:
    """The values of every `load_v` sample the store holds."""
    try:
        resp = httpx.get(f"{tsdb.address}/api/v1/export", params={"match[]": 'load_v{src="faults"}'}, timeout=30)
    except httpx.HTTPError:
        return set()
    if resp.status_code != 200:
        return set()
    values: set[int] = set()
    for line in resp.text.splitlines():
        values.update(int(v) for v in json.loads(line)["values"])
    return values


@dataclass
class Recovery:
    """What one kill cost: how long until its process answered again, and the page of an alert raised meanwhile."""

    name: str
    back_s: float = 0.0
    paged_s: float = 0.0


def kill_and_restart(pipeline: Pipeline, servers: dict[str, OwnServer], name: str, ingest: httpx.Client) -> Recovery:
    """Kill one part with a probe alert firing across it and another raised while it is dead."""
    recovery = Recovery(name)
    written(ingest, [f"probe,host=across-{name} v=95"])
    wait_until(lambda: pipeline.pages(f"across-{name}") == ["FIRING"], timeout=60, interval=0.5,
               message=f"across-{name} paged before the kill; pages: {pipeline.page_log()}")
    killed = time.monotonic()
    if name in servers:
        servers[name].kill()
    else:
        pipeline.kill(name)
    if name != "ingest":  # with ingest dead, the sender's writes wait for it
        written(ingest, [f"probe,host=during-{name} v=95"], timeout=30)
    time.sleep(max(0.0, killed + 2 - time.monotonic()))  # dead for 2 s at least
    if name in servers:
        servers[name].start()
    else:
        pipeline.start(name)  # returns once /healthz answers
    recovery.back_s = time.monotonic() - killed
    if name == "ingest":
        written(ingest, [f"probe,host=during-{name} v=95"])
    wait_until(lambda: pipeline.pages(f"during-{name}") == ["FIRING"], timeout=90, interval=0.5,
               message=f"during-{name} paged after the restart; pages: {pipeline.page_log()}")
    recovery.paged_s = time.monotonic() - killed
    written(ingest, [f"probe,host=across-{name} v=10", f"probe,host=during-{name} v=10"])
    return recovery


def test_kill_9_of_any_part_loses_no_acknowledged_sample_and_pages_once(pipeline: Pipeline, servers):
    api = api_client(pipeline.vigil_env, pipeline.ports["api"])
    assert api.post("/api/v1/rules", json=RULE).status_code == 201
    ingest = pipeline.client("ingest")
    time.sleep(2)  # the worker reads the rules topic continuously
    with SteadyLoad(pipeline.client("ingest")) as load:
        recoveries = [kill_and_restart(pipeline, servers, name, ingest) for name in KILLED]
        time.sleep(2)
    acked = set(load.acked)
    assert len(acked) > 5_000  # the load flowed through the kills
    deadline = time.monotonic() + 90
    while (missing := acked - stored(servers["tsdb"])) and time.monotonic() < deadline:
        time.sleep(2)
    assert not missing, f"{len(missing)} acknowledged samples not stored, e.g. {sorted(missing)[:10]}"
    wait_until(lambda: all(pipeline.pages(f"{when}-{name}")[-1:] == ["RESOLVED"]
                           for name in KILLED for when in ("across", "during")),
               timeout=90, interval=1, message=f"every probe resolved; pages: {pipeline.page_log()}")
    time.sleep(3)  # a second page would come now

    print(f"{len(acked)} samples acknowledged, all stored; {len(load.refusals)} refused attempts retried")
    for recovery in recoveries:
        print(f"kill -9 {recovery.name:9} back (healthy) after {recovery.back_s:5.1f} s; "
              f"an alert raised meanwhile paged {recovery.paged_s:5.1f} s after the kill")
    for name in KILLED:
        for when in ("across", "during"):
            assert pipeline.pages(f"{when}-{name}") == ["FIRING", "RESOLVED"], (when, name, pipeline.pages(f"{when}-{name}"))
    for name in SERVICES:
        assert pipeline.health(name) == 200, name


def test_kill_9_of_the_broker_loses_at_most_what_was_not_yet_consumed_and_pages_once(pipeline: Pipeline, servers):
    """The broker keeps everything in memory: what it held and no sink had written yet is lost, nothing else."""
    api = api_client(pipeline.vigil_env, pipeline.ports["api"])
    assert api.post("/api/v1/rules", json=RULE).status_code == 201
    ingest = pipeline.client("ingest")
    time.sleep(2)
    with SteadyLoad(pipeline.client("ingest")) as load:
        written(ingest, ["probe,host=across-broker v=95"])
        wait_until(lambda: pipeline.pages("across-broker") == ["FIRING"], timeout=60, interval=0.5,
                   message=f"across-broker paged before the kill; pages: {pipeline.page_log()}")
        time.sleep(3)
        killed = time.monotonic()
        servers["broker"].kill()
        servers["broker"].start()  # empty: every topic, record and offset is gone
        back = len(load.acked)
        wait_until(lambda: len(load.acked) > back, timeout=60, interval=0.2, message="ingest takes writes again")
        writing_s = time.monotonic() - killed
        written(ingest, ["probe,host=during-broker v=95"])
        wait_until(lambda: pipeline.pages("during-broker") == ["FIRING"], timeout=120, interval=0.5,
                   message=f"during-broker paged after the broker restart; pages: {pipeline.page_log()}")
        paged_s = time.monotonic() - killed
        written(ingest, ["probe,host=across-broker v=10", "probe,host=during-broker v=10"])
        time.sleep(3)
    acked = load.acked
    deadline = time.monotonic() + 90
    while (missing := set(acked[back:]) - stored(servers["tsdb"])) and time.monotonic() < deadline:
        time.sleep(2)
    assert not missing, f"{len(missing)} samples acknowledged after the broker was back are not stored"
    lost = set(acked[:back]) - stored(servers["tsdb"])
    print(f"kill -9 of the broker: ingest wrote again {writing_s:.1f} s after the kill, an alert raised then paged "
          f"{paged_s:.1f} s after it; {len(lost)} of {back} samples acknowledged before it were lost "
          f"({len(lost) / (load.batch * load.batches_per_s):.1f} s of this load: what the sinks had not written yet)")
    wait_until(lambda: all(pipeline.pages(f"{when}-broker")[-1:] == ["RESOLVED"] for when in ("across", "during")),
               timeout=90, interval=1, message=f"the probes resolved; pages: {pipeline.page_log()}")
    time.sleep(3)
    assert pipeline.pages("across-broker") == ["FIRING", "RESOLVED"]  # still firing across it: no second page
    assert pipeline.pages("during-broker") == ["FIRING", "RESOLVED"]
    assert len(lost) <= 5_000  # the sinks consume within a second or two of 1,000 samples/s: not the whole history
    for name in SERVICES:
        assert pipeline.health(name) == 200, name
