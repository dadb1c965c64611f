"""Silences as Alertmanager has them: label matchers and a time window that mute the alerts they match.

A silence is pending before `starts_at`, active from `starts_at` (inclusive) to `ends_at`
(exclusive) and expired after; it silences an alert when it is active and *every* matcher
matches the alert's labels (a missing label is the empty string; regexes are RE2 and anchored,
as in Prometheus: kernel/matchers.py).
https://prometheus.io/docs/alerting/latest/alertmanager/#silences

Pure: the worker builds a SilenceIndex from the silences topic (streams/silences_feed.py), the API
uses the same Silence to validate and filter (api/routes/silences.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast, get_args

from schemas.records import SilenceMatcher, SilenceRecord
from kernel.matchers import Matcher, MatcherError, Op

State = Literal["pending", "active", "expired"]
STATES: tuple[str, ...] = get_args(State)
OPS: tuple[str, ...] = get_args(Op)


def state_at(starts_ms: int, ends_ms: int, at_ms: int) -> State:
    """Where a silence with this window is at `at_ms` (Alertmanager's getState)."""
    if at_ms < starts_ms:
        return "pending"
    if at_ms < ends_ms:
        return "active"
    return "expired"


def matches_empty(matcher: Matcher) -> bool:
    """Alertmanager's rule: an `=` or `=~` matcher that the empty string satisfies selects any alert.

    Negative matchers never count (`env!="prod"` alone is a valid silence there), so a silence is
    refused only when every matcher is a positive one that a missing label would satisfy.
    https://github.com/prometheus/alertmanager/blob/main/silence/silence.go (matchesEmpty)
    """
    return matcher.op in ("=", "=~") and matcher.matches({})


def silences_everything(matchers: Iterable[Matcher]) -> bool:
    """True when every matcher matches the empty string: the silence would mute every alert."""
    return all(matches_empty(m) for m in matchers)


@dataclass(frozen=True, slots=True)
class Silence:
    """One silence: every matcher must match an alert's labels while starts_ms <= t < ends_ms."""

    id: str
    matchers: tuple[Matcher, ...]
    starts_ms: int
    ends_ms: int
    created_by: str
    comment: str

    def matches(self, labels: dict[str, str]) -> bool:
        """True when every matcher matches these labels, whatever the time."""
        return all(m.matches(labels) for m in self.matchers)

    def silences(self, labels: dict[str, str], at_ms: int) -> bool:
        """True when this silence is active at `at_ms` and matches the labels."""
        return self.starts_ms <= at_ms < self.ends_ms and self.matches(labels)

    def state(self, at_ms: int) -> State:
        """pending, active or expired at `at_ms`."""
        return state_at(self.starts_ms, self.ends_ms, at_ms)


def matcher_of(raw: SilenceMatcher) -> Matcher:
    """The Matcher a stored `{name, op, value}` describes; MatcherError names what is wrong."""
    if raw["op"] not in OPS:
        raise MatcherError(f"'{raw['name']}': operator {raw['op']!r} is not one of {', '.join(OPS)}")
    return Matcher.make(raw["name"], cast(Op, raw["op"]), raw["value"])


def silence_of(record: SilenceRecord) -> Silence:
    """The Silence a record of the silences topic holds; MatcherError if a matcher can't be used."""
    return Silence(id=record["id"], matchers=tuple(matcher_of(m) for m in record["matchers"]),
                   starts_ms=record["starts_at_ms"], ends_ms=record["ends_at_ms"],
                   created_by=record["created_by"], comment=record["comment"])


class SilenceIndex:
    """Silences bucketed by one matcher that names its values, so an alert is checked only against likely ones.

    A silence with `name="v"` (v non-empty) or `name=~"a|b"` (literal alternatives) can only match
    alerts whose label `name` has one of those values: it is filed under each (name, value) and
    found with one dict access per distinct indexed label name (an alert has one value per name,
    so it meets a silence at most once). Silences without such a matcher (other regexes,
    negations) are checked for every alert. Alertmanager's silences nearly always name an `alertname`,
    `instance` or `service`, so a lookup costs a few dict accesses, not one check per silence.
    Immutable: the feed swaps in a new index on each change, readers need no lock.
    """

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._by_label: dict[str, dict[str, list[Silence]]] = {}
        self._scanned: list[Silence] = []
        self._count = 0
        for silence in silences:
            self._count += 1
            key = _key_matcher(silence)
            if key is None:
                self._scanned.append(silence)
                continue
            by_value = self._by_label.setdefault(key[0], {})
            for value in key[1]:
                by_value.setdefault(value, []).append(silence)

    def silenced_by(self, labels: dict[str, str], at_ms: int) -> list[str]:
        """Ids of the silences active at `at_ms` whose matchers all match `labels`, sorted."""
        hits = [s.id for s in self._scanned if s.silences(labels, at_ms)]
        for name, by_value in self._by_label.items():
            value = labels.get(name)
            if value is not None:
                hits.extend(s.id for s in by_value.get(value, ()) if s.silences(labels, at_ms))
        if len(hits) > 1:
            hits.sort()
        return hits

    def __len__(self) -> int:
        return self._count


_LITERAL = re.compile(r"[^\\.+*?()\[\]{}^$|]+")  # text without a regex metacharacter


def _keys(matcher: Matcher) -> tuple[str, ...]:
    """The only label values this matcher accepts, when it names them: `="v"` or `=~"a|b|c"`; else ()."""
    if matcher.op == "=":
        return (matcher.value,) if matcher.value else ()
    if matcher.op == "=~":
        options = matcher.value.split("|")
        if all(_LITERAL.fullmatch(option) for option in options):
            return tuple(dict.fromkeys(options))  # `a|a` once: a silence must be met at most once
    return ()


def _key_matcher(silence: Silence) -> tuple[str, tuple[str, ...]] | None:
    """The label name and values to file the silence under: an `=` matcher first, `alertname` preferred."""
    keyed = [(m, _keys(m)) for m in silence.matchers]
    keyed = [(m, values) for m, values in keyed if values]
    if not keyed:
        return None
    best = min(keyed, key=lambda k: (k[0].op != "=", k[0].name != "alertname"))
    return best[0].name, best[1]
