"""The `receivers:` section of the alerting config: a name and its integrations (Alertmanager's shape).

A receiver has one `<kind>_configs` list per kind of kernel/alerting/receiver_kinds.py, in the
registry's order; the model is built from the registry, so a new kind needs no edit here.
"""

from __future__ import annotations

from types import GenericAlias
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from pydantic import BaseModel, ConfigDict, Field, create_model

from kernel.alerting.receiver_kinds import RECEIVER_KINDS


class IntegrationConfig(Protocol):
    """What shared code reads of every kind's config; the rest is the kind's own (kernel/alerting/<kind>_config.py)."""

    @property
    def send_resolved(self) -> bool: ...

    @property
    def timeout_s(self) -> float: ...


class IntegrationSpec(NamedTuple):
    """One integration of a receiver: its id (`team-pager/pagerduty/0`), kind and typed config."""

    id: str
    kind: str
    config: IntegrationConfig


class _Receiver(BaseModel):
    """A receiver's name and `integrations()`; ReceiverConfig adds a `<kind>_configs` field per registered kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)

    def integrations(self) -> list[IntegrationSpec]:
        """Every integration with its id: `<receiver>/<kind>/<index in that kind's list>`."""
        return [IntegrationSpec(f"{self.name}/{kind.name}/{i}", kind.name, config)
                for kind in RECEIVER_KINDS.values() for i, config in enumerate(getattr(self, kind.key))]


def _receiver_config() -> type[_Receiver]:
    """The receiver model: `name`, then `<kind>_configs: tuple[<Kind>Config, ...] = ()` for each kind."""
    fields: dict[str, Any] = {kind.key: (GenericAlias(tuple, (kind.config, ...)), ())
                              for kind in RECEIVER_KINDS.values()}
    return create_model("ReceiverConfig", __base__=_Receiver, __module__=__name__,
                        __doc__="One receiver: every integration in it gets each notification addressed to the name.",
                        **fields)


if TYPE_CHECKING:
    # The type checker can't see fields made at run time: it knows a receiver by `name` and `integrations()`,
    # which is all shared code may use (a kind's list is read through the registry, never by its name).
    ReceiverConfig = _Receiver
else:
    ReceiverConfig = _receiver_config()
