"""One device of each kind through `vigil connectors` → Kafka → sinks → the API, and an outage alert.

Real peers: the session's Mosquitto (fed by paho as Zigbee2MQTT would), pymodbus' own server,
asyncua's own server and a local server answering Home Assistant's documented payloads.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime, timezone

import paho.mqtt.client as mqtt
import psycopg
import pytest

from infra.demo.plc import DemoPlc, modbus_yaml
from tests.harness import api_client, free_port, wait_until
from tests.ingest.test_homeassistant import TOKEN, FakeHomeAssistant
from tests.ingest.test_opcua_connector import Plant

pytestmark = pytest.mark.integration

RULES = """
rules:
  - id: device-offline
    alert: DeviceOffline
    metric: vigil_device_up
    op: "<"
    threshold: 1
    for: 2s
    labels: {severity: page}
    annotations: {summary: "{{ $labels.device }} is unreachable"}
"""


class LoopThread:
    """An asyncio loop on a thread, for servers whose API is async (asyncua's)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def close(self) -> None:
        async def cancel_the_rest():  # asyncua leaves session tasks behind; end them before the loop
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)
        self.run(cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)


def test_one_device_of_each_kind_reads_back_and_an_outage_alerts(vigil_env, tmp_path):
    plc = DemoPlc(free_port())
    plc.start()
    ha = FakeHomeAssistant(free_port())
    now = datetime.now(timezone.utc).isoformat()
    ha.states = [{**state, "last_updated": now} for state in ha.states]  # the API reads the last 2 minutes
    opcua_loop = LoopThread()
    plant = Plant(free_port())
    opcua_loop.run(plant.start())
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    config = tmp_path / "connectors.yaml"
    config.write_text(f"""connectors:
  - type: mqtt
    name: home
    port: {vigil_env.stack.mqtt_port}
    client_id: e2e-{vigil_env.prefix}
    availability_interval: 1s
    zigbee2mqtt: {{base_topic: z2m-{vigil_env.prefix}}}
{modbus_yaml(plc.port, interval="500ms", timeout="300ms")}
  - type: opcua
    name: line1
    endpoint: {plant.endpoint}
    device: line1-plc
    publishing_interval: 200ms
    availability_interval: 1s
    nodes: [{{name: line_speed, node_id: "ns=2;i=5", sampling_interval: 100ms}}]
  - type: homeassistant
    name: house
    url: http://127.0.0.1:{ha.port}
    token: {TOKEN}
    interval: 1s
""")
    ports = {name: free_port() for name in ("connectors", "streams", "sinks", "api")}
    env = {"VIGIL_CONNECTORS_CONFIG": str(config), "VIGIL_CONNECTORS_PORT": str(ports["connectors"]),
           "VIGIL_STREAMS_WEB_PORT": str(ports["streams"]), "VIGIL_SINKS_HEALTH_PORT": str(ports["sinks"]),
           "VIGIL_API_PORT": str(ports["api"]), "VIGIL_RULES_FILE": str(rules),
           "VIGIL_DATA_DIR": str(tmp_path / "faust")}
    for name in ("sinks", "api", "streams", "connectors"):
        vigil_env.start(name, health_port=ports[name], extra_env=env)
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"e2e-pub-{vigil_env.prefix}")
    publisher.connect("127.0.0.1", vigil_env.stack.mqtt_port)
    publisher.loop_start()
    api = api_client(vigil_env, ports["api"], timeout=10)

    def series(metric: str, *match: str) -> list[dict]:
        selector = metric + "{" + ",".join(f'{n}="{v}"' for n, _, v in (m.partition("=") for m in match)) + "}"
        answer = api.get("/api/v1/query_range", params={"query": selector, "start": time.time() - 120,
                                                        "end": time.time(), "step": "1s"})
        assert answer.status_code == 200, answer.text
        return [{"labels": {k: v for k, v in s["metric"].items() if k != "__name__"},
                 "points": [[t, float(v)] for t, v in s["values"]]} for s in answer.json()["data"]["result"]]

    try:
        time.sleep(1)
        publisher.publish(f"z2m-{vigil_env.prefix}/kitchen", json.dumps({"temperature": 21.5}), qos=1)
        expectations = {  # metric and matcher → the value the device has
            ("zigbee_temperature", "device=kitchen"): 21.5,
            ("pump_speed_rpm", "device=pump-1"): None,  # moving: checked for range below
            ("line_speed", "device=line1-plc"): 1.5,
            ("ha_sensor_temperature_celsius", "entity=sensor.kitchen_temperature"): 21.5,
        }
        for (metric, match), value in expectations.items():
            (found,) = wait_until(lambda: series(metric, match), timeout=60, message=f"{metric} through the API")
            last = found["points"][-1][1]
            assert (1400 <= last <= 1500) if value is None else last == value, (metric, found)

        plc.stop()  # the pump goes away: its availability turns 0 and DeviceOffline fires

        def offline_alert():
            alerts = api.get("/api/v1/alerts", params={"status": "firing", "label": "device=pump-1"}).json()["items"]
            return [a for a in alerts if a["alertname"] == "DeviceOffline"]
        (alert,) = wait_until(offline_alert, timeout=60, message="DeviceOffline for pump-1")
        assert alert["labels"]["connector"] == "plant" and alert["annotations"]["summary"] == "pump-1 is unreachable"
        with psycopg.connect(vigil_env.dsn) as conn:
            others = conn.execute("SELECT count(*) FROM alerts WHERE alertname = 'DeviceOffline' "
                                  "AND labels->>'device' <> 'pump-1'").fetchone()[0]
        assert others == 0  # the other devices stayed up
    finally:
        publisher.loop_stop()
        opcua_loop.run(plant.stop())
        opcua_loop.close()
        ha.stop()
