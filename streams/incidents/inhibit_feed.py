"""Firing alerts that may inhibit others, from the whole alerts topic (every partition), for every worker.

A target alert's group may live on one worker and the inhibiting source alert's transition
arrive on another, so each worker reads every alert transition (like the rules, not as a
member of its group) and keeps the firing ones that match an inhibit rule's source side
(streams/incidents/inhibit.py). Memory is bounded by the alerts firing now, not by the topic.
"""

from __future__ import annotations

from kernel.settings import CommonSettings
from schemas import codec
from schemas.records import AlertEvent
from streams.compacted_feed import CompactedFeed
from streams.incidents.inhibit import InhibitIndex


class InhibitFeed(CompactedFeed[AlertEvent]):
    """Applies every FIRING/RESOLVED transition on the alerts topic to an InhibitIndex."""

    def __init__(self, settings: CommonSettings, index: InhibitIndex) -> None:
        super().__init__(settings.kafka_bootstrap, settings.topics.alerts, codec.alert_event(), "inhibit-sources")
        self.index = index

    def apply(self, record: AlertEvent) -> bool:
        """Transitions of one fingerprint arrive in order (one key, one partition): the newest wins."""
        if record["status"] != "PENDING":
            self.index.apply(record["fingerprint"], record["status"], record["labels"])
        return False  # the index is updated in place: nothing to rebuild

    def describe(self) -> str:
        return f"{len(self.index)} firing alerts that may inhibit"
