"""Prometheus label sets as rules use them: sorted, immutable, built with `labels.Builder` semantics.

Prometheus never stores a label with an empty value: `Builder.Set(name, "")` deletes the label, so a
rule label that expands to "" removes the series' label of that name too.
See https://github.com/prometheus/prometheus/blob/v2.42.0/model/labels/labels.go (Builder, Compare, String).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from kernel.gotemplate.strconv import quote as go_quote

Labels = tuple[tuple[str, str], ...]
"""A label set: (name, value) pairs sorted by name, no empty values unless built from a map."""

METRIC_NAME = "__name__"
ALERT_NAME = "alertname"

def from_map(pairs: Mapping[str, str] | Iterable[tuple[str, str]]) -> Labels:
    """labels.FromMap: sorted by name, empty values kept (as promtool does for expected labels)."""
    items = pairs.items() if isinstance(pairs, Mapping) else pairs
    return tuple(sorted(items))


def as_dict(labels: Labels) -> dict[str, str]:
    """The label set as a plain dict (for the PromQL engine and templates)."""
    return dict(labels)


class LabelBuilder:
    """labels.Builder: start from a label set, set (empty value = delete) and delete names, then build."""

    def __init__(self, base: Labels | Mapping[str, str] = ()) -> None:
        # Builder.Reset deletes the base's empty-valued labels too (a rule's `label: ""` never reaches ALERTS)
        pairs = base.items() if isinstance(base, Mapping) else base
        self._labels = {name: value for name, value in pairs if value != ""}

    def set(self, name: str, value: str) -> LabelBuilder:
        """Set a label; an empty value deletes it, as Prometheus does."""
        if value == "":
            self._labels.pop(name, None)
        else:
            self._labels[name] = value
        return self

    def delete(self, name: str) -> LabelBuilder:
        """Remove a label if present."""
        self._labels.pop(name, None)
        return self

    def labels(self) -> Labels:
        """The label set built so far, sorted by name."""
        return tuple(sorted(self._labels.items()))


def compare(a: Labels, b: Labels) -> int:
    """labels.Compare: pairwise by name then value, then the shorter set first."""
    for (an, av), (bn, bv) in zip(a, b):
        if an != bn:
            return -1 if an < bn else 1
        if av != bv:
            return -1 if av < bv else 1
    return len(a) - len(b)


def to_text(labels: Labels) -> str:
    """labels.Labels.String: `{a="1", b="x\\"y"}` with Go-quoted values."""
    return "{" + ", ".join(f"{name}={go_quote(value)}" for name, value in labels) + "}"
