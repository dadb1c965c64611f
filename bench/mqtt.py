"""MQTT connector: Zigbee2MQTT state messages/s one `vigil connectors` process takes into Kafka.

A paho client publishes MESSAGES state messages (4 numeric fields each, 200 devices) with QoS 1
to the stack's Mosquitto; the figure is messages (and samples) counted in Kafka per second from
the first publish until the connectors process has had all samples acknowledged by Kafka (its
own `vigil_ingest_samples_accepted_total`). The connector acknowledges each message only after
Kafka has it, so this includes that round trip.
"""

from __future__ import annotations

import json
import time

import paho.mqtt.client as mqtt

from bench.http_load import accepted, cpu_seconds
from infra.sandbox import VigilEnv, free_port, wait_until

MESSAGES = 20_000
DEVICES = 200
FIELDS = 4
SHAPE = f"{MESSAGES:,} Zigbee2MQTT state messages (QoS 1), {FIELDS} numeric fields each, {DEVICES} devices"


def run(env: VigilEnv, tmp_dir) -> dict[str, float]:
    """Publish MESSAGES to a fresh `vigil connectors`; returns messages/s and samples/s into Kafka."""
    mqtt_port = env.stack.mqtt_port
    config = tmp_dir / "bench-connectors.yaml"
    config.write_text(f"connectors:\n  - {{type: mqtt, name: bench, port: {mqtt_port}, client_id: bench-{env.prefix},"
                      f" availability_interval: 1h, zigbee2mqtt: {{base_topic: bench-{env.prefix}}}}}\n")
    port = free_port()
    proc = env.start("connectors", health_port=port, extra_env={"VIGIL_CONNECTORS_CONFIG": str(config),
                                                                "VIGIL_CONNECTORS_PORT": str(port)})
    time.sleep(1.5)  # subscribed
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{env.prefix}")
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", mqtt_port)
    client.loop_start()
    payloads = [json.dumps({"temperature": 20 + i % 10, "humidity": 50 + i % 7, "battery": 90,
                            "linkquality": i % 255}) for i in range(100)]
    cpu_before = cpu_seconds(proc.popen.pid)
    started = time.perf_counter()
    infos = [client.publish(f"bench-{env.prefix}/sensor_{i % DEVICES}", payloads[i % 100], qos=1)
             for i in range(MESSAGES)]
    for info in infos:
        info.wait_for_publish(timeout=120)
    client.loop_stop()
    client.disconnect()
    samples = MESSAGES * FIELDS
    # Accepted counts from the connectors process's own /metrics: the published figure, without a
    # second Kafka consumer competing for the two cores while it runs.
    wait_until(lambda: accepted(port, "mqtt") >= samples, timeout=300, interval=0.05, message=f"{samples} samples in Kafka")
    elapsed = time.perf_counter() - started
    return {"messages_per_s": MESSAGES / elapsed, "samples_per_s": samples / elapsed, "seconds": elapsed,
            "cpu_share": (cpu_seconds(proc.popen.pid) - cpu_before) / elapsed}
