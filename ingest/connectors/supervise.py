"""A device connector at work in a process: run under supervision, publishing through the shared pipeline.

Each connector runs as a task publishing under its type as the protocol (`mqtt`, `modbus`, …) and
each device as the source. A connector that crashes (it should not: they handle their peers'
failures themselves) is logged and restarted after a pause, so one broken device never stops the others.
"""

from __future__ import annotations

import asyncio
import logging

from kernel.retry import Backoff
from ingest.connectors.base import Connector, DeviceStatus, Publish
from ingest.pipeline import Pipeline, Problem, Unit
from schemas.records import Sample

log = logging.getLogger(__name__)


def publisher_for(pipeline: Pipeline, protocol: str) -> Publish:
    """The `publish` a connector of type `protocol` gets: one unit per sample, the device as source."""

    async def publish(device: str, samples: list[Sample], problems: list[Problem]) -> int:
        units = [Unit(f"{device} {sample['name']}", [sample]) for sample in samples]
        outcome = await pipeline.accept(protocol, device, units, problems)
        return outcome.accepted
    return publish


async def supervise(connector: Connector, protocol: str, pipeline: Pipeline) -> None:
    """Run a connector forever, restarting it after a pause if it ever raises."""
    backoff = Backoff(initial_s=1.0, max_s=60.0)
    attempt = 0
    while True:
        try:
            await connector.run(publisher_for(pipeline, protocol))
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            attempt += 1
            log.exception("connector %s crashed; restarting it (attempt %d)", connector.name, attempt)
            await asyncio.sleep(backoff.delay(attempt))


class Supervised:
    """One connector's lifecycle: `start` runs it under supervision, `stop` cancels it and waits for its end."""

    def __init__(self, connector: Connector, protocol: str, pipeline: Pipeline) -> None:
        self.connector, self.protocol, self.pipeline = connector, protocol, pipeline
        self.name = connector.name
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Run the connector in a task of its own (it connects and reconnects by itself)."""
        self._task = asyncio.create_task(supervise(self.connector, self.protocol, self.pipeline),
                                         name=f"connector {self.name}")

    async def stop(self) -> None:
        """Cancel the connector and wait until it has let go of its peer."""
        if self._task is None:
            return
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    def statuses(self) -> list[DeviceStatus]:
        """Its devices, for `vigil connectors status`."""
        return self.connector.statuses()
