"""The connectors file: every connector validated by its own model, errors naming the key."""

from __future__ import annotations

import pytest

from ingest.connectors.config import ConnectorsConfigError, load
from ingest.connectors.registry import kinds


def test_a_valid_file_gives_typed_configs(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("""
connectors:
  - {type: mqtt, name: home, port: 1884, zigbee2mqtt: {}}
  - type: mqtt
    name: plant
    topics: [{template: "site/{site}/meter/{meter}", metric: meter, fields: {kwh: energy.total}}]
""")
    home, plant = load(path, kinds())
    assert home.port == 1884 and home.zigbee2mqtt.base_topic == "zigbee2mqtt"
    assert plant.topics[0].subscription == "site/+/meter/+" and plant.topics[0].placeholders == ["site", "meter"]


@pytest.mark.parametrize(("text", "message"), [
    ("connectors: [{type: lora, name: x}]", "connectors.0: Input tag 'lora' found using 'type' does not match"),
    ("connectors: [{type: mqtt, name: x}]", "subscribe to something"),
    ("connectors: [{type: mqtt, name: x, port: many, zigbee2mqtt: {}}]", "connectors.0.mqtt.port"),
    ("connectors: [{type: mqtt, name: x, zigbee2mqtt: {}, extra: 1}]", "connectors.0.mqtt.extra"),
    ("connectors: [{type: mqtt, name: x, topics: [{template: 'a/+/b', metric: m}]}]", "not + or #"),
    ("connectors: [{type: mqtt, name: x, topics: [{template: 'a/x{y}', metric: m}]}]", "whole level"),
    ("connectors: [{type: mqtt, name: x, topics: [{template: 'a/{y}', metric: m, device_label: z}]}]",
     "device_label 'z' is not a placeholder"),
    ("connectors: [{type: mqtt, name: a, zigbee2mqtt: {}}, {type: mqtt, name: a, zigbee2mqtt: {}}]",
     "connector names must be unique"),
    ("connectors: [", "while parsing"),
    ("{}", "connectors: Field required"),
])
def test_bad_files_name_the_key_at_fault(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConnectorsConfigError) as caught:
        load(path, kinds())
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
