"""Typed configuration of one PagerDuty Events v2 integration (Alertmanager's `pagerduty_configs` subset)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

EVENTS_V2_URL = "https://events.pagerduty.com/v2/enqueue"
# payload.severity: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
SEVERITIES = ("critical", "error", "warning", "info")


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

    @field_validator("severity")
    @classmethod
    def _known_severity(cls, value: str | None) -> str | None:
        # A template is checked by rendering it (kernel.alerting.templates); plain text can be checked here.
        if value is not None and "{" not in value and value.strip() not in SEVERITIES:
            raise ValueError(f"severity {value!r}: expected one of {', '.join(SEVERITIES)} or a template")
        return value
