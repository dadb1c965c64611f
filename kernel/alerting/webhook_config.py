"""Typed configuration of one generic webhook (Alertmanager's `webhook_configs` subset)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class WebhookConfig(BaseModel):
    """The URL (a secret: it often carries a token), how many alerts to include, the timeout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: SecretStr
    max_alerts: int = Field(0, ge=0, description="0 = all alerts of the incident")
    send_resolved: bool = True
    timeout_s: float = Field(10.0, gt=0)
