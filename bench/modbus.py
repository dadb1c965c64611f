"""Modbus connector: registers/s one `vigil connectors` process polls, decodes and puts into Kafka.

DEVICES devices (all served by one pymodbus server, as if behind one gateway) with REGISTERS
contiguous holding registers each, polled every INTERVAL; the figure is samples accepted by
Kafka per second over SECONDS (the connectors process's own `vigil_ingest_samples_accepted_total`).
"""

from __future__ import annotations

import time

from bench.http_load import accepted, cpu_seconds
from infra.demo.plc import DemoPlc
from ingest.config_types import seconds
from infra.sandbox import VigilEnv, free_port, wait_until

DEVICES = 100
REGISTERS = 8  # the demo pump's holding block is 8 registers wide
INTERVAL = "50ms"
SECONDS = 10
SHAPE = (f"{DEVICES} devices × {REGISTERS} holding registers (one read each) every {INTERVAL}, "
         f"against pymodbus' own server, for {SECONDS} s")


def run(env: VigilEnv, tmp_dir) -> dict[str, float]:
    """Poll for SECONDS; returns registers/s (samples/s without availability) into Kafka."""
    plc = DemoPlc(free_port())
    plc.start()
    registers = "\n".join(f"          - {{name: reg_{i}, table: holding, address: {i}}}" for i in range(REGISTERS))
    devices = "\n".join(f"""      - name: dev-{d}
        port: {plc.port}
        host: 127.0.0.1
        interval: {INTERVAL}
        timeout: {seconds(INTERVAL) * 900:.0f}ms
        registers:
{registers}""" for d in range(DEVICES))
    config = tmp_dir / "bench-modbus.yaml"
    config.write_text(f"connectors:\n  - type: modbus\n    name: bench\n    devices:\n{devices}\n")
    port = free_port()
    proc = env.start("connectors", health_port=port, extra_env={"VIGIL_CONNECTORS_CONFIG": str(config),
                                                                "VIGIL_CONNECTORS_PORT": str(port)})
    try:
        wait_until(lambda: accepted(port, "modbus") > 0, timeout=30, message="first Modbus samples")
        before, cpu_before, started = accepted(port, "modbus"), cpu_seconds(proc.popen.pid), time.perf_counter()
        time.sleep(SECONDS)
        elapsed = time.perf_counter() - started
        samples = accepted(port, "modbus") - before
        offered = DEVICES * REGISTERS / seconds(INTERVAL)
        return {"registers_per_s": samples * REGISTERS / (REGISTERS + 1) / elapsed,  # less the availability samples
                "offered_per_s": offered,
                "cpu_share": (cpu_seconds(proc.popen.pid) - cpu_before) / elapsed}
    finally:
        proc.stop(timeout=10)
        plc.stop()
