"""The Modbus connector against pymodbus' own TCP server, through Vigil's `publish` boundary.

Decoded values (negative int16, float32 in both word orders, scaled uint16, a coil) arrive with
their labels and follow the server's changes; a register at an illegal address is one problem for
its block while the other blocks still give samples; a stopped server shows as availability 0 and
a down status with the error, and a server started again on the same port brings values and
availability back without restarting the connector; a device nobody answers for stays down without
disturbing the others; a publish that raises RetryableError doesn't stop polling.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from ingest.connectors.base import AVAILABILITY
from ingest.modbus.config import ModbusConnectorConfig
from ingest.modbus.connector import ModbusConnector
from ingest.pipeline import Problem
from tests.harness import free_port
from tests.ingest.publish_recorder import Recorder, stop, until

UNIT_ID = 1
FUNCTION_CODE = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}


class Plc:
    """pymodbus' TCP server with coils 0..15, discrete inputs 0..15, holding 0..19 and input 0..9.

    Anything outside those ranges answers exception 2, illegal data address.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: ModbusTcpServer | None = None

    async def start(self) -> None:
        # pymodbus 3.16's data model (ModbusServerContext/ModbusDeviceContext are deprecated there):
        # a SimDevice with separate blocks (coils, discrete inputs, holding, input registers).
        device = SimDevice(id=UNIT_ID, simdata=(
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=20, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=10, values=0, datatype=DataType.REGISTERS)]))
        self.server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        await self.server.serve_forever(background=True)

    async def set(self, table: str, address: int, values: list[int] | list[bool]) -> None:
        assert self.server is not None
        await self.server.async_setValues(UNIT_ID, FUNCTION_CODE[table], address, values)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.shutdown()
            self.server = None


def config(port: int, **extra) -> ModbusConnectorConfig:
    return ModbusConnectorConfig.model_validate({
        "type": "modbus", "name": "plant",
        "devices": [{
            "name": "pump-1", "host": "127.0.0.1", "port": port, "unit_id": UNIT_ID,
            "interval": "300ms", "timeout": "200ms", "retries": 1, "labels": {"site": "ams"},
            "registers": [
                {"name": "pump_delta", "table": "holding", "address": 0, "type": "int16"},
                {"name": "pump_flow", "table": "holding", "address": 1, "type": "float32", "unit": "m3/h"},
                {"name": "pump_pressure", "table": "holding", "address": 3, "scale": 0.1, "unit": "bar",
                 "labels": {"sensor": "p1"}},
                {"name": "pump_missing", "table": "holding", "address": 100},
                {"name": "pump_speed", "table": "input", "address": 0},
                {"name": "pump_energy", "table": "input", "address": 1, "type": "float32", "word_order": "little"},
                {"name": "pump_running", "table": "coil", "address": 3},
            ]}, *extra.pop("more_devices", [])],
        **extra})


async def write_values(plc: Plc, delta: int, flow: list[int], pressure: int, speed: int, running: bool) -> None:
    await plc.set("holding", 0, [delta & 0xFFFF, *flow, pressure])
    await plc.set("input", 0, [speed, 0x0000, 0x4049])  # pump_energy: float32 3.140625, low word first
    await plc.set("coil", 3, [running])


def test_values_problems_and_a_server_restart():
    asyncio.run(_values_problems_and_a_server_restart())


async def _values_problems_and_a_server_restart():
    plc = Plc(free_port())
    await plc.start()
    await write_values(plc, delta=-12, flow=[0x3FC0, 0x0000], pressure=25, speed=1450, running=True)
    nobody = free_port()
    connector = ModbusConnector(config(plc.port, more_devices=[{
        "name": "meter-9", "host": "127.0.0.1", "port": nobody, "interval": "300ms", "timeout": "200ms",
        "retries": 0, "registers": [{"name": "meter_energy", "table": "input", "address": 0}]}]))
    publish = Recorder("pump-1")
    task = asyncio.create_task(connector.run(publish))
    try:
        await until(lambda: publish.values("pump_running"), "the first poll")
        device, samples, problems = next(call for call in publish.calls if call[0] == "pump-1")
        by_name = {s["name"]: s for s in samples}
        assert set(by_name) == {"pump_delta", "pump_flow", "pump_pressure", "pump_speed", "pump_energy",
                                "pump_running", AVAILABILITY}
        assert by_name["pump_delta"]["value"] == -12.0
        assert by_name["pump_flow"]["value"] == 1.5
        assert by_name["pump_pressure"]["value"] == pytest.approx(2.5)
        assert by_name["pump_speed"]["value"] == 1450.0
        assert by_name["pump_energy"]["value"] == 3.140625
        assert by_name["pump_running"]["value"] == 1.0
        assert by_name[AVAILABILITY]["value"] == 1.0
        assert by_name["pump_delta"]["labels"] == {"site": "ams", "device": "pump-1"}
        assert by_name["pump_flow"]["labels"] == {"site": "ams", "device": "pump-1", "unit": "m3/h"}
        assert by_name["pump_pressure"]["labels"] == {"site": "ams", "sensor": "p1", "device": "pump-1",
                                                      "unit": "bar"}
        assert by_name[AVAILABILITY]["labels"] == {"site": "ams", "connector": "plant", "device": "pump-1"}
        assert len({s["timestamp_ms"] for s in samples}) == 1  # one poll, one time
        assert abs(samples[0]["timestamp_ms"] - time.time() * 1000) < 5_000
        assert all(s["series_id"] == 0 for s in samples)

        # The illegal address is one problem for its block; the block's neighbours still gave samples.
        assert problems == [Problem("pump-1 holding[100..100]", "pump_missing: the device answered "
                                                                "exception 2 (ILLEGAL_ADDRESS)")]
        assert not publish.samples("pump_missing")
        pump, meter = connector.statuses()
        assert (pump.connector, pump.device, pump.up, pump.last_error) == ("plant", "pump-1", True, "")
        assert pump.samples >= 6

        # The device nobody answers for is down, on its own.
        await until(lambda: publish.last(AVAILABILITY, "meter-9") == 0.0, "meter-9 down")
        assert meter.device == "meter-9" and meter.up is False
        assert f"could not connect to 127.0.0.1:{nobody}" in meter.last_error
        assert not publish.samples("meter_energy", "meter-9")

        # The server's new values arrive.
        await write_values(plc, delta=-32768, flow=[0xC2F6, 0xE979], pressure=65535, speed=0, running=False)
        await until(lambda: publish.last("pump_running") == 0.0 and publish.last("pump_delta") == -32768.0,
                    "the new values")
        assert publish.last("pump_flow") == pytest.approx(-123.456, abs=1e-4)
        assert publish.last("pump_pressure") == pytest.approx(6553.5)
        assert publish.last("pump_speed") == 0.0
        assert len(publish.problems()) == 1  # the illegal address is reported once, not every poll

        # The server goes away: down within a few intervals, with the error in the status.
        await plc.stop()
        stopped = len(publish.calls)
        await until(lambda: publish.last(AVAILABILITY) == 0.0, "availability 0", timeout=3.0)
        assert pump.up is False and pump.last_error and pump.last_error_ms > 0
        down_at = len(publish.calls)
        assert not any(s["name"] != AVAILABILITY for d, samples, _ in publish.calls[stopped:] if d == "pump-1"
                       for s in samples)
        downs = publish.values(AVAILABILITY).count(0.0)
        await until(lambda: publish.values(AVAILABILITY).count(0.0) >= downs + 2, "polling on while down")
        assert publish.last(AVAILABILITY) == 0.0 and not task.done()

        # Back on the same port, with other values: the same connector picks it up.
        await plc.start()
        await write_values(plc, delta=7, flow=[0x3FC0, 0x0000], pressure=10, speed=900, running=True)
        await until(lambda: publish.last(AVAILABILITY) == 1.0, "availability 1 again")
        await until(lambda: publish.last("pump_speed") == 900.0, "values again")
        assert publish.last("pump_delta") == 7.0 and publish.last("pump_running") == 1.0
        assert pump.up is True
        assert any(d == "pump-1" and samples and samples[-1]["value"] == 1.0
                   for d, samples, _ in publish.calls[down_at:])
    finally:
        await stop(task)
        await plc.stop()
    assert all(poller._client is None for poller in connector._pollers)  # closed on cancellation


def test_publish_failures_do_not_stop_polling():
    asyncio.run(_publish_failures_do_not_stop_polling())


async def _publish_failures_do_not_stop_polling():
    plc = Plc(free_port())
    await plc.start()
    await write_values(plc, delta=1, flow=[0, 0], pressure=0, speed=5, running=False)
    connector = ModbusConnector(config(plc.port))
    publish = Recorder("pump-1")
    publish.fail = 3
    task = asyncio.create_task(connector.run(publish))
    try:
        await until(lambda: publish.values("pump_speed"), "a poll after the failed publishes")
        assert publish.fail == 0
        # The illegal-address problem of the failed publishes is not lost: it comes with a later poll.
        await until(lambda: publish.problems(), "the problem")
        assert [p.location for p in publish.problems()] == ["pump-1 holding[100..100]"]
        assert connector.statuses()[0].up is True
    finally:
        await stop(task)
        await plc.stop()


class Mute:
    """A TCP server speaking just enough Modbus to misbehave: it answers register reads with one
    register too few (`short`), with a gateway's "target device failed to respond" (`gateway`), or
    accepts connections and never answers (`silent`)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                # MBAP header (transaction, protocol, length, unit) + function code, address, count
                request = await reader.readexactly(12)
                if self.mode == "silent":
                    continue
                if self.mode == "gateway":
                    pdu = bytes([request[7] | 0x80, 0x0B])
                    writer.write(request[:4] + (len(pdu) + 1).to_bytes(2, "big") + request[6:7] + pdu)
                    continue
                count = int.from_bytes(request[10:12], "big") - 1
                data = b"".join((0x3FC0 + i).to_bytes(2, "big") for i in range(count))
                pdu = bytes([request[7], len(data)]) + data
                writer.write(request[:4] + (len(pdu) + 1).to_bytes(2, "big") + request[6:7] + pdu)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def mute_config(port: int) -> ModbusConnectorConfig:
    return ModbusConnectorConfig.model_validate({
        "type": "modbus", "name": "plant",
        "devices": [{"name": "odd-1", "host": "127.0.0.1", "port": port, "interval": "300ms", "timeout": "150ms",
                     "retries": 1, "registers": [
                         {"name": "odd_a", "table": "holding", "address": 0},
                         {"name": "odd_b", "table": "holding", "address": 1, "type": "float32"}]}]})


def test_a_short_answer_is_a_problem_for_the_registers_it_misses():
    asyncio.run(_short_answer())


async def _short_answer():
    device = Mute("short")
    await device.start()
    connector = ModbusConnector(mute_config(device.port))
    publish = Recorder("pump-1")
    task = asyncio.create_task(connector.run(publish))
    try:
        await until(lambda: publish.values("odd_a", "odd-1"), "the register that was answered")
        assert publish.values("odd_a", "odd-1")[0] == 0x3FC0
        assert not publish.samples("odd_b", "odd-1")
        [problem] = publish.problems()
        assert problem.location == "odd-1 holding[0..2] odd_b"
        assert "register odd_b (holding[1], float32) needs 2" in problem.reason and "returned 2" in problem.reason
        assert connector.statuses()[0].up is True
    finally:
        await stop(task)
        await device.stop()


def test_a_device_that_never_answers_is_down_with_a_timeout():
    asyncio.run(_never_answers())


async def _never_answers():
    device = Mute("silent")
    await device.start()
    connector = ModbusConnector(mute_config(device.port))
    publish = Recorder("pump-1")
    started = time.monotonic()
    task = asyncio.create_task(connector.run(publish))
    try:
        await until(lambda: publish.last(AVAILABILITY, "odd-1") == 0.0, "availability 0", timeout=3.0)
        assert time.monotonic() - started < 2.0  # two tries of 150 ms and one short backoff (~0.4 s)
        status = connector.statuses()[0]
        assert status.up is False
        assert status.last_error == "TimeoutError: no answer to the read of holding[0..2] within 0.15s"
        await until(lambda: len(publish.values(AVAILABILITY, "odd-1")) >= 3, "polling on while down")
        assert not task.done()
    finally:
        await stop(task)
        await device.stop()


def test_a_gateway_that_cannot_reach_the_device_makes_it_down():
    asyncio.run(_gateway())


async def _gateway():
    device = Mute("gateway")
    await device.start()
    connector = ModbusConnector(mute_config(device.port))
    publish = Recorder("pump-1")
    task = asyncio.create_task(connector.run(publish))
    try:
        await until(lambda: publish.last(AVAILABILITY, "odd-1") == 0.0, "availability 0")
        assert "exception 11 (GATEWAY_NO_RESPONSE) to the read of holding[0..2]" in connector.statuses()[0].last_error
        assert not publish.problems()  # the device's absence, not a problem of the block
    finally:
        await stop(task)
        await device.stop()
