"""Modbus TCP: polls holding/input registers, coils and discrete inputs of devices with pymodbus."""
