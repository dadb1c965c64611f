"""A child process we started: started with its log in the state dir, stopped by its own PID."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # Ask the kernel to SIGTERM this child when the supervising process dies, so a
    # killed `vigil up` or test session leaves no orphans behind.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ManagedProcess:
    """One long-running child: argv, environment, log file and pid file."""

    name: str
    argv: list[str]
    log_path: Path
    pid_path: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    stop_signal: int = signal.SIGTERM
    program: str | None = None  # what runs after exec, when argv[0] is a wrapper such as setpriv
    popen: subprocess.Popen | None = None

    def start(self, attached: bool = True) -> None:
        """Start it; attached children die with this process, detached ones outlive it."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            cwd=self.cwd,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops children in order
            preexec_fn=die_with_parent if attached else None,
        )
        log.close()
        self.pid_path.write_text(f"{self.popen.pid}\n{self.program or self.argv[0]}\n")

    @property
    def pid(self) -> int | None:
        if self.popen is not None:
            return self.popen.pid
        return recorded_pid(self.pid_path)

    def alive(self) -> bool:
        """True while the process runs (and, for one we did not start, is still the same program)."""
        if self.popen is not None:
            return self.popen.poll() is None
        pid = self.pid
        return pid is not None and pid_alive(pid)

    def stop(self, timeout: float = 15.0) -> None:
        """Signal it, wait up to `timeout`, then SIGKILL; removes the pid file."""
        pid = self.pid
        if pid is not None and self.alive():
            try:
                os.kill(pid, self.stop_signal)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.alive():
                time.sleep(0.05)
            if self.alive():
                os.kill(pid, signal.SIGKILL)
                while self.alive() and time.monotonic() < deadline + 5:
                    time.sleep(0.05)
        if self.popen is not None:
            try:
                self.popen.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.pid_path.unlink(missing_ok=True)


def recorded_pid(pid_path: Path) -> int | None:
    """The pid in a pid file if the process there is still the program recorded with it."""
    try:
        pid_text, program = pid_path.read_text().split("\n")[:2]
        pid = int(pid_text)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    # A recycled pid runs some other program: never signal that one.
    # Some servers rewrite their title ("redis-server 127.0.0.1:16379"), hence startswith.
    exe = os.path.basename(program).encode()
    if any(os.path.basename(arg).startswith(exe) for arg in cmdline[:3]):
        return pid
    return None


def pid_alive(pid: int) -> bool:
    """True if the pid exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
