"""A throwaway stack and Vigil processes on free ports, for tests and benchmarks (never the dev stack's).

The composition root of the test session and of `bench/`: free ports, a fresh non-durable stack in a
temp dir, one slice of it per test or benchmark (topic prefix, database, VIGIL_* environment), and
`vigil COMMAND` processes started in that slice and waited for on their /healthz.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from kernel.kafka import delete_topics, ensure_topics
from kernel.migrate import migrate
from infra.process import ManagedProcess, pid_alive
from kernel.settings import CommonSettings, StackSettings
from infra.stack import Stack
from infra.stack.parts import RELOCATED_ROOT, postmaster_pid
from infra.stack.stack import remove_state

REPO = Path(__file__).resolve().parent.parent  # the checkout: `vigil` processes run from here


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_CLOSED: list[socket.socket] = []


def closed_port() -> int:
    """A port where connections are refused for the whole session: bound, never listening, never handed out again.

    A free_port() meant to have nobody listen can be taken meanwhile by a process another test starts.
    """
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    _CLOSED.append(sock)
    return sock.getsockname()[1]


def sweep_abandoned_stacks() -> None:
    """Stop the servers of earlier test sessions that died without cleaning up, and drop their dirs.

    Postgres and Mosquitto change user at start, which clears the parent-death signal, so a
    session that crashed (say, a segfault) leaves them running: the next session ends them.
    """
    for state in Path(tempfile.gettempdir()).glob("vigil-test-*"):
        try:
            owner = int((state / "owner").read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(owner):
            continue
        Stack(StackSettings(state_dir=state)).down()
        remove_state(StackSettings(state_dir=state))
    # Postgres data kept outside a test state dir (a TMPDIR that user `postgres` cannot enter, as root)
    # outlives a session that removed just the state dir: drop it once nothing runs from it.
    for back_reference in RELOCATED_ROOT.glob("*/state_dir"):
        try:
            state = Path(back_reference.read_text().strip())
            if not state.name.startswith("vigil-test-") or state.exists():
                continue
        except OSError:  # another user's, in a folder we cannot enter
            continue
        if postmaster_pid(back_reference.parent / "postgres") is None:
            shutil.rmtree(back_reference.parent, ignore_errors=True)


def start_stack() -> Stack:
    """A fresh stack in a temp dir on free ports; non-durable (tests don't need fsync)."""
    sweep_abandoned_stacks()
    state = Path(tempfile.mkdtemp(prefix="vigil-test-"))
    state.chmod(0o755)  # the postgres user must reach its data dir
    (state / "owner").write_text(str(os.getpid()))
    settings = StackSettings(state_dir=state, kafka_port=free_port(), postgres_port=free_port(),
                             redis_port=free_port(), tsdb_port=free_port(), mqtt_port=free_port(),
                             durable=False)
    stack = Stack(settings)
    stack.up(attached=True)
    return stack


@dataclass
class VigilEnv:
    """One test's or benchmark's slice of the stack: its own topic prefix, database and VIGIL_* environment."""

    stack: StackSettings
    prefix: str
    env: dict[str, str]
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def settings(self) -> CommonSettings:
        return CommonSettings(**{k.removeprefix("VIGIL_").lower(): v for k, v in self.env.items()
                                 if k.removeprefix("VIGIL_").lower() in CommonSettings.model_fields})

    @property
    def dsn(self) -> str:
        return self.env["VIGIL_POSTGRES_DSN"]

    def start(self, command: str, *args: str, health_port: int | None = None, extra_env: dict | None = None,
              name: str | None = None) -> ManagedProcess:
        """Run `vigil COMMAND` as a real subprocess; wait for its /healthz when it has one."""
        name = name or f"{command}-{len(self.processes)}"
        log_dir = self.stack.state_dir / "logs" / self.prefix
        proc = ManagedProcess(name=name, argv=[sys.executable, "-m", "infra.cli", command, *args],
                              env={**self.env, **(extra_env or {})}, cwd=REPO,
                              log_path=log_dir / f"{name}.log", pid_path=log_dir / f"{name}.pid")
        proc.start(attached=True)
        self.processes.append(proc)
        if health_port is not None:
            wait_http(f"http://127.0.0.1:{health_port}/healthz", proc)
        return proc

    def log(self, proc: ManagedProcess) -> str:
        return proc.log_path.read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in reversed(self.processes):
            proc.stop(timeout=10)
        self.processes.clear()


def wait_http(url: str, proc: ManagedProcess | None = None, timeout: float = 60.0) -> None:
    """Poll a URL until it answers 2xx; fail with the process log if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise AssertionError(f"{proc.name} exited:\n{proc.log_path.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if 200 <= resp.status < 300:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    log = proc.log_path.read_text(errors="replace")[-3000:] if proc else ""
    raise AssertionError(f"{url} not healthy after {timeout}s\n{log}")


def new_env(stack: StackSettings, **overrides) -> VigilEnv:
    """Create a prefix, its database (migrated) and topics."""
    prefix = "t" + secrets.token_hex(4)
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:{stack.postgres_port}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{prefix}"')
    env = stack.common(topic_prefix=prefix, **overrides)
    env["VIGIL_POSTGRES_DSN"] = f"postgresql://postgres@127.0.0.1:{stack.postgres_port}/{prefix}"
    env["VIGIL_LOG_LEVEL"] = "INFO"
    env["VIGIL_STATSD_PORT"] = str(free_port())  # never the dev stack's 8125
    vigil_env = VigilEnv(stack=stack, prefix=prefix, env=env)
    migrate(vigil_env.dsn)
    ensure_topics(vigil_env.settings)
    return vigil_env


def drop_env(vigil_env: VigilEnv) -> None:
    """Stop the slice's processes and delete its topics."""
    vigil_env.stop_all()
    delete_topics(vigil_env.settings)


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    """Poll `predicate` until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not met within {timeout}s (last: {value!r})")
        time.sleep(interval)


# Children started from here write their logs as they go (a crashed benchmark still leaves them whole).
os.environ.setdefault("PYTHONUNBUFFERED", "1")
