"""The `receivers:` section of the alerting config: a name and its integrations (Alertmanager's shape)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from notifier.pagerduty.config import PagerDutyConfig
from notifier.slack.config import SlackConfig
from notifier.webhook.config import WebhookConfig


class ReceiverConfig(BaseModel):
    """One receiver: every integration in it gets each notification addressed to the name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    pagerduty_configs: tuple[PagerDutyConfig, ...] = ()
    slack_configs: tuple[SlackConfig, ...] = ()
    webhook_configs: tuple[WebhookConfig, ...] = ()
