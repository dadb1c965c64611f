"""The OPC-UA connector's configuration: a valid entry, and every bad one naming its field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ingest.opcua.config import OpcuaConnectorConfig

SPEED = {"name": "pump_speed", "node_id": "ns=2;i=5"}


def entry(**changes) -> dict:
    base = {"type": "opcua", "name": "line1", "endpoint": "opc.tcp://plc.local:4840/ua", "nodes": [SPEED]}
    return {**base, **changes}


def error_of(**changes) -> str:
    with pytest.raises(ValidationError) as caught:
        OpcuaConnectorConfig.model_validate(entry(**changes))
    return str(caught.value)


def test_a_valid_entry_with_defaults_and_durations():
    config = OpcuaConnectorConfig.model_validate(entry(
        username="vigil", password="s3cret", labels={"site": "ams"}, publishing_interval="250ms",
        reconnect_max="1m", availability_interval="5s",
        nodes=[{**SPEED, "sampling_interval": "100ms", "deadband": 0.5, "labels": {"unit": "rpm"}},
               {"name": "pump_count", "browse_path": ["0:Objects", "2:Plant", "2:Pump", "2:Count"]},
               {"name": "pump:state", "node_id": "ns=2;s=Pump.Speed"}]))
    assert config.device_name == "line1" and config.security == "None"
    assert config.password is not None and config.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    assert (config.publishing_interval, config.reconnect_max, config.availability_interval) == (0.25, 60.0, 5.0)
    speed, count, state = config.nodes
    assert (speed.sampling_interval, speed.deadband, speed.labels) == (0.1, 0.5, {"unit": "rpm"})
    assert count.browse_path == ("0:Objects", "2:Plant", "2:Pump", "2:Count") and count.node_id is None
    assert count.sampling_interval == 1.0 and count.deadband is None
    assert count.address == "0:Objects/2:Plant/2:Pump/2:Count" and state.address == "ns=2;s=Pump.Speed"
    defaults = OpcuaConnectorConfig.model_validate(entry(device="pump-1"))
    assert defaults.device_name == "pump-1"
    assert (defaults.publishing_interval, defaults.reconnect_max, defaults.availability_interval) == (1.0, 30.0, 10.0)


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"nodes": [{**SPEED, "browse_path": ["0:Objects", "2:Speed"]}]}, "nodes.0", "exactly one of node_id or browse_path"),
    ({"nodes": [{"name": "pump_speed"}]}, "nodes.0", "exactly one of node_id or browse_path"),
    ({"endpoint": "http://plc.local:4840"}, "endpoint", "opc.tcp://"),
    ({"endpoint": "opc.tcp://"}, "endpoint", "opc.tcp://"),
    ({"nodes": [SPEED, {"name": "pump_speed", "node_id": "ns=2;i=6"}]}, "nodes", "'pump_speed' is used by two nodes"),
    ({"nodes": [{**SPEED, "name": "pump-speed"}]}, "nodes.0.name", "pattern"),
    ({"nodes": [{**SPEED, "name": "1pump"}]}, "nodes.0.name", "pattern"),
    ({"colour": "blue"}, "colour", "Extra inputs are not permitted"),
    ({"nodes": [{**SPEED, "colour": "blue"}]}, "nodes.0.colour", "Extra inputs are not permitted"),
    ({"nodes": []}, "nodes", "at least 1"),
    ({"nodes": [{**SPEED, "node_id": "pump speed"}]}, "nodes.0.node_id", "not a node id"),
    ({"nodes": [{"name": "x", "browse_path": ["Objects"]}]}, "nodes.0.browse_path", "<namespace index>:<browse name>"),
    ({"nodes": [{**SPEED, "sampling_interval": "soon"}]}, "nodes.0.sampling_interval", "not a duration"),
    ({"nodes": [{**SPEED, "deadband": -1}]}, "nodes.0.deadband", "greater than or equal to 0"),
    ({"publishing_interval": "fast"}, "publishing_interval", "not a duration"),
    ({"security": "Aes256"}, "security", "'None' or 'Basic256Sha256'"),
    ({"security": "Basic256Sha256"}, "security", "needs certificate and private_key"),
    ({"password": "s3cret"}, "password", "give the username too"),
    ({"name": "line 1"}, "name", "pattern"),
    ({"type": "mqtt"}, "type", "'opcua'"),
])
def test_bad_entries_name_their_field(changes, field, words):
    message = error_of(**changes)
    assert field in message and words in message, message


def test_frozen():
    config = OpcuaConnectorConfig.model_validate(entry())
    with pytest.raises(ValidationError):
        config.endpoint = "opc.tcp://other:4840"  # type: ignore[misc]
