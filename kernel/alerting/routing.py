"""The routing tree: which routes an alert's labels select and which labels make its group.

Alertmanager's semantics and file shape, so an existing `route:` section works unchanged:
https://prometheus.io/docs/alerting/latest/configuration/#route
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Annotated, TypeVar, cast

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from kernel.matchers import Matcher, MatcherError, Op, compile_regex, parse_matcher
from kernel.names import LABEL_NAME_SYNTAX, is_label_name

_T = TypeVar("_T")

DEFAULT_GROUP_WAIT_MS = 30_000
DEFAULT_GROUP_INTERVAL_MS = 300_000
DEFAULT_REPEAT_INTERVAL_MS = 4 * 3600_000
DEFAULT_POLICY = "default"
GROUP_BY_ALL = "..."

# Prometheus' duration syntax (model.ParseDuration): units largest first, each at most once.
_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNIT_MS = (365 * 86400_000, 7 * 86400_000, 86400_000, 3600_000, 60_000, 1000, 1)
# Alertmanager also takes an unquoted value (`severity = critical`); Prometheus' grammar needs quotes.
_UNQUOTED = re.compile(rf"^\s*({LABEL_NAME_SYNTAX})\s*(=~|!~|!=|=)\s*([^\"'=~\s][^\"]*?|)\s*$")


def duration_ms(value: object) -> int:
    """Milliseconds from a Prometheus duration ("30s", "1h30m", "0s", "1w"); ValueError says what was expected."""
    text = value.strip() if isinstance(value, str) else ""
    match = _DURATION.match(text)
    if text == "0":
        return 0
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration like 30s, 5m, 1h30m or 0s")
    return sum(int(g) * unit for g, unit in zip(match.groups(), _UNIT_MS) if g)


def format_duration(ms: int) -> str:
    """Milliseconds as the shortest Prometheus duration (5400000 → 1h30m), the inverse of duration_ms."""
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


def parse_route_matcher(text: object) -> Matcher:
    """One matcher of a `matchers:` list: Prometheus syntax, or Alertmanager's unquoted `name = value`."""
    if not isinstance(text, str):
        raise MatcherError(f"{text!r} is not a label matcher like name=\"value\"")
    try:
        return parse_matcher(text)
    except MatcherError:
        unquoted = _UNQUOTED.match(text)
        if unquoted is None:
            raise
        return Matcher.make(unquoted.group(1), cast(Op, unquoted.group(2)), unquoted.group(3))  # one of the four


def _label_name(name: str) -> str:
    if not is_label_name(name):
        raise ValueError(f"'{name}' is not a valid label name ({LABEL_NAME_SYNTAX})")
    return name


def _matcher_text(text: str) -> str:
    parse_route_matcher(text)
    return text


def _regex_text(text: str) -> str:
    compile_regex(text)
    return text


def _group_by_name(name: str) -> str:
    return name if name == GROUP_BY_ALL else _label_name(name)


def _group_by(names: tuple[str, ...] | None) -> tuple[str, ...] | None:
    if names is not None and GROUP_BY_ALL in names and len(names) > 1:
        raise ValueError("'...' (group by all labels) must be the only entry of group_by")
    return names


DurationMs = Annotated[int, BeforeValidator(duration_ms)]
LabelName = Annotated[str, AfterValidator(_label_name)]
MatcherText = Annotated[str, AfterValidator(_matcher_text)]
RegexText = Annotated[str, AfterValidator(_regex_text)]


class RouteSpec(BaseModel):
    """One `route:` node as written in the file (unset fields are inherited when the tree is built)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    receiver: str | None = Field(None, min_length=1)
    group_by: Annotated[tuple[Annotated[str, AfterValidator(_group_by_name)], ...] | None,
                        AfterValidator(_group_by)] = None
    group_wait: DurationMs | None = None
    group_interval: DurationMs | None = None
    repeat_interval: DurationMs | None = None
    matchers: tuple[MatcherText, ...] = ()
    match: dict[LabelName, str] = {}
    match_re: dict[LabelName, RegexText] = {}
    continue_: bool = Field(False, alias="continue")
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    escalation_policy: str | None = Field(None, min_length=1)
    routes: tuple[RouteSpec, ...] = ()

    def selectors(self) -> tuple[Matcher, ...]:
        """Every matcher of the node: legacy `match` and `match_re` first, then `matchers`."""
        return (tuple(Matcher.make(k, "=", v) for k, v in self.match.items())
                + tuple(Matcher.make(k, "=~", v) for k, v in self.match_re.items())
                + tuple(parse_route_matcher(text) for text in self.matchers))


@dataclass(frozen=True, slots=True)
class Route:
    """A node of the built tree: every inheritable field resolved, children in file order."""

    path: str  # root "0"; its children "0.0", "0.1"; grandchildren "0.1.0" …
    receiver: str
    group_by: tuple[str, ...]  # sorted, deduplicated
    group_by_all: bool  # group_by: ['...']
    group_wait_ms: int
    group_interval_ms: int
    repeat_interval_ms: int
    matchers: tuple[Matcher, ...]
    continue_: bool
    mute_time_intervals: tuple[str, ...]
    active_time_intervals: tuple[str, ...]
    escalation_policy: str
    routes: tuple[Route, ...]


def default_route(receiver: str) -> Route:
    """A root route to `receiver` with Alertmanager's defaults (30s / 5m / 4h, one group, no children)."""
    return Route(path="0", receiver=receiver, group_by=(), group_by_all=False, group_wait_ms=DEFAULT_GROUP_WAIT_MS,
                 group_interval_ms=DEFAULT_GROUP_INTERVAL_MS, repeat_interval_ms=DEFAULT_REPEAT_INTERVAL_MS,
                 matchers=(), continue_=False, mute_time_intervals=(), active_time_intervals=(),
                 escalation_policy=DEFAULT_POLICY, routes=())


def build_route_tree(spec: RouteSpec) -> Route:
    """The tree of `spec` (the root) with Alertmanager's inheritance applied."""
    return _build(spec, default_route(""), "0")


def _build(spec: RouteSpec, parent: Route, path: str) -> Route:
    # Inherited when unset: receiver, grouping, timings, policy (the root inherits the defaults). Not
    # inherited: matchers, continue and the time intervals, as in Alertmanager.
    def own(value: _T | None, inherited: _T) -> _T:
        return inherited if value is None else value

    if spec.group_by is None:
        group_by, group_by_all = parent.group_by, parent.group_by_all
    else:
        group_by_all = GROUP_BY_ALL in spec.group_by
        group_by = () if group_by_all else tuple(sorted(set(spec.group_by)))
    node = replace(
        parent, path=path, receiver=own(spec.receiver, parent.receiver), group_by=group_by,
        group_by_all=group_by_all, group_wait_ms=own(spec.group_wait, parent.group_wait_ms),
        group_interval_ms=own(spec.group_interval, parent.group_interval_ms),
        repeat_interval_ms=own(spec.repeat_interval, parent.repeat_interval_ms), matchers=spec.selectors(),
        continue_=spec.continue_, mute_time_intervals=spec.mute_time_intervals,
        active_time_intervals=spec.active_time_intervals,
        escalation_policy=own(spec.escalation_policy, parent.escalation_policy), routes=())
    return replace(node, routes=tuple(_build(child, node, f"{path}.{i}") for i, child in enumerate(spec.routes)))


def match_routes(root: Route, labels: dict[str, str]) -> list[Route]:
    """Alertmanager's semantics: depth-first; a route matches when all its matchers do; the deepest matching
    child wins; siblings after a match are tried only when the matching one has continue: true; when no child
    matches, the parent itself is the match. The root always matches."""
    # https://github.com/prometheus/alertmanager/blob/main/dispatch/route.go (Route.Match)
    return _match_children(root, labels) or [root]


def _match(route: Route, labels: dict[str, str]) -> list[Route]:
    if not all(m.matches(labels) for m in route.matchers):
        return []
    return _match_children(route, labels) or [route]


def _match_children(route: Route, labels: dict[str, str]) -> list[Route]:
    matched: list[Route] = []
    for child in route.routes:
        hits = _match(child, labels)
        matched.extend(hits)
        if hits and not child.continue_:
            break
    return matched


def group_labels(route: Route, labels: dict[str, str]) -> dict[str, str]:
    """The alert's values of route.group_by (all labels when group_by_all); missing labels are left out."""
    if route.group_by_all:
        return dict(labels)
    return {name: labels[name] for name in route.group_by if name in labels}


def walk(root: Route) -> Iterator[Route]:
    """Every route of the tree, depth-first, parents before their children."""
    yield root
    for child in root.routes:
        yield from walk(child)
