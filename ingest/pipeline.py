"""validate → enrich → series id → publish: the path every adapter's samples take."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ingest import metrics
from ingest.cardinality import CardinalityLimiter
from ingest.enrich import DeviceRegistry
from ingest.label_sets import LabelSets
from ingest.publisher import Publisher
from ingest.relabel import relabel_samples
from ingest.sources import Agent, IngestConfig, Sources
from ingest.validate import VALID_NAMES, Limits, check_sample
from schemas.records import Reject, Sample
from schemas.series_id import SeriesIds

REJECT_PAYLOAD_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Problem:
    """One refused unit of input: where it is, why, and the raw bytes."""

    location: str
    reason: str
    raw: bytes = b""
    kind: str = "invalid"  # a bounded metric label: invalid, series_limit


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

    def __init__(self, publisher: Publisher, registry: DeviceRegistry, limits: Limits,
                 sources: Sources | None = None, limiter: CardinalityLimiter | None = None) -> None:
        self.publisher = publisher
        self.registry = registry
        self.limits = limits
        self.sources = sources or Sources(IngestConfig())
        self.limiter = limiter
        self.series_ids = SeriesIds()
        self.label_sets = LabelSets()

    async def accept(self, protocol: str, source: str, units: list[Unit], problems: list[Problem],
                     now_ms: int | None = None, limits: Limits | None = None, agent: Agent | None = None) -> Outcome:
        """Label, relabel and validate each unit, publish the good samples (awaiting Kafka's ack),
        dead-letter the rest.

        The source's policy is its token's (`agent`) when it sent one, else its protocol's.
        Raises Backpressure/KafkaUnavailable (retryable) when Kafka can't take the batch: then
        nothing of the request counts as accepted and the sender must retry it whole.
        """
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        limits = limits or self.limits
        source_name = agent.name if agent else protocol
        policy = self.sources.policy(source_name)
        extra_labels = agent.labels if agent else {}
        if extra_labels or policy.relabel_configs:
            units = self._relabel(protocol, units, extra_labels, policy.relabel_configs)
        good_units: list[Unit] = []
        problems = list(problems)
        # The loops below run once per sample (~10^5/s): the common case is inlined, and anything
        # unusual goes to check_sample for the reason. Samples of one line or series share their
        # labels dict: each dict is checked and keyed once.
        label_reasons: dict[int, str | None] = {}
        check_set = self.label_sets.check
        oldest, newest = now_ms - limits.max_past_ms, now_ms + limits.max_future_ms
        known_names = VALID_NAMES
        for unit in units:
            reason = None
            for sample in unit.samples:
                labels = sample["labels"]
                reason = label_reasons.get(id(labels), "")
                if reason == "":
                    reason = label_reasons[id(labels)] = check_set(labels, limits)
                if reason is not None:
                    break
                value = sample["value"]
                # value - value is 0.0 for every finite value, NaN for NaN and ±Inf.
                if value - value != 0.0 or not oldest <= sample["timestamp_ms"] <= newest \
                        or sample["name"] not in known_names:
                    reason = check_sample(sample, now_ms, limits)
                    if reason is not None:
                        break
            if reason is None:
                good_units.append(unit)
            else:
                problems.append(Problem(unit.location, reason, unit.raw))
        good = [sample for unit in good_units for sample in unit.samples]
        if good:
            await self.registry.enrich(good)
            keys: dict[int, bytes] = {}
            key_of, series_id_of = self.label_sets.key, self.series_ids.of
            for sample in good:
                labels = sample["labels"]
                key = keys.get(id(labels))
                if key is None:
                    key = keys[id(labels)] = key_of(labels)
                sample["series_id"] = series_id_of(sample["name"], key)
            if policy.max_new_series_per_hour is not None and self.limiter is not None:
                good = await self._limit(source_name, policy.max_new_series_per_hour, good_units, problems)
        if good:
            await self.publisher.publish(good, protocol, now_ms)
            metrics.SAMPLES_ACCEPTED.labels(protocol).inc(len(good))
        if problems:
            for kind in {p.kind for p in problems}:
                metrics.LINES_REJECTED.labels(protocol, kind).inc(sum(p.kind == kind for p in problems))
            await self.publisher.publish_rejects([
                Reject(protocol=protocol, source=source, location=p.location, reason=p.reason,
                       payload=p.raw[:REJECT_PAYLOAD_BYTES], received_at_ms=now_ms)
                for p in problems])
        return Outcome(accepted=len(good), problems=problems)

    def _relabel(self, protocol: str, units: list[Unit], extra: dict[str, str], rules) -> list[Unit]:
        out = []
        for unit in units:
            samples = relabel_samples(unit.samples, extra, rules)
            if len(samples) < len(unit.samples):
                metrics.SAMPLES_SKIPPED.labels(protocol, "relabel_drop").inc(len(unit.samples) - len(samples))
            if samples:
                out.append(Unit(unit.location, samples, unit.raw))
        return out

    async def _limit(self, source: str, limit: int, units: list[Unit], problems: list[Problem]) -> list[Sample]:
        """Samples of the units whose series are all admitted; the others become problems."""
        refused = await self.limiter.refused(source, limit, {s["series_id"] for u in units for s in u.samples})
        if not refused:
            return [s for u in units for s in u.samples]
        good = []
        for unit in units:
            if any(s["series_id"] in refused for s in unit.samples):
                problems.append(Problem(unit.location, f"series limit reached: source '{source}' may create "
                                        f"{limit} new series per hour; this series is new and was refused "
                                        "until the hour ends", unit.raw, kind="series_limit"))
            else:
                good.extend(unit.samples)
        return good
