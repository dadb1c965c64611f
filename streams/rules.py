"""Threshold rules as data: the YAML file format, validation with clear errors, and the index."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from streams.template import TemplateError, validate_template

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")
_METRIC = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class RuleError(ValueError):
    """A rule file that can't be used; the message names the file, the rule and the field."""


def parse_duration(value: str | int | float) -> float:
    """Seconds from a Prometheus-style duration ("90s", "5m", "1h30m", "250ms") or a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"duration {value} is negative")
        return float(value)
    text = str(value).strip()
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"'{value}' is not a duration like 30s, 5m, 1h30m or 250ms")
    h, m, s, ms = (int(g) if g else 0 for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000


class Rule(BaseModel):
    """A threshold rule: `metric{match} op threshold` for `for` seconds → alert `alert`."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    alert: str = Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$")
    metric: str
    match: dict[str, str] = {}
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: float
    for_s: float = Field(0.0, alias="for")
    labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    version: int = Field(1, ge=1)

    @field_validator("metric")
    @classmethod
    def _metric_name(cls, v: str) -> str:
        if not _METRIC.match(v):
            raise ValueError(f"'{v}' is not a valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        return v

    @field_validator("match", "labels")
    @classmethod
    def _label_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not _LABEL.match(name):
                raise ValueError(f"'{name}' is not a valid label name ([a-zA-Z_][a-zA-Z0-9_]*)")
        return v

    @field_validator("for_s", mode="before")
    @classmethod
    def _duration(cls, v):
        return parse_duration(v)

    @field_validator("labels", "annotations")
    @classmethod
    def _templates(cls, v: dict[str, str]) -> dict[str, str]:
        for key, text in v.items():
            try:
                validate_template(text)
            except TemplateError as exc:
                raise ValueError(f"template of '{key}': {exc}") from None
        return v

    def matches(self, labels: dict[str, str]) -> bool:
        """True when every equality matcher holds on the series labels."""
        return all(labels.get(k) == v for k, v in self.match.items())


class RuleIndex:
    """Rules by metric name, so a sample costs work only for the rules on its metric."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = list(rules)
        self._by_metric: dict[str, list[Rule]] = {}
        for rule in self.rules:
            self._by_metric.setdefault(rule.metric, []).append(rule)

    def for_metric(self, name: str) -> list[Rule]:
        return self._by_metric.get(name, [])

    def __len__(self) -> int:
        return len(self.rules)


def load_rules(path: Path) -> RuleIndex:
    """Read and validate a rules file; RuleError names the file, rule and field at fault."""
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise RuleError(f"{path}: cannot read rules file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("rules"), list):
        raise RuleError(f"{path}: expected a mapping with a 'rules:' list")
    rules, seen = [], set()
    for i, raw in enumerate(document["rules"]):
        where = f"{path}: rules[{i}]" + (f" ({raw.get('id')})" if isinstance(raw, dict) and raw.get("id") else "")
        try:
            rule = Rule.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: {e['msg']}" for e in exc.errors())
            raise RuleError(f"{where}: {problems}") from None
        if rule.id in seen:
            raise RuleError(f"{where}: id: '{rule.id}' is used by an earlier rule")
        seen.add(rule.id)
        rules.append(rule)
    return RuleIndex(rules)
