"""Every way data comes into Vigil, in one registry with one lifecycle: adding a protocol is its folder and one line.

An adapter is a name, a kind, its typed config and a factory:
- `http`: a protocol on ingest's HTTP port. Its config is built from IngestSettings (`from_settings`);
  the factory `(pipeline, admission, config) -> APIRouter` gives the routes, mounted on the ingest app.
- `listener`: a protocol with sockets or loops of its own (StatsD, scraping). Config from IngestSettings
  and the ingest config file, None where it is off in this process; the factory
  `(pipeline, config) -> server` gives an object with `start()` and `stop()`.
- `connector`: a device connector; one per entry of the connectors file (VIGIL_CONNECTORS_CONFIG) whose
  `type` is the adapter's name, validated by its config model; the factory `(config) -> Connector` gives
  what `vigil connectors` runs under supervision (ingest/connectors/supervise.py).

One lifecycle for all three (`Running`): a process builds its adapters once its pipeline is ready
(`Adapter.build`), starts them in registry order and, on the way out, stops them, the last started
first, before the pipeline closes (`running`): an HTTP adapter's start mounts its router, a listener
binds and flushes what it aggregated when it stops, a connector's task runs until stopped.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from kernel.settings import IngestSettings
from ingest.admission import Admission
from ingest.connectors.supervise import Supervised
from ingest.homeassistant.config import HomeAssistantConfig
from ingest.homeassistant.connector import HomeAssistantConnector
from ingest.influx import server as influx
from ingest.influx.config import InfluxConfig
from ingest.modbus.config import ModbusConnectorConfig
from ingest.modbus.connector import ModbusConnector
from ingest.mqtt.config import MqttConnectorConfig
from ingest.mqtt.connector import MqttConnector
from ingest.opcua.config import OpcuaConnectorConfig
from ingest.opcua.connector import OpcuaConnector
from ingest.otlp import server as otlp
from ingest.otlp.config import OtlpConfig
from ingest.pipeline import Pipeline
from ingest.remote_write import server as remote_write
from ingest.remote_write.config import RemoteWriteConfig
from ingest.scrape.config import ScrapeConfig
from ingest.scrape.server import Scraper
from ingest.sources import Sources
from ingest.statsd.config import StatsdConfig
from ingest.statsd.server import StatsdServer

log = logging.getLogger(__name__)

Kind = Literal["http", "listener", "connector"]


class Running(Protocol):
    """An adapter at work in one process: started once the pipeline is ready, stopped before it closes."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Host:
    """What a process lends its adapters: the pipeline, and for HTTP adapters its app and admission."""

    pipeline: Pipeline
    app: FastAPI | None = None
    admission: Admission | None = None


@dataclass(frozen=True, slots=True)
class Adapter:
    """One entry of the registry: a protocol or device kind, its typed config and how it is built."""

    name: str
    kind: Kind
    config: type  # the typed config: http and listener ones have `from_settings(settings, sources)`
    factory: Callable[..., Any]  # by kind: the module docstring

    def from_settings(self, settings: IngestSettings, sources: Sources) -> Any:
        """An http or listener adapter's config in this process (None: off here)."""
        if self.kind == "connector":
            raise ValueError(f"the {self.name} connector's configs come from the connectors file, not settings")
        return self.config.from_settings(settings, sources)

    def build(self, config: Any, host: Host) -> Running:
        """The adapter at work with `config` in the process `host` describes (not started yet)."""
        if self.kind == "http":
            if host.app is None or host.admission is None:
                raise ValueError(f"the {self.name} adapter serves HTTP: its process must lend an app and admission")
            return _Mounted(self.name, host.app, self.factory(host.pipeline, host.admission, config))
        if self.kind == "listener":
            listener: Running = self.factory(host.pipeline, config)
            return listener
        return Supervised(self.factory(config), self.name, host.pipeline)


def _by_name(*adapters: Adapter) -> dict[str, Adapter]:
    names = [adapter.name for adapter in adapters]
    if len(names) != len(set(names)):  # a name is a protocol label and a connectors-file `type`: one adapter each
        raise ValueError(f"adapter names must be unique: {sorted(n for n in set(names) if names.count(n) > 1)}")
    return {adapter.name: adapter for adapter in adapters}


ADAPTERS: dict[str, Adapter] = _by_name(
    Adapter("influx", "http", InfluxConfig, influx.router),
    Adapter("remote_write", "http", RemoteWriteConfig, remote_write.router),
    Adapter("otlp", "http", OtlpConfig, otlp.router),
    Adapter("statsd", "listener", StatsdConfig, StatsdServer),
    Adapter("scrape", "listener", ScrapeConfig, Scraper),
    Adapter("mqtt", "connector", MqttConnectorConfig, MqttConnector),
    Adapter("homeassistant", "connector", HomeAssistantConfig, HomeAssistantConnector),
    Adapter("modbus", "connector", ModbusConnectorConfig, ModbusConnector),
    Adapter("opcua", "connector", OpcuaConnectorConfig, OpcuaConnector),
)


def of_kind(*kinds: Kind) -> list[Adapter]:
    """The registered adapters of these kinds, in registry order."""
    return [adapter for adapter in ADAPTERS.values() if adapter.kind in kinds]


def connector_kinds() -> dict[str, type[BaseModel]]:
    """Each connector type's config model: the connectors file's schema (ingest/connectors/config.py)."""
    return {adapter.name: adapter.config for adapter in of_kind("connector")}


def ingest_configs(settings: IngestSettings, sources: Sources) -> list[tuple[Adapter, Any]]:
    """The HTTP and listener adapters `vigil ingest` runs, each with its config (those off here left out)."""
    built = [(adapter, adapter.from_settings(settings, sources)) for adapter in of_kind("http", "listener")]
    return [(adapter, config) for adapter, config in built if config is not None]


def connector_configs(configs: Iterable[BaseModel]) -> list[tuple[Adapter, Any]]:
    """The connectors `vigil connectors` runs: one per entry of the connectors file."""
    return [(ADAPTERS[config.type], config) for config in configs]


def build(configured: Iterable[tuple[Adapter, Any]], host: Host) -> list[Running]:
    """Every configured adapter at work in the process `host` describes."""
    return [adapter.build(config, host) for adapter, config in configured]


@asynccontextmanager
async def running(adapters: Sequence[Running]) -> AsyncIterator[None]:
    """Start the adapters in order; on leaving, stop them, the last started first.

    A start that fails stops those already started and is raised (a port in use stops the process at
    start, naming it); a stop that fails is logged and the others still stop.
    """
    started: list[Running] = []
    try:
        for adapter in adapters:
            await adapter.start()
            started.append(adapter)
            log.info("ingest adapter %s started", adapter.name)
        yield
    finally:
        for adapter in reversed(started):
            try:
                await adapter.stop()
            except Exception:
                log.exception("ingest adapter %s did not stop cleanly", adapter.name)


class _Mounted:
    """An HTTP adapter at work: its routes on the process's app from `start` on."""

    def __init__(self, name: str, app: FastAPI, router: APIRouter) -> None:
        self.name, self._app, self.router = name, app, router
        self._mounted = False

    async def start(self) -> None:
        """Mount the routes (requests to them are answered from here on); once, however often it is started."""
        if not self._mounted:
            self._app.include_router(self.router)
            self._mounted = True

    async def stop(self) -> None:
        """Nothing to release: the routes go with the app, which stops taking requests before its pipeline closes."""
