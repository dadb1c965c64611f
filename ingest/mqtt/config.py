"""Configuration of one MQTT connector: the broker, Zigbee2MQTT and generic topic templates."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ingest.config_types import NAME_PATTERN, seconds
from kernel.names import LABEL_NAME_SYNTAX, METRIC_NAME_PATTERN, NOT_METRIC_NAME_CHAR

_PLACEHOLDER = re.compile(rf"^\{{({LABEL_NAME_SYNTAX})\}}$")


class Zigbee2Mqtt(BaseModel):
    """Zigbee2MQTT under `base_topic`: device states, the bridge's device list, availability."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_topic: str = "zigbee2mqtt"
    metric_prefix: str = Field("zigbee", pattern=METRIC_NAME_PATTERN)


class TopicTemplate(BaseModel):
    """Generic topics: `site/{site}/sensor/{sensor}` — each `{x}` level matches anything and becomes label x."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template: str
    metric: str = Field(pattern=METRIC_NAME_PATTERN)
    fields: dict[str, str] = Field({}, description="metric suffix → dotted JSON path; empty: every number")
    device_label: str | None = Field(None, description="the placeholder naming the device (availability, status)")

    @field_validator("template")
    @classmethod
    def _levels(cls, template: str) -> str:
        if not template or any(c in template for c in "+#"):
            raise ValueError("template is a topic with {name} placeholders for whole levels, not + or #")
        for level in template.split("/"):
            if "{" in level and not _PLACEHOLDER.match(level):
                raise ValueError(f"level {level!r}: a placeholder must be a whole level like {{site}}")
        return template

    @field_validator("fields")
    @classmethod
    def _suffixes(cls, fields: dict[str, str]) -> dict[str, str]:
        bad = [k for k in fields if not k or NOT_METRIC_NAME_CHAR.search(k)]
        if bad:
            raise ValueError(f"field names become metric name suffixes; {bad[0]!r} has other characters")
        return fields

    @model_validator(mode="after")
    def _device(self):
        if self.device_label and f"{{{self.device_label}}}" not in self.template.split("/"):
            raise ValueError(f"device_label {self.device_label!r} is not a placeholder of the template")
        return self

    @property
    def placeholders(self) -> list[str]:
        return [m.group(1) for level in self.template.split("/") if (m := _PLACEHOLDER.match(level))]

    @property
    def subscription(self) -> str:
        """The MQTT filter of the template: every placeholder level becomes `+`."""
        return "/".join("+" if _PLACEHOLDER.match(level) else level for level in self.template.split("/"))


class MqttConnectorConfig(BaseModel):
    """One broker connection with what to subscribe to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["mqtt"]
    name: str = Field(pattern=NAME_PATTERN)
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = Field(None, description="default vigil-<name>; fixed so the broker keeps the session")
    keepalive: float = 30.0
    availability_interval: float = Field(10.0, description="re-send every device's availability this often")
    zigbee2mqtt: Zigbee2Mqtt | None = None
    topics: tuple[TopicTemplate, ...] = ()

    @field_validator("keepalive", "availability_interval", mode="before")
    @classmethod
    def _duration(cls, value):
        return seconds(value)

    @model_validator(mode="after")
    def _something(self):
        if self.zigbee2mqtt is None and not self.topics:
            raise ValueError("subscribe to something: give zigbee2mqtt or topics")
        return self
