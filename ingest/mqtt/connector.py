"""The MQTT connector: subscribes with QoS 1 on a persistent session and acks only after Kafka has it.

paho-mqtt runs the network loop on its own thread; each message is handed to the asyncio loop,
turned into samples (parse.py), published, and only then acknowledged (manual acks), so a
connector restart loses nothing the broker held: unacknowledged messages are redelivered. A
message whose publish fails is retried with backoff until it succeeds. A payload that can't be
read is acknowledged and lands on the dead-letter topic with the topic and reason.

When the broker connection drops, every device of the connector is reported unavailable
(`vigil_device_up` 0: nothing can be heard from it); paho reconnects by itself and the
subscriptions are made again.
"""

from __future__ import annotations

import asyncio
import logging
import time

import paho.mqtt.client as mqtt

from kernel.retry import Backoff, RetryableError
from ingest import metrics
from ingest.connectors.base import AVAILABILITY, DeviceStatus, Publish, availability
from ingest.mqtt import parse
from ingest.mqtt.config import MqttConnectorConfig
from ingest.pipeline import Problem

log = logging.getLogger(__name__)
PROTOCOL = "mqtt"


class MqttConnector:
    """One broker connection serving Zigbee2MQTT devices and generic topic templates."""

    def __init__(self, config: MqttConnectorConfig) -> None:
        self.config = config
        self.name = config.name
        self.devices: dict[str, DeviceStatus] = {}
        self.zigbee_labels: dict[str, dict[str, str]] = {}  # friendly name → ieee_address, model, vendor
        self.connected = False
        self._templates = [(t, t.template.split("/")) for t in config.topics]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._publish: Publish | None = None
        self._client: mqtt.Client | None = None
        self._backoff = Backoff(initial_s=0.5, max_s=30.0)

    def statuses(self) -> list[DeviceStatus]:
        return list(self.devices.values())

    async def run(self, publish: Publish) -> None:
        """Connect, subscribe and handle messages until cancelled."""
        self._loop, self._publish = asyncio.get_running_loop(), publish
        client = self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                            client_id=self.config.client_id or f"vigil-{self.name}",
                                            clean_session=False, protocol=mqtt.MQTTv311)
        if self.config.username:
            password = self.config.password.get_secret_value() if self.config.password else None
            client.username_pw_set(self.config.username, password)
        client.manual_ack_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect, client.on_disconnect, client.on_message = self._connected, self._disconnected, self._message
        client.connect_async(self.config.host, self.config.port, keepalive=int(self.config.keepalive))
        client.loop_start()
        try:
            while True:
                await asyncio.sleep(self.config.availability_interval)
                await self._send_availability()
        finally:
            client.disconnect()
            client.loop_stop()

    # paho's thread ------------------------------------------------------------------------

    def _connected(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("MQTT %s: broker refused the connection: %s", self.name, reason_code)
            return
        self.connected = True
        log.info("MQTT %s connected to %s:%d (session present: %s)", self.name, self.config.host,
                 self.config.port, flags.session_present)
        filters = [t.subscription for t, _ in self._templates]
        if self.config.zigbee2mqtt:
            filters.append(f"{self.config.zigbee2mqtt.base_topic}/#")
        client.subscribe([(f, 1) for f in filters])  # again on every connect: the broker may have lost them

    def _disconnected(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.connected
        self.connected = False
        if was and self._loop is not None:
            log.warning("MQTT %s lost the broker (%s); reconnecting", self.name, reason_code)
            self._loop.call_soon_threadsafe(self._broker_lost, f"lost the MQTT broker: {reason_code}")

    def _message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        asyncio.run_coroutine_threadsafe(self._handle(message), self._loop)

    # the asyncio loop ---------------------------------------------------------------------

    def _broker_lost(self, reason: str) -> None:
        for status in self.devices.values():
            status.failed(reason)
        asyncio.ensure_future(self._send_availability())

    async def _handle(self, message: mqtt.MQTTMessage) -> None:
        now_ms = int(time.time() * 1000)
        try:
            device, samples, skipped = self._samples(message.topic, message.payload, now_ms)
            problems = []
        except parse.PayloadError as exc:
            device, samples, skipped = message.topic, [], 0
            problems = [Problem(f"{message.topic}", str(exc), message.payload[:1024])]
        if skipped:
            metrics.SAMPLES_SKIPPED.labels(PROTOCOL, "non_numeric").inc(skipped)
        if samples or problems:
            await self._publish_until_done(device or message.topic, samples, problems)
        if device and samples and samples[0]["name"] != AVAILABILITY:  # availability sets the status itself
            self._status(device).ok(len(samples))
        self._client.ack(message.mid, message.qos)  # only now: the broker redelivers anything unacked

    async def _publish_until_done(self, device: str, samples, problems) -> None:
        attempt = 0
        while True:
            try:
                await self._publish(device, samples, problems)
                return
            except RetryableError as exc:
                attempt += 1
                delay = self._backoff.delay(attempt)
                log.warning("MQTT %s: Kafka did not take %s's samples (%s); retrying in %.1fs",
                            self.name, device, exc, delay)
                await asyncio.sleep(delay)

    def _samples(self, topic: str, payload: bytes, now_ms: int) -> tuple[str | None, list, int]:
        """(device, samples, values skipped) of one message; PayloadError when it can't be read."""
        z2m = self.config.zigbee2mqtt
        if z2m and topic.startswith(z2m.base_topic + "/"):
            return self._zigbee(topic[len(z2m.base_topic) + 1:], payload, now_ms, z2m.metric_prefix)
        for template, levels in self._templates:
            labels = parse.match(levels, topic)
            if labels is None:
                continue
            numbers, skipped = parse.generic(payload, template.metric, template.fields)
            device = labels.get(template.device_label) if template.device_label else None
            if device:
                labels = {**labels, "device": device}
            return device, [{"series_id": 0, "name": name, "labels": labels, "value": value, "timestamp_ms": now_ms}
                            for name, value in numbers.items()], skipped
        return None, [], 0

    def _zigbee(self, rest: str, payload: bytes, now_ms: int, prefix: str) -> tuple[str | None, list, int]:
        if rest == "bridge/devices":
            self.zigbee_labels = parse.bridge_devices(payload)
            return None, [], 0
        if rest.startswith("bridge/") or rest.endswith(("/set", "/get")) or "/set/" in rest:
            return None, [], 0  # the bridge's own state and logs, and commands to devices
        if rest.endswith("/availability"):
            device = rest.removesuffix("/availability")
            up = parse.availability_state(payload)
            status = self._status(device)
            if up:
                status.ok(0)
            else:
                status.failed("Zigbee2MQTT reports the device offline")
            return device, [availability(self.name, device, up, now_ms, self.zigbee_labels.get(device))], 0
        if not payload:
            return None, [], 0  # a retained message being cleared
        labels = {**self.zigbee_labels.get(rest, {}), "device": rest}
        samples, skipped = parse.zigbee_state(payload, prefix, labels, now_ms)
        return rest, samples, skipped

    def _status(self, device: str) -> DeviceStatus:
        status = self.devices.get(device)
        if status is None:
            status = self.devices[device] = DeviceStatus(self.name, device)
        return status

    async def _send_availability(self) -> None:
        """Every known device's availability, so rules on `vigil_device_up` see a steady series."""
        if not self.devices:
            return
        now_ms = int(time.time() * 1000)
        samples = [availability(self.name, device, bool(self.connected and status.up), now_ms,
                                self.zigbee_labels.get(device))
                   for device, status in self.devices.items()]
        try:
            await self._publish(self.name, samples, [])
        except RetryableError as exc:  # the next round sends fresh values
            metrics.SAMPLES_DROPPED.labels(PROTOCOL, type(exc).__name__).inc(len(samples))
