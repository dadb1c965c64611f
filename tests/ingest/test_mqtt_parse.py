"""MQTT payload mapping, pure: Zigbee2MQTT states, availability, the bridge's device list, generic topics."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.mqtt import parse

LABELS = {"device": "kitchen"}


def test_zigbee_state_numbers_booleans_state_words_and_nesting():
    payload = json.dumps({"temperature": 21.5, "humidity": 40, "state": "ON", "occupancy": True,
                          "contact": False, "color": {"x": 0.3, "y": 0.4}, "update": {"state": "idle"},
                          "action": "single", "list": [1, 2], "linkquality": 120, "battery": None}).encode()
    samples, skipped = parse.zigbee_state(payload, "zigbee", LABELS, 1000)
    got = {s["name"]: s["value"] for s in samples}
    assert got == {"zigbee_temperature": 21.5, "zigbee_humidity": 40, "zigbee_state": 1, "zigbee_occupancy": 1,
                   "zigbee_contact": 0, "zigbee_color_x": 0.3, "zigbee_color_y": 0.4, "zigbee_linkquality": 120}
    assert skipped == 4  # update.state "idle", action "single", the list, null
    assert all(s["labels"] == LABELS and s["timestamp_ms"] == 1000 for s in samples)


@pytest.mark.parametrize(("payload", "up"), [(b"online", True), (b"offline", False), (b'{"state":"online"}', True),
                                             (b' {"state": "offline"} ', False)])
def test_availability_plain_and_json(payload, up):
    assert parse.availability_state(payload) is up


@pytest.mark.parametrize("payload", [b"maybe", b'{"state": 1}', b"{broken"])
def test_bad_availability_is_named(payload):
    with pytest.raises(parse.PayloadError):
        parse.availability_state(payload)


def test_bridge_devices_give_labels_by_friendly_name():
    payload = json.dumps([
        {"friendly_name": "Coordinator", "ieee_address": "0x00124b", "type": "Coordinator", "definition": None},
        {"friendly_name": "kitchen", "ieee_address": "0x00158d0001", "definition": {"model": "WSDCGQ11LM",
                                                                                    "vendor": "Aqara"}},
        "junk"]).encode()
    assert parse.bridge_devices(payload) == {
        "Coordinator": {"ieee_address": "0x00124b"},
        "kitchen": {"ieee_address": "0x00158d0001", "model": "WSDCGQ11LM", "vendor": "Aqara"}}


def test_topic_templates_capture_levels():
    template = "site/{site}/sensor/{sensor}".split("/")
    assert parse.match(template, "site/ams/sensor/t1") == {"site": "ams", "sensor": "t1"}
    for topic in ("site/ams/sensor", "site/ams/other/t1", "site//sensor/t1", "site/ams/sensor/t1/x"):
        assert parse.match(template, topic) is None


def test_generic_payloads_bare_number_fields_and_flatten():
    assert parse.generic(b" 21.5 ", "temp", {}) == ({"temp": 21.5}, 0)
    assert parse.generic(b'{"t": 1, "env": {"hum": 40}, "name": "x"}', "s", {"temp": "t", "hum": "env.hum",
                                                                             "missing": "a.b"}) == (
        {"s_temp": 1.0, "s_hum": 40.0}, 1)
    assert parse.generic(b'{"t": 1, "env": {"hum": 40}}', "s", {}) == ({"s_t": 1.0, "s_env_hum": 40.0}, 0)


@pytest.mark.parametrize(("payload", "message"), [(b"not json", "not JSON"), (b"[1, 2]", "expected an object"),
                                                  (b"nan", "not a finite number"), (b"\xff\xfe", "not JSON")])
def test_bad_generic_payloads_are_named(payload, message):
    with pytest.raises(parse.PayloadError) as caught:
        parse.generic(payload, "m", {})
    assert message in str(caught.value)


json_values = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
                           lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                                               children, max_size=3),
                           max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=6))
def test_any_json_object_flattens_to_finite_numbers_with_valid_names(document):
    samples, _ = parse.zigbee_state(json.dumps(document).encode(), "zigbee", LABELS, 0)
    for sample in samples:
        assert sample["value"] == sample["value"] and abs(sample["value"]) != float("inf")
        assert re.fullmatch(r"zigbee_[a-zA-Z0-9_:]+", sample["name"]), sample["name"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_any_bytes_parse_or_give_a_payload_error(payload):
    for read in (lambda: parse.zigbee_state(payload, "z", LABELS, 0), lambda: parse.generic(payload, "m", {}),
                 lambda: parse.availability_state(payload), lambda: parse.bridge_devices(payload)):
        try:
            read()
        except parse.PayloadError:
            pass
