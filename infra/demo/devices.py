"""Simulated devices for `vigil up`: Zigbee2MQTT-style sensors publishing to the stack's Mosquitto.

Two Zigbee sensors publish their state every 2 s the way Zigbee2MQTT does (`zigbee2mqtt/<name>`
JSON, `…/availability`, the retained `bridge/devices` list). The door sensor drops off the
network for 40 s of every 120 s (the first time 30 s after start), so the demo rule
`DeviceOffline` on `vigil_device_up` fires and resolves every cycle.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time

import paho.mqtt.client as mqtt

from infra.demo.plc import modbus_yaml

BASE = "zigbee2mqtt"
SENSORS = {"greenhouse_climate": ("0x00158d0001a2b3c4", "WSDCGQ11LM", "Aqara"),
           "front_door": ("0x00158d0004d5e6f7", "MCCGQ11LM", "Aqara")}
FLAKY = "front_door"
CYCLE_S, OFFLINE_START_S, OFFLINE_LEN_S = 120, 30, 40


def connectors_yaml(mqtt_port: int, plc_port: int) -> str:
    """The connectors file `vigil up` runs with the demo: the Zigbee sensors and the Modbus pump."""
    return f"""# Written by `vigil up` for the demo devices (infra/demo/devices.py, infra/demo/plc.py).
connectors:
  - type: mqtt
    name: home
    port: {mqtt_port}
    availability_interval: 5s
    zigbee2mqtt: {{base_topic: {BASE}}}
{modbus_yaml(plc_port)}"""


def offline(elapsed: float) -> bool:
    """Whether the flaky sensor is off the network `elapsed` seconds into the demo."""
    return OFFLINE_START_S <= elapsed % CYCLE_S < OFFLINE_START_S + OFFLINE_LEN_S


class DemoZigbee:
    """Publishes the simulated sensors every `interval_s` seconds on a daemon thread."""

    def __init__(self, mqtt_port: int, interval_s: float = 2.0) -> None:
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="vigil-demo-zigbee2mqtt")
        self._port = mqtt_port
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-zigbee", daemon=True)
        self.last_error: str | None = None

    def start(self) -> None:
        self._client.connect_async("127.0.0.1", self._port)
        self._client.loop_start()
        self._thread.start()

    def _publish(self, topic: str, payload, retain: bool = False) -> None:
        self._client.publish(topic, json.dumps(payload), qos=1, retain=retain)

    def _run(self) -> None:
        rng = random.Random(11)
        devices = [{"friendly_name": name, "ieee_address": ieee, "definition": {"model": model, "vendor": vendor}}
                   for name, (ieee, model, vendor) in SENSORS.items()]
        self._publish(f"{BASE}/bridge/devices", devices, retain=True)
        started = time.monotonic()
        was_offline = None
        while not self._stop.is_set():
            elapsed = time.monotonic() - started
            gone = offline(elapsed)
            if gone != was_offline:
                self._publish(f"{BASE}/{FLAKY}/availability", {"state": "offline" if gone else "online"}, retain=True)
                self._publish(f"{BASE}/greenhouse_climate/availability", {"state": "online"}, retain=True)
                was_offline = gone
            self._publish(f"{BASE}/greenhouse_climate", {
                "temperature": round(24 + 4 * math.sin(elapsed / 50) + rng.random(), 2),
                "humidity": round(70 + 8 * math.sin(elapsed / 80), 1), "battery": 97, "linkquality": 120})
            if not gone:
                self._publish(f"{BASE}/{FLAKY}", {"contact": rng.random() > 0.2, "battery": 88,
                                                  "linkquality": 90})
            self._stop.wait(self._interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._client.loop_stop()
        self._client.disconnect()
