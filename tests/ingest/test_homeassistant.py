"""Home Assistant: state mapping (pure) and the connector against a local server answering Home
Assistant's documented `/api/states` payloads, including the server going away and coming back."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ingest.homeassistant.config import HomeAssistantConfig
from ingest.homeassistant.connector import HomeAssistantConnector
from ingest.homeassistant.parse import sample_of
from tests.harness import free_port

TOKEN = "long-lived-token-0123456789"
# Shapes from https://developers.home-assistant.io/docs/api/rest/ (GET /api/states).
STATES = [
    {"entity_id": "sensor.kitchen_temperature", "state": "21.5", "last_updated": "2026-11-25T10:00:00.123+00:00",
     "attributes": {"unit_of_measurement": "°C", "device_class": "temperature", "friendly_name": "Kitchen"}},
    {"entity_id": "binary_sensor.front_door", "state": "off",
     "attributes": {"device_class": "door", "friendly_name": "Front door"}},
    {"entity_id": "light.hall", "state": "on", "attributes": {"friendly_name": "Hall", "brightness": 180}},
    {"entity_id": "sensor.broken", "state": "unavailable", "attributes": {}},
    {"entity_id": "sensor.firmware", "state": "v1.2.3", "attributes": {}},
    {"entity_id": "automation.night", "state": "on", "attributes": {}},
    {"entity_id": "person.ann", "state": "home", "attributes": {}},
]


def config(**overrides) -> HomeAssistantConfig:
    fields = {"type": "homeassistant", "name": "home", "url": "http://127.0.0.1:1", "token": TOKEN,
              "areas": {"sensor.kitchen_*": "kitchen"}, **overrides}
    return HomeAssistantConfig.model_validate(fields)


def test_states_map_to_named_samples_with_labels():
    samples = [s for e in STATES if (s := sample_of(e, config(), 0))]
    got = {s["name"]: (s["value"], s["labels"]) for s in samples}
    assert set(got) == {"ha_sensor_temperature_celsius", "ha_binary_sensor_door", "ha_light"}
    value, labels = got["ha_sensor_temperature_celsius"]
    assert value == 21.5 and labels == {"entity": "sensor.kitchen_temperature", "domain": "sensor",
                                        "friendly_name": "Kitchen", "device_class": "temperature", "unit": "°C",
                                        "area": "kitchen"}
    assert got["ha_binary_sensor_door"][0] == 0 and got["ha_light"][0] == 1
    (temperature,) = [s for s in samples if s["name"] == "ha_sensor_temperature_celsius"]
    assert temperature["timestamp_ms"] == 1795600800123


def test_filters_by_domain_and_entity_glob():
    only_sensors = config(include_domains=("sensor",), exclude_entities=("sensor.kitchen_*",))
    assert [sample_of(e, only_sensors, 0) for e in STATES[:3]] == [None, None, None]
    assert sample_of({"entity_id": "person.ann", "state": "home"}, config(exclude_domains=()), 0)["value"] == 1


class FakeHomeAssistant:
    """A local server answering like Home Assistant's REST API (Bearer token, /api/states)."""

    def __init__(self, port: int) -> None:
        self.port, self.states = port, list(STATES)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, {"message": "Unauthorized"})
                if self.path == "/api/states":
                    return self._send(200, outer.states)
                return self._send(404, {"message": "Not found"})

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def _until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_polls_recover_after_the_server_goes_away_and_a_bad_token_is_named():
    port = free_port()
    published: list[dict] = []

    async def publish(device, samples, problems):
        published.extend(samples)
        return len(samples)

    def up_values():
        return [s["value"] for s in published if s["name"] == "vigil_device_up"]

    async def scenario():
        server = FakeHomeAssistant(port)
        connector = HomeAssistantConnector(config(url=f"http://127.0.0.1:{port}", interval="200ms", timeout="500ms"))
        task = asyncio.create_task(connector.run(publish))
        try:
            await _until(lambda: any(s["name"] == "ha_light" for s in published))
            assert up_values()[-1] == 1 and connector.status.up is True
            server.states[0] = {**STATES[0], "state": "23.0"}
            await _until(lambda: any(s["value"] == 23.0 for s in published))
            server.stop()
            await _until(lambda: up_values()[-1] == 0)
            assert connector.status.up is False and "ConnectError" in connector.status.last_error
            server = FakeHomeAssistant(port)
            await _until(lambda: up_values()[-1] == 1)
            assert not task.done()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            server.stop()

        bad = FakeHomeAssistant(port)
        connector = HomeAssistantConnector(HomeAssistantConfig(type="homeassistant", name="home",
                                                               url=f"http://127.0.0.1:{port}", token="wrong",
                                                               interval="200ms"))
        task = asyncio.create_task(connector.run(publish))
        try:
            await _until(lambda: connector.status.up is False)
            assert "refused the token (401)" in connector.status.last_error
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            bad.stop()

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


@pytest.mark.parametrize(("field", "value", "message"), [("url", "ftp://x", "url"), ("interval", "soon", "interval"),
                                                         ("token", None, "token")])
def test_bad_config_names_the_field(field, value, message):
    from pydantic import ValidationError
    raw = {"type": "homeassistant", "name": "h", "url": "http://x", "token": TOKEN, field: value}
    with pytest.raises(ValidationError) as caught:
        HomeAssistantConfig.model_validate(raw)
    assert message in str(caught.value)
