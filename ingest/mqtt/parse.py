"""MQTT payloads → samples: pure. Zigbee2MQTT device states and generic JSON or numeric payloads.

Zigbee2MQTT (https://www.zigbee2mqtt.io/guide/usage/mqtt_topics_and_messages.html) publishes a
device's state as JSON on `zigbee2mqtt/<friendly_name>`. Mapping, predictable for any device:
- numbers → one sample each, named `<prefix>_<key>`;
- booleans → 0/1; the state strings Zigbee2MQTT uses (`ON`/`OFF`, `OPEN`/`CLOSE(D)`,
  `LOCK`/`UNLOCK`, `online`/`offline`, …) → 1/0; other strings are skipped and counted;
- nested objects are flattened with `_` (`{"color": {"x": 0.3}}` → `<prefix>_color_x`);
  lists are skipped.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from kernel.names import NOT_METRIC_NAME_CHAR
from schemas.records import Sample

STATE_WORDS = {"on": 1.0, "off": 0.0, "open": 1.0, "close": 0.0, "closed": 0.0, "lock": 1.0, "locked": 1.0,
               "unlock": 0.0, "unlocked": 0.0, "online": 1.0, "offline": 0.0, "true": 1.0, "false": 0.0,
               "detected": 1.0, "clear": 0.0, "occupied": 1.0, "unoccupied": 0.0}
MAX_DEPTH = 8


class PayloadError(ValueError):
    """A payload that can't be read (not JSON where JSON is expected, not a number)."""


@dataclass(slots=True)
class Values:
    """Numbers found in one payload by metric-name suffix, and how many values were skipped."""

    numbers: dict[str, float] = field(default_factory=dict)
    skipped: int = 0


def _suffix(key: str) -> str:
    return NOT_METRIC_NAME_CHAR.sub("_", key).strip("_") or "value"


def _number(value) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, str):
        return STATE_WORDS.get(value.strip().lower())
    return None


def flatten(document: dict, prefix: str = "", depth: int = 0, into: Values | None = None) -> Values:
    """Every usable number of a JSON object by flattened key (`color_x`), the rest counted as skipped."""
    into = into or Values()
    for key, value in document.items():
        name = f"{prefix}_{_suffix(key)}" if prefix else _suffix(key)
        if isinstance(value, dict):
            if depth < MAX_DEPTH:
                flatten(value, name, depth + 1, into)
            continue
        number = _number(value)
        if number is None:
            into.skipped += 1
        else:
            into.numbers[name] = number
    return into


def json_object(payload: bytes) -> dict:
    """The payload as a JSON object, or PayloadError saying what it is instead."""
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError(f"payload is not JSON: {str(exc)[:200]}") from None
    if not isinstance(document, dict):
        raise PayloadError(f"payload is JSON {type(document).__name__}, expected an object")
    return document


def zigbee_state(payload: bytes, prefix: str, labels: dict[str, str], now_ms: int) -> tuple[list[Sample], int]:
    """Samples of a Zigbee2MQTT device state message, and the count of values skipped."""
    values = flatten(json_object(payload))
    samples = [{"series_id": 0, "name": f"{prefix}_{suffix}", "labels": labels, "value": value,
                "timestamp_ms": now_ms} for suffix, value in values.numbers.items()]
    return samples, values.skipped


def availability_state(payload: bytes) -> bool:
    """Zigbee2MQTT availability: `online`/`offline`, plain or as {"state": "online"}."""
    text = payload.decode(errors="replace").strip()
    if text.startswith("{"):
        text = str(json_object(payload).get("state", ""))
    state = text.strip().lower()
    if state not in ("online", "offline"):
        raise PayloadError(f"availability is {text[:40]!r}, expected online or offline")
    return state == "online"


def bridge_devices(payload: bytes) -> dict[str, dict[str, str]]:
    """`zigbee2mqtt/bridge/devices` → labels by friendly name (ieee_address, model, vendor)."""
    try:
        devices = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError(f"bridge/devices is not JSON: {str(exc)[:200]}") from None
    if not isinstance(devices, list):
        raise PayloadError("bridge/devices is not a JSON list")
    out = {}
    for device in devices:
        if not isinstance(device, dict) or not isinstance(device.get("friendly_name"), str):
            continue
        definition = device.get("definition") or {}
        labels = {"ieee_address": device.get("ieee_address"), "model": definition.get("model"),
                  "vendor": definition.get("vendor")}
        out[device["friendly_name"]] = {k: str(v) for k, v in labels.items() if v}
    return out


def match(template: list[str], topic: str) -> dict[str, str] | None:
    """Labels from a topic matching a template's levels (`{x}` captures a level), or None."""
    levels = topic.split("/")
    if len(levels) != len(template):
        return None
    labels = {}
    for pattern, level in zip(template, levels):
        if pattern.startswith("{"):
            if not level:
                return None
            labels[pattern[1:-1]] = level
        elif pattern != level:
            return None
    return labels


def generic(payload: bytes, metric: str, fields: dict[str, str]) -> tuple[dict[str, float], int]:
    """Numbers of a generic payload by metric name: a bare number, or JSON fields by dotted path."""
    text = payload.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):
            raise PayloadError(f"payload {text[:40]!r} is not a finite number")
        return {metric: number}, 0
    document = json_object(payload)
    if not fields:
        values = flatten(document)
        return {f"{metric}_{k}": v for k, v in values.numbers.items()}, values.skipped
    out, skipped = {}, 0
    for suffix, path in fields.items():
        node = document
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        number = _number(node)
        if number is None:
            skipped += 1
        else:
            out[f"{metric}_{suffix}"] = number
    return out, skipped
