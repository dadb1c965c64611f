"""`vigil connectors` with an MQTT connector against a real Mosquitto, fed by a real paho client.

Zigbee2MQTT-shaped publishes and a generic topic land in Kafka with their labels; a bad payload
lands on the dead-letter topic; a connector restart loses nothing the broker held; a broker
restart shows as availability 0 and the connector recovers by itself.
"""

from __future__ import annotations

import json
import time

import httpx
import paho.mqtt.client as mqtt
import pytest

from schemas import codec
from tests.harness import free_port, wait_until
from infra.topic_reader import TopicReader
from tests.peers import start_mosquitto

pytestmark = pytest.mark.integration

DEVICES = [{"friendly_name": "kitchen", "ieee_address": "0x00158d0001", "definition": {"model": "WSDCGQ11LM",
                                                                                       "vendor": "Aqara"}}]


def publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{port}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def send(client: mqtt.Client, topic: str, payload, retain: bool = False) -> None:
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    client.publish(topic, body, qos=1, retain=retain).wait_for_publish(timeout=5)


def test_zigbee2mqtt_and_generic_topics_through_restarts(vigil_env, tmp_path):
    broker_port = free_port()
    broker = start_mosquitto(tmp_path / "broker", broker_port)
    config = tmp_path / "connectors.yaml"
    config.write_text(f"""
connectors:
  - type: mqtt
    name: home
    port: {broker_port}
    availability_interval: 500ms
    zigbee2mqtt: {{base_topic: zigbee2mqtt}}
    topics:
      - {{template: "site/{{site}}/sensor/{{sensor}}", metric: sensor, device_label: sensor}}
""")
    port = free_port()
    env = {"VIGIL_CONNECTORS_CONFIG": str(config), "VIGIL_CONNECTORS_PORT": str(port)}
    connectors = vigil_env.start("connectors", health_port=port, extra_env=env)
    client = publisher(broker_port)
    reader = TopicReader(vigil_env.settings, vigil_env.settings.topics.metrics, codec.series_batch())

    def samples(name: str, **labels) -> list[dict]:
        return [s for b in reader.records for s in b["samples"]
                if s["name"] == name and all(s["labels"].get(k) == v for k, v in labels.items())]

    def wait_status(predicate, message):
        def check():
            return predicate({d["device"]: d for d in httpx.get(f"http://127.0.0.1:{port}/status").json()["devices"]})
        return wait_until(check, timeout=30, message=message)

    try:
        wait_status(lambda d: True, "status answering")
        time.sleep(1)  # let the connector subscribe before the first publishes
        send(client, "zigbee2mqtt/bridge/devices", DEVICES, retain=True)
        send(client, "zigbee2mqtt/kitchen/availability", {"state": "online"}, retain=True)
        send(client, "zigbee2mqtt/kitchen", {"temperature": 21.5, "state": "ON", "color": {"x": 0.3}})
        send(client, "site/ams/sensor/t1", {"temp": 19.0, "hum": 40})
        send(client, "zigbee2mqtt/kitchen", b"this is not json")
        # One message's samples land on several partitions (several Kafka records): wait for each.
        reader.wait_for(lambda r: all(samples(n) for n in ("zigbee_temperature", "zigbee_state", "zigbee_color_x",
                                                           "sensor_hum")), what="zigbee and generic samples")
        (temperature,) = samples("zigbee_temperature")
        assert temperature["value"] == 21.5
        assert temperature["labels"] == {"device": "kitchen", "ieee_address": "0x00158d0001",
                                         "model": "WSDCGQ11LM", "vendor": "Aqara"}
        assert samples("zigbee_state")[0]["value"] == 1
        (hum,) = samples("sensor_hum")
        assert hum["labels"] == {"site": "ams", "sensor": "t1", "device": "t1"} and hum["value"] == 40
        reader.wait_for(lambda r: samples("vigil_device_up", device="kitchen"), what="kitchen availability")
        assert samples("vigil_device_up", device="kitchen")[0]["value"] == 1
        rejects = TopicReader(vigil_env.settings, vigil_env.settings.topics.rejects, codec.reject())
        (reject,) = rejects.wait_for(lambda r: len(r) >= 1, what="the bad payload dead-lettered")
        rejects.close()
        assert reject["protocol"] == "mqtt" and reject["location"] == "zigbee2mqtt/kitchen"
        assert reject["reason"].startswith("payload is not JSON") and reject["payload"] == b"this is not json"
        wait_status(lambda d: d.get("kitchen", {}).get("up") is True, "kitchen up in /status")
        send(client, "zigbee2mqtt/kitchen/availability", "offline", retain=True)
        wait_status(lambda d: d["kitchen"]["up"] is False and "offline" in d["kitchen"]["last_error"],
                    "Zigbee2MQTT's offline shown in /status")
        reader.read_for(2)  # several availability rounds: the device must stay down, not flip back
        assert [s["value"] for s in samples("vigil_device_up", device="kitchen")][-2:] == [0, 0]
        send(client, "zigbee2mqtt/kitchen/availability", "online", retain=True)
        wait_status(lambda d: d["kitchen"]["up"] is True, "kitchen back online")

        # Connector restart: what the broker held for the persistent session arrives afterwards.
        connectors.stop(timeout=15)
        send(client, "zigbee2mqtt/kitchen", {"temperature": 23.0})
        connectors = vigil_env.start("connectors", health_port=port, extra_env=env)
        reader.wait_for(lambda r: [s for s in samples("zigbee_temperature") if s["value"] == 23.0], timeout=30,
                        what="the message published while the connector was down")

        # Broker restart: availability 0 while it is gone, then recovery without a connector restart.
        broker.stop(timeout=10)
        reader.wait_for(lambda r: [s for s in samples("vigil_device_up", device="kitchen") if s["value"] == 0],
                        timeout=30, what="availability 0 while the broker is down")
        wait_status(lambda d: d["kitchen"]["up"] is False and "broker" in d["kitchen"]["last_error"],
                    "kitchen down in /status")
        broker = start_mosquitto(tmp_path / "broker", broker_port)
        client.loop_stop()
        client = publisher(broker_port)
        time.sleep(2)  # paho reconnects within its 1 s minimum delay and subscribes again
        send(client, "zigbee2mqtt/kitchen/availability", "online", retain=True)
        send(client, "zigbee2mqtt/kitchen", {"temperature": 24.5})
        reader.wait_for(lambda r: [s for s in samples("zigbee_temperature") if s["value"] == 24.5], timeout=40,
                        what="samples after the broker came back")
        assert connectors.alive()
        wait_status(lambda d: d["kitchen"]["up"] is True, "kitchen up again")
    finally:
        client.loop_stop()
        reader.close()
        broker.stop(timeout=10)
