"""Restoring alerts' `for` progress after a restart from the ALERTS_FOR_STATE series, as Prometheus does.

Prometheus writes, for every pending or firing alert, `ALERTS_FOR_STATE{...} = active-since (Unix s)`.
After a restart it evaluates the group twice, then looks up each active alert's series within the
outage tolerance (1h) and moves the alert's active-since forward by the downtime, so `for` counts only
time Prometheus was up — but never so far that the alert would fire sooner than the grace period
(10m) from now. Rules whose `for` is shorter than the grace period are not restored.
See https://github.com/prometheus/prometheus/blob/v2.42.0/rules/manager.go (Group.RestoreForState).
"""

from __future__ import annotations

from collections.abc import Callable

from kernel.promql import is_stale

from .group import RuleGroup
from .labelset import Labels

DEFAULT_OUTAGE_TOLERANCE_MS = 3_600_000  # --rules.alert.for-outage-tolerance
DEFAULT_FOR_GRACE_PERIOD_MS = 600_000  # --rules.alert.for-grace-period

LastSample = Callable[[Labels, int, int], tuple[int, float] | None]
"""last_sample(exact labels, min_ms, max_ms) → the series' newest (timestamp_ms, value) in range, or None."""


def restore_for_state(group: RuleGroup, now_ms: int, last_sample: LastSample,
                      outage_tolerance_ms: int = DEFAULT_OUTAGE_TOLERANCE_MS,
                      for_grace_period_ms: int = DEFAULT_FOR_GRACE_PERIOD_MS) -> None:
    """Move active alerts' active-since as Prometheus does after a restart; marks the rules restored."""
    min_ms = now_ms - outage_tolerance_ms
    for rule in group.alerting_rules():
        hold_ms = rule.spec.for_ms
        if hold_ms < for_grace_period_ms:
            rule.restored = True  # it would wait its whole `for` anyway
            continue
        for alert in rule.active.values():
            found = last_sample(rule.for_state_sample(alert, now_ms, 0.0).labels, min_ms, now_ms)
            if found is None:
                continue
            down_ms, value = found
            if is_stale(value):
                continue  # the alert was not active when Prometheus went down
            down_ms = down_ms // 1000 * 1000  # time.Unix(t/1000, 0): whole seconds
            restored_active_ms = int(value) * 1000
            remaining = hold_ms - (down_ms - restored_active_ms)
            if remaining <= 0:
                pass  # it was firing; the next evaluation sets it firing again
            elif remaining < for_grace_period_ms:
                restored_active_ms = now_ms + for_grace_period_ms - hold_ms
            else:
                restored_active_ms += now_ms - down_ms
            alert.active_at_ms = restored_active_ms
        rule.restored = True
