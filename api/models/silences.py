"""`/api/v1/silences`: a silence as written and as stored, a page of them, and its history."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.models.examples import with_examples


_MATCHERS = [{"name": "host", "op": "=", "value": "web-3"},
             {"name": "alertname", "op": "=~", "value": "HighCPU|DiskFull"}]
SILENCE_OUT_EXAMPLE = {
    "id": "4b1e0c1e-3f2a-4c55-9a43-0b5f0e9b2d61", "version": 1, "state": "active", "matchers": _MATCHERS,
    "starts_at": "2026-12-01T22:00:00Z", "ends_at": "2026-12-02T00:00:00Z", "created_by": "alice",
    "comment": "kernel upgrade on web-3", "created_at": "2026-12-01T21:58:40Z", "updated_at": "2026-12-01T21:58:40Z",
    "updated_by": "operator-alice"}
SILENCE_VERSION_EXAMPLE = {
    "version": 1, "change": "created", "matchers": _MATCHERS, "starts_at": "2026-12-01T22:00:00Z",
    "ends_at": "2026-12-02T00:00:00Z", "created_by": "alice", "comment": "kernel upgrade on web-3",
    "changed_at": "2026-12-01T21:58:40Z", "changed_by": "operator-alice"}


SILENCE_EXAMPLES = {
    "maintenance": {"summary": "silence one host for two hours", "value": {
        "matchers": ['host="web-3"', 'alertname=~"HighCPU|DiskFull"'], "duration": "2h",
        "created_by": "alice", "comment": "kernel upgrade on web-3"}},
    "window": {"summary": "a planned window, matchers as objects", "value": {
        "matchers": [{"name": "env", "op": "=", "value": "staging"}],
        "starts_at": "2026-12-01T22:00:00Z", "ends_at": "2026-12-02T02:00:00Z",
        "created_by": "bob", "comment": "staging database migration"}},
    "alertmanager": {"summary": "Alertmanager v2 matchers (isRegex, isEqual)", "value": {
        "matchers": [{"name": "service", "value": "billing-.*", "isRegex": True, "isEqual": True}],
        "duration": "30m", "created_by": "carol", "comment": "billing deploy"}},
}


class SilenceIn(BaseModel):
    """A silence as its author writes it (POST, PUT); see the silences routes for each field's rules."""

    model_config = with_examples(*(example["value"] for example in SILENCE_EXAMPLES.values()), extra="forbid")

    matchers: list[str | dict] = Field(
        description='1 to 64 matchers: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`, or objects '
                    '`{name, op, value}`, or Alertmanager v2 `{name, value, isRegex, isEqual}`; every one must '
                    "match an alert's labels (RE2 regexes, anchored); at least one must not match the empty string")
    starts_at: str | None = Field(None, description="RFC 3339; default (and at least) now",
                                  examples=["2026-12-01T22:00:00Z"])
    ends_at: str | None = Field(None, description="RFC 3339, after starts_at; or give `duration`")
    duration: str | None = Field(None, description="from starts_at, instead of ends_at", examples=["2h", "1h30m", "1d"])
    created_by: str = Field(description="who silences (until the API has keys)", max_length=256)
    comment: str = Field(description="why (required, as in Alertmanager); at most 4 KiB")


class SilenceMatcherOut(BaseModel):
    """One matcher of a silence."""

    model_config = with_examples(*_MATCHERS)

    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str


class SilenceOut(BaseModel):
    """The latest version of one silence; `state` is computed from the time of the answer."""

    model_config = with_examples(SILENCE_OUT_EXAMPLE)

    id: str = Field(examples=["4b1e0c1e-3f2a-4c55-9a43-0b5f0e9b2d61"])
    version: int = Field(description="1 at creation, +1 per change (expiry is a change)")
    state: Literal["pending", "active", "expired"]
    matchers: list[SilenceMatcherOut]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    updated_at: datetime
    updated_by: str


class SilencePage(BaseModel):
    """One page of silences, newest first; pass `next_cursor` as `cursor` for the next page."""

    model_config = with_examples({"items": [SILENCE_OUT_EXAMPLE], "next_cursor": None})

    items: list[SilenceOut]
    next_cursor: str | None = None


class SilenceVersionOut(BaseModel):
    """One change of a silence, as saved."""

    model_config = with_examples(SILENCE_VERSION_EXAMPLE)

    version: int
    change: Literal["created", "updated", "expired"]
    matchers: list[SilenceMatcherOut]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    changed_at: datetime
    changed_by: str


class SilenceHistory(BaseModel):
    """Every version of a silence, oldest first."""

    model_config = with_examples({"id": "4b1e0c1e-3f2a-4c55-9a43-0b5f0e9b2d61", "versions": [SILENCE_VERSION_EXAMPLE, {
        **SILENCE_VERSION_EXAMPLE, "version": 2, "change": "expired", "ends_at": "2026-12-01T23:10:00Z",
        "changed_at": "2026-12-01T23:10:00Z"}]})

    id: str
    versions: list[SilenceVersionOut]
