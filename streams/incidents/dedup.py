"""Dedup (Alertmanager's DedupStage): page when the set of paged alerts changed or repeat_interval elapsed.

"What is firing" (the group's alerts after inhibition and silences) is kept apart from "what we
already paged" (`nf`, the fingerprints paged as firing last time): a page goes out when an
alert fires that was not paged, when a paged alert stopped firing, or when the incident is still
open after `repeat_interval` (not while acknowledged). Resolutions of alerts never paged
are not news. https://github.com/prometheus/alertmanager/blob/main/notify/notify.go (needsUpdate)
"""

from __future__ import annotations

from streams.incidents.group import Group, is_open
from streams.incidents.reasons import Reason


def decide(group: Group, firing: list[str], notifiable: list[str], suppressed_reason: str | None,
           logical_ms: int, repeat_interval_ms: int) -> str:
    """The reason for this flush: a paging one (see reasons.PAGING) or why nothing is sent."""
    paged = set(group["nf"])
    new = [fp for fp in notifiable if fp not in paged]
    if not is_open(group):
        if new:
            return Reason.FIRST_NOTIFICATION
        return suppressed_reason if firing and not notifiable and suppressed_reason else Reason.NOTHING_CHANGED
    if not firing:
        return Reason.ALL_ALERTS_RESOLVED
    gone = paged.difference(firing)
    if new or gone:
        return Reason.GROUP_CHANGED
    if group["ln"] is not None and logical_ms - group["ln"] >= repeat_interval_ms:
        if group["inc"]["st"] == "ACKNOWLEDGED":
            return Reason.ACKNOWLEDGED_NO_REPEAT
        return Reason.REPEAT_INTERVAL_ELAPSED if notifiable else (suppressed_reason or Reason.NOTHING_CHANGED)
    return Reason.NOTHING_CHANGED
