"""A simulated Modbus TCP device for `vigil up` and the tests: pymodbus' own server on a thread.

Holding register 0 is a pump's speed (rpm), input registers 0–1 its temperature (float32, big
endian), coil 0 whether it runs; the values move every second.
"""

from __future__ import annotations

import asyncio
import math
import struct
import threading
import time

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

UNIT_ID = 1
REGISTERS = """        registers:
          - {name: pump_speed_rpm, table: holding, address: 0, type: uint16}
          - {name: pump_temperature_celsius, table: input, address: 0, type: float32}
          - {name: pump_running, table: coil, address: 0, type: bool}
"""


def modbus_yaml(port: int, interval: str = "2s", timeout: str = "1s") -> str:
    """The connectors-file entry polling the simulated pump."""
    return f"""  - type: modbus
    name: plant
    devices:
      - name: pump-1
        host: 127.0.0.1
        port: {port}
        unit_id: {UNIT_ID}
        interval: {interval}
        timeout: {timeout}
        labels: {{site: ams-1}}
{REGISTERS}"""


class DemoPlc:
    """pymodbus' TCP server with a pump whose values change every second, on its own thread and loop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"demo-plc:{port}", daemon=True)
        self._server: ModbusTcpServer | None = None
        self._ticker: asyncio.Future | None = None

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    async def _start(self) -> None:
        device = SimDevice(id=UNIT_ID, simdata=(
            [SimData(0, count=8, values=False, datatype=DataType.BITS)],
            [SimData(0, count=8, values=False, datatype=DataType.BITS)],
            [SimData(0, count=8, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=8, values=0, datatype=DataType.REGISTERS)]))
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        await self._server.serve_forever(background=True)
        self._ticker = asyncio.ensure_future(self._tick())

    async def _tick(self) -> None:
        started = time.monotonic()
        while True:
            elapsed = time.monotonic() - started
            temperature = struct.unpack(">2H", struct.pack(">f", 40 + 5 * math.sin(elapsed / 30)))
            await self._server.async_setValues(UNIT_ID, 3, 0, [int(1450 + 50 * math.sin(elapsed / 20))])
            await self._server.async_setValues(UNIT_ID, 4, 0, list(temperature))
            await self._server.async_setValues(UNIT_ID, 1, 0, [True])
            await asyncio.sleep(1)

    def stop(self) -> None:
        async def _stop():
            if self._ticker is not None:
                self._ticker.cancel()
            if self._server is not None:
                await self._server.shutdown()
        asyncio.run_coroutine_threadsafe(_stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
