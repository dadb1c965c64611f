"""CPU seconds of server processes, each with every process it forked (Linux /proc).

A process's figure is its own user + system time plus that of its live descendants (Postgres
backends, pre-forked workers) and of the children it already reaped (cutime + cstime), so a
worker that came or went during the measurement is counted too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime + stime + cutime + cstime in seconds) of one process, None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[1]), sum(int(v) for v in fields[11:15]) / _TICK


def tree_cpu(pids: Mapping[str, int]) -> dict[str, float]:
    """For each named root pid: CPU seconds used so far by it and its descendants."""
    stats = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                stats[int(entry.name)] = stat
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    out = {}
    for name, root in pids.items():
        total, todo = 0.0, [root]
        while todo:
            pid = todo.pop()
            if pid in stats:
                total += stats[pid][1]
                todo.extend(children.get(pid, ()))
        out[name] = total
    return out


def used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two `tree_cpu` readings."""
    return {name: after[name] - before.get(name, 0.0) for name in after}
