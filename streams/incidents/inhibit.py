"""Inhibition (Alertmanager's `inhibit_rules`): a firing source alert mutes matching target alerts.

A target is inhibited when, for some rule, it matches the target matchers and a *different*
firing alert matches the source matchers with the same values of the `equal` labels (a missing
label counts as the empty string, as in Alertmanager). Alertmanager checks this at notification
time; so does Vigil, at each group flush, which is why `group_wait` also gives a source alert
the time to arrive. https://prometheus.io/docs/alerting/latest/configuration/#inhibit_rule

Every worker needs every firing source alert, whatever partition it lives on: the index is fed
from the whole alerts topic (streams/incidents/inhibit_feed.py), newest transition per fingerprint
wins. It keeps every firing alert, so a rule added by a config reload applies at once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from kernel.alerting.config import InhibitRule


class InhibitIndex:
    """Firing alerts that match a source side, indexed per rule by their `equal` label values."""

    def __init__(self, rules: Sequence[InhibitRule] = ()) -> None:
        self._lock = threading.Lock()  # applied from the feed thread, read by the Faust loop
        self.rules: tuple[InhibitRule, ...] = ()
        self._sources: list[dict[tuple[str, ...], set[str]]] = []
        # fingerprint → labels of every firing alert, so a rule added by a config reload finds its sources
        self._firing: dict[str, dict[str, str]] = {}
        self.set_rules(rules)

    def set_rules(self, rules: Sequence[InhibitRule]) -> None:
        """Use these rules (config reload); the index is rebuilt from the firing alerts it knows."""
        with self._lock:
            self.rules = tuple(rules)
            self._sources = [{} for _ in self.rules]
            for fingerprint, labels in self._firing.items():
                self._index(fingerprint, labels)

    def apply(self, fingerprint: str, status: str, labels: dict[str, str]) -> None:
        """Take one alert transition: FIRING adds it as a possible source, anything else removes it."""
        with self._lock:
            known = self._firing.pop(fingerprint, None)
            if known is not None:
                for i, rule in enumerate(self.rules):
                    holders = self._sources[i].get(_values(rule, known))
                    if holders is not None:
                        holders.discard(fingerprint)
            if status == "FIRING":
                self._firing[fingerprint] = labels
                self._index(fingerprint, labels)

    def _index(self, fingerprint: str, labels: dict[str, str]) -> None:
        for i, rule in enumerate(self.rules):
            if _all(rule.source_matchers, labels):
                self._sources[i].setdefault(_values(rule, labels), set()).add(fingerprint)

    def inhibited(self, fingerprint: str, labels: dict[str, str]) -> bool:
        """True when a firing source alert (not this one) inhibits the alert with these labels."""
        with self._lock:
            for i, rule in enumerate(self.rules):
                if not _all(rule.target_matchers, labels):
                    continue
                holders = self._sources[i].get(_values(rule, labels))
                if holders and (len(holders) > 1 or fingerprint not in holders):
                    return True
        return False

    def __len__(self) -> int:
        """Firing alerts that inhibit something under the current rules."""
        return len({fp for holders in self._sources for values in holders.values() for fp in values})


def _values(rule: InhibitRule, labels: dict[str, str]) -> tuple[str, ...]:
    return tuple(labels.get(name, "") for name in rule.equal)


def _all(matchers, labels: dict[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
