"""The scraper: one task per target, scraping on the job's interval, samples through the pipeline.

Each scrape adds Prometheus' synthetic series for the target: `up` (1 when the scrape and its
parse succeeded), `scrape_duration_seconds` and `scrape_samples_scraped`. Targets of
file_sd_configs are re-discovered every refresh_interval; a target that disappears stops being
scraped. With several ingest processes, scrape from one of them (`VIGIL_SCRAPE=false` on the rest).
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from dataclasses import dataclass

import httpx

from kernel.retry import RetryableError
from ingest import metrics
from ingest.pipeline import Pipeline, Unit
from ingest.config_types import ScrapeJob
from ingest.scrape.config import ScrapeConfig
from ingest.scrape.discovery import Discovery, Target
from ingest.scrape.parse import ACCEPT, ScrapeError, parse

log = logging.getLogger(__name__)

PROTOCOL = "scrape"
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass
class TargetStatus:
    """What `GET /api/v1/targets` shows for one target."""

    job: str
    address: str
    labels: dict[str, str]
    health: str = "unknown"
    last_error: str = ""
    last_scrape_ms: int = 0
    last_duration_s: float = 0.0
    samples: int = 0


class Scraper:
    """Runs every job's targets until stopped."""

    name = PROTOCOL

    def __init__(self, pipeline: Pipeline, config: ScrapeConfig) -> None:
        self.pipeline = pipeline
        self.jobs = config.jobs
        self.status: dict[tuple[str, Target], TargetStatus] = {}
        self._tasks: dict[tuple[str, Target], asyncio.Task] = {}
        self._supervisor: asyncio.Task | None = None
        self._http: httpx.AsyncClient | None = None

    async def start(self) -> None:
        """Discover targets and start scraping them."""
        self._http = httpx.AsyncClient(headers={"Accept": ACCEPT, "User-Agent": "vigil-scraper"},
                                       follow_redirects=True)
        self._supervisor = asyncio.create_task(self._discover_forever(), name="scrape-discovery")

    async def stop(self) -> None:
        """Stop every scrape loop (a scrape in flight is abandoned: nothing of it was published)."""
        tasks = [t for t in (self._supervisor, *self._tasks.values()) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()  # a start after this stop scrapes every target afresh
        self.status.clear()
        if self._http is not None:
            await self._http.aclose()

    async def _discover_forever(self) -> None:
        discoveries = [(job, Discovery(job)) for job in self.jobs]
        refresh = min([sd.refresh_interval for job in self.jobs for sd in job.file_sd_configs] or [3600.0])
        while True:
            wanted = {(job.job_name, target): job for job, discovery in discoveries for target in discovery.targets()}
            for key in set(self._tasks) - set(wanted):
                self._tasks.pop(key).cancel()
                self.status.pop(key, None)
                log.info("stopped scraping %s target %s (no longer discovered)", key[0], key[1][0])
            for key, job in wanted.items():
                if key not in self._tasks:
                    address, labels = key[1]
                    self.status[key] = TargetStatus(job.job_name, address,
                                                    {"job": job.job_name, "instance": address, **dict(labels)})
                    self._tasks[key] = asyncio.create_task(self._scrape_forever(job, self.status[key]),
                                                           name=f"scrape {job.job_name} {address}")
            await asyncio.sleep(refresh)

    async def _scrape_forever(self, job: ScrapeJob, status: TargetStatus) -> None:
        # Spread targets over the interval like Prometheus does (a stable offset per target).
        offset = (zlib.crc32(f"{job.job_name}/{status.address}".encode()) % 1000) / 1000 * job.scrape_interval
        await asyncio.sleep(offset)
        next_at = time.monotonic()
        while True:
            try:
                await self.scrape_once(job, status)
            except Exception:  # one target's surprise must not end its loop; it is logged
                log.exception("scrape of %s failed unexpectedly", status.address)
            next_at += job.scrape_interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def scrape_once(self, job: ScrapeJob, status: TargetStatus) -> None:
        """Scrape one target once and publish its samples with up/duration/count."""
        url = f"{job.scheme}://{status.address}{job.metrics_path}"
        now_ms = int(time.time() * 1000)
        started = time.perf_counter()
        samples, error = [], ""
        try:
            answer = await self._http.get(url, params=job.params, timeout=job.scrape_timeout)
            if answer.status_code != 200:
                raise ScrapeError(f"server returned HTTP status {answer.status_code}")
            if len(answer.content) > MAX_BODY_BYTES:
                raise ScrapeError(f"body is {len(answer.content)} bytes, over the {MAX_BODY_BYTES} limit")
            result = parse(answer.content, answer.headers.get("content-type", ""), status.labels, now_ms,
                           job.honor_labels, job.honor_timestamps)
            samples = result.samples
            if result.skipped_nan:
                metrics.SAMPLES_SKIPPED.labels(PROTOCOL, "nan").inc(result.skipped_nan)
        except (httpx.HTTPError, ScrapeError) as exc:
            error = str(exc) or type(exc).__name__
        duration = time.perf_counter() - started
        synthetic = [("up", 0.0 if error else 1.0), ("scrape_duration_seconds", duration),
                     ("scrape_samples_scraped", float(len(samples)))]
        samples += [{"series_id": 0, "name": name, "labels": dict(status.labels), "value": value,
                     "timestamp_ms": now_ms} for name, value in synthetic]
        units = [Unit(f"{url} {s['name']}", [s]) for s in samples]
        status.health = "down" if error else "up"
        try:
            outcome = await self.pipeline.accept(PROTOCOL, status.address, units, [], now_ms=now_ms)
        except RetryableError as exc:  # the next scrape brings fresh values; nothing to replay
            metrics.SAMPLES_DROPPED.labels(PROTOCOL, type(exc).__name__).inc(len(samples))
            error = error or f"Kafka could not take the samples: {exc}"
        else:
            if outcome.problems and not error:
                error = f"{len(outcome.problems)} samples refused, e.g. {outcome.problems[0].reason}"
        status.last_error, status.last_scrape_ms, status.last_duration_s = error, now_ms, duration
        status.samples = len(samples) - len(synthetic)
        if error:
            log.warning("scrape %s: %s", url, error)
