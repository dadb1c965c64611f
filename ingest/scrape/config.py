"""The scrape adapter's config: the `scrape_configs` jobs of the ingest config file, run where VIGIL_SCRAPE is on.

A job's own model (`ScrapeJob`, the subset of Prometheus' scrape_config that Vigil runs) is in
ingest/config_types.py, where the ingest config file's model reads it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel.settings import IngestSettings
from ingest.config_types import ScrapeJob
from ingest.sources import Sources


@dataclass(frozen=True, slots=True)
class ScrapeConfig:
    """The jobs this process scrapes."""

    jobs: tuple[ScrapeJob, ...]

    @classmethod
    def from_settings(cls, settings: IngestSettings, sources: Sources) -> ScrapeConfig | None:
        """The file's jobs; None (no scraper) when there are none or this process does not scrape (VIGIL_SCRAPE)."""
        if not settings.scrape or not sources.scrape_jobs:
            return None
        return cls(sources.scrape_jobs)
