"""Influx line protocol → samples: pure, partial (bad lines reported, good lines kept), fast.

Spec: https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/
  measurement[,tag=value...] field=value[,field=value...] [timestamp]
Each numeric field becomes one sample named `{measurement}_{field}` (VictoriaMetrics' own Influx
mapping), with names made Prometheus-valid. Lines without backslashes or quotes (nearly all)
take a split()-based fast path; the rest go through an escape-aware scanner.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from ingest.influx.config import DEFAULT_MAX_LINE_BYTES, PRECISION_TO_MS
from kernel.names import NOT_LABEL_NAME_CHAR, NOT_METRIC_NAME_CHAR
from schemas.records import Sample

RAW_BYTES = 1024
# Errors kept one by one per body; the rest are only counted. A 1 MiB body of bad lines is
# ~500k errors, and a message, an answer entry and a dead-letter record for each took seconds.
MAX_ERRORS = 100
_FLOAT_CHARS = frozenset("0123456789.eE+-")
_TRUE = frozenset(("t", "T", "true", "True", "TRUE"))
_FALSE = frozenset(("f", "F", "false", "False", "FALSE"))
_TYPE_NAMES = {"f": "float", "i": "integer", "u": "unsigned", "b": "boolean", "s": "string"}


class LineSyntaxError(ValueError):
    """One line can't be parsed; the message says where and why."""


@dataclass(slots=True)
class ParsedLine:
    """The samples of one input line (1-based line number)."""

    number: int
    samples: list[Sample]


@dataclass(frozen=True, slots=True)
class LineError:
    """One refused line: number, reason, the raw bytes (truncated)."""

    number: int
    reason: str
    raw: bytes


@dataclass(slots=True)
class ParseResult:
    """Everything parsed from one body, in input order: every good line, the first bad ones (`errors`),
    and how many bad lines there were in all (`error_count`, ≥ len(errors))."""

    lines: list[ParsedLine] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    skipped_string_fields: int = 0
    error_count: int = 0
    last_error_line: int = 0

    def refuse(self, number: int, reason: str, raw: bytes, max_errors: int) -> None:
        """Count a bad line; keep it (reason, raw bytes) only while fewer than `max_errors` are kept."""
        self.error_count += 1
        self.last_error_line = number
        if len(self.errors) < max_errors:
            self.errors.append(LineError(number, reason, raw[:RAW_BYTES]))


def _prometheus_name(text: str, bad_char: re.Pattern) -> str:
    name = bad_char.sub("_", text)
    return "_" + name if name[0].isdigit() else name


# Names repeat on every line, and the C lru_cache is cheaper than the regex. Its keys are the
# sender's strings, so only short ones are cached (longer names are refused by ingest/validate.py
# anyway): a cache holds at most MAXSIZE × (key + result + ~250 bytes of entry) ≈ 13 MB.
_CACHED_NAME_CHARS = 256
_CACHED_LABEL_CHARS = 128
_NAMES_MAXSIZE = 16_384


@functools.lru_cache(maxsize=_NAMES_MAXSIZE)
def _metric_name(measurement: str, field_key: str) -> str:
    return _prometheus_name(f"{measurement}_{field_key}", NOT_METRIC_NAME_CHAR)


@functools.lru_cache(maxsize=_NAMES_MAXSIZE)
def _label_name(key: str) -> str:
    return _prometheus_name(key, NOT_LABEL_NAME_CHAR)


def metric_name(measurement: str, field_key: str) -> str:
    """`{measurement}_{field}` with characters outside [a-zA-Z0-9_:] replaced by `_`."""
    if len(measurement) + len(field_key) < _CACHED_NAME_CHARS:
        return _metric_name(measurement, field_key)
    return _metric_name.__wrapped__(measurement, field_key)


def label_name(key: str) -> str:
    """A tag key made a valid Prometheus label name."""
    return _label_name(key) if len(key) <= _CACHED_LABEL_CHARS else _label_name.__wrapped__(key)


def parse(payload: bytes, precision: str = "ns", now_ns: int = 0,
          max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, max_errors: int = MAX_ERRORS) -> ParseResult:
    """Parse a whole body, keeping the first `max_errors` bad lines and counting the rest;
    ValueError only for an unknown precision (the request's fault, not a line's)."""
    factor = PRECISION_TO_MS.get(precision)
    if factor is None:
        raise ValueError(f"precision '{precision}' is not one of {', '.join(sorted(PRECISION_TO_MS))}")
    multiply, divide = factor
    default_ms = now_ns // 1_000_000
    result = ParseResult()
    types: dict[tuple[str, str], tuple[str, int]] = {}
    for number, raw in enumerate(payload.split(b"\n"), start=1):
        if len(raw) > max_line_bytes:
            result.refuse(number, f"line is {len(raw)} bytes; the limit is {max_line_bytes}", raw, max_errors)
            continue
        stripped = raw.strip()
        if not stripped or stripped[0] == 35:  # blank or a '#' comment
            continue
        try:
            text = stripped.decode()
        except UnicodeDecodeError as exc:
            result.refuse(number, f"not valid UTF-8 at byte {exc.start + 1}", raw, max_errors)
            continue
        try:
            if "\\" in text or '"' in text:
                measurement, tags, fields, stamp = _scan(text)
            else:
                measurement, tags, fields, stamp = _split(text)
            samples, skipped = _samples(measurement, tags, fields, stamp, default_ms, multiply, divide,
                                        types, number)
        except LineSyntaxError as exc:
            result.refuse(number, str(exc), raw, max_errors)
            continue
        result.skipped_string_fields += skipped
        if samples:
            result.lines.append(ParsedLine(number, samples))
    return result


def _split(text: str) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]], str | None]:
    """Fast path for lines with no escapes and no string fields."""
    parts = text.split(" ")
    if len(parts) == 2:
        head, field_text = parts
        stamp = None
    elif len(parts) == 3:
        head, field_text, stamp = parts
    else:
        if len(parts) < 2:
            raise LineSyntaxError("missing field set: expected 'measurement[,tag=value] field=value [timestamp]'")
        raise LineSyntaxError(f"expected 'measurement[,tags] fields [timestamp]' separated by single spaces, "
                              f"found {len(parts) - 1} spaces")
    tag_parts = head.split(",")
    tags = []
    for pair in tag_parts[1:]:
        key, eq, value = pair.partition("=")
        if not eq or "=" in value:
            raise LineSyntaxError(f"invalid tag '{pair}': expected key=value")
        tags.append((key, value))
    fields = []
    for pair in field_text.split(","):
        key, eq, value = pair.partition("=")
        if not eq:
            raise LineSyntaxError(f"invalid field '{pair}': expected key=value")
        fields.append((key, value))
    return tag_parts[0], tags, fields, stamp


def _scan(text: str) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]], str | None]:
    """Escape-aware path: backslash escapes in names and tag values, quoted string fields."""
    n = len(text)
    i = 0

    def read(stops: str, what: str) -> str:
        nonlocal i
        out = []
        while i < n:
            ch = text[i]
            if ch == "\\":
                if i + 1 >= n:
                    raise LineSyntaxError(f"bad escape: backslash at the end of the line in {what}")
                nxt = text[i + 1]
                if nxt in ", =\\":
                    out.append(nxt)
                else:  # InfluxDB keeps an unknown escape as written
                    out.append("\\" + nxt)
                i += 2
                continue
            if ch in stops:
                break
            out.append(ch)
            i += 1
        return "".join(out)

    measurement = read(", ", "the measurement")
    tags = []
    while i < n and text[i] == ",":
        i += 1
        key = read("=, ", "a tag key")
        if i >= n or text[i] != "=":
            raise LineSyntaxError(f"invalid tag '{key}': expected key=value")
        i += 1
        tags.append((key, read(", =", f"tag '{key}'")))
        if i < n and text[i] == "=":
            raise LineSyntaxError(f"invalid tag '{key}': unescaped '=' in its value")
    if i >= n or text[i] != " ":
        raise LineSyntaxError("missing field set: expected 'measurement[,tag=value] field=value [timestamp]'")
    i += 1
    fields = []
    while True:
        key = read("=, ", "a field key")
        if i >= n or text[i] != "=":
            raise LineSyntaxError(f"invalid field '{key}': expected key=value")
        i += 1
        if i < n and text[i] == '"':
            fields.append((key, _quoted(text, i, key)))
            i = _quoted_end(text, i)
        else:
            start = i
            while i < n and text[i] not in ", ":
                i += 1
            fields.append((key, text[start:i]))
        if i < n and text[i] == ",":
            i += 1
            continue
        break
    stamp = None
    if i < n:
        if text[i] != " ":
            raise LineSyntaxError(f"unexpected '{text[i]}' after the field set")
        stamp = text[i + 1:]
    return measurement, tags, fields, stamp


def _quoted_end(text: str, start: int) -> int:
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    return len(text) + 1


def _quoted(text: str, start: int, key: str) -> str:
    """A string field value, kept with its quotes (they mark it as a string), escapes resolved."""
    end = _quoted_end(text, start)
    if end > len(text):
        raise LineSyntaxError(f"unterminated string value of field '{key}'")
    return '"' + text[start + 1:end - 1].replace('\\"', '"').replace("\\\\", "\\") + '"'


def _samples(measurement: str, tags: list[tuple[str, str]], fields: list[tuple[str, str]], stamp: str | None,
             default_ms: int, multiply: int, divide: int, types: dict, number: int) -> tuple[list[Sample], int]:
    if not measurement:
        raise LineSyntaxError("missing measurement name")
    labels: dict[str, str] = {}
    for key, value in tags:
        if not key:
            raise LineSyntaxError("empty tag key")
        if not value:
            raise LineSyntaxError(f"tag '{key}' has no value")
        name = _label_name(key) if len(key) <= _CACHED_LABEL_CHARS else _label_name.__wrapped__(key)
        if name in labels:
            first = next(k for k, _ in tags if label_name(k) == name)
            if first == key:
                raise LineSyntaxError(f"duplicate tag '{key}'")
            raise LineSyntaxError(f"tags '{first}' and '{key}' both become label '{name}'")
        labels[name] = value
    if stamp is None or stamp == "":
        ts = default_ms
    else:
        if not (stamp.isdigit() or (stamp[0] == "-" and stamp[1:].isdigit())):
            raise LineSyntaxError(f"invalid timestamp '{stamp[:40]}': expected an integer")
        raw_ts = int(stamp)
        if not -(2**63) <= raw_ts < 2**63:
            raise LineSyntaxError(f"timestamp '{stamp[:40]}' is out of range (a signed 64-bit integer)")
        ts = raw_ts * multiply // divide
    samples: list[Sample] = []
    skipped = 0
    for key, text in fields:
        if not key:
            raise LineSyntaxError("empty field key")
        if not text:
            raise LineSyntaxError(f"field '{key}' has no value")
        value, kind = _field_value(key, text)
        type_key = (measurement, key)
        seen = types.get(type_key)
        if seen is None:
            types[type_key] = (kind, number)
        elif seen[0] != kind:
            raise LineSyntaxError(f"field type conflict: field '{key}' of measurement '{measurement}' is "
                                  f"{_TYPE_NAMES[seen[0]]} in line {seen[1]} but {_TYPE_NAMES[kind]} here")
        if value is None:
            skipped += 1
            continue
        name = (_metric_name(measurement, key) if len(measurement) + len(key) < _CACHED_NAME_CHARS
                else _metric_name.__wrapped__(measurement, key))
        samples.append({"series_id": 0, "name": name, "labels": labels,
                        "value": value, "timestamp_ms": ts})
    return samples, skipped


def _field_value(key: str, text: str) -> tuple[float | None, str]:
    """(value, type) of one field; strings are (None, 's') — they are not metrics."""
    last = text[-1]
    if text[0] == '"':
        return None, "s"
    if last == "i" or last == "u":
        digits = text[:-1]
        if not (digits.isdigit() or (last == "i" and digits[:1] == "-" and digits[1:].isdigit())):
            raise LineSyntaxError(f"invalid {'integer' if last == 'i' else 'unsigned'} value '{text[:40]}' "
                                  f"for field '{key}'")
        number = int(digits)
        if (last == "i" and not -(2**63) <= number < 2**63) or (last == "u" and number >= 2**64):
            raise LineSyntaxError(f"value '{text[:40]}' of field '{key}' is out of range")
        return float(number), last
    if text in _TRUE:
        return 1.0, "b"
    if text in _FALSE:
        return 0.0, "b"
    if not _FLOAT_CHARS.issuperset(text):
        raise LineSyntaxError(f"invalid value '{text[:40]}' for field '{key}': expected a number, "
                              "12i, 12u, a \"string\" or a boolean")
    try:
        value = float(text)
    except ValueError:
        raise LineSyntaxError(f"invalid number '{text[:40]}' for field '{key}'") from None
    if value in (float("inf"), float("-inf")):
        raise LineSyntaxError(f"number '{text[:40]}' of field '{key}' is out of range for a float")
    return value, "f"
