"""Typed configuration of one PagerDuty Events v2 integration (Alertmanager's `pagerduty_configs` subset)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr

EVENTS_V2_URL = "https://events.pagerduty.com/v2/enqueue"


class PagerDutyConfig(BaseModel):
    """A routing key (the credential), the endpoint, and optional Jinja2 templates for the event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    routing_key: SecretStr
    url: str = EVENTS_V2_URL
    client: str = "Vigil"
    client_url: str = ""
    description: str | None = Field(None, description="Jinja2 template of the event summary")
    severity: str | None = Field(None, description="Jinja2 template; must render to critical|error|warning|info")
    send_resolved: bool = True
    timeout_s: float = Field(10.0, gt=0)
