"""MQTT connector: Zigbee2MQTT conventions and generic topic templates (paho-mqtt)."""
