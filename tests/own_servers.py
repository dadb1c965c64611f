"""Servers of a test's own, started as the embedded stack starts them, that the test may kill and restart.

The session's stack is shared by every test of the session: an outage or a crash is staged on one of
these instead, on a free port and in a state dir of its own.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

from infra.process import ManagedProcess
from kernel.settings import StackSettings
from infra.stack.parts import Part, Postgres, Redis, Tansu, VictoriaMetrics
from tests.harness import free_port, wait_until

# Each kind's port in StackSettings, and the VIGIL_* variable that points a Vigil process at it.
KINDS: dict[type[Part], tuple[str, str]] = {
    Tansu: ("kafka_port", "VIGIL_KAFKA_BOOTSTRAP"), Postgres: ("postgres_port", "VIGIL_POSTGRES_DSN"),
    Redis: ("redis_port", "VIGIL_REDIS_URL"), VictoriaMetrics: ("tsdb_port", "VIGIL_TSDB_URL")}


class OwnServer:
    """One server (Tansu, Postgres, Redis or VictoriaMetrics) on a free port, under the session's state dir.

    Tansu keeps everything in memory: a restart is a broker that forgot every topic, record and offset.
    The others keep their data dir across restarts, as the embedded stack's do; `durable` runs them as
    `vigil up` does (Postgres with fsync, Redis with its append-only file), else as the test session's.
    """

    def __init__(self, stack: StackSettings, kind: type[Part], durable: bool = False) -> None:
        port = free_port()
        state = stack.state_dir / f"own-{kind.__name__.lower()}-{port}"
        state.mkdir(mode=0o755)
        state.chmod(0o755)  # the postgres user must reach its data dir
        port_field, self.variable = KINDS[kind]
        self.settings = stack.model_copy(update={port_field: port, "state_dir": state, "durable": durable})
        self.part = kind(self.settings)
        self.part.prepare()
        self.process = ManagedProcess(name=f"own-{self.part.name}", argv=self.part.argv(), env=self.part.env(),
                                      stop_signal=self.part.stop_signal, program=self.part.program,
                                      log_path=state / f"{self.part.name}.log", pid_path=state / f"{self.part.name}.pid")

    @property
    def port(self) -> int:
        return self.part.port

    @property
    def address(self) -> str:
        """What its VIGIL_* variable says to reach it (a bootstrap, a DSN of the `vigil` database, a URL)."""
        return self.settings.common()[self.variable]

    def start(self) -> None:
        self.process.start(attached=True)
        wait_until(self.part.ready, timeout=60, interval=0.2, message=f"the test's own {self.part.name} ready")
        self.part.after_ready()

    def stop(self) -> None:
        """Stop it by its pid as the stack does (Postgres: fast shutdown); clients see connections refused."""
        self.process.stop(timeout=15)

    def kill(self) -> None:
        """SIGKILL, as the OOM killer or a crash does: no shutdown, whatever was not on disk is gone."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.popen.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()


def running(stack: StackSettings, kind: type[Part]) -> Iterator[OwnServer]:
    """The body of a fixture that yields a started server of the test's own and stops it after."""
    server = OwnServer(stack, kind)
    server.start()
    yield server
    server.stop()
