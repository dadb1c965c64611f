"""What every connector is and hands back: the Connector protocol, device status, availability.

A connector runs until cancelled, reconnecting by itself when its peer goes away, and hands
samples to `publish` (which returns only once Kafka has them, or raises RetryableError). Each
device it serves has a DeviceStatus for `vigil connectors status`, and an availability series
`vigil_device_up{connector, device}` (1 up, 0 down) that rules can alert on.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from ingest.pipeline import Problem
from schemas.records import Sample

AVAILABILITY = "vigil_device_up"

# publish(device, samples, problems): into Kafka through the pipeline; raises RetryableError.
Publish = Callable[[str, list[Sample], list[Problem]], Awaitable[int]]


@dataclass
class DeviceStatus:
    """One device as `vigil connectors status` shows it."""

    connector: str
    device: str
    up: bool | None = None  # None: not polled or heard from yet
    last_seen_ms: int = 0  # last successful poll or message
    last_error: str = ""
    last_error_ms: int = 0
    samples: int = 0
    _rate: list[tuple[float, int]] = field(default_factory=list, repr=False)

    def ok(self, samples: int, now_s: float | None = None) -> None:
        """Record a successful poll/message that produced `samples`."""
        now_s = time.time() if now_s is None else now_s
        self.up, self.last_seen_ms = True, int(now_s * 1000)
        self.samples += samples
        self._rate.append((now_s, self.samples))
        del self._rate[:-20]

    def failed(self, error: str, now_s: float | None = None) -> None:
        """Record a failed poll or a lost connection (the message is kept for the status view)."""
        now_s = time.time() if now_s is None else now_s
        self.up, self.last_error, self.last_error_ms = False, error[:500], int(now_s * 1000)

    def samples_per_s(self) -> float:
        if len(self._rate) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._rate[0], self._rate[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def as_dict(self) -> dict:
        return {"connector": self.connector, "device": self.device, "up": self.up,
                "last_seen_ms": self.last_seen_ms, "last_error": self.last_error,
                "last_error_ms": self.last_error_ms, "samples": self.samples,
                "samples_per_s": round(self.samples_per_s(), 2)}


def availability(connector: str, device: str, up: bool, now_ms: int, labels: dict[str, str] | None = None) -> Sample:
    """The `vigil_device_up` sample of a device."""
    return {"series_id": 0, "name": AVAILABILITY, "labels": {**(labels or {}), "connector": connector,
                                                             "device": device},
            "value": 1.0 if up else 0.0, "timestamp_ms": now_ms}


class Connector(Protocol):
    """A running connector: `run` until cancelled; `statuses` for the status view."""

    name: str

    async def run(self, publish: Publish) -> None: ...

    def statuses(self) -> list[DeviceStatus]: ...
