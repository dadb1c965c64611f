"""Every Kafka topic name Vigil uses, built from one configurable prefix (no literals elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    """Topic names under a prefix: `Topics("vigil").alerts == "vigil.alerts.v1"`."""

    prefix: str = "vigil"

    def _name(self, stem: str, version: int = 1) -> str:
        return f"{self.prefix}.{stem}.v{version}"

    @property
    def metrics(self) -> str:
        """Samples as SeriesBatch columns (schemas/series_batch.py)."""
        return self._name("metrics", 2)

    @property
    def metrics_v1(self) -> str:
        """Samples as v1 MetricBatch records: written only while `metrics_v1_topic` is on (the transition)."""
        return self._name("metrics")

    @property
    def rejects(self) -> str:
        return self._name("rejects")

    @property
    def alerts(self) -> str:
        return self._name("alerts")

    @property
    def notifications(self) -> str:
        return self._name("notifications")

    @property
    def deliveries(self) -> str:
        return self._name("deliveries")

    @property
    def rules(self) -> str:
        return self._name("rules")

    @property
    def incidents(self) -> str:
        return self._name("incidents")

    @property
    def commands(self) -> str:
        return self._name("commands")

    @property
    def silences(self) -> str:
        return self._name("silences")

    @property
    def dead_notifications(self) -> str:
        """Notifications that failed permanently (value: the Notification; header vigil-delivery: the last Delivery)."""
        return self._name("notifications-dead")

    @property
    def routed(self) -> str:
        """Internal to the streams workers: alert transitions repartitioned by incident group."""
        return self._name("streams-routed")

    @property
    def heartbeats(self) -> str:
        """Internal to the streams workers: absence heartbeats, repartitioned by group."""
        return self._name("streams-heartbeats")

    def all(self) -> list[str]:
        """The topics this release reads or writes."""
        return [self.metrics, self.rejects, self.alerts, self.notifications, self.deliveries, self.rules,
                self.heartbeats, self.incidents, self.commands, self.silences, self.dead_notifications, self.routed]


def streams_group(prefix: str) -> str:
    """The streams workers' consumer group (their Faust app id): ingest reads its committed offsets."""
    return f"{prefix}-streams"
