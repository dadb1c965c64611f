"""validate → enrich → series id → publish: the path every adapter's samples take."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ingest import metrics
from ingest.enrich import DeviceRegistry
from ingest.publisher import Publisher
from ingest.validate import Limits, check_labels, check_sample
from schemas.records import Reject, Sample
from schemas.series_id import SeriesIds, labels_key

REJECT_PAYLOAD_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Problem:
    """One refused unit of input: where it is, why, and the raw bytes."""

    location: str
    reason: str
    raw: bytes = b""


@dataclass(slots=True)
class Outcome:
    """What happened to a request: samples accepted and every problem, in input order."""

    accepted: int = 0
    problems: list[Problem] = field(default_factory=list)


@dataclass(slots=True)
class Unit:
    """A unit the sender thinks of (a line, a series): accepted or refused as a whole."""

    location: str
    samples: list[Sample]
    raw: bytes = b""


class Pipeline:
    """Shared by every adapter: nothing protocol-specific lives here."""

    def __init__(self, publisher: Publisher, registry: DeviceRegistry, limits: Limits) -> None:
        self.publisher = publisher
        self.registry = registry
        self.limits = limits
        self.series_ids = SeriesIds()

    async def accept(self, protocol: str, source: str, units: list[Unit], problems: list[Problem],
                     now_ms: int | None = None, limits: Limits | None = None) -> Outcome:
        """Validate each unit, publish the good samples (awaiting Kafka's ack), dead-letter the rest.

        Raises Backpressure/KafkaUnavailable (retryable) when Kafka can't take the batch: then
        nothing of the request counts as accepted and the sender must retry it whole.
        """
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        limits = limits or self.limits
        good: list[Sample] = []
        problems = list(problems)
        # Samples of one line or series share their labels dict: check and key each dict once.
        label_reasons: dict[int, str | None] = {}
        for unit in units:
            reason = None
            for sample in unit.samples:
                labels = sample["labels"]
                reason = label_reasons.get(id(labels), "")
                if reason == "":
                    reason = label_reasons[id(labels)] = check_labels(labels, limits)
                reason = reason or check_sample(sample, now_ms, limits)
                if reason is not None:
                    break
            if reason is None:
                good.extend(unit.samples)
            else:
                problems.append(Problem(unit.location, reason, unit.raw))
        if good:
            await self.registry.enrich(good)
            keys: dict[int, bytes] = {}
            series_ids = self.series_ids
            for sample in good:
                labels = sample["labels"]
                key = keys.get(id(labels))
                if key is None:
                    key = keys[id(labels)] = labels_key(labels)
                sample["series_id"] = series_ids.of(sample["name"], key)
            await self.publisher.publish(good, protocol, now_ms)
            metrics.SAMPLES_ACCEPTED.labels(protocol).inc(len(good))
        if problems:
            metrics.LINES_REJECTED.labels(protocol, "invalid").inc(len(problems))
            await self.publisher.publish_rejects([
                Reject(protocol=protocol, source=source, location=p.location, reason=p.reason,
                       payload=p.raw[:REJECT_PAYLOAD_BYTES], received_at_ms=now_ms)
                for p in problems])
        return Outcome(accepted=len(good), problems=problems)
