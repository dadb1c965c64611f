"""The alerting config in force: the file, re-read when it changes, so a running worker needs no restart."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from kernel.alerting.config import AlertingConfig, AlertingConfigError, load_alerting_config, parse_alerting_config

log = logging.getLogger(__name__)
CHECK_EVERY_S = 2.0


def without_file(receiver: str) -> AlertingConfig:
    """No alerting config: every alert is its own incident, paged as it fires and as it resolves
    (group_by all labels, no waiting), to `receiver`; escalation after the default 15 + 5 minutes."""
    return parse_alerting_config({
        "route": {"receiver": receiver, "group_by": ["..."], "group_wait": "0s", "group_interval": "0s",
                  "repeat_interval": "4h"},
        "receivers": [{"name": receiver}]}, "the built-in default (no VIGIL_ALERTING_CONFIG)")


class ConfigSource:
    """Callable returning the current AlertingConfig; a broken edit is logged and the last good one kept."""

    def __init__(self, path: Path | None, default_receiver: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._checked = clock()
        self._mtime = self._stat()
        # The first load fails loudly (the caller reports it); later ones keep the good config.
        self.config = load_alerting_config(path) if path is not None else without_file(default_receiver)

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime if self.path is not None else None
        except OSError:
            return None

    def __call__(self) -> AlertingConfig:
        if self.path is None or self._clock() - self._checked < CHECK_EVERY_S:
            return self.config
        self._checked = self._clock()
        mtime = self._stat()
        if mtime is not None and mtime != self._mtime:
            self._mtime = mtime
            try:
                self.config = load_alerting_config(self.path)
                log.info("alerting config %s reloaded", self.path)
            except (AlertingConfigError, OSError) as exc:
                log.error("alerting config %s not reloaded, keeping the previous one: %s", self.path, exc)
        return self.config
