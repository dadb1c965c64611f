"""What every stage may consult: the alerting config, the inhibition and silence indexes, the clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from kernel.alerting.config import AlertingConfig
from streams.incidents.inhibit import InhibitIndex
from kernel.alerting.routing import Route


class Silences(Protocol):
    """The silences a worker knows (kernel/alerting/silences.SilenceIndex)."""

    def silenced_by(self, labels: dict[str, str], at_ms: int) -> list[str]: ...


class NoSilences:
    """No silence silences anything (no silences feed, e.g. in the benchmark)."""

    def silenced_by(self, labels: dict[str, str], at_ms: int) -> list[str]:
        return []


@dataclass(slots=True)
class Context:
    """The config in force and the indexes, for one step; `now_ms` is the worker's wall clock."""

    config: AlertingConfig
    inhibit: InhibitIndex
    silences: Silences
    now_ms: int
    routes: dict[str, Route] = field(default_factory=dict)

    def route(self, path: str) -> Route:
        """The route at `path`; the root when a config change removed it (its group still flushes)."""
        if not self.routes:
            self.routes = {r.path: r for r in self.config.routes()}
        return self.routes.get(path) or self.config.route

    def targets(self, names: list[str] | tuple[str, ...], at_ms: int) -> tuple[list[str], bool]:
        """Receiver names for these targets (schedules resolved at `at_ms`); False when a schedule had nobody."""
        out, everyone = [], True
        for name in names:
            target = self.config.resolve_target(name, at_ms)
            if target is None:
                everyone = False
            elif target not in out:
                out.append(target)
        return out, everyone
