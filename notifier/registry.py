"""The one place receivers are built: a kind is its folder notifier/<kind>/ and one line in `CLIENTS`.

The kind itself — its config, its `<kind>_configs` field, its templates — is declared once in
kernel/alerting/receiver_kinds.py; `CLIENTS` holds how the notifier sends to it. Every kind there
has a client here (tests/notifier/test_receiver_conformance.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from kernel.alerting.receivers import IntegrationConfig, ReceiverConfig
from kernel.alerting.slack_config import SlackConfig
from kernel.settings import NotifierSettings
from kernel.ratelimit import Rate
from notifier.limiter import PAGERDUTY_EVENTS_PER_MINUTE, SLACK_MESSAGES_PER_SECOND
from notifier.outcome import Outcome
from notifier.pagerduty.client import PagerDutyClient
from notifier.slack.client import SlackClient
from notifier.webhook.client import WebhookClient
from schemas.records import Notification

log = logging.getLogger(__name__)

LEGACY_SLACK_RECEIVER = "slack"


class Client(Protocol):
    """An integration's client: one attempt per call, an Outcome back; what it supports; its rate limit."""

    kind: str
    acknowledges: bool  # False: ACKNOWLEDGE notifications are not sent to it
    resend_in_doubt: bool  # True: the receiver deduplicates, so a send a dead notifier left on the wire is re-sent
    rate: Rate | None  # None: not limited
    limit_key: str  # what the rate is per (routing key, webhook URL + channel)

    def body(self, note: Notification) -> bytes: ...

    async def notify(self, note: Notification) -> Outcome: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Integration:
    """One integration of a receiver: its id (`team-pager/pagerduty/0`, the Delivery's receiver) and client."""

    id: str
    client: Client
    send_resolved: bool

    @property
    def kind(self) -> str:
        return self.client.kind


@dataclass(frozen=True, slots=True)
class Receiver:
    """A receiver name and its integrations; a notification addressed to the name goes to each."""

    name: str
    integrations: tuple[Integration, ...]


# A kind's client from the integration id, its config (the kind's own model) and the notifier's settings.
ClientFactory = Callable[[str, IntegrationConfig, NotifierSettings], Client]

CLIENTS: Mapping[str, ClientFactory] = {
    "pagerduty": lambda id_, config, s: PagerDutyClient(
        id_, config, s.pagerduty_events_per_minute or PAGERDUTY_EVENTS_PER_MINUTE),
    "slack": lambda id_, config, s: SlackClient(id_, config, s.slack_messages_per_second or SLACK_MESSAGES_PER_SECOND),
    "webhook": lambda id_, config, s: WebhookClient(id_, config, s.external_url),
}


def build_receivers(receivers: Sequence[ReceiverConfig], settings: NotifierSettings) -> dict[str, Receiver]:
    """Receivers by the name Notifications address them with, each with its integrations' clients."""
    built = {}
    for receiver in receivers:
        integrations = tuple(Integration(spec.id, CLIENTS[spec.kind](spec.id, spec.config, settings),
                                         spec.config.send_resolved) for spec in receiver.integrations())
        if not integrations:
            log.info("receiver %r has no integrations: notifications to it are dropped (counted)", receiver.name)
        built[receiver.name] = Receiver(receiver.name, integrations)
    return built


def legacy_receivers(settings: NotifierSettings) -> list[ReceiverConfig]:
    """Without an alerting config: VIGIL_SLACK_WEBHOOK_URL is the receiver named `slack`."""
    if settings.slack_webhook_url is None:
        return []
    return [ReceiverConfig(name=LEGACY_SLACK_RECEIVER, slack_configs=(
        SlackConfig(url=settings.slack_webhook_url, timeout_s=settings.request_timeout_s),))]


def load_receivers(settings: NotifierSettings) -> list[ReceiverConfig]:
    """The receivers of VIGIL_ALERTING_CONFIG when it is set, else the legacy Slack receiver."""
    if settings.alerting_config is None:
        return legacy_receivers(settings)
    # Imported here: the notifier needs only the receivers section, not the routing machinery.
    from kernel.alerting.config import load_alerting_config

    return list(load_alerting_config(settings.alerting_config).receivers)


async def close_receivers(receivers: dict[str, Receiver]) -> None:
    """Close every integration's HTTP client."""
    for receiver in receivers.values():
        for integration in receiver.integrations:
            await integration.client.aclose()
