"""The connectors file: every connector validated by its own model, errors naming the key."""

from __future__ import annotations

import pytest

from ingest.connectors.config import ConnectorsConfigError, load
from ingest.registry import connector_kinds


def test_a_valid_file_gives_typed_configs(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("""
connectors:
  - {type: mqtt, name: home, port: 1884, zigbee2mqtt: {}}
  - type: mqtt
    name: plant
    topics: [{template: "site/{site}/meter/{meter}", metric: meter, fields: {kwh: energy.total}}]
""")
    home, plant = load(path, connector_kinds())
    assert home.port == 1884 and home.zigbee2mqtt.base_topic == "zigbee2mqtt"
    assert plant.topics[0].subscription == "site/+/meter/+" and plant.topics[0].placeholders == ["site", "meter"]


@pytest.mark.parametrize(("text", "message"), [
    ("connectors: [{type: lora, name: x}]",
     ":1: connectors[0].type: Input tag 'lora' found using 'type' does not match"),
    ("connectors: [{type: mqtt, name: x}]", ":1: connectors[0]: subscribe to something: give zigbee2mqtt or topics"),
    ("connectors: [{type: mqtt, name: x, port: many, zigbee2mqtt: {}}]",
     ":1: connectors[0].port: expected a whole number"),
    ("connectors: [{type: mqtt, name: x, zigbee2mqtt: {}, extra: 1}]", ":1: connectors[0].extra: unknown field"),
    ("connectors: [{type: mqtt, name: x, topics: [{template: 'a/+/b', metric: m}]}]",
     ":1: connectors[0].topics[0].template: template is a topic with {name} placeholders for whole levels, not + or #"),
    ("connectors: [{type: mqtt, name: x, topics: [{template: 'a/x{y}', metric: m}]}]",
     ":1: connectors[0].topics[0].template: level 'x{y}': a placeholder must be a whole level"),
    ("connectors: [{type: mqtt, name: x, topics: [{template: 'a/{y}', metric: m, device_label: z}]}]",
     ":1: connectors[0].topics[0]: device_label 'z' is not a placeholder"),
    ("connectors: [{type: mqtt, name: a, zigbee2mqtt: {}}, {type: mqtt, name: a, zigbee2mqtt: {}}]",
     ":1: connectors: connector names must be unique"),
    ("connectors: [", ":1: not valid YAML: while parsing a flow node, expected the node content"),
    ("{}", ":1: connectors: required"),
])
def test_bad_files_name_the_line_and_key_at_fault(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConnectorsConfigError) as caught:
        load(path, connector_kinds())
    assert str(caught.value).startswith(f"{path}{message}")


def test_every_mistake_is_listed_at_its_own_line_without_the_union_member(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("""connectors:
  - type: mqtt
    name: home
    zigbee2mqtt: {}
  - type: modbus
    name: plc
    devices:
      - name: press
        host: 10.0.0.5
        port: many
        registers:
          - {name: 'bad name', table: holding, address: 1}
""")
    with pytest.raises(ConnectorsConfigError) as caught:
        load(path, connector_kinds())
    assert caught.value.problems == [
        f"{path}:10: connectors[1].devices[0].port: expected a whole number",
        f"{path}:12: connectors[1].devices[0].registers[0].name: String should match pattern "
        "'^[a-zA-Z_:][a-zA-Z0-9_:]*$'"]
