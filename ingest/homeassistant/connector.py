"""The Home Assistant connector: polls `GET /api/states` with a long-lived token.

https://developers.home-assistant.io/docs/api/rest/ — `Authorization: Bearer <token>`. One
device per connector (the Home Assistant instance): unreachable, a 401 or a non-list answer
marks it down (`vigil_device_up` 0) until a poll succeeds again.
"""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from kernel.retry import RetryableError
from ingest import metrics
from ingest.connectors.base import DeviceStatus, Publish, availability
from ingest.homeassistant.config import HomeAssistantConfig
from ingest.homeassistant.parse import sample_of

log = logging.getLogger(__name__)
PROTOCOL = "homeassistant"


class HomeAssistantConnector:
    """Polls one Home Assistant instance every `interval`."""

    def __init__(self, config: HomeAssistantConfig) -> None:
        self.config = config
        self.name = config.name
        self.status = DeviceStatus(config.name, config.name)

    def statuses(self) -> list[DeviceStatus]:
        return [self.status]

    async def run(self, publish: Publish) -> None:
        """Poll until cancelled."""
        headers = {"Authorization": f"Bearer {self.config.token.get_secret_value()}",
                   "Content-Type": "application/json"}
        async with httpx.AsyncClient(base_url=self.config.url.rstrip("/"), headers=headers,
                                     timeout=self.config.timeout) as http:
            next_at = time.monotonic()
            while True:
                await self.poll(http, publish)
                next_at += self.config.interval
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def poll(self, http: httpx.AsyncClient, publish: Publish) -> None:
        """One poll: every selected entity's value plus the instance's availability."""
        now_ms = int(time.time() * 1000)
        samples, error = [], ""
        try:
            answer = await http.get("/api/states")
            if answer.status_code == 401:
                error = "Home Assistant refused the token (401): create a long-lived access token"
            elif answer.status_code != 200:
                error = f"Home Assistant answered HTTP {answer.status_code}"
            else:
                states = answer.json()
                if not isinstance(states, list):
                    raise ValueError("/api/states is not a JSON list")
                found = [sample_of(e, self.config, now_ms) for e in states if isinstance(e, dict)]
                samples = [s for s in found if s is not None]
                metrics.SAMPLES_SKIPPED.labels(PROTOCOL, "not_a_value").inc(len(states) - len(samples))
        except (httpx.HTTPError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if error:
            self.status.failed(error)
            log.warning("Home Assistant %s: %s", self.name, error)
        else:
            self.status.ok(len(samples))
        samples.append(availability(self.name, self.name, not error, now_ms, self.config.labels))
        try:
            await publish(self.name, samples, [])
        except RetryableError as exc:  # the next poll brings fresh values
            metrics.SAMPLES_DROPPED.labels(PROTOCOL, type(exc).__name__).inc(len(samples))
            log.warning("Home Assistant %s: Kafka did not take the poll: %s", self.name, exc)
