"""Device connectors (`vigil connectors`): MQTT/Zigbee2MQTT, Modbus TCP, … polling or subscribing
to devices and publishing through the same pipeline as ingest."""
