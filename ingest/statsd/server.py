"""StatsD / DogStatsD over UDP and TCP: parse each datagram or line, aggregate, publish per flush.

Transport only: parsing is `parse.py`, aggregation `aggregate.py`. Every `flush_interval_s` the
aggregated samples go through the shared pipeline into Kafka. UDP has no answer channel, so
what can't be used is counted instead: bad lines (and land on the dead-letter topic with the
flush), and samples Kafka could not take at flush time (`vigil_ingest_samples_dropped_total`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from kernel.retry import RetryableError
from ingest import metrics
from ingest.pipeline import Pipeline, Problem, Unit
from ingest.statsd.aggregate import Aggregator
from ingest.statsd.config import StatsdConfig
from ingest.statsd.parse import parse

log = logging.getLogger(__name__)

PROTOCOL = "statsd"
MAX_PROBLEMS_PER_FLUSH = 1_000  # dead-letter at most this many bad lines per flush; count the rest
TCP_READ_BYTES = 64 * 1024
UDP_RECEIVE_BUFFER = 8 * 1024 * 1024  # bursts wait here; the kernel caps it at net.core.rmem_max


class StatsdServer:
    """Listens on host:port (UDP and TCP), aggregates, and publishes one flush at a time."""

    name = PROTOCOL

    def __init__(self, pipeline: Pipeline, config: StatsdConfig) -> None:
        self.pipeline = pipeline
        self.config = config
        self.host, self.port = config.host, config.port
        self.aggregator = Aggregator(config, time.time)
        self._problems: list[Problem] = []
        self._transport: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._flusher: asyncio.Task | None = None
        self._sources: set[str] = set()

    async def start(self) -> None:
        """Bind UDP and TCP (an error names the port) and start the flush loop."""
        loop = asyncio.get_running_loop()
        try:
            self._transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), local_addr=(self.host, self.port))
            self._tcp = await asyncio.start_server(self._stream, self.host, self.port, limit=TCP_READ_BYTES)
        except OSError as exc:
            raise OSError(f"StatsD can't listen on {self.host}:{self.port} (VIGIL_STATSD_PORT): {exc}") from None
        udp = self._transport.get_extra_info("socket")
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        log.info("StatsD UDP receive buffer: %d bytes", udp.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))
        self._flusher = asyncio.create_task(self._flush_loop(), name="statsd-flush")
        log.info("StatsD listening on %s:%d (UDP and TCP), flushing every %.1fs", self.host, self.port,
                 self.config.flush_interval_s)

    async def stop(self) -> None:
        """Stop listening, then flush what was aggregated so far (nothing received is lost on a stop)."""
        if self._transport is not None:
            self._transport.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        if self._flusher is not None:
            self._flusher.cancel()
        await self.flush()

    def receive(self, payload: bytes, source: str) -> None:
        """Parse one datagram or chunk of lines into the current interval."""
        metrics.STATSD_BYTES.inc(len(payload))
        result = parse(payload, self.config)
        self.aggregator.add(result.metrics)
        metrics.STATSD_METRICS.inc(len(result.metrics))
        if result.skipped_non_metrics:
            metrics.SAMPLES_SKIPPED.labels(PROTOCOL, "service_check_or_event").inc(result.skipped_non_metrics)
        for error in result.errors:
            if len(self._problems) < MAX_PROBLEMS_PER_FLUSH:
                self._problems.append(Problem(f"{source} line {error.number}", error.reason, error.raw))
            else:
                metrics.LINES_REJECTED.labels(PROTOCOL, "invalid_not_dead_lettered").inc()
        if len(self._sources) < 100:
            self._sources.add(source)

    async def flush(self) -> int:
        """Publish the interval's samples; returns how many Kafka took."""
        dropped_before, failed_before = self.aggregator.dropped, self.aggregator.failed
        samples = self.aggregator.flush()
        if self.aggregator.dropped != dropped_before:
            metrics.SAMPLES_DROPPED.labels(PROTOCOL, "max_series").inc(self.aggregator.dropped - dropped_before)
        if self.aggregator.failed != failed_before:
            metrics.SAMPLES_DROPPED.labels(PROTOCOL, "aggregation_error").inc(self.aggregator.failed - failed_before)
        problems, self._problems = self._problems, []
        if not samples and not problems:
            return 0
        units = [Unit(f"{s['name']} at flush", [{"series_id": 0, **s}]) for s in samples]
        source = ",".join(sorted(self._sources)) or "statsd"
        self._sources.clear()
        try:
            outcome = await self.pipeline.accept(PROTOCOL, source[:200], units, problems)
        except RetryableError as exc:
            metrics.SAMPLES_DROPPED.labels(PROTOCOL, type(exc).__name__).inc(len(samples))
            log.error("StatsD flush of %d samples dropped: %s", len(samples), exc)
            return 0
        return outcome.accepted

    async def _flush_loop(self) -> None:
        interval = self.config.flush_interval_s
        next_at = time.monotonic() + interval
        while True:
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            next_at += interval
            try:
                await self.flush()
            except Exception:  # the loop must outlive any one bad flush; the error is logged
                log.exception("StatsD flush failed")

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        source = f"tcp:{peer[0]}" if peer else "tcp"
        pending = b""
        try:
            while chunk := await reader.read(TCP_READ_BYTES):
                data = pending + chunk
                cut = data.rfind(b"\n")
                if cut < 0:
                    if len(data) > self.config.max_datagram_bytes:  # a line with no end in sight
                        self.receive(data, source)
                        data = b""
                    pending = data
                    continue
                self.receive(data[:cut], source)
                pending = data[cut + 1:]
            if pending:
                self.receive(pending, source)
        except ConnectionError:
            pass
        finally:
            writer.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: StatsdServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr) -> None:
        self.server.receive(data, f"udp:{addr[0]}")
