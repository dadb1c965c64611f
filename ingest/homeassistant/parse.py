"""Home Assistant states → samples: pure.

A state object (https://developers.home-assistant.io/docs/api/rest/, `GET /api/states`) is
`{"entity_id": "sensor.kitchen_temperature", "state": "21.5", "attributes": {...},
"last_updated": "…"}`. Mapping, close to Home Assistant's own Prometheus exporter:
- the metric is `ha_<domain>[_<device_class>][_<unit>]`: `sensor.kitchen_temperature` with
  device class `temperature` in `°C` → `ha_sensor_temperature_celsius`;
- labels: `entity` (the entity id), `friendly_name`, `domain`, `device_class`, `unit` (as given),
  and `area` from the configuration;
- numeric states are values; binary states map to 1/0 (`on`/`off`, `open`/`closed`, `home`/
  `not_home`, `locked`/`unlocked`, …); `unavailable`, `unknown` and other text are skipped.
"""

from __future__ import annotations

import fnmatch
import math
import re
from datetime import datetime

from ingest.mqtt.parse import STATE_WORDS
from schemas.records import Sample

EXTRA_STATES = {"home": 1.0, "not_home": 0.0, "playing": 1.0, "paused": 0.0, "idle": 0.0, "heat": 1.0,
                "cool": 1.0, "standby": 0.0}
UNITS = {"°C": "celsius", "°F": "fahrenheit", "%": "percent", "W": "watts", "kW": "kilowatts", "Wh": "watt_hours",
         "kWh": "kilowatt_hours", "V": "volts", "A": "amperes", "lx": "lux", "hPa": "hectopascals", "ppm": "ppm",
         "µg/m³": "micrograms_per_cubic_meter", "dB": "decibels", "s": "seconds", "min": "minutes", "h": "hours"}
_BAD = re.compile(r"[^a-zA-Z0-9_]")


def _word(text: str) -> str:
    return _BAD.sub("_", UNITS.get(text, text)).strip("_").lower()


def selected(entity_id: str, config) -> bool:
    """Whether the configuration's domain and entity filters let this entity through."""
    domain = entity_id.partition(".")[0]
    if config.include_domains and domain not in config.include_domains:
        return False
    if domain in config.exclude_domains:
        return False
    if config.include_entities and not any(fnmatch.fnmatch(entity_id, p) for p in config.include_entities):
        return False
    return not any(fnmatch.fnmatch(entity_id, p) for p in config.exclude_entities)


def value_of(state: str) -> float | None:
    """A state string as a number: numeric, or a binary state word; None for anything else."""
    try:
        number = float(state)
    except ValueError:
        word = state.strip().lower()
        return STATE_WORDS.get(word, EXTRA_STATES.get(word))
    return number if math.isfinite(number) else None


def sample_of(entity: dict, config, now_ms: int) -> Sample | None:
    """The sample of one state object, or None when its state is not a value (or it is filtered out)."""
    entity_id = entity.get("entity_id")
    state = entity.get("state")
    if not isinstance(entity_id, str) or "." not in entity_id or not isinstance(state, str):
        return None
    if not selected(entity_id, config):
        return None
    value = value_of(state)
    if value is None:
        return None
    attributes = entity.get("attributes") if isinstance(entity.get("attributes"), dict) else {}
    domain = entity_id.partition(".")[0]
    device_class = str(attributes.get("device_class") or "")
    unit = str(attributes.get("unit_of_measurement") or "")
    name = "_".join(part for part in ("ha", _word(domain), _word(device_class), _word(unit)) if part)
    labels = {**config.labels, "entity": entity_id, "domain": domain}
    for key, label in (("friendly_name", "friendly_name"), ("device_class", "device_class"),
                       ("unit_of_measurement", "unit")):
        if attributes.get(key):
            labels[label] = str(attributes[key])
    for pattern, area in config.areas.items():
        if fnmatch.fnmatch(entity_id, pattern):
            labels["area"] = area
            break
    return {"series_id": 0, "name": name, "labels": labels, "value": value,
            "timestamp_ms": _stamp(entity.get("last_updated"), now_ms)}


def _stamp(text, now_ms: int) -> int:
    """last_updated (ISO 8601) in ms; `now` when missing or unreadable."""
    if not isinstance(text, str):
        return now_ms
    try:
        return int(datetime.fromisoformat(text).timestamp() * 1000)
    except ValueError:
        return now_ms
