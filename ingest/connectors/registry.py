"""The connector registry: adding a device protocol is one folder and one line here."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from ingest.connectors.base import Connector
from ingest.homeassistant.config import HomeAssistantConfig
from ingest.homeassistant.connector import HomeAssistantConnector
from ingest.modbus.config import ModbusConnectorConfig
from ingest.modbus.connector import ModbusConnector
from ingest.mqtt.config import MqttConnectorConfig
from ingest.mqtt.connector import MqttConnector
from ingest.opcua.config import OpcuaConnectorConfig
from ingest.opcua.connector import OpcuaConnector

CONNECTORS: dict[str, tuple[type[BaseModel], Callable[[BaseModel], Connector]]] = {
    "mqtt": (MqttConnectorConfig, MqttConnector),
    "homeassistant": (HomeAssistantConfig, HomeAssistantConnector),
    "modbus": (ModbusConnectorConfig, ModbusConnector),
    "opcua": (OpcuaConnectorConfig, OpcuaConnector),
}


def build(config: BaseModel) -> Connector:
    """The connector for one validated config entry."""
    return CONNECTORS[config.type][1](config)


def kinds() -> dict[str, type[BaseModel]]:
    return {name: model for name, (model, _) in CONNECTORS.items()}
