"""The Modbus TCP connector: one polling task per device, each with its own pymodbus client.

Every `interval` a device's registers are read in the blocks `decode.plan` makes (function codes
3 holding, 4 input, 1 coils, 2 discrete inputs; Modbus Application Protocol V1.1b3 §6.1-6.4),
decoded, and handed to `publish` with the device's `vigil_device_up` sample, all stamped with
the poll time.

Failures, from the device's point of view:
  - no connection, no answer within `timeout`, a broken frame: the poll is tried again `retries`
    times (Backoff delays, a fresh connection each time); if every try fails the device is down —
    `DeviceStatus.failed`, `vigil_device_up` 0 — and is polled again at the next interval, so it
    comes back by itself once it answers. pymodbus' own retries and reconnect loop are off
    (retries=0, reconnect_delay=0): one place decides when to retry, and it never piles up work.
  - a Modbus exception response (§7: illegal address, illegal function, device failure, ...) to
    one block: the device answered, so it stays up and the other blocks still give samples; the
    block is one Problem naming its registers and the exception. Like the OPC-UA connector's
    unresolvable nodes, it is published once and again only after the block has read well in
    between, so a misconfigured address doesn't flood the dead-letter topic every poll. The two
    gateway exceptions (0x0A, 0x0B: the device behind a gateway can't be reached) are the
    exception: they fail the poll like a timeout.
Polls keep their phase: a poll that overruns (its retries took longer than the interval) skips
the ticks it missed instead of polling back to back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from kernel.retry import Backoff, ErrorLog, RetryableError
from ingest import metrics
from ingest.connectors.base import DeviceStatus, Publish, availability
from ingest.modbus.config import BIT_TABLES, ModbusConnectorConfig, ModbusDevice, Register
from ingest.modbus.decode import ReadBlock, decode, plan
from ingest.pipeline import Problem
from schemas.records import Sample

log = logging.getLogger(__name__)
PROTOCOL = "modbus"
# Gateway path unavailable (0x0A), gateway target device failed to respond (0x0B), §7: not about
# one block but about the device behind the gateway, so they count as a failed poll.
GATEWAY_EXCEPTIONS = frozenset((ExcCodes.GATEWAY_PATH_UNAVIABLE, ExcCodes.GATEWAY_NO_RESPONSE))


class GatewayError(ConnectionError):
    """A Modbus gateway answered that the device behind it can't be reached."""


class ModbusConnector:
    """Polls every configured Modbus TCP device on its own interval, one task per device."""

    def __init__(self, config: ModbusConnectorConfig) -> None:
        self.config = config
        self.name = config.name
        self._pollers = [DevicePoller(config.name, device) for device in config.devices]

    def statuses(self) -> list[DeviceStatus]:
        """One status per configured device, in configuration order."""
        return [poller.status for poller in self._pollers]

    async def run(self, publish: Publish) -> None:
        """Poll every device until cancelled; on cancellation every client is closed."""
        tasks = [asyncio.create_task(poller.run(publish), name=f"modbus-{self.name}-{poller.device.name}")
                 for poller in self._pollers]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class DevicePoller:
    """One device: its connection, its read plan, and its status."""

    def __init__(self, connector: str, device: ModbusDevice) -> None:
        self.connector = connector
        self.device = device
        self.status = DeviceStatus(connector, device.name)
        self.blocks = plan(device.registers)
        self._client: AsyncModbusTcpClient | None = None
        # Retries within one poll: short first waits, never longer than an interval.
        self._backoff = Backoff(initial_s=min(0.5, device.interval / 4), max_s=device.interval)
        self._reported: set[str] = set()  # blocks/registers whose problem was published, until they read again
        self._errors = ErrorLog(log)  # the device's outage: logged when it starts, changes and ends

    async def run(self, publish: Publish) -> None:
        """Poll on the interval until cancelled."""
        loop = asyncio.get_running_loop()
        interval = self.device.interval
        next_at = loop.time()
        try:
            while True:
                try:
                    await self.poll(publish)
                except Exception as exc:  # a bug must not end polling: log it, the next poll starts afresh
                    log.exception("Modbus %s/%s: poll failed", self.connector, self.device.name)
                    self.status.failed(_describe(exc))
                    self._close()
                next_at += interval
                now = loop.time()
                if next_at < now:  # overran: keep the phase, skip the ticks already missed
                    next_at += math.ceil((now - next_at) / interval) * interval
                await asyncio.sleep(next_at - now)
        finally:
            self._close()

    async def poll(self, publish: Publish) -> None:
        """One poll with its retries, and its samples (or the device's absence) published."""
        device = self.device
        error = ""
        for attempt in range(device.retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff.delay(attempt))
            now_ms = int(time.time() * 1000)
            try:
                samples, problems = await self._read_all(now_ms)
                break
            except (ModbusException, OSError) as exc:  # OSError covers refused/reset sockets and TimeoutError
                error = _describe(exc)
                self._close()  # a fresh connection for the next try: the old one may be half-open
                log.debug("Modbus %s/%s: try %d of %d failed: %s", self.connector, device.name, attempt + 1,
                          device.retries + 1, error)
        else:
            self._errors.failed(error, "Modbus %s/%s (%s:%d) is down after %d tries: %s", self.connector,
                                device.name, device.host, device.port, device.retries + 1, error)
            self.status.failed(error)
            down = availability(self.connector, device.name, False, int(time.time() * 1000), device.labels)
            await self._publish(publish, [down], [])
            return
        self._errors.recovered("Modbus %s/%s answers again", self.connector, device.name)
        up = availability(self.connector, device.name, True, now_ms, device.labels)
        published = await self._publish(publish, samples + [up], problems)
        self.status.ok(len(samples) if published else 0)

    async def _read_all(self, now_ms: int) -> tuple[list[Sample], list[Problem]]:
        """Read and decode every block; raises when the device can't be reached or doesn't answer."""
        client = await self._connect()
        samples: list[Sample] = []
        problems: list[Problem] = []
        for block in self.blocks:
            response = await self._read(client, block)
            location = f"{self.device.name} {block}"
            if response.isError():
                if getattr(response, "exception_code", None) in GATEWAY_EXCEPTIONS:
                    raise GatewayError(f"{_exception_name(response)} to the read of {block}: the gateway "
                                       f"can't reach unit {self.device.unit_id}")
                self._problem(problems, location, f"{_names(block.registers)}: the device answered "
                                                  f"{_exception_name(response)}")
                continue
            self._reported.discard(location)
            values = response.bits if block.table in BIT_TABLES else response.registers
            for register in block.registers:
                try:
                    value = decode(register, values, block.start)
                except ValueError as exc:  # the device returned fewer values than asked for
                    self._problem(problems, f"{location} {register.name}", str(exc))
                    continue
                self._reported.discard(f"{location} {register.name}")
                if math.isnan(value):  # the pipeline would refuse it; "no reading" on many devices
                    metrics.SAMPLES_SKIPPED.labels(PROTOCOL, "nan").inc()
                    continue
                samples.append(self._sample(register, value, now_ms))
        return samples, problems

    async def _connect(self) -> AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._close()
        device = self.device
        # Our asyncio.timeout bounds connecting and each answer; pymodbus' own timeout (for both) is only
        # a backstop, longer so it never races ours. retries=0 and reconnect_delay=0 leave those to us.
        client = AsyncModbusTcpClient(device.host, port=device.port, timeout=2 * device.timeout, retries=0,
                                      reconnect_delay=0, name=f"vigil-{self.connector}-{device.name}")
        self._client = client
        try:
            async with asyncio.timeout(device.timeout):
                connected = await client.connect()
        except TimeoutError:
            connected = False
        if not connected:
            raise ConnectionError(f"could not connect to {device.host}:{device.port} within {device.timeout:g}s "
                                  f"(refused, unreachable or no answer)")
        return client

    async def _read(self, client: AsyncModbusTcpClient, block: ReadBlock) -> ModbusPDU:
        read = {"holding": client.read_holding_registers, "input": client.read_input_registers,
                "coil": client.read_coils, "discrete": client.read_discrete_inputs}[block.table]
        try:
            async with asyncio.timeout(self.device.timeout):
                return await read(block.start, count=block.count, device_id=self.device.unit_id)
        except TimeoutError:
            raise TimeoutError(f"no answer to the read of {block} within {self.device.timeout:g}s") from None

    def _sample(self, register: Register, value: float, now_ms: int) -> Sample:
        labels = {**self.device.labels, **register.labels, "device": self.device.name}
        if register.unit:
            labels["unit"] = register.unit
        return {"series_id": 0, "name": register.name, "labels": labels, "value": value, "timestamp_ms": now_ms}

    def _problem(self, problems: list[Problem], location: str, reason: str) -> None:
        """Add the problem unless it was published already and hasn't been fixed since."""
        known = location in self._reported
        log.log(logging.DEBUG if known else logging.WARNING, "Modbus %s: %s: %s", self.connector, location, reason)
        if not known:
            self._reported.add(location)
            problems.append(Problem(location, reason))

    async def _publish(self, publish: Publish, samples: list[Sample], problems: list[Problem]) -> bool:
        """Hand one poll to publish; a failure is logged and counted, and the next poll brings fresh values."""
        try:
            await publish(self.device.name, samples, problems)
            return True
        except RetryableError as exc:
            metrics.SAMPLES_DROPPED.labels(PROTOCOL, type(exc).__name__).inc(len(samples))
            log.warning("Modbus %s/%s: Kafka did not take %d samples: %s", self.connector, self.device.name,
                        len(samples), exc)
        except Exception:  # never end polling over one publish
            log.exception("Modbus %s/%s: publish failed", self.connector, self.device.name)
        # Problems that didn't get out are published again with the next poll that sees them.
        self._reported.difference_update(p.location for p in problems)
        return False

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _names(registers: tuple[Register, ...]) -> str:
    return ", ".join(r.name for r in registers)


def _exception_name(response: ModbusPDU) -> str:
    """`exception 2 (ILLEGAL_ADDRESS)` for an exception response (§7)."""
    code = getattr(response, "exception_code", None)
    try:
        return f"exception {code} ({ExcCodes(code).name})"
    except ValueError:
        return f"exception {code}"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
