"""What every HTTP ingest protocol does the same way, written once: a protocol supplies an Exchange.

The order of one write, for every protocol:
1. the protocol looks at the headers (`exchange`): a content type or encoding it can't take is
   answered at once (415), before anything else;
2. admission (ingest/admission.py): at saturation, 503 + Retry-After before the body is read;
3. the body is read with the size and time limits (ingest/body.py), gunzipped unless the protocol
   reads it raw (remote write's snappy), and decoded on a thread when it is big, so the event loop
   keeps answering (state whose updates must not interleave, OTLP's delta → cumulative, is applied by
   `prepare`, on the loop);
4. the pipeline labels, validates and publishes it (ingest/pipeline.py), answering only once Kafka
   has it; when Kafka can't take it, nothing of the request was written and the sender is told to
   retry (429 or 503 by the error's `status` and the protocol's rules);
5. the protocol renders the answer: written, partly written (naming each refused line/series/point),
   or refused — each in its own wire format.
The latency of every answer is recorded by protocol and status code.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

from fastapi import Request, Response

from ingest import metrics
from ingest.admission import Admission
from ingest.body import BODY_READ_TIMEOUT_S, BodyError, read_body, read_raw_body
from ingest.pipeline import Outcome, Pipeline, Problem, Unit
from ingest.sources import Sources
from ingest.validate import Limits
from kernel.retry import RetryableError
from kernel.settings import IngestSettings

OFFLOAD_BYTES = 256 * 1024  # decode bigger bodies on a thread so the event loop keeps answering
BACKPRESSURE_STATUS = 503  # a RetryableError that names no status of its own


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What every HTTP protocol's config holds: a body's size limit (VIGIL_MAX_BODY_BYTES, 413 beyond it) and the
    time it has to arrive (VIGIL_INGEST_BODY_READ_TIMEOUT_S, 408 after it). A protocol's config extends it."""

    max_body_bytes: int
    body_timeout_s: float = BODY_READ_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: IngestSettings, sources: Sources) -> Self:
        """The limits in `settings` (a protocol with knobs of its own reads them in its override)."""
        return cls(max_body_bytes=settings.max_body_bytes, body_timeout_s=settings.ingest_body_read_timeout_s)


@dataclass(slots=True)
class Decoded:
    """A decoded body: the units for the pipeline, what the decoder refused, and what it skipped on purpose."""

    units: list[Unit]
    problems: list[Problem] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)  # reason → samples taken but not stored (stale, NaN…)
    now_ms: int | None = None  # the time the request's samples are judged against (None: when published)
    limits: Limits | None = None  # the protocol's own limits (None: the pipeline's)
    detail: object = None  # anything the protocol's answer needs from its decoder


class Exchange(ABC):
    """One request as its protocol sees it: how to decode its body and how to answer it."""

    raw_body = False  # True: the body is handed over as sent (no gzip decoding)

    @abstractmethod
    def decode(self, body: bytes) -> Decoded:
        """The body's units and problems; raises BodyError (status, message) for a body unusable as a whole."""

    @abstractmethod
    def error(self, status: int, message: str, retry_after: float | None = None) -> Response:
        """A refusal in the protocol's wire format (and Retry-After when given)."""

    @abstractmethod
    def written(self, outcome: Outcome, decoded: Decoded) -> Response:
        """The answer once the pipeline took the request: all written, or partly with the problems named."""

    def prepare(self, decoded: Decoded) -> None:  # noqa: B027 (a hook: only OTLP keeps state across requests)
        """On the event loop, just before the pipeline: apply what the protocol keeps across requests."""

    def not_published(self, decoded: Decoded) -> None:  # noqa: B027 (the hook that undoes `prepare`)
        """Kafka did not take the request: undo what `prepare` changed (OTLP's delta state)."""


@dataclass(frozen=True, slots=True)
class HttpAdapter:
    """The parts of ingest one HTTP protocol shares with the others."""

    protocol: str
    pipeline: Pipeline
    admission: Admission
    limits: HttpLimits
    # How this protocol's senders are told to back off: Prometheus retries only 5xx, so remote write
    # says 503 where InfluxDB and OTLP clients take 429.
    backpressure: Callable[[RetryableError], int] = lambda exc: getattr(exc, "status", BACKPRESSURE_STATUS)

    async def handle(self, request: Request, exchange: Exchange | Response) -> Response:
        """Answer one write; `exchange` is a Response when the protocol refused the headers already."""
        return await metrics.timed(self.protocol, self._handle(request, exchange))

    async def _handle(self, request: Request, exchange: Exchange | Response) -> Response:
        if isinstance(exchange, Response):
            return exchange
        with self.admission.slot(self.protocol) as shed:
            if shed is not None:
                return exchange.error(503, shed.message, shed.retry_after_s)
            return await self._admitted(request, exchange)

    async def _admitted(self, request: Request, exchange: Exchange) -> Response:
        read = read_raw_body if exchange.raw_body else read_body
        try:
            body = await read(request, self.limits.max_body_bytes, self.limits.body_timeout_s)
            if len(body) > OFFLOAD_BYTES:
                decoded = await asyncio.to_thread(exchange.decode, body)
            else:
                decoded = exchange.decode(body)
        except BodyError as exc:
            return exchange.error(exc.status, exc.message)
        for reason, count in decoded.skipped.items():
            metrics.SAMPLES_SKIPPED.labels(self.protocol, reason).inc(count)
        source = request.client.host if request.client else "unknown"
        exchange.prepare(decoded)
        try:
            outcome = await self.pipeline.accept(self.protocol, source, decoded.units, decoded.problems,
                                                 now_ms=decoded.now_ms, limits=decoded.limits,
                                                 agent=request.state.agent)
        except RetryableError as exc:
            exchange.not_published(decoded)
            metrics.PUBLISH_FAILURES.labels(self.protocol, type(exc).__name__).inc()  # a bounded label: two classes
            return exchange.error(self.backpressure(exc), f"{exc}; nothing of this request was written, retry it",
                                  exc.retry_after or 1)
        return exchange.written(outcome, decoded)
