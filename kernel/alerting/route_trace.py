"""Where an alert with given labels goes: the routes it takes, their receivers, grouping and muting at a time.

What `vigil routes test` prints and `GET /api/v1/routes/test` answers (like `amtool config routes test`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.alerting.config import AlertingConfig
from kernel.alerting.routing import Route, group_labels, match_routes


@dataclass(frozen=True)
class RouteHit:
    """One route an alert takes: its receiver (or schedule and who is on call), its group labels, muting."""

    route: Route
    receiver: str  # the route's receiver: a receiver name or a schedule name
    schedule: bool  # `receiver` names an on-call schedule
    on_call: str | None  # a schedule's member on call at that time (None: nobody, or not a schedule)
    group: dict[str, str]  # the alert's labels that make its group on this route
    muted: bool  # a mute interval is active, or the route's active intervals are not


def trace(config: AlertingConfig, labels: dict[str, str], at_ms: int) -> list[RouteHit]:
    """The routes an alert with `labels` takes at `at_ms` (epoch ms), in routing order (Alertmanager's)."""
    hits = []
    for route in match_routes(config.route, labels):
        schedule = route.receiver in config.schedules
        hits.append(RouteHit(route=route, receiver=route.receiver, schedule=schedule,
                             on_call=config.resolve_target(route.receiver, at_ms) if schedule else None,
                             group=group_labels(route, labels), muted=config.muted(route, at_ms)))
    return hits


def receivers_reached(hits: list[RouteHit]) -> list[str]:
    """The distinct receivers (or schedules) of the hits, first occurrence first."""
    return list(dict.fromkeys(hit.receiver for hit in hits))
