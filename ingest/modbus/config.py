"""Configuration of one Modbus TCP connector: its devices, how often to poll them, and which registers.

Modbus data model (the four tables, 0-based protocol addresses, 16-bit registers, 1-bit coils):
https://modbus.org/docs/Modbus_Application_Protocol_V1_1b3.pdf §4.3 and §6.1-6.4.
Addresses here are protocol addresses (0..65535), not the 1-based "40001" numbers of some manuals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ingest.config_types import NAME_PATTERN, seconds
from kernel.names import METRIC_NAME_PATTERN

Table = Literal["holding", "input", "coil", "discrete"]
ValueType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64", "bool"]
BIT_TABLES = frozenset(("coil", "discrete"))
# 16-bit registers a value occupies; a bool is one coil or discrete input (one bit).
WORDS: dict[str, int] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "float64": 4, "bool": 1}
ADDRESSES = 65_536  # a table holds addresses 0..65535 (a 16-bit address field in every request)


def _used_twice(names: Iterable[str]) -> list[str]:
    """The names that occur more than once, sorted."""
    counts = Counter(names)
    return sorted(n for n, c in counts.items() if c > 1)


class Register(BaseModel):
    """One value on a device: where it is (table, address), how to decode it, and its metric name."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=METRIC_NAME_PATTERN, description="the metric name of its samples")
    table: Table
    # Default uint16 for registers, bool for coils and discrete inputs (filled in by _default_type).
    type: ValueType = "uint16"
    address: int = Field(ge=0, le=ADDRESSES - 1, description="0-based protocol address")
    byte_order: Literal["big", "little"] = Field("big", description="order of the two bytes in each register")
    word_order: Literal["big", "little"] = Field("big", description="order of the registers of a 32/64-bit "
                                                                    "value: big = most significant first")
    scale: float = 1.0
    offset: float = 0.0
    unit: str = Field("", description="becomes a `unit` label when set")
    labels: dict[str, str] = {}

    @model_validator(mode="before")
    @classmethod
    def _default_type(cls, data):
        if isinstance(data, dict) and "type" not in data and data.get("table") in BIT_TABLES:
            data = {**data, "type": "bool"}
        return data

    @field_validator("type")
    @classmethod
    def _type_fits_table(cls, value: str, info: ValidationInfo) -> str:
        table = info.data.get("table")
        if table in BIT_TABLES and value != "bool":
            raise ValueError(f"a {table} is one bit: type must be bool (or left out), got {value!r}")
        if table is not None and table not in BIT_TABLES and value == "bool":
            raise ValueError(f"bool is only for coil and discrete tables; a {table} register is "
                             f"int16, uint16, int32, uint32, float32 or float64")
        return value

    @field_validator("address")
    @classmethod
    def _fits(cls, value: int, info: ValidationInfo) -> int:
        words = WORDS.get(info.data.get("type", ""), 1)
        if value + words > ADDRESSES:
            raise ValueError(f"a {info.data['type']} at {value} needs {words} registers and would end past "
                             f"address {ADDRESSES - 1}")
        return value

    @property
    def words(self) -> int:
        """Registers (or bits) this value occupies."""
        return WORDS[self.type]


class ModbusDevice(BaseModel):
    """One Modbus TCP server (or one unit behind a gateway) and the registers polled from it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="the `device` label of its samples")
    host: str = Field(min_length=1)
    port: int = Field(502, ge=1, le=65535)
    # Unit identifier (MBAP header): 1..247 address a device behind a gateway, 0 is what many plain
    # TCP devices answer to (Modbus Messaging on TCP/IP Implementation Guide V1.0b §4.4.1.1).
    unit_id: int = Field(1, ge=0, le=247)
    interval: float = Field(10.0, gt=0, description="how often to poll (duration: 10s, 500ms)")
    timeout: float = Field(2.0, gt=0, description="for connecting and for each request (less than interval)")
    retries: int = Field(2, ge=0, le=10, description="retries of a failed poll before the device counts as down")
    labels: dict[str, str] = {}
    registers: list[Register] = Field(min_length=1)

    @field_validator("interval", "timeout", mode="before")
    @classmethod
    def _duration(cls, value):
        return seconds(value)

    @field_validator("timeout")
    @classmethod
    def _shorter_than_interval(cls, value: float, info: ValidationInfo) -> float:
        interval = info.data.get("interval")
        if interval is not None and value >= interval:
            raise ValueError(f"timeout must be shorter than interval ({interval:g}s), got {value:g}s")
        return value

    @field_validator("registers")
    @classmethod
    def _unique(cls, registers: list[Register]) -> list[Register]:
        twice = _used_twice(r.name for r in registers)
        if twice:
            raise ValueError(f"register names must be unique on a device (they are its metric names); "
                             f"used twice: {', '.join(twice)}")
        return registers


class ModbusConnectorConfig(BaseModel):
    """A Modbus TCP connector: a set of devices, each polled on its own interval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["modbus"]
    name: str = Field(pattern=NAME_PATTERN)
    devices: list[ModbusDevice] = Field(min_length=1)

    @field_validator("devices")
    @classmethod
    def _unique(cls, devices: list[ModbusDevice]) -> list[ModbusDevice]:
        twice = _used_twice(d.name for d in devices)
        if twice:
            raise ValueError(f"device names must be unique; used twice: {', '.join(twice)}")
        return devices
