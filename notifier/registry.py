"""The one place receivers are built: a receiver kind is one folder and one line here."""

from __future__ import annotations

from typing import Protocol

from infra.settings import NotifierSettings
from notifier.outcome import Outcome
from notifier.slack.client import SlackClient
from notifier.slack.config import SlackConfig
from schemas.records import Notification


class Notifier(Protocol):
    """A receiver client: one attempt per call, an Outcome back."""

    def notify(self, note: Notification) -> Outcome: ...

    def close(self) -> None: ...


def build_receivers(settings: NotifierSettings) -> dict[str, Notifier]:
    """Receivers by the name Notifications address them with."""
    receivers: dict[str, Notifier] = {}
    if settings.slack_webhook_url is not None:
        receivers["slack"] = SlackClient(SlackConfig(url=settings.slack_webhook_url,
                                                     timeout_s=settings.request_timeout_s))
    return receivers
