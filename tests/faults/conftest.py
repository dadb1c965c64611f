"""Fault tests: servers of the test's own, so killing or restarting one touches no other test."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from infra.demo.receiver import DemoReceiver
from infra.process import ManagedProcess
from infra.stack.parts import Tansu
from tests.harness import VigilEnv, free_port, new_env
from infra.topic_reader import close_readers
from tests.own_servers import running


@pytest.fixture
def own_broker(stack):
    """A broker the test may restart: Tansu keeps everything in memory, so it comes back empty."""
    yield from running(stack, Tansu)


@pytest.fixture
def broker_env(stack, own_broker) -> VigilEnv:
    """A slice of the stack whose Kafka is the test's own broker."""
    env = new_env(stack, kafka_bootstrap=own_broker.address)
    yield env
    show_logs(env)
    close_readers()  # before the broker goes: a reader left open retries it for the rest of the session
    env.stop_all()


def show_logs(env: VigilEnv) -> None:
    """The last lines of every process's log: pytest shows them only when the test failed."""
    for proc in env.processes:
        print(f"----- {proc.name} (last 40 lines)\n" + "\n".join(env.log(proc).splitlines()[-40:]))


SERVICES = ("api", "ingest", "streams", "sinks", "notifier")  # in the order they start
HEALTH_PORTS = {"ingest": "VIGIL_INGEST_PORT", "streams": "VIGIL_STREAMS_WEB_PORT", "sinks": "VIGIL_SINKS_HEALTH_PORT",
                "notifier": "VIGIL_NOTIFIER_HEALTH_PORT", "api": "VIGIL_API_PORT"}


@dataclass
class Pipeline:
    """Every Vigil process of one env, paging a local Slack receiver; each may be killed and started again."""

    vigil_env: VigilEnv
    receiver: DemoReceiver
    ports: dict[str, int]
    env: dict[str, str]
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def start(self, name: str) -> None:
        self.processes[name] = self.vigil_env.start(name, health_port=self.ports[name], extra_env=self.env)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no commit, no flush."""
        self.processes[name].popen.kill()
        self.processes[name].popen.wait()

    def stop(self, name: str) -> None:
        self.processes[name].stop(timeout=20)

    def health(self, name: str) -> int:
        try:
            return httpx.get(f"http://127.0.0.1:{self.ports[name]}/healthz", timeout=5).status_code
        except httpx.HTTPError:
            return 0

    def client(self, name: str) -> httpx.Client:
        return httpx.Client(base_url=f"http://127.0.0.1:{self.ports[name]}")

    def pages(self, host: str) -> list[str]:
        """FIRING/RESOLVED of the pages about one host, in order."""
        return [p["text"].split("]")[0].lstrip("[").split(":")[0] for p in self.receiver.pages
                if f"host={host}" in p["text"]]

    def page_log(self) -> list[str]:
        return [p["text"][:60] for p in self.receiver.pages]


def running_pipeline(vigil_env: VigilEnv, data_dir: Path) -> Iterator[Pipeline]:
    """The body of a fixture: every process started on free ports, yielded, the receiver stopped after."""
    receiver = DemoReceiver(free_port())
    receiver.start()
    ports = {name: free_port() for name in SERVICES}
    env = {variable: str(ports[name]) for name, variable in HEALTH_PORTS.items()}
    env |= {"VIGIL_DATA_DIR": str(data_dir), "VIGIL_SLACK_WEBHOOK_URL": receiver.url}
    pipeline = Pipeline(vigil_env, receiver, ports, env)
    for name in SERVICES:
        pipeline.start(name)
    yield pipeline
    receiver.stop()


def answer(ingest: httpx.Client, lines: list[str]) -> tuple[int, str]:
    """One attempt: the status ingest answered and what it said (0 and the error when it could not be reached)."""
    try:
        resp = ingest.post("/write", content="\n".join(lines) + "\n", timeout=15)
    except httpx.HTTPError as exc:
        return 0, type(exc).__name__
    return resp.status_code, resp.text[:120]


def write(ingest: httpx.Client, lines: list[str]) -> int:
    """One attempt: the status ingest answered, 0 when it could not be reached."""
    return answer(ingest, lines)[0]


def written(ingest: httpx.Client, lines: list[str], timeout: float = 60) -> None:
    """Write as a sender does: a refusal (a 503 while a worker takes over, no answer while ingest is down)
    is retried until 204."""
    deadline = time.monotonic() + timeout
    answers: Counter[tuple[int, str]] = Counter()
    while (got := answer(ingest, lines))[0] != 204:
        answers[got] += 1
        assert time.monotonic() < deadline, f"{lines} not written within {timeout} s; ingest answered {answers}"
        time.sleep(0.5)
