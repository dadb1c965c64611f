"""Every receiver kind the alerting config knows, in one registry: a new kind is its config module and one entry here.

The shared code reads a kind's name, config model, template fields and Alertmanager mapping from
here and never names a kind itself: `ReceiverConfig`'s `<kind>_configs` fields and `integrations()`
(kernel/alerting/receivers.py), the template check (kernel/alerting/templates.py), `vigil routes
import` (streams/incidents/alertmanager_import.py), `vigil routes check` and the API's receiver list.
The senders are the notifier's: notifier/<kind>/ and one line in notifier/registry.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel

from kernel.alerting.pagerduty_config import SEVERITIES as PAGERDUTY_SEVERITIES, PagerDutyConfig
from kernel.alerting.slack_config import SlackConfig
from kernel.alerting.webhook_config import WebhookConfig


@dataclass(frozen=True, slots=True)
class AlertmanagerFields:
    """How `vigil routes import` converts this kind's entries of an Alertmanager receiver.

    https://prometheus.io/docs/alerting/latest/configuration/#receiver-integration-settings
    """

    fields: Mapping[str, str]  # Alertmanager field → Vigil field; any other field is reported, not copied
    secret: str  # the credential: an entry without it is not imported
    durations: frozenset[str] = frozenset()  # fields holding an Alertmanager duration (`10s`), taken as seconds
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # plain values Vigil takes for a field
    from_global: Mapping[str, str] = field(default_factory=dict)  # Vigil field → the `global:` key supplying it
    defaults: Mapping[str, object] = field(default_factory=dict)  # where Alertmanager's default differs from Vigil's


@dataclass(frozen=True, slots=True)
class ReceiverKind:
    """A kind of integration: its name (the key everywhere), how prose names it, its config and templates."""

    name: str  # `<name>_configs` in a receiver, `<receiver>/<name>/<i>` as integration id, the `kind` metric label
    config: type[BaseModel]  # frozen, extra="forbid"; has `send_resolved` and `timeout_s` (IntegrationConfig)
    prose: str  # in messages listing what Vigil pages through: "PagerDuty, Slack and webhooks"
    template_fields: tuple[str, ...] = ()  # fields that are Jinja2 templates, checked when a config loads
    alertmanager: AlertmanagerFields | None = None  # None: Alertmanager has no such integration

    @property
    def key(self) -> str:
        """`<name>_configs`: the receiver's field listing this kind's integrations, and Alertmanager's key for them."""
        return f"{self.name}_configs"


_KINDS = (
    ReceiverKind("pagerduty", PagerDutyConfig, prose="PagerDuty", template_fields=("description", "severity"),
                 alertmanager=AlertmanagerFields(
                     fields={"routing_key": "routing_key", "url": "url", "client": "client",
                             "client_url": "client_url", "send_resolved": "send_resolved",
                             "description": "description", "severity": "severity"},
                     secret="routing_key", choices={"severity": PAGERDUTY_SEVERITIES},
                     from_global={"url": "pagerduty_url"})),
    ReceiverKind("slack", SlackConfig, prose="Slack", template_fields=("title", "text"),
                 alertmanager=AlertmanagerFields(
                     fields={"api_url": "api_url", "channel": "channel", "send_resolved": "send_resolved",
                             "title": "title", "text": "text"},
                     secret="api_url", from_global={"api_url": "slack_api_url"},
                     defaults={"send_resolved": False})),  # Alertmanager's default for Slack; Vigil's is true
    ReceiverKind("webhook", WebhookConfig, prose="webhooks",
                 alertmanager=AlertmanagerFields(
                     fields={"url": "url", "max_alerts": "max_alerts", "send_resolved": "send_resolved",
                             "timeout": "timeout_s"},
                     secret="url", durations=frozenset({"timeout"}))),
)

RECEIVER_KINDS: Mapping[str, ReceiverKind] = {kind.name: kind for kind in _KINDS}
RECEIVER_KIND_NAMES: tuple[str, ...] = tuple(RECEIVER_KINDS)


def in_prose() -> str:
    """What Vigil pages through, for messages: `PagerDuty, Slack and webhooks`."""
    names = [kind.prose for kind in _KINDS]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
