"""Configuration of one Home Assistant connector: where, the token, which entities, how often."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ingest.config_types import NAME_PATTERN, seconds


class HomeAssistantConfig(BaseModel):
    """A Home Assistant instance polled over its REST API."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["homeassistant"]
    name: str = Field(pattern=NAME_PATTERN)
    url: str = Field(pattern=r"^https?://", description="e.g. http://homeassistant.local:8123")
    token: SecretStr = Field(description="a long-lived access token (profile page in Home Assistant)")
    interval: float = 30.0
    timeout: float = 10.0
    include_domains: tuple[str, ...] = ()  # empty: every domain
    exclude_domains: tuple[str, ...] = ("automation", "script", "scene", "zone", "person", "update", "button")
    include_entities: tuple[str, ...] = ()  # glob patterns like sensor.kitchen_*; empty: every entity
    exclude_entities: tuple[str, ...] = ()
    areas: dict[str, str] = Field({}, description="entity glob → area label (the REST API has no areas)")
    labels: dict[str, str] = {}

    @field_validator("interval", "timeout", mode="before")
    @classmethod
    def _duration(cls, value):
        return seconds(value)
