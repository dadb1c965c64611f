"""What ingest's configurations are written in: durations, names, scrape jobs.

Shared by the adapters' typed configs (ingest/<name>/config.py) and the ingest config file
(ingest/sources.py); it imports no adapter, so every adapter package and the file's model can use it.
`ScrapeJob` is here rather than in ingest/scrape/ because the ingest config file lists the jobs
(`scrape_configs`) that the scrape adapter runs: the file's model must not import an adapter package.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# A connector's, device's, scrape job's or token's name: it becomes a label value and a source name.
NAME_PATTERN = r"^[A-Za-z0-9._-]{1,100}$"

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")
_TARGET = re.compile(r"^[A-Za-z0-9.\-_\[\]:]+:\d{1,5}$")


def seconds(text: str | float) -> float:
    """`15s`, `1m30s`, `500ms` or a number of seconds → seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    found = _DURATION.match(text.strip())
    if not found or not any(found.groups()):
        raise ValueError(f"{text!r} is not a duration like 15s, 1m or 500ms")
    h, m, s, ms = (int(g or 0) for g in found.groups())
    return h * 3600 + m * 60 + s + ms / 1000


class StaticConfig(BaseModel):
    """A fixed list of `host:port` targets with labels for all of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    targets: tuple[str, ...]
    labels: dict[str, str] = {}

    @field_validator("targets")
    @classmethod
    def _addresses(cls, targets):
        bad = [t for t in targets if not _TARGET.fullmatch(t)]
        if bad:
            raise ValueError(f"targets must be host:port, got {bad[0]!r}")
        return targets


class FileSdConfig(BaseModel):
    """Target files (JSON or YAML lists of `{targets, labels}`) re-read every refresh_interval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    files: tuple[str, ...] = Field(min_length=1)
    refresh_interval: float = 300.0

    @field_validator("refresh_interval", mode="before")
    @classmethod
    def _duration(cls, value):
        return seconds(value)


class ScrapeJob(BaseModel):
    """One job of `scrape_configs`, the subset of Prometheus' own that Vigil runs: how and how often to scrape.

    https://prometheus.io/docs/prometheus/latest/configuration/configuration/#scrape_config
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    job_name: str = Field(pattern=NAME_PATTERN)
    scrape_interval: float = 60.0
    scrape_timeout: float = 10.0
    metrics_path: str = "/metrics"
    scheme: Literal["http", "https"] = "http"
    params: dict[str, str] = {}
    honor_labels: bool = False
    honor_timestamps: bool = True
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSdConfig, ...] = ()

    @field_validator("scrape_interval", "scrape_timeout", mode="before")
    @classmethod
    def _duration(cls, value):
        return seconds(value)

    @model_validator(mode="after")
    def _timeout(self):
        if not 0 < self.scrape_timeout <= self.scrape_interval:
            raise ValueError("scrape_timeout must be > 0 and no longer than scrape_interval")
        if not self.metrics_path.startswith("/"):
            raise ValueError("metrics_path must start with /")
        return self
