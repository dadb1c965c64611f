"""Prometheus `relabel_configs`, the subset users rely on: replace, keep, drop, labeldrop, labelkeep.

https://prometheus.io/docs/prometheus/latest/configuration/configuration/#relabel_config
Regexes are RE2, anchored at both ends, `.` matching newlines, as Prometheus compiles them
(kernel/matchers.compile_regex): the same rule means the same here, and matching an agent's
label values takes linear time whatever they hold (Python's `re` backtracks). A rule that
doesn't compile is refused when the configuration is loaded; `__name__` is the metric name.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from kernel.matchers import MatcherError, compile_regex
from kernel.names import is_label_name

NAME = "__name__"
_REFERENCE = re.compile(r"\$(?:(\d+)|\{(\w+)\}|([a-zA-Z_]\w*))")


class RelabelRule(BaseModel):
    """One relabel_config entry, validated when the configuration is read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source_labels: tuple[str, ...] = ()
    separator: str = ";"
    regex: object = Field(default=compile_regex("(.*)"), description="a compiled RE2 regex")
    target_label: str = ""
    replacement: str = "$1"
    action: Literal["replace", "keep", "drop", "labeldrop", "labelkeep"] = "replace"

    @field_validator("regex", mode="before")
    @classmethod
    def _compile(cls, value):
        if hasattr(value, "fullmatch"):  # already compiled (the default)
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)  # YAML reads `regex: 200` as a number; Prometheus takes it as text
        if not isinstance(value, str):
            raise ValueError(f"regex must be a string, not {type(value).__name__}")
        try:
            return compile_regex(value)
        except MatcherError as exc:
            raise ValueError(f"regex {value!r} does not compile: {exc}") from None

    @model_validator(mode="after")
    def _needs(self):
        if self.action == "replace" and not self.target_label:
            raise ValueError("action 'replace' needs target_label")
        if self.action in ("keep", "drop") and not self.source_labels:
            raise ValueError(f"action '{self.action}' needs source_labels")
        if self.action == "replace" and "$" not in self.target_label and not is_label_name(self.target_label):
            raise ValueError(f"target_label {self.target_label!r} is not a label name")
        return self


def _expand(template: str, match) -> str:
    def one(ref: re.Match) -> str:
        key = ref.group(1) or ref.group(2) or ref.group(3)
        try:
            return match.group(int(key) if key.isdigit() else key) or ""
        except IndexError:  # a group the regex doesn't have expands to "", as in Go's Expand
            return ""
    return _REFERENCE.sub(one, template)


def relabel(name: str, labels: dict[str, str], rules: tuple[RelabelRule, ...]) -> tuple[str, dict[str, str]] | None:
    """Apply `rules` in order to a series; None when a keep/drop rule drops it.

    The result's labels are a new dict (the input is shared between samples and left alone);
    a label set to "" is removed, as in Prometheus.
    """
    view = {NAME: name, **labels}
    for rule in rules:
        if rule.action in ("labeldrop", "labelkeep"):
            keep = rule.action == "labelkeep"
            view = {k: v for k, v in view.items()
                    if k == NAME or bool(rule.regex.fullmatch(k)) == keep}
            continue
        value = rule.separator.join(view.get(label, "") for label in rule.source_labels)
        match = rule.regex.fullmatch(value)
        if rule.action == "keep":
            if not match:
                return None
        elif rule.action == "drop":
            if match:
                return None
        elif match:  # replace
            target = _expand(rule.target_label, match)
            result = _expand(rule.replacement, match)
            if not is_label_name(target):
                continue  # Prometheus skips a rule whose expanded target is not a valid label name
            if result:
                view[target] = result
            else:
                view.pop(target, None)
    new_name = view.pop(NAME, "")
    if not new_name:
        return None
    return new_name, view


def relabel_samples(samples: list, extra_labels: dict[str, str], rules: tuple[RelabelRule, ...]) -> list:
    """Samples with `extra_labels` added (they win) and `rules` applied; dropped series left out.

    Samples that shared a labels dict still share the result, so later stages keep checking
    and keying each label set once.
    """
    out = []
    done: dict[tuple[str, int], tuple[str, dict[str, str]] | None] = {}
    for sample in samples:
        memo = (sample["name"], id(sample["labels"]))
        if memo not in done:
            labels = {**sample["labels"], **extra_labels} if extra_labels else sample["labels"]
            done[memo] = relabel(sample["name"], labels, rules) if rules else (sample["name"], labels)
        result = done[memo]
        if result is not None:
            out.append({**sample, "name": result[0], "labels": result[1]})
    return out
