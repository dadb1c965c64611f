"""Malformed (now and then valid) request bodies for ingest's protocols, each one reproducible from a seed.

`make_case(protocol, seed, index, now_ms)` is a pure function: the same four arguments give the same
path, headers and body, so a failing case found in CI replays alone (`python -m tests.ingest.fuzz_bodies
otlp SEED INDEX NOW_MS` prints it). A case starts from a body built with the real encoders (the
protobuf classes ingest itself uses, opentelemetry-proto, cramjam's snappy, gzip), often with hostile
values in valid positions (NaN/±Inf, huge numbers, overlong or non-Prometheus names, scale and offset
extremes), then goes through a few mutators: byte-level (bit flips, truncation, duplicated, deleted or
inserted spans, invalid UTF-8, random bytes), protobuf wire-level (wrong wire types, lying length
prefixes, corrupted strings, deep group nesting, repeated fields), compression-level (bad or lying
snappy, gzip of garbage, truncated gzip) and header-level (wrong Content-Type/-Encoding, proto=).
`recipe` lists the steps taken, so a report says how the body was made as well as what it is.
"""

from __future__ import annotations

import gzip
import json
import math
import random
import re
import struct
import sys
from dataclasses import dataclass, field

import cramjam
from google.protobuf import json_format
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from ingest.remote_write.config import PROTO_V2, STALE_NAN_BITS
from ingest.remote_write.prompb.remote_pb2 import WriteRequest
from ingest.remote_write.prompb.write_v2_pb2 import Request

PROTOCOLS = ("influx", "remote_write_v1", "remote_write_v2", "otlp", "statsd")
LARGE_ONE_IN = 250  # one case in this many is large (tens to hundreds of KiB); the rest stay small

STALE_NAN = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
HOSTILE_FLOATS = (math.nan, math.inf, -math.inf, STALE_NAN, 0.0, -0.0, 1.7976931348623157e308, -1.7976931348623157e308,
                  5e-324, 1e-310, 2.0 ** 53 + 1)
HOSTILE_INTS = (0, 1, -1, 2**31 - 1, -2**31, 2**32, 2**53 + 1, 2**62, 2**63 - 1, -2**63)
HOSTILE_UINT64 = (0, 1, 2**32 - 1, 2**53 + 1, 2**63, 2**64 - 1)
NUMBER_TOKENS = ("NaN", "nan", "-nan", "Inf", "+Inf", "-Inf", "inf", "Infinity", "-Infinity", "1e309", "-1e309",
                 "1e-400", "9" * 400, "-0", "0x10", "1_000", "\u0661", "18446744073709551616", "9223372036854775808",
                 "-9223372036854775809", "1.7976931348623157e308", "4.9e-324", "", " 1", "1e", "e1", ".", "-", "+",
                 "1.2.3", "0b1", "١٢", "00001", "1e+", "--1")
TEXT_TOKENS = (b"\xff\xfe", b"\x00", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", "é".encode(),
               "\u2028".encode(), "🔥".encode(), b"\r", b"\r\n", b"\n", b"\\", b'"', b",", b"=", b" ", b"#", b"|",
               b":", b"@", b"{", b"}", b"[", b"]", b"\t", b"\\\n", b"\x7f", b"%s%n", b"a" * 300, b"v" * 3000)
GOOD_NAMES = ("cpu_usage", "http_requests_total", "node_load1", "up", "queue_depth", "temp", "disk_io")
HOSTILE_NAMES = ("", "bad-name", "0starts_with_digit", "a.b.c", "x" * 300, "é", "__name__", "le", "a b", "a\nb",
                 "a\\", "a,b", "a=b", "\u0000", "名前", "_", ":", "a:b", "🔥", "x" * 129)


@dataclass(frozen=True, slots=True)
class Case:
    """One request to send: where, with which headers and body, and how the body was made."""

    protocol: str
    index: int
    recipe: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


def make_case(protocol: str, seed: int, index: int, now_ms: int) -> Case:
    """Case number `index` of `protocol` in the run seeded with `seed` (valid seeds are stamped near now_ms)."""
    rng = random.Random(f"{protocol}/{seed}/{index}")
    steps: list[str] = []
    path, headers, params, body = _MAKERS[protocol](rng, now_ms, steps, rng.randrange(LARGE_ONE_IN) == 0)
    return Case(protocol, index, ">".join(steps), path, body, headers, params)


# --- shared mutators ---------------------------------------------------------------------------------

def _choice(rng: random.Random, good, hostile, p_hostile: float):
    return rng.choice(hostile) if rng.random() < p_hostile else rng.choice(good)


def _count(rng: random.Random, hostile: bool, many: int = 70) -> int:
    """How many labels/tags/attributes: a few, now and then (hostile) more than the limit of 64."""
    return many if hostile and rng.random() < 0.03 else rng.choice((0, 1, 2, 3))


def _span(rng: random.Random, data: bytes | bytearray) -> tuple[int, int]:
    start = rng.randrange(len(data) + 1)
    return start, min(len(data), start + rng.choice((1, 2, 4, 8, 32, 256)))


def _mutate_bytes(rng: random.Random, data: bytes, steps: list[str], rounds: int) -> bytes:
    """`rounds` generic byte-level mutations (never more than doubles a small body)."""
    out = bytearray(data)
    for _ in range(rounds):
        how = rng.choice(("bitflip", "truncate", "delete", "duplicate", "insert_token", "replace_token",
                          "random_span", "swap_halves"))
        steps.append(how)
        if not out and how != "insert_token":
            how = "insert_token"
        if how == "bitflip":
            for _ in range(rng.choice((1, 1, 2, 4, 8))):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif how == "truncate":
            del out[rng.randrange(len(out)):]
        elif how == "delete":
            start, end = _span(rng, out)
            del out[start:end]
        elif how == "duplicate":
            start, end = _span(rng, out)
            at = rng.randrange(len(out) + 1)
            out[at:at] = out[start:end] * rng.choice((1, 2, 16))
        elif how == "insert_token":
            at = rng.randrange(len(out) + 1)
            out[at:at] = rng.choice(TEXT_TOKENS)
        elif how == "replace_token":
            start, end = _span(rng, out)
            out[start:end] = rng.choice(TEXT_TOKENS + tuple(t.encode() for t in NUMBER_TOKENS))
        elif how == "random_span":
            start, end = _span(rng, out)
            out[start:end] = rng.randbytes(end - start or 1)
        else:
            half = len(out) // 2
            out = out[half:] + out[:half]
    return bytes(out)


def _random_body(rng: random.Random, steps: list[str]) -> bytes:
    steps.append("random_bytes")
    size = rng.choice((0, 1, 2, 5, 16, 100, 500, 2000))
    if rng.random() < 0.3:  # printable garbage gets further into text parsers than binary noise
        return bytes(rng.choice(b"abcxyz019_.,:|=# \n\\\"{}[]-+eE@") for _ in range(size))
    return rng.randbytes(size)


def _gzip_variant(rng: random.Random, body: bytes, steps: list[str]) -> tuple[bytes, str]:
    """(body, Content-Encoding): valid gzip, gzip of garbage, truncated or corrupt gzip, or a wrong encoding."""
    how = rng.choice(("gzip", "gzip", "gzip_garbage", "gzip_truncated", "gzip_corrupt", "not_gzip", "unknown"))
    steps.append(how)
    if how == "gzip":
        return gzip.compress(body, compresslevel=1), "gzip"
    if how == "gzip_garbage":
        return gzip.compress(rng.randbytes(rng.choice((0, 10, 500))), compresslevel=1), "gzip"
    if how == "gzip_truncated":
        packed = gzip.compress(body, compresslevel=1)
        return packed[:rng.randrange(len(packed))], "gzip"
    if how == "gzip_corrupt":
        packed = bytearray(gzip.compress(body, compresslevel=1))
        packed[rng.randrange(len(packed))] ^= 0xFF
        return bytes(packed), "gzip"
    if how == "not_gzip":
        return body, "gzip"
    return body, rng.choice(("br", "deflate", "zstd", "snappy", "GZIP", "gzip;q=1", "gzip, gzip", "x-gzip", "*"))


# --- protobuf wire-level mutators --------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value = shift = 0
    while pos < len(data) and shift < 70:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    return None


def _wire_fields(data: bytes, base: int = 0, depth: int = 0, out: list | None = None) -> list:
    """Every field found walking `data` as a message (LEN payloads tried as messages too): (tag_at,
    wire_type, len_at, payload_start, end), positions absolute in the outermost buffer."""
    out = [] if out is None else out
    pos = 0
    while pos < len(data):
        tag = _read_varint(data, pos)
        if tag is None or tag[0] >> 3 == 0:
            return out
        wire_type, after = tag[0] & 7, tag[1]
        if wire_type == 0:
            value = _read_varint(data, after)
            if value is None:
                return out
            start = end = value[1]
        elif wire_type in (1, 5):
            start = end = after + (8 if wire_type == 1 else 4)
        elif wire_type == 2:
            length = _read_varint(data, after)
            if length is None:
                return out
            start, end = length[1], length[1] + length[0]
        else:
            return out
        if end > len(data):
            return out
        out.append((base + pos, wire_type, base + after, base + start, base + end))
        if wire_type == 2 and depth < 8 and end > start:
            _wire_fields(data[start:end], base + start, depth + 1, out)
        pos = end
    return out


def _mutate_wire(rng: random.Random, data: bytes, steps: list[str], rounds: int) -> bytes:
    """Structure-aware protobuf mutations: wrong wire types, lying lengths, bad strings, repeats, deep groups."""
    out = bytes(data)
    for _ in range(rounds):
        fields = _wire_fields(out)
        how = rng.choice(("wrong_wire_type", "lying_length", "corrupt_string", "repeat_field", "deep_groups",
                          "unknown_field", "overlong_varint"))
        steps.append(how)
        if how == "deep_groups":
            depth = rng.choice((10, 99, 101, 1000, 5000))
            number = rng.choice((1, 2, 15, 1000))
            groups = _varint(number << 3 | 3) * depth + _varint(number << 3 | 4) * depth
            at = rng.choice([0, len(out)] + [f[0] for f in fields[:50]])
            out = out[:at] + groups + out[at:]
            continue
        if how == "unknown_field":
            number = rng.choice((2, 7, 99, 536870911))
            wire_type = rng.choice((0, 1, 2, 5, 6, 7))
            payload = {0: _varint(rng.choice(HOSTILE_UINT64)), 1: rng.randbytes(8), 5: rng.randbytes(4)}.get(
                wire_type, _varint(rng.choice((0, 5, 2**31))) + rng.randbytes(rng.choice((0, 5))))
            at = rng.choice([0, len(out)] + [f[0] for f in fields[:50]])
            out = out[:at] + _varint(number << 3 | wire_type) + payload + out[at:]
            continue
        if not fields:
            out = _mutate_bytes(rng, out, steps, 1)
            continue
        tag_at, wire_type, len_at, start, end = rng.choice(fields)
        if how == "wrong_wire_type":
            wrong = rng.choice([w for w in range(8) if w != wire_type])
            out = out[:tag_at] + bytes([(out[tag_at] & ~7) | wrong]) + out[tag_at + 1:]
        elif how == "lying_length" and wire_type == 2:
            real = end - start
            lie = rng.choice((real + 1, real + 100, max(0, real - 1), 0, 2**31 - 1, 2**32 + real, 2**63, 2**64 - 1))
            out = out[:len_at] + _varint(lie) + out[start:]
        elif how == "corrupt_string" and end > start:
            at = rng.randrange(start, end)
            out = out[:at] + rng.choice((b"\xff", b"\xc0", b"\xed", b"\x80")) + out[at + 1:]
        elif how == "repeat_field":
            copies = rng.choice((2, 10, 100)) if end - tag_at < 200 else 2
            out = out[:tag_at] + out[tag_at:end] * copies + out[end:]
        elif how == "overlong_varint" and wire_type == 2:
            length = end - start  # same length in 11 bytes (protobuf allows 10)
            padded = bytes(b | 0x80 for b in _varint(length)[:-1]) + bytes([_varint(length)[-1] | 0x80])
            out = out[:len_at] + padded + b"\x80" * (10 - len(padded)) + b"\x00" + out[start:]
        else:
            out = _mutate_bytes(rng, out, steps, 1)
    return out


# --- Influx line protocol ----------------------------------------------------------------------------

_PRECISIONS = {"ns": 1_000_000, "us": 1_000, "ms": 1, "s": 1 / 1000, "n": 1_000_000, "u": 1_000, "m": 1 / 60_000,
               "h": 1 / 3_600_000}
INFLUX_HOSTILE_MEASUREMENTS = ("cpu\\ load", "m\\,x", "#comment", "é", "a" * 300, "9lives", "m\\=")
INFLUX_HOSTILE_KEYS = ("", "h\\ k", "x" * 200, "_", "9k")
INFLUX_HOSTILE_TAG_VALUES = ("", "v" * 3000, "a\\,b", "é", "\\")
INFLUX_HOSTILE_FIELD_KEYS = ("", "a b", "f" * 300, "value")


def _influx_seed(rng: random.Random, now_ms: int, precision: str, lines: int) -> bytes:
    out = []
    hostile = rng.random() < 0.5
    p = 0.2 if hostile else 0.0
    for _ in range(lines):
        parts = [_choice(rng, GOOD_NAMES, INFLUX_HOSTILE_MEASUREMENTS, p)]
        for _ in range(_count(rng, hostile)):
            key = _choice(rng, ("host", "region", "core"), INFLUX_HOSTILE_KEYS, p)
            parts.append(f",{key}={_choice(rng, ('web-1', 'eu', '0'), INFLUX_HOSTILE_TAG_VALUES, p)}")
        fields = []
        for f in range(rng.choice((1, 1, 2, 3))):
            value = rng.choice((f"{rng.uniform(-1e3, 1e3):.3f}", f"{rng.randrange(-99, 99)}i", f"{rng.randrange(99)}u",
                                "true", "F", '"text"', '"esc\\"aped"'))
            if hostile and rng.random() < 0.3:
                value = rng.choice(NUMBER_TOKENS) + rng.choice(("", "", "i", "u"))
            key = _choice(rng, ("value", "usage", "count"), INFLUX_HOSTILE_FIELD_KEYS, p)
            fields.append(f"{key}{f if rng.random() < 0.5 else ''}={value}")
        parts.append(" " + ",".join(fields))
        stamp = int(now_ms * _PRECISIONS[precision]) + rng.randrange(-1000, 1000)
        if hostile and rng.random() < 0.3:
            stamp = rng.choice(HOSTILE_INTS + (10**30, -1, 0))
        if rng.random() < 0.8:
            parts.append(f" {stamp}")
        out.append("".join(parts))
        if rng.random() < 0.05:
            out.append(rng.choice(("# a comment", "", "   ", "\r")))
    return rng.choice(("\n", "\n", "\r\n", "\n\n")).join(out).encode()


def _influx(rng: random.Random, now_ms: int, steps: list[str], large: bool):
    path = rng.choice(("/write", "/api/v2/write"))
    v2 = path == "/api/v2/write"
    precision = rng.choice(("ns", "us", "ms", "s") if v2 else ("n", "u", "ms", "s", "m", "h"))
    params = {"bucket": "b", "org": "o"} if v2 else {"db": "d"}
    if rng.random() < 0.8:
        params["precision"] = precision
    else:
        precision = "ns"  # the default (a v1 body stamped in ns is what clients send without a precision)
    if rng.random() < 0.05:
        steps.append("bad_precision")
        params["precision"] = rng.choice(("fortnight", "", "NS", "n" if v2 else "ns", "ms ", "1s", "\u00b5s"))
    if large:
        steps.append("large")
        body = _influx_seed(rng, now_ms, precision, rng.choice((500, 2000, 5000)))
    elif rng.random() < 0.1:
        body = _random_body(rng, steps)
    else:
        steps.append("lines")
        body = _influx_seed(rng, now_ms, precision, rng.choice((1, 1, 2, 5, 20)))
        if rng.random() < 0.9:
            body = _mutate_bytes(rng, body, steps, rng.choice((1, 1, 2, 3)))
    headers = {}
    if rng.random() < 0.15:
        body, headers["Content-Encoding"] = _gzip_variant(rng, body, steps)
    if rng.random() < 0.05:
        steps.append("content_type")
        headers["Content-Type"] = rng.choice(("application/json", "text/plain; charset=utf-16",
                                              "application/x-protobuf", "", "multipart/form-data; boundary=x"))
    return path, headers, params, body


# --- Prometheus remote write 1.0 and 2.0 -------------------------------------------------------------

def _labels(rng: random.Random, hostile: bool) -> list[tuple[str, str]]:
    p = 0.15 if hostile else 0.0
    labels = [("__name__", _choice(rng, GOOD_NAMES, HOSTILE_NAMES, p))] if rng.random() > p / 2 else []
    for _ in range(_count(rng, hostile, 80)):
        labels.append((_choice(rng, ("job", "instance", "le", "code", "path"), HOSTILE_NAMES, p),
                       _choice(rng, ("api", "a:9100", "0.5", "+Inf", "200"), ("", "v" * 3000, "é", "\x00", "\n"), p)))
    if hostile and labels and rng.random() < 0.1:
        labels.append(rng.choice(labels))  # a repeated label name
    return labels


def _points(rng: random.Random, now_ms: int, hostile: bool) -> list[tuple[float, int]]:
    points = []
    for _ in range(rng.choice((0, 1, 1, 1, 2, 5))):
        value = rng.choice(HOSTILE_FLOATS) if hostile and rng.random() < 0.3 else rng.uniform(-1e6, 1e6)
        stamp = rng.choice(HOSTILE_INTS) if hostile and rng.random() < 0.2 else now_ms - rng.randrange(60_000)
        points.append((value, stamp))
    return points


def _rw1_seed(rng: random.Random, now_ms: int, series: int) -> bytes:
    req = WriteRequest()
    hostile = rng.random() < 0.5
    for _ in range(series):
        ts = req.timeseries.add()
        for name, value in _labels(rng, hostile):
            ts.labels.add(name=name, value=value)
        for value, stamp in _points(rng, now_ms, hostile):
            ts.samples.add(value=value, timestamp=stamp)
        if rng.random() < 0.1:
            ts.exemplars.add(value=1.0, timestamp=now_ms).labels.add(name="trace_id", value="abc")
    if rng.random() < 0.1:
        req.metadata.add(type=rng.randrange(8), metric_family_name="up", help="h" * rng.choice((1, 3000)), unit="s")
    return req.SerializeToString()


def _rw2_seed(rng: random.Random, now_ms: int, series: int) -> bytes:
    hostile = rng.random() < 0.5
    req = Request(symbols=[""] if not hostile or rng.random() > 0.05 else [rng.choice(("x", "__name__"))])
    index = {s: i for i, s in enumerate(req.symbols)}

    def ref(text: str) -> int:
        if text not in index:
            index[text] = len(req.symbols)
            req.symbols.append(text)
        return index[text]
    for _ in range(series):
        ts = req.timeseries.add()
        for name, value in _labels(rng, hostile):
            ts.labels_refs.extend([ref(name), ref(value)])
        if hostile and rng.random() < 0.2:
            ts.labels_refs.append(rng.choice((1, len(req.symbols), 2**32 - 1, 999)))  # odd count / past the table
        for value, stamp in _points(rng, now_ms, hostile):
            ts.samples.add(value=value, timestamp=stamp)
        if rng.random() < 0.2:
            ts.metadata.type = rng.randrange(8)
            ts.metadata.help_ref = (ref("help text") if rng.random() < 0.7
                                    else rng.choice((len(req.symbols) + 5, 2**32 - 1)))
            ts.metadata.unit_ref = ref("seconds")
        if rng.random() < 0.05:
            ts.histograms.append(rng.randbytes(rng.choice((0, 20))))
        if rng.random() < 0.05:
            ts.exemplars.add(labels_refs=[ref("trace_id"), rng.choice((ref("x"), 10**6))], value=1.0, timestamp=now_ms)
        if rng.random() < 0.1:
            ts.created_timestamp = rng.choice(HOSTILE_INTS)
    return req.SerializeToString()


def _snappy_variant(rng: random.Random, payload: bytes, steps: list[str]) -> bytes:
    """The payload compressed as remote write wants (mostly), or bad, lying or wrong compression."""
    how = rng.choices(("snappy", "snappy_mutated", "lying_snappy_length", "snappy_framed", "uncompressed",
                       "gzip_instead", "snappy_garbage"), (70, 8, 6, 4, 5, 3, 4))[0]
    if how != "snappy":
        steps.append(how)
    block = bytes(cramjam.snappy.compress_raw(payload))
    if how == "snappy":
        return block
    if how == "snappy_mutated":
        return _mutate_bytes(rng, block, steps, rng.choice((1, 2)))
    if how == "lying_snappy_length":
        length = _read_varint(block, 0)
        lie = rng.choice((0, 1, length[0] + 1, max(0, length[0] - 1), 2**31, 2**32 - 1, 2**64 - 1))
        return _varint(lie) + block[length[1]:]
    if how == "snappy_framed":
        return bytes(cramjam.snappy.compress(payload))
    if how == "uncompressed":
        return payload
    if how == "gzip_instead":
        return gzip.compress(payload, compresslevel=1)
    return bytes(cramjam.snappy.compress_raw(rng.randbytes(rng.choice((1, 50, 1000)))))


def _remote_write(rng: random.Random, now_ms: int, steps: list[str], large: bool, v2: bool):
    seed = _rw2_seed if v2 else _rw1_seed
    if large:
        steps.append("large")
        payload = seed(rng, now_ms, rng.choice((1000, 3000, 8000)))
    elif rng.random() < 0.08:
        payload = _random_body(rng, steps)
    else:
        steps.append("v2_request" if v2 else "write_request")
        payload = seed(rng, now_ms, rng.choice((1, 1, 2, 3, 10)))
        if rng.random() < 0.6:
            payload = _mutate_wire(rng, payload, steps, rng.choice((1, 1, 2)))
        if rng.random() < 0.2:
            payload = _mutate_bytes(rng, payload, steps, 1)
    body = _snappy_variant(rng, payload, steps)
    content_type = f"application/x-protobuf;proto={PROTO_V2}" if v2 else "application/x-protobuf"
    headers = {"Content-Type": content_type, "Content-Encoding": "snappy",
               "X-Prometheus-Remote-Write-Version": "2.0.0" if v2 else "0.1.0"}
    if rng.random() < 0.12:
        steps.append("headers")
        which = rng.choice(("Content-Type", "Content-Encoding"))
        headers[which] = rng.choice((
            "application/json", "", "text/plain", "application/x-protobuf;proto=", "APPLICATION/X-PROTOBUF",
            "application/x-protobuf; proto=\"io.prometheus.write.v2.Request\"", "application/x-protobuf;proto=v3",
            "application/x-protobuf;;;=;proto", "application/x-protobuf;proto=prometheus.WriteRequest",
            f"application/x-protobuf;proto={PROTO_V2};proto=prometheus.WriteRequest", "gzip", "SNAPPY", "snappy;x=1",
            "snappy, gzip", "identity", "br"))
    return "/api/v1/write", headers, {}, body


# --- OTLP/HTTP metrics -------------------------------------------------------------------------------

def _any_value(rng: random.Random, value: AnyValue, hostile: bool, depth: int = 0) -> None:
    kind = rng.choice(("string", "string", "bool", "int", "double", "bytes", "array", "kvlist"))
    if depth > 2 and kind in ("array", "kvlist"):
        kind = "string"
    if kind == "string":
        value.string_value = _choice(rng, ("checkout", "pod-1", "eu"), ("", "v" * 3000, "é\u2028", "\x00"),
                                     0.2 * hostile)
    elif kind == "bool":
        value.bool_value = rng.random() < 0.5
    elif kind == "int":
        value.int_value = rng.choice(HOSTILE_INTS)
    elif kind == "double":
        value.double_value = rng.choice(HOSTILE_FLOATS)
    elif kind == "bytes":
        value.bytes_value = rng.randbytes(rng.choice((0, 4, 16)))
    elif kind == "array":
        for _ in range(rng.choice((0, 1, 3))):
            _any_value(rng, value.array_value.values.add(), hostile, depth + 1)
    else:
        for _ in range(rng.choice((0, 1, 3))):
            kv = value.kvlist_value.values.add(key=_choice(rng, ("a", "b.c"), HOSTILE_NAMES, 0.2))
            _any_value(rng, kv.value, hostile, depth + 1)


def _attributes(rng: random.Random, attributes, hostile: bool, deep: bool) -> None:
    for _ in range(_count(rng, hostile)):
        kv = attributes.add(key=_choice(rng, ("http.method", "route", "service.name", "host"), HOSTILE_NAMES,
                                        0.15 * hostile))
        _any_value(rng, kv.value, hostile)
    if deep and hostile and rng.random() < 0.05:  # nested deeper than protobuf's recursion limit, or just under it
        value = attributes.add(key="deep").value
        for _ in range(rng.choice((20, 98, 150))):
            value = value.array_value.values.add()
        value.string_value = "bottom"


def _otlp_seed(rng: random.Random, now_ms: int, metrics: int, deep: bool) -> ExportMetricsServiceRequest:
    """A request of `metrics` metrics of every kind; `deep`: attributes may nest past protobuf's recursion limit."""
    hostile = rng.random() < 0.5
    req = ExportMetricsServiceRequest()
    resource = req.resource_metrics.add()
    _attributes(rng, resource.resource.attributes, hostile, deep)
    scope = resource.scope_metrics.add()
    scope.scope.name, scope.scope.version = rng.choice((("shop", "1.0"),) * 8 + (("", ""), ("é" * 100, "x" * 3000)))
    now_ns = now_ms * 1_000_000

    def hint(good: float, pool=HOSTILE_FLOATS):
        return rng.choice(pool) if hostile and rng.random() < 0.25 else good

    for _ in range(metrics):
        metric = scope.metrics.add(name=_choice(rng, ("http.server.duration", "orders", "queue.size"), HOSTILE_NAMES,
                                                0.2 * hostile),
                                   unit=_choice(rng, ("s", "By", "1", "{req}", "By/s", ""),
                                                ("/", "{", "}{", "x/y/z", "é"), 0.2 * hostile))
        kind = rng.choice(("gauge", "sum", "histogram", "exponential_histogram", "summary", "none"))
        if kind == "none":
            continue
        data = getattr(metric, kind)
        if kind != "gauge" and kind != "summary":
            data.aggregation_temporality = rng.choice((0, 1, 2, 2, 7 if hostile else 2))
        if kind == "sum":
            data.is_monotonic = rng.random() < 0.5
        for _ in range(rng.choice((0, 1, 1, 2, 5))):
            point = data.data_points.add(time_unix_nano=int(hint(now_ns, HOSTILE_UINT64)),
                                         start_time_unix_nano=now_ns - 10**10)
            _attributes(rng, point.attributes, hostile, deep)
            if hostile and rng.random() < 0.1:
                point.flags = rng.choice((1, 2**32 - 1))
            if kind in ("gauge", "sum"):
                if rng.random() < 0.5:
                    point.as_double = hint(rng.uniform(-1e3, 1e3))
                else:
                    point.as_int = int(hint(rng.randrange(1000), HOSTILE_INTS))
            elif kind == "histogram":
                bounds = sorted(rng.uniform(0, 10) for _ in range(rng.choice((0, 1, 5))))
                if hostile and rng.random() < 0.3:
                    bounds = rng.choice(([1.0, 1.0], [2.0, 1.0], [math.nan], [math.inf], [-math.inf, 0.0], [0.0] * 500))
                point.explicit_bounds.extend(bounds)
                counts = len(bounds) + 1 + (rng.choice((-1, 1, 3)) if hostile and rng.random() < 0.2 else 0)
                point.bucket_counts.extend(int(hint(rng.randrange(10), HOSTILE_UINT64)) for _ in range(max(0, counts)))
                point.count = int(hint(sum(point.bucket_counts) % 2**64, HOSTILE_UINT64))
                point.sum = hint(rng.uniform(0, 100))
            elif kind == "exponential_histogram":
                point.scale = int(hint(rng.randrange(-2, 8), (-10, -11, 20, 21, -2**31, 2**31 - 1, -9, 19)))
                point.zero_count = rng.randrange(3)
                point.zero_threshold = hint(0.0)
                for buckets in (point.positive, point.negative):
                    buckets.offset = int(hint(rng.randrange(-5, 5), (-2**31, 2**31 - 1, 1024, -1075, 10**6)))
                    count = rng.randrange(5)
                    buckets.bucket_counts.extend([count] * (1001 if hostile and rng.random() < 0.02
                                                            else rng.choice((0, 2, 5))))
                point.count = point.zero_count + sum(point.positive.bucket_counts) + sum(point.negative.bucket_counts)
                point.sum = hint(1.5)
            else:
                for q in (0.5, 0.9, 0.99):
                    point.quantile_values.add(quantile=hint(q), value=hint(rng.uniform(0, 10)))
                point.count, point.sum = int(hint(10, HOSTILE_UINT64)), hint(12.5)
    return req


_JSON_LITERAL = re.compile(rb'"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null')
JSON_TOKENS = (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"123456789012345678901234567890", b'"abc"',
               b"null", b"true", b"[]", b"{}", b'"NaN"', b'"1e999"', b'""', b"-0", b'"-1"', b'"18446744073709551616"',
               b'{"a":1}', b"[[[[[[]]]]]]", b'"\\ud800"', b'"\\u0000"', b"01", b"1.", b".5", b"+1", b'"\xff"')


def _mutate_json(rng: random.Random, text: bytes, steps: list[str], rounds: int) -> bytes:
    """JSON-aware mutations: literals swapped for hostile ones, keys renamed, deep nesting, wrong top level."""
    for _ in range(rounds):
        how = rng.choice(("swap_literal", "swap_literal", "swap_literal", "rename_key", "deep_nesting", "top_level",
                          "duplicate_key", "bom_or_utf16"))
        steps.append(how)
        literals = list(_JSON_LITERAL.finditer(text))
        if how == "swap_literal" and literals:
            m = rng.choice(literals)
            text = text[:m.start()] + rng.choice(JSON_TOKENS) + text[m.end():]
        elif how == "rename_key":
            keys = (b'"gauge"', b'"sum"', b'"histogram"', b'"exponentialHistogram"', b'"summary"', b'"dataPoints"',
                    b'"asDouble"', b'"asInt"', b'"attributes"', b'"resourceMetrics"', b'"scopeMetrics"', b'"metrics"',
                    b'"value"', b'"stringValue"', b'"kvlistValue"', b'"arrayValue"', b'"timeUnixNano"', b'"scale"')
            found = [k for k in keys if k in text]
            if found:
                text = text.replace(rng.choice(found), rng.choice(keys + (b'"x"', b'""')), 1)
        elif how == "deep_nesting":
            depth = rng.choice((50, 99, 101, 1000, 20_000))
            inner = (b"[" * depth + b"]" * depth if depth > 1000 or rng.random() < 0.5 else
                     b'{"kvlistValue":{"values":[{"key":"k","value":' * depth + b"{}" + b"}]}}" * depth)
            literals = literals or [re.match(rb"", text)]
            m = rng.choice(literals)
            text = text[:m.start()] + inner + text[m.end():]
        elif how == "top_level":
            text = rng.choice((b"[]", b'"resourceMetrics"', b"1", b"null", b"[" + text + b"]", b"", b"{}", b"{"))
        elif how == "duplicate_key":
            text = text.replace(b"{", b'{"resourceMetrics":[],', 1) if rng.random() < 0.5 else text.replace(
                b'"metrics":', b'"metrics":[],"metrics":', 1)
        else:
            text = rng.choice((b"\xef\xbb\xbf" + text, text.decode("utf-8", "replace").encode("utf-16"),
                               text.decode("utf-8", "replace").encode("utf-32")))
    return text


def _otlp(rng: random.Random, now_ms: int, steps: list[str], large: bool):
    is_json = rng.random() < 0.4
    steps.append("json" if is_json else "protobuf")
    if large:
        steps.append("large")
        req = _otlp_seed(rng, now_ms, rng.choice((300, 1000, 3000)), not is_json)
    else:
        req = _otlp_seed(rng, now_ms, rng.choice((1, 1, 2, 3, 8)), not is_json)
    if rng.random() < 0.08 and not large:
        body = _random_body(rng, steps)
    elif is_json:
        body = json_format.MessageToJson(req, indent=None).encode()
        if rng.random() < 0.75:
            body = _mutate_json(rng, body, steps, rng.choice((1, 1, 2)))
        if rng.random() < 0.2:
            body = _mutate_bytes(rng, body, steps, 1)
    else:
        body = req.SerializeToString()
        if rng.random() < 0.6:
            body = _mutate_wire(rng, body, steps, rng.choice((1, 1, 2)))
        if rng.random() < 0.2:
            body = _mutate_bytes(rng, body, steps, 1)
    headers = {"Content-Type": "application/json" if is_json else "application/x-protobuf"}
    if rng.random() < 0.15:
        body, headers["Content-Encoding"] = _gzip_variant(rng, body, steps)
    if rng.random() < 0.1:
        steps.append("content_type")
        headers["Content-Type"] = rng.choice((
            "application/json; charset=utf-8", "APPLICATION/JSON", "application/x-protobuf; proto=x", "text/plain", "",
            "application/grpc", "application/json" if not is_json else "application/x-protobuf", "application/*"))
    return "/v1/metrics", headers, {}, body


# --- StatsD ------------------------------------------------------------------------------------------

def _statsd_line(rng: random.Random, hostile: bool) -> str:
    name = _choice(rng, ("api.hits", "checkout.ms", "queue", "users", "shop.orders"),
                   HOSTILE_NAMES + ("_sc", "_e{1,2}"), 0.2 * hostile)
    kind = _choice(rng, ("c", "g", "ms", "h", "s", "d"), ("", "zz", "C", "c ", "ms|ms", "g:1"), 0.15 * hostile)
    values = [f"{rng.uniform(-100, 100):.2f}" if kind != "s" else rng.choice(("ann", "bob", "1:2"))
              for _ in range(rng.choice((1, 1, 1, 3)))]
    if kind == "g" and rng.random() < 0.3:
        values = [rng.choice("+-") + values[0].lstrip("-")]
    if hostile and rng.random() < 0.3:
        values[0] = rng.choice(NUMBER_TOKENS)
    line = f"{name}:{':'.join(values)}|{kind}"
    if rng.random() < 0.2:
        line += f"|@{_choice(rng, ('0.1', '0.5', '1'), ('0', '-1', '2', 'NaN', 'inf', '', '1e-320'), 0.3 * hostile)}"
    if rng.random() < 0.3:
        tags = [f"{_choice(rng, ('env', 'host'), ('', 'é', 'x' * 200, 'a.b'), 0.2 * hostile)}:"
                f"{_choice(rng, ('prod', 'web-1'), ('', 'v' * 3000, ':'), 0.2 * hostile)}"
                for _ in range(_count(rng, hostile) or 1)]
        line += "|#" + ",".join(tags + (["canary", ""] if rng.random() < 0.2 else []))
    if rng.random() < 0.05:
        line += rng.choice(("|c:abc123", "|T1700000000", "|T-1", "|Tnope", "|e:x", "|card:high", "|"))
    return line


def _statsd(rng: random.Random, now_ms: int, steps: list[str], large: bool):
    if rng.random() < 0.1 and not large:
        return "udp", {}, {}, _random_body(rng, steps)
    steps.append("large" if large else "lines")
    hostile = rng.random() < 0.5
    count = rng.choice((600, 1500)) if large else rng.choice((1, 1, 2, 5, 10))
    lines = [_statsd_line(rng, hostile) for _ in range(count)]
    body = rng.choice(("\n", "\r\n")).join(lines).encode()[:60_000]
    if rng.random() < 0.85:
        body = _mutate_bytes(rng, body, steps, rng.choice((1, 1, 2, 3)))
    return "udp", {}, {}, body[:65_000]


_MAKERS = {
    "influx": _influx,
    "remote_write_v1": lambda rng, now_ms, steps, large: _remote_write(rng, now_ms, steps, large, v2=False),
    "remote_write_v2": lambda rng, now_ms, steps, large: _remote_write(rng, now_ms, steps, large, v2=True),
    "otlp": _otlp,
    "statsd": _statsd,
}


if __name__ == "__main__":  # python -m tests.ingest.fuzz_bodies PROTOCOL SEED INDEX NOW_MS
    found = make_case(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    print(json.dumps({"path": found.path, "headers": found.headers, "params": found.params, "recipe": found.recipe,
                      "body_hex": found.body.hex()}, indent=1))
