"""On-call schedules: rotation layers and overrides decide which receiver a schedule pages at a given time.

A route or escalation level may name a schedule instead of a receiver; it pages whoever is on call
when the page is sent. The model follows PagerDuty's: layers rotate through their members from a
start time; a later layer takes precedence where it has someone on call; overrides replace
everyone for their window. https://support.pagerduty.com/main/docs/schedule-basics
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from kernel.alerting.routing import DurationMs


def instant_ms(value: object) -> int:
    """Epoch milliseconds from an ISO 8601 time with its UTC offset ("2026-11-02T09:00:00+01:00", "…Z")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value  # already epoch milliseconds
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"'{value}' is not a time like 2026-11-02T09:00:00+01:00 (ISO 8601)") from None
    if not isinstance(value, datetime):
        raise ValueError(f"{value!r} is not a time like 2026-11-02T09:00:00+01:00 (ISO 8601)")
    if value.tzinfo is None:
        raise ValueError(f"'{value.isoformat()}' has no UTC offset: add Z or +01:00, so the time is unambiguous")
    return int(value.timestamp() * 1000)


def _positive(ms: int) -> int:
    if ms <= 0:
        raise ValueError("must be longer than 0s, e.g. 7d or 12h")
    return ms


InstantMs = Annotated[int, BeforeValidator(instant_ms)]


class Layer(BaseModel):
    """Members take turns of `rotation` each, from `start` (until `end`, when set), in the order listed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_ms: InstantMs = Field(alias="start")
    rotation_ms: Annotated[DurationMs, AfterValidator(_positive)] = Field(alias="rotation")
    members: tuple[str, ...] = Field(min_length=1)
    end_ms: InstantMs | None = Field(None, alias="end")

    @model_validator(mode="after")
    def _ordered(self) -> Layer:
        if self.end_ms is not None and self.end_ms <= self.start_ms:
            raise ValueError("end must be after start")
        return self

    def member_at(self, at_ms: int) -> str | None:
        """Who this layer has on call at `at_ms`; None before its start or from its end."""
        if at_ms < self.start_ms or (self.end_ms is not None and at_ms >= self.end_ms):
            return None
        return self.members[(at_ms - self.start_ms) // self.rotation_ms % len(self.members)]


class Override(BaseModel):
    """`member` is on call from `start` until `end` (exclusive), whatever the layers say."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_ms: InstantMs = Field(alias="start")
    end_ms: InstantMs = Field(alias="end")
    member: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> Override:
        if self.end_ms <= self.start_ms:
            raise ValueError("end must be after start")
        return self


class Schedule(BaseModel):
    """A named rotation: layers (later ones on top) and overrides (the last listed on top)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    layers: tuple[Layer, ...] = ()
    overrides: tuple[Override, ...] = ()

    def members(self) -> set[str]:
        """Every receiver the schedule can page."""
        return {m for layer in self.layers for m in layer.members} | {o.member for o in self.overrides}


def on_call(schedule: Schedule, at_ms: int) -> str | None:
    """The receiver on call at `at_ms`: an override first (the last listed covering `at_ms` wins), else the
    highest layer that has started; member = floor((at - start) / rotation) % len. None: nobody."""
    for override in reversed(schedule.overrides):
        if override.start_ms <= at_ms < override.end_ms:
            return override.member
    for layer in reversed(schedule.layers):
        member = layer.member_at(at_ms)
        if member is not None:
            return member
    return None
