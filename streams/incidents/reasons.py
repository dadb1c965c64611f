"""Why the incident processor did or didn't page: one bounded vocabulary, logged and counted.

Mirrors Alertmanager's notification pipeline stages (inhibit → silence → time mute → dedup) plus
the incident lifecycle Alertmanager lacks (escalation, acknowledgement, manual resolution).
Plain strings, not an Enum: they key counters on the hot path (see streams/evaluate.Outcome).
"""

from __future__ import annotations


class Reason:
    """The reason attached to every flush decision and incident transition."""

    FIRST_NOTIFICATION = "first_notification"
    GROUP_CHANGED = "group_changed"  # alerts joined or resolved since the last page
    REPEAT_INTERVAL_ELAPSED = "repeat_interval_elapsed"
    ESCALATED = "escalated"  # escalate_after elapsed (or an escalate command)
    CRITICAL = "critical"  # critical_after elapsed after escalation
    ACKNOWLEDGED = "acknowledged"
    RESOLVED_BY_COMMAND = "resolved_by_command"
    ALL_ALERTS_RESOLVED = "all_alerts_resolved"
    # No page:
    NOTHING_CHANGED = "nothing_changed"
    SILENCED = "silenced"  # every alert that would page is silenced
    INHIBITED = "inhibited"  # every alert that would page is inhibited by a firing source alert
    MUTED = "muted_time_interval"  # the route is in a mute (or outside its active) time interval
    ACKNOWLEDGED_NO_REPEAT = "acknowledged_no_repeat"  # acknowledged incidents don't repeat
    NOBODY_ON_CALL = "nobody_on_call"  # the target schedule has nobody on call at that time
    STALE_COMMAND = "stale_command"  # the command names an incident that is no longer current
    DUPLICATE_COMMAND = "duplicate_command"  # the same command id again (a redelivery)
    NO_OPEN_INCIDENT = "no_open_incident"


PAGING = frozenset({Reason.FIRST_NOTIFICATION, Reason.GROUP_CHANGED, Reason.REPEAT_INTERVAL_ELAPSED,
                    Reason.ESCALATED, Reason.CRITICAL, Reason.ACKNOWLEDGED, Reason.RESOLVED_BY_COMMAND,
                    Reason.ALL_ALERTS_RESOLVED})
