"""A Postgres of a test's own, on a free port, that the test may stop and start again (its data stays).

The session's Postgres is shared by every test: an outage is staged on one of these instead.
"""

from __future__ import annotations

from collections.abc import Iterator

from infra.process import ManagedProcess
from infra.settings import StackSettings
from infra.stack.parts import Postgres
from tests.harness import free_port, wait_until


class OwnPostgres:
    """Postgres 15 under the session's state dir, started as the embedded stack starts it."""

    def __init__(self, stack: StackSettings) -> None:
        port = free_port()
        state = stack.state_dir / f"own-postgres-{port}"
        state.mkdir(mode=0o755)
        state.chmod(0o755)  # the postgres user must reach its data dir
        self.part = Postgres(stack.model_copy(update={"postgres_port": port, "state_dir": state, "durable": False}))
        self.part.prepare()
        argv = self.part.argv()
        self.process = ManagedProcess(name="own-postgres", argv=argv, stop_signal=self.part.stop_signal,
                                      program=self.part.program, log_path=state / "postgres.log",
                                      pid_path=state / "postgres.pid")

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.part.port}/vigil"

    def start(self) -> None:
        self.process.start(attached=True)
        wait_until(self.part.ready, timeout=30, message="the test's own Postgres ready")
        self.part.after_ready()

    def stop(self) -> None:
        """Stop it by its pid (fast shutdown): clients see their connections closed and new ones refused."""
        self.process.stop(timeout=15)


def running_postgres(stack: StackSettings) -> Iterator[OwnPostgres]:
    """The body of a test module's `own_postgres` fixture: started, yielded, stopped by its pid."""
    postgres = OwnPostgres(stack)
    postgres.start()
    yield postgres
    postgres.stop()
