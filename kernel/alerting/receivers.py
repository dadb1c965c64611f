"""The `receivers:` section of the alerting config: a name and its integrations (Alertmanager's shape)."""

from __future__ import annotations

from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from kernel.alerting.pagerduty_config import PagerDutyConfig
from kernel.alerting.slack_config import SlackConfig
from kernel.alerting.webhook_config import WebhookConfig

IntegrationConfig = PagerDutyConfig | SlackConfig | WebhookConfig


class IntegrationSpec(NamedTuple):
    """One integration of a receiver: its id (`team-pager/pagerduty/0`), kind and typed config."""

    id: str
    kind: str
    config: IntegrationConfig


class ReceiverConfig(BaseModel):
    """One receiver: every integration in it gets each notification addressed to the name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    pagerduty_configs: tuple[PagerDutyConfig, ...] = ()
    slack_configs: tuple[SlackConfig, ...] = ()
    webhook_configs: tuple[WebhookConfig, ...] = ()

    def integrations(self) -> list[IntegrationSpec]:
        """Every integration with its id: `<receiver>/<kind>/<index in that kind's list>`."""
        groups: tuple[tuple[str, tuple[PagerDutyConfig | SlackConfig | WebhookConfig, ...]], ...] = (
            ("pagerduty", self.pagerduty_configs), ("slack", self.slack_configs), ("webhook", self.webhook_configs))
        return [IntegrationSpec(f"{self.name}/{kind}/{i}", kind, config)
                for kind, configs in groups for i, config in enumerate(configs)]
