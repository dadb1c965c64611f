"""Typed configuration of one Slack-compatible receiver (Alertmanager's `slack_configs` subset)."""

from __future__ import annotations

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr


class SlackConfig(BaseModel):
    """An incoming webhook URL (a secret: it is the credential), optional channel and Jinja2 templates."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    url: SecretStr = Field(validation_alias=AliasChoices("api_url", "url"))
    channel: str | None = None
    title: str | None = Field(None, description="Jinja2 template of the header")
    text: str | None = Field(None, description="Jinja2 template of the message body")
    send_resolved: bool = True
    timeout_s: float = Field(5.0, gt=0)
