"""Targets of a job: its static_configs plus file_sd_configs files, re-read when they change.

File format as Prometheus' file_sd: a JSON or YAML list of `{"targets": ["host:port"], "labels": {}}`
https://prometheus.io/docs/prometheus/latest/configuration/configuration/#file_sd_config
A file that can't be read or parsed keeps its previous targets and the error is logged.
"""

from __future__ import annotations

import glob
import json
import logging
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from ingest.config_types import ScrapeJob, StaticConfig

log = logging.getLogger(__name__)
_GROUPS = TypeAdapter(tuple[StaticConfig, ...])

Target = tuple[str, tuple[tuple[str, str], ...]]  # (address, sorted extra labels)


class Discovery:
    """The current targets of one job."""

    def __init__(self, job: ScrapeJob) -> None:
        self.job = job
        self._files: dict[str, tuple[float, tuple[StaticConfig, ...]]] = {}  # path → (mtime, groups)

    def targets(self) -> set[Target]:
        """Every (address, labels) the job should scrape now; files are re-read if their mtime changed."""
        groups = list(self.job.static_configs)
        seen = set()
        for sd in self.job.file_sd_configs:
            for pattern in sd.files:
                for path in sorted(glob.glob(pattern)):
                    seen.add(path)
                    groups.extend(self._read(path))
        for gone in set(self._files) - seen:
            del self._files[gone]
        return {(address, tuple(sorted(group.labels.items()))) for group in groups for address in group.targets}

    def _read(self, path: str) -> tuple[StaticConfig, ...]:
        try:
            mtime = Path(path).stat().st_mtime
        except OSError:
            return ()
        cached = self._files.get(path)
        if cached and cached[0] == mtime:
            return cached[1]
        try:
            text = Path(path).read_text()
            document = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
            groups = _GROUPS.validate_python(document or ())
        except (OSError, ValueError, yaml.YAMLError, ValidationError) as exc:
            log.error("file_sd %s of job %s: %s (keeping its previous targets)", path, self.job.job_name,
                      str(exc)[:500])
            return cached[1] if cached else ()
        self._files[path] = (mtime, groups)
        return groups
