"""`/api/v1/rules`: a stored rule, a page of them, its history, a validated rule, and the body's schema."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.models.examples import with_examples


SAVED_RULE_EXAMPLE = {"id": "high-cpu", "alert": "HighCPU", "metric": "cpu_usage_user", "match": {"env": "prod"},
                      "threshold": 90.0, "for": 300.0, "labels": {"severity": "page"}}
RULE_OUT_EXAMPLE = {"id": "high-cpu", "version": 2, "deleted": False, "created_at": "2026-11-20T09:00:00Z",
                    "updated_at": "2026-11-28T14:12:09Z", "updated_by": "admin-alice", "rule": SAVED_RULE_EXAMPLE}
RULE_VERSION_EXAMPLE = {"id": "high-cpu", "version": 1, "deleted": False, "changed_at": "2026-11-20T09:00:00Z",
                        "changed_by": "admin-alice", "rule": {**SAVED_RULE_EXAMPLE, "threshold": 95.0}}


RULE_EXAMPLES = {
    "threshold": {"summary": "CPU above 90% for 5 minutes", "value": {
        "id": "high-cpu", "alert": "HighCPU", "metric": "cpu_usage_user", "match": {"env": "prod"},
        "op": ">", "threshold": 90, "for": "5m", "labels": {"severity": "page"},
        "annotations": {"summary": "CPU on {{ $labels.host }} is {{ $value }}%"}}},
    "rate": {"summary": "5xx rate over a 5 minute window", "value": {
        "id": "http-errors", "alert": "HttpErrors", "type": "rate", "metric": "http_requests_total",
        "matchers": ['code=~"5.."', 'job!="canary"'], "window": "5m", "op": ">", "threshold": 2,
        "for": "2m", "labels": {"severity": "ticket"}}},
    "absent": {"summary": "a device that stopped reporting", "value": {
        "id": "device-silent", "alert": "DeviceSilent", "type": "absent", "metric": "vigil_device_up",
        "absent_for": "10m", "by": ["device"]}},
}


class StoredRuleOut(BaseModel):
    """The latest version of one rule: `rule` is its definition as saved (durations in seconds)."""

    model_config = with_examples(RULE_OUT_EXAMPLE)

    id: str = Field(examples=["high-cpu"])
    version: int = Field(description="1 at creation, +1 per change (a delete is a change)")
    deleted: bool
    evaluator: Literal["stream", "query"] = Field("stream", description="stream: evaluated per sample, one series "
                                                  "at a time; query: PromQL against the time-series store at the "
                                                  "rule group's interval")
    created_at: datetime
    updated_at: datetime
    updated_by: str
    rule: dict = Field(description="the rule as its author wrote it, normalised (no version)",
                       examples=[{"id": "high-cpu", "alert": "HighCPU", "metric": "cpu_usage_user",
                                  "threshold": 90.0, "for": 300.0}])


class RulePage(BaseModel):
    """One page of rules ordered by id; pass `next_cursor` as `cursor` for the next page."""

    model_config = with_examples({"items": [RULE_OUT_EXAMPLE], "next_cursor": "WyJoaWdoLWNwdSJd"})

    items: list[StoredRuleOut]
    next_cursor: str | None = None


class RuleVersionOut(BaseModel):
    """One change of a rule, as saved."""

    model_config = with_examples(RULE_VERSION_EXAMPLE)

    id: str
    version: int
    deleted: bool
    evaluator: Literal["stream", "query"] = "stream"
    changed_at: datetime
    changed_by: str
    rule: dict


class RuleHistory(BaseModel):
    """Every version of a rule, oldest first."""

    model_config = with_examples({"id": "high-cpu", "versions": [RULE_VERSION_EXAMPLE, {
        **RULE_VERSION_EXAMPLE, "version": 2, "changed_at": "2026-11-28T14:12:09Z", "rule": SAVED_RULE_EXAMPLE}]})

    id: str
    versions: list[RuleVersionOut]


class ValidatedRule(BaseModel):
    """A rule that passed validation, normalised as it would be saved (nothing was saved)."""

    model_config = with_examples({"rule": SAVED_RULE_EXAMPLE})

    rule: dict


def rule_spec_schema() -> dict:
    """JSON schema of a rule as the API takes it: the Rule model without `version`, durations as text too."""
    from kernel.rules import Rule

    schema = Rule.model_json_schema(by_alias=True)
    schema["properties"].pop("version", None)
    duration = {"type": "string", "examples": ["30s", "5m", "1h30m"], "description": "duration, or seconds"}
    for name in ("for", "keep_firing_for", "window", "absent_for"):
        field = schema["properties"][name]
        field["anyOf"] = [*field.pop("anyOf", [{"type": field.pop("type", "number")}]), duration]
    return schema
