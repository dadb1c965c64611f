"""Start, check and stop the embedded stack as a whole."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

from infra.process import ManagedProcess, recorded_pid
from kernel.settings import StackSettings
from infra.stack.parts import RELOCATED_ROOT, Part, StackError, all_parts, tcp_open

READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class PartStatus:
    """What `vigil stack status` shows for one server."""

    name: str
    port: int
    pid: int | None
    healthy: bool
    log: str


class Stack:
    """The five servers under one state dir; remembers which ones it started itself."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.parts = all_parts(settings)
        self.started: list[ManagedProcess] = []

    def _process(self, part: Part) -> ManagedProcess:
        run = self.settings.state_dir.resolve() / "run"
        return ManagedProcess(
            name=part.name, argv=part.argv(), env=part.env(), stop_signal=part.stop_signal,
            program=part.program, log_path=self.settings.state_dir.resolve() / "logs" / f"{part.name}.log",
            pid_path=run / f"{part.name}.pid")

    def up(self, attached: bool = True, progress=None) -> None:
        """Start every server that is not already running from this state dir; wait until all are ready."""
        for part in self.parts:
            proc_pid = recorded_pid(self._pid_path(part))
            if proc_pid is not None and part.ready():
                if progress:
                    progress(part.name, "already running")
                continue
            if tcp_open(part.port):
                raise StackError(f"port {part.port} for {part.name} is taken by another program: "
                                 f"stop it or set VIGIL_{part.name.upper()}_PORT")
            part.prepare()
            if progress and part.relocated():
                progress(part.name, f"data in {part.relocated()}: the server's user cannot enter "
                                    f"{self.settings.state_dir.resolve()}")
            proc = self._process(part)
            proc.start(attached=attached)
            self.started.append(proc)
            self._wait_ready(part, proc)
            part.after_ready()
            if progress:
                progress(part.name, f"started on 127.0.0.1:{part.port} (pid {proc.pid})")

    def _pid_path(self, part: Part):
        return self.settings.state_dir.resolve() / "run" / f"{part.name}.pid"

    def _wait_ready(self, part: Part, proc: ManagedProcess) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not proc.alive():
                tail = proc.log_path.read_text(errors="replace")[-2000:]
                raise StackError(f"{part.name} exited at start; its log ({proc.log_path}) ends with:\n{tail}")
            if part.ready():
                return
            time.sleep(0.1)
        raise StackError(f"{part.name} not ready on port {part.port} after {READY_TIMEOUT_S:.0f}s; see {proc.log_path}")

    def down(self, only_started: bool = False) -> list[str]:
        """Stop servers in reverse order: those this object started, or every one with a pid file."""
        stopped = []
        if only_started:
            procs = list(reversed(self.started))
        else:
            procs = [self._process_for_stop(p) for p in reversed(self.parts)]
        for proc in procs:
            if proc.alive():
                proc.stop()
                stopped.append(proc.name)
            proc.pid_path.unlink(missing_ok=True)
        self.started.clear()
        return stopped

    def _process_for_stop(self, part: Part) -> ManagedProcess:
        run = self.settings.state_dir.resolve() / "run"
        return ManagedProcess(name=part.name, argv=[], stop_signal=part.stop_signal,
                              log_path=self.settings.state_dir.resolve() / "logs" / f"{part.name}.log",
                              pid_path=run / f"{part.name}.pid")

    def status(self) -> list[PartStatus]:
        """Pid and health of each server."""
        return [PartStatus(p.name, p.port, recorded_pid(self._pid_path(p)), p.ready(),
                           str(self.settings.state_dir.resolve() / "logs" / f"{p.name}.log"))
                for p in self.parts]

    def healthy(self) -> bool:
        return all(p.ready() for p in self.parts)


def remove_state(settings: StackSettings) -> None:
    """Delete a stopped stack's state dir, and the data a part keeps outside it (see Postgres)."""
    for part in all_parts(settings):
        outside = part.relocated()
        if outside is not None and outside.parent.parent == RELOCATED_ROOT:  # ours, not a link someone made
            shutil.rmtree(outside.parent, ignore_errors=True)
    shutil.rmtree(settings.state_dir, ignore_errors=True)


__all__ = ["PartStatus", "Stack", "StackError", "remove_state"]
