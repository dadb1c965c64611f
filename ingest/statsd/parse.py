"""StatsD / DogStatsD lines → Metric records: pure, partial (bad lines reported, good lines kept), fast.

Specs:
  Etsy StatsD  https://github.com/statsd/statsd/blob/master/docs/metric_types.md
      name:value|type[|@rate]      types c, g, ms, h, s; a gauge value with a leading +/- is a delta
      name:1|c:250|ms              several metrics in one line, split on ':' (the Etsy multi-metric form;
                                   it predates tags, so a line in this form can't carry any)
  DogStatsD    https://docs.datadoghq.com/developers/dogstatsd/datagram_shell/
      name:value[:value...]|type[|@rate][|#k:v,tag][|c:container][|T<unix-seconds>]
      type d (distribution); several values packed with ':' (protocol v1.1; not for sets, whose value
      is any string, colons included); container ids, timestamps and the `|e:`/`|card:` fields are
      accepted and ignored.

Choices:
  - A tag without a value (`#canary`) gets the value "true": an empty label value means "no label"
    in Prometheus/VictoriaMetrics, so "" would make the tag vanish downstream. Empty entries in a
    tag list (`#a:b,,c`, a trailing comma) are skipped; a tag with an empty key (`#:v`) is refused.
  - Service checks (`_sc|...`) and events (`_e{...}`) are not metrics: they are skipped and counted
    in `ParseResult.skipped_non_metrics`, not reported as errors — DogStatsD clients send them as a
    matter of course and would otherwise flood the dead-letter topic.
  - Sample rates must be in (0, 1]; they are kept on the Metric and applied by the aggregator.
  - Names are kept as sent; making them Prometheus-valid is the aggregator's job.
  - A line is all or nothing: if one of its values is bad, none of them is kept.
  - A name, tag key or tag value longer than ingest's limits (ingest/validate.py: 256, 128 and 2048
    characters) refuses its line here, not at the next flush: the aggregator would otherwise hold
    the doomed series, and its caches their strings, until then.
Lines are split with str.partition/split — no regex per line — and tag lists, which repeat on
nearly every line, are parsed once and cached.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from ingest.statsd.config import DEFAULT_CONFIG, StatsdConfig
from ingest.validate import Limits

RAW_BYTES = 1024
KIND_NAMES = {"c": "counter", "g": "gauge", "ms": "timer", "h": "histogram", "s": "set", "d": "distribution"}
_FLOAT_CHARS = frozenset("0123456789.eE+-")  # float() also takes "nan", "inf", "1_0", " 1" and "١": not here
_NON_METRICS = ("_sc|", "_e{")
_IGNORED_FIELDS = ("c:", "e:", "card:")  # DogStatsD container id, external data, cardinality
_CACHED_TAGS_CHARS = 512  # longer tag lists are parsed each time: the cache must not hold big strings
_LIMITS = Limits()  # sanitizing never shortens a name or key, so longer than these is refused downstream too
_MAX_NAME, _MAX_KEY, _MAX_VALUE = _LIMITS.max_name_len, _LIMITS.max_label_name_len, _LIMITS.max_label_value_len


class LineSyntaxError(ValueError):
    """One line can't be parsed; the message says which field and why."""


@dataclass(frozen=True, slots=True)
class Metric:
    """One value of one StatsD metric as sent: `value` is a str only for sets."""

    name: str
    kind: str  # 'c', 'g', 'ms', 'h', 's' or 'd'
    value: float | str
    sample_rate: float
    tags: tuple[tuple[str, str], ...]
    delta: bool  # a gauge sent as '+N'/'-N': add to the current value instead of setting it


@dataclass(frozen=True, slots=True)
class LineError:
    """One refused line: number (1-based), reason, the raw bytes (truncated)."""

    number: int
    reason: str
    raw: bytes


@dataclass(slots=True)
class ParseResult:
    """Everything parsed from one datagram or stream chunk, good and bad, in input order."""

    metrics: list[Metric] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    skipped_non_metrics: int = 0


def parse(payload: bytes, config: StatsdConfig = DEFAULT_CONFIG) -> ParseResult:
    """Parse newline-separated metric lines; never raises on bad input."""
    result = ParseResult()
    errors = result.errors
    append = result.metrics.append
    max_tags = config.max_tags
    max_bytes = config.max_datagram_bytes
    check_length = len(payload) > max_bytes  # no line can be too long in a payload that isn't
    try:
        lines: list[str | None] = payload.decode().split("\n")  # one C call for the usual, valid payload
        decode_failed = False
    except UnicodeDecodeError:
        lines = _decode_lines(payload, errors)
        decode_failed = True
    for number, line in enumerate(lines, start=1):
        if line is None:  # invalid UTF-8, already reported
            continue
        if check_length and len(line) > max_bytes // 4 and len(line.encode()) > max_bytes:
            errors.append(LineError(number, f"line is {len(line.encode())} bytes; the limit is {max_bytes}",
                                    line.encode()[:RAW_BYTES]))
            continue
        text = line.strip()  # CRLF from TCP clients, stray blanks
        if not text:
            continue
        if text[0] == "_" and text.startswith(_NON_METRICS):
            result.skipped_non_metrics += 1
            continue
        try:
            _parse_line(text, append, max_tags)
        except LineSyntaxError as exc:
            errors.append(LineError(number, str(exc), line.encode()[:RAW_BYTES]))
    if decode_failed:
        errors.sort(key=lambda error: error.number)
    return result


def _decode_lines(payload: bytes, errors: list[LineError]) -> list[str | None]:
    """Slow path for a payload with invalid UTF-8: decode line by line, report the bad ones."""
    lines: list[str | None] = []
    for number, raw in enumerate(payload.split(b"\n"), start=1):
        try:
            lines.append(raw.decode())
        except UnicodeDecodeError as exc:
            errors.append(LineError(number, f"not valid UTF-8 at byte {exc.start + 1}", raw[:RAW_BYTES]))
            lines.append(None)
    return lines


def _parse_line(text: str, append: Callable[[Metric], None], max_tags: int) -> None:
    """Append the metrics of one stripped, non-empty line, or raise LineSyntaxError."""
    name, colon, rest = text.partition(":")
    if not colon:
        raise LineSyntaxError(f"missing ':' after the name '{name[:80]}': expected 'name:value|type'")
    if not name:
        raise LineSyntaxError("empty metric name")
    if len(name) > _MAX_NAME:
        raise LineSyntaxError(f"metric name '{name[:40]}…' is {len(name)} characters (limit {_MAX_NAME})")
    fields = rest.split("|")
    if len(fields) < 2:
        raise LineSyntaxError(f"missing '|' between the value and the type of '{name[:80]}'")
    kind = fields[1]
    if kind not in KIND_NAMES:
        if ":" in kind:  # '1|c:2|c': the value after ':' starts the next metric
            for metric in _multi_metric(name, rest):
                append(metric)
            return
        raise LineSyntaxError(f"unknown type '{kind[:40]}' of '{name[:80]}': expected one of c, g, ms, h, s, d")
    rate = 1.0
    tags: tuple[tuple[str, str], ...] = ()
    if len(fields) > 2:
        for extra in fields[2:]:
            first = extra[:1]
            if first == "#":
                tags = _tags(extra[1:]) if len(extra) <= _CACHED_TAGS_CHARS else _tags.__wrapped__(extra[1:])
                if len(tags) > max_tags:
                    raise LineSyntaxError(f"too many tags on '{name[:80]}': {len(tags)}, the limit is {max_tags}")
            elif first == "@":
                rate = _sample_rate(extra, name)
            elif first == "T" or extra.startswith(_IGNORED_FIELDS):
                continue  # DogStatsD timestamp/container/origin fields: accepted, not used
            elif not extra:
                raise LineSyntaxError(f"empty field after the type of '{name[:80]}' (a stray '|')")
            else:
                raise LineSyntaxError(f"unknown field '{extra[:40]}' of '{name[:80]}': expected @rate or #tags")
    value_text = fields[0]
    if kind == "s":  # a set member is any string
        if not value_text:
            raise LineSyntaxError(f"empty value of set '{name[:80]}'")
        append(Metric(name, kind, value_text, rate, tags, False))
        return
    if ":" in value_text:  # DogStatsD v1.1 packing: 'name:1:2:3|d'
        values = [_number(part, name, kind) for part in value_text.split(":")]
        for part, value in zip(value_text.split(":"), values):
            append(Metric(name, kind, value, rate, tags, kind == "g" and part[0] in "+-"))
        return
    value = _number(value_text, name, kind)
    append(Metric(name, kind, value, rate, tags, kind == "g" and value_text[0] in "+-"))


def _multi_metric(name: str, rest: str) -> list[Metric]:
    """The Etsy form 'name:1|c:2|ms|@0.5': every ':'-separated part is value|type[|@rate]."""
    metrics = []
    for part in rest.split(":"):
        fields = part.split("|")
        if len(fields) < 2:
            raise LineSyntaxError(f"missing '|' between the value and the type in '{part[:40]}' of '{name[:80]}'")
        value_text, kind = fields[0], fields[1]
        if kind not in KIND_NAMES:
            raise LineSyntaxError(f"unknown type '{kind[:40]}' of '{name[:80]}': expected one of c, g, ms, h, s, d")
        rate = 1.0
        for extra in fields[2:]:
            if extra[:1] != "@":
                raise LineSyntaxError(f"field '{extra[:40]}' of '{name[:80]}' is not allowed in the multi-metric "
                                      "form 'name:v|t:v|t' (only @rate; tags need one metric per line)")
            rate = _sample_rate(extra, name)
        if kind == "s":
            if not value_text:
                raise LineSyntaxError(f"empty value of set '{name[:80]}'")
            metrics.append(Metric(name, kind, value_text, rate, (), False))
            continue
        value = _number(value_text, name, kind)
        metrics.append(Metric(name, kind, value, rate, (), kind == "g" and value_text[0] in "+-"))
    return metrics


def _number(text: str, name: str, kind: str) -> float:
    """A finite float, or LineSyntaxError naming the value and the metric."""
    if text and _FLOAT_CHARS.issuperset(text):
        try:
            value = float(text)
        except ValueError:
            pass
        else:
            if value - value == 0.0:  # false for inf and nan
                return value
            raise LineSyntaxError(f"value '{text[:40]}' of {KIND_NAMES[kind]} '{name[:80]}' is not a finite number")
    if not text:
        raise LineSyntaxError(f"empty value of {KIND_NAMES[kind]} '{name[:80]}'")
    raise LineSyntaxError(f"invalid value '{text[:40]}' of {KIND_NAMES[kind]} '{name[:80]}': "
                          "expected a finite number")


def _sample_rate(text: str, name: str) -> float:
    """'@0.1' → 0.1; it must be in (0, 1] (statsd divides counts by it)."""
    rate_text = text[1:]
    if rate_text and _FLOAT_CHARS.issuperset(rate_text):
        try:
            rate = float(rate_text)
        except ValueError:
            pass
        else:
            if 0.0 < rate <= 1.0:
                return rate
            raise LineSyntaxError(f"sample rate '{text[:40]}' of '{name[:80]}' is not in (0, 1]")
    raise LineSyntaxError(f"invalid sample rate '{text[:40]}' of '{name[:80]}': expected @ and a number in (0, 1]")


@functools.lru_cache(maxsize=16_384)  # tag lists repeat on nearly every line
def _tags(text: str) -> tuple[tuple[str, str], ...]:
    """'env:prod,canary' → (('env', 'prod'), ('canary', 'true')); the value may contain ':'."""
    tags = []
    for tag in text.split(","):
        if not tag:
            continue  # '#a:b,' — a trailing or doubled comma adds nothing
        key, colon, value = tag.partition(":")
        if not key:
            raise LineSyntaxError(f"tag '{tag[:40]}' has an empty key")
        if len(key) > _MAX_KEY:
            raise LineSyntaxError(f"tag key '{key[:40]}…' is {len(key)} characters (limit {_MAX_KEY})")
        if len(value) > _MAX_VALUE:
            raise LineSyntaxError(f"tag '{key[:40]}' value is {len(value)} characters (limit {_MAX_VALUE})")
        tags.append((key, value if colon else "true"))
    return tuple(tags)


def format_metric(metric: Metric) -> str:
    """The DogStatsD line of one Metric (the inverse of parse, for clients and tests)."""
    # A non-delta gauge below zero has no one-line form ('-5|g' means "subtract 5"); statsd's advice
    # is to send 'g:0|g' first, then the delta.
    value = metric.value
    if isinstance(value, str):
        text = value
    else:
        text = repr(value)
        if metric.delta and text[0] != "-":
            text = "+" + text
    line = f"{metric.name}:{text}|{metric.kind}"
    if metric.sample_rate != 1.0:
        line += f"|@{metric.sample_rate!r}"
    if metric.tags:
        line += "|#" + ",".join(f"{key}:{value}" for key, value in metric.tags)
    return line
