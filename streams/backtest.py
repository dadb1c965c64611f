"""Backtest: replay one rule over stored samples and list the transitions it would have produced.

The rule semantics are the live engine's own (streams/evaluate.py, streams/absence.py); this
module only feeds them stored samples in event-time order. Samples come a chunk of time at a
time (`Replay.feed`, then `Replay.close_chunk`), and every alert's state lives across chunks, so
where the chunk boundaries fall never changes the result.

Absence rules are timer-driven on the live stream; here the timer is simulated on event time:
before each arrival the timer runs up to the millisecond before it, and at the end of each
chunk up to the chunk's end, so an alert fires exactly at its deadline (a sample stamped at the
deadline itself keeps it quiet).

The replay starts with every alert inactive at `start_ms`. Samples up to `lookback_ms(rule)`
before it only warm windows (rate, *_over_time) and set absence clocks; their transitions are
not reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from schemas.series_id import series_id
from streams import absence
from streams.evaluate import AlertState, alert_key, catch_up, event, new_state, observe
from streams.lifecycle import Transition, new_life
from kernel.rules import WINDOW_TYPES, Rule

SeriesChunk = tuple[dict[str, str], list[int], list[float]]  # labels (no __name__), timestamps (ms), values


@dataclass(frozen=True, slots=True)
class Row:
    """One transition the rule would have produced."""

    fingerprint: str
    labels: dict[str, str]  # the alert's labels as the live engine renders them, alertname included
    status: Transition
    at_ms: int
    value: float


@dataclass(frozen=True, slots=True)
class Episode:
    """One firing of one alert: when it fired and when it resolved (None: still firing at the end)."""

    fingerprint: str
    labels: dict[str, str]
    fired_ms: int
    resolved_ms: int | None
    duration_ms: int


@dataclass(frozen=True)
class Summary:
    """Episodes per alert and the totals of a backtest."""

    episodes: list[Episode]
    alerts: int  # distinct alerts that fired
    firings: int
    still_firing: int
    longest_ms: int | None


@dataclass(slots=True)
class _Watch:
    """The state of one alert, the labels it fires with, and the arrivals of the current chunk."""

    key: str
    fp: str
    labels: dict[str, str]
    state: AlertState
    started: bool = False  # the lifecycle was reset at the first sample of the range
    arrivals: list[int] = field(default_factory=list)  # absence groups: event times of this chunk


def lookback_ms(rule: Rule) -> int:
    """How far before the range start samples matter: the window, or absent_for + for for absence."""
    if rule.type in WINDOW_TYPES:
        return int(rule.window_s * 1000)
    if rule.type == "absent":
        return int((rule.absent_for_s + rule.for_s) * 1000)
    return 0


class Replay:
    """One rule replayed over samples fed a chunk at a time; every alert's state is kept across chunks."""

    def __init__(self, rule: Rule, start_ms: int, end_ms: int) -> None:
        self.rule = rule
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.earliest_ms = start_ms - lookback_ms(rule)
        self.samples = 0
        self.rows: list[Row] = []
        self._watches: dict[tuple, _Watch] = {}  # series (or absence group) → its alert
        self._series: set[tuple] = set()  # every series that sent samples
        self._selector: _Watch | None = None
        self._first_in_chunk: int | None = None
        if rule.type == "absent":
            labels = absence.selector_labels(rule)
            self._selector = self._new_watch(labels)

    @property
    def series(self) -> int:
        """Series that sent samples in the range (or just before it)."""
        return len(self._series)

    def feed(self, labels: dict[str, str], timestamps: list[int], values: list[float]) -> None:
        """One series' samples of the current chunk, oldest first; series the rule doesn't select are skipped."""
        rule = self.rule
        if not rule.matches(labels):
            return
        lo = 0
        while lo < len(timestamps) and timestamps[lo] < self.earliest_ms:
            lo += 1
        hi = len(timestamps)
        while hi > lo and timestamps[hi - 1] > self.end_ms:
            hi -= 1
        if lo >= hi:
            return
        self.samples += hi - lo
        identity = tuple(sorted(labels.items()))
        self._series.add(identity)
        if rule.type != "absent":
            self._observe(self._watch_of(labels, identity), timestamps, values, lo, hi)
            return
        if self._first_in_chunk is None or timestamps[lo] < self._first_in_chunk:
            self._first_in_chunk = timestamps[lo]
        if rule.by is None:
            watch = self._watch_of(labels, identity)
            for ts in timestamps[lo:hi]:
                self._arrive(watch, ts)
        elif rule.by:
            self._watch_of(absence.group_labels(rule, labels)).arrivals.extend(timestamps[lo:hi])
        else:
            self._selector.arrivals.extend(timestamps[lo:hi])

    def close_chunk(self, until_ms: int) -> None:
        """Every sample up to `until_ms` has been fed: merge group arrivals and run the timers up to it."""
        if self.rule.type != "absent":
            for watch in self._watches.values():  # `for` completes, stale series resolve, as the worker's tick
                self._catch_up(watch, until_ms)
            return
        selector = self._selector
        for watch in [*self._watches.values(), selector]:
            if watch.arrivals:
                for ts in sorted(set(watch.arrivals)):
                    self._arrive(watch, ts)
                watch.arrivals.clear()
        if self.rule.by != () and not selector.state.get("done"):
            if self._first_in_chunk is not None:  # data came: the series or groups watch from now on
                self._arrive(selector, self._first_in_chunk)
                selector.state["done"] = 1
            else:
                self._tick(selector, until_ms)
        self._first_in_chunk = None
        for watch in self._watches.values():
            self._tick(watch, until_ms)
        if self.rule.by == ():
            self._tick(selector, until_ms)

    def finish(self) -> list[Row]:
        """The transitions in time order (call after the last chunk was closed)."""
        return sorted(self.rows, key=lambda r: (r.at_ms, r.status == "FIRING", r.fingerprint))

    def _new_watch(self, labels: dict[str, str]) -> _Watch:
        key, fp = alert_key(self.rule, labels)
        return _Watch(key, fp, labels, new_state(self.rule))

    def _watch_of(self, labels: dict[str, str], identity: tuple | None = None) -> _Watch:
        """The alert of a series (or absence group) with these labels, created at its first sample."""
        identity = identity or tuple(sorted(labels.items()))
        watch = self._watches.get(identity)
        if watch is None:
            watch = self._watches[identity] = self._new_watch(labels)
        return watch

    def _observe(self, watch: _Watch, timestamps: list[int], values: list[float], lo: int, hi: int) -> None:
        rule, state, start = self.rule, watch.state, self.start_ms
        for i in range(lo, hi):
            ts = timestamps[i]
            if not watch.started and ts >= start:
                state["life"] = new_life()  # the replay starts inactive; earlier samples only warmed windows
                watch.started = True
            self._catch_up(watch, ts - 1)
            _, transition, value = observe(rule, state, ts, values[i], 0)
            if state["life"]["k"] == ts:
                state["val"] = value  # the alert's value while the condition holds (streams/engine.py)
            if transition is not None and watch.started:
                self._row(watch, transition, state.get("val", value))

    def _catch_up(self, watch: _Watch, until_ms: int) -> None:
        """The worker's tick between samples: pending/firing alerts move along event time."""
        while (transition := catch_up(self.rule, watch.state, until_ms)) is not None:
            if watch.started:
                self._row(watch, transition, watch.state.get("val", 0.0))
    def _arrive(self, watch: _Watch, ts: int) -> None:
        """Data at event time `ts`: first the timer up to just before it, then the arrival."""
        self._tick(watch, ts - 1)
        if absence.arrived(watch.state, now_ms=ts, ts=ts) is not None:
            self._row(watch, "RESOLVED", 0.0)

    def _tick(self, watch: _Watch, now_ms: int) -> None:
        """The live engine's timer at `now_ms`; before the range starts there is no timer."""
        if now_ms < self.start_ms:
            return
        state = watch.state
        if "seen" not in state:
            if watch is not self._selector:
                return
            state["seen"] = self.start_ms  # nothing seen yet: the selector's clock starts with the range
        if absence.due(self.rule, state, now_ms) is not None:
            self._row(watch, "FIRING", self.rule.absent_for_s)

    def _row(self, watch: _Watch, status: Transition, value: float) -> None:
        life = watch.state["life"]
        at = life["t"]
        sid = series_id(self.rule.metric, watch.labels)
        alert = event(self.rule, watch.fp, watch.labels, life, status, value, sid, at)
        self.rows.append(Row(watch.fp, alert["labels"], status, at, float(alert["value"])))


def backtest(rule: Rule, series: Iterable[SeriesChunk], start_ms: int, end_ms: int) -> list[Row]:
    """Replay `rule` over (labels, timestamps, values) series in one chunk; its transitions in time order."""
    replay = Replay(rule, start_ms, end_ms)
    for labels, timestamps, values in series:
        replay.feed(labels, timestamps, values)
    replay.close_chunk(end_ms)
    return replay.finish()


def summarize(rows: list[Row], end_ms: int) -> Summary:
    """Pair each alert's FIRING with its next RESOLVED; an unpaired FIRING is still firing at `end_ms`."""
    open_: dict[str, Row] = {}
    episodes: list[Episode] = []
    for row in rows:
        if row.status == "FIRING":
            open_[row.fingerprint] = row
        elif (fired := open_.pop(row.fingerprint, None)) is not None:
            episodes.append(Episode(row.fingerprint, fired.labels, fired.at_ms, row.at_ms, row.at_ms - fired.at_ms))
    for fired in open_.values():
        episodes.append(Episode(fired.fingerprint, fired.labels, fired.at_ms, None, max(0, end_ms - fired.at_ms)))
    episodes.sort(key=lambda e: (e.fired_ms, e.fingerprint))
    return Summary(episodes, alerts=len({e.fingerprint for e in episodes}), firings=len(episodes),
                   still_firing=len(open_), longest_ms=max((e.duration_ms for e in episodes), default=None))


def format_duration(ms: int) -> str:
    """`12m30s`, `2h5m`, `1d3h`, `45s`, `250ms`: the two largest units."""
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms // 1000
    parts = [(seconds // 86400, "d"), (seconds % 86400 // 3600, "h"), (seconds % 3600 // 60, "m"), (seconds % 60, "s")]
    while parts and parts[0][0] == 0:
        parts.pop(0)
    return "".join(f"{n}{unit}" for n, unit in parts[:2] if n)
