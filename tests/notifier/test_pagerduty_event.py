"""PagerDuty Events v2 bodies: mapping, limits, templates — checked with the local receiver's PagerDuty rules."""

from __future__ import annotations

import orjson

from infra.demo.receiver import pagerduty_errors
from notifier.outcome import Verdict, classify
from notifier.pagerduty.client import (MAX_EVENT_BYTES, MAX_SUMMARY_CHARS, RETRYABLE_STATUS, PagerDutyClient,
                                       build_event, encode_event, severity_of)
from kernel.alerting.pagerduty_config import PagerDutyConfig
from schemas.examples import alert, incident

KEY = "R" * 32
CONFIG = PagerDutyConfig(routing_key=KEY, client_url="http://vigil.example:8080")


def decoded(body: bytes) -> dict:
    assert pagerduty_errors(orjson.loads(body), len(body)) == []  # PagerDuty would accept it
    return orjson.loads(body)


def test_trigger_carries_the_incident():
    note = incident(alerts=[alert(1, component="nginx", group="web"), alert(2, component="nginx", group="web")])
    note["common_labels"] = {**note["common_labels"], "component": "nginx", "group": "web"}
    event = decoded(encode_event(note, CONFIG))
    assert (event["routing_key"], event["event_action"], event["dedup_key"]) == (KEY, "trigger", "inc-1")
    payload = event["payload"]
    assert payload["summary"] == "[FIRING:2] HighCPU" and payload["severity"] == "critical"
    assert (payload["component"], payload["group"], payload["class"]) == ("nginx", "web", "HighCPU")
    assert payload["source"] == "Vigil"  # no host/instance label common to the group
    assert payload["timestamp"] == "2023-11-14T22:13:20.000Z"
    details = payload["custom_details"]
    assert details["incident"] == {"key": "inc-1", "status": "OPEN", "reason": "first_notification",
                                   "group_key": '{}:{alertname="HighCPU"}'}
    assert [a["labels"]["host"] for a in details["alerts"]] == ["web-1", "web-2"] and details["firing"] == 2
    assert (event["client"], event["client_url"]) == ("Vigil", "http://vigil.example:8080")


def test_source_from_a_common_host_label():
    note = incident(alerts=[alert(7)])
    note["common_labels"] = alert(7)["labels"]
    assert build_event(note, CONFIG)["payload"]["source"] == "web-7"


def test_acknowledge_and_resolve_carry_only_the_key():
    for action, word in (("ACKNOWLEDGE", "acknowledge"), ("RESOLVE", "resolve")):
        event = decoded(encode_event(incident(action=action), CONFIG))
        assert event == {"routing_key": KEY, "event_action": word, "dedup_key": "inc-1"}


def test_severity_mapping():
    cases = {"critical": "critical", "page": "critical", "error": "error", "warning": "warning", "info": "info",
             "WARNING": "warning", "": "warning", "disaster": "warning"}
    for given, expected in cases.items():
        note = incident(severity=given)
        note["common_labels"] = {}
        assert severity_of(note) == expected, given
    assert severity_of(incident(severity="info", status="CRITICAL")) == "critical"


def test_5000_alerts_fit_in_512_kb_and_say_how_many_were_left_out():
    note = incident(alerts=[alert(i, note="x" * 80) for i in range(5000)])
    body = encode_event(note, CONFIG)
    assert len(body) <= MAX_EVENT_BYTES
    details = decoded(body)["payload"]["custom_details"]
    kept = len(details["alerts"])
    assert 0 < kept < 5000 and details["truncated_alerts"] == 5000 - kept and details["firing"] == 5000


def test_labels_too_big_even_without_alerts_are_replaced_by_a_note():
    note = incident(alerts=[alert(1)])
    note["common_labels"] = {f"l{i}": "v" * 1000 for i in range(600)}
    event = decoded(encode_event(note, CONFIG))
    assert "exceeded" in event["payload"]["custom_details"]["error"]


def test_summary_is_cut_to_1024_chars():
    note = incident()
    note["title"] = "T" * 5000
    summary = decoded(encode_event(note, CONFIG))["payload"]["summary"]
    assert len(summary) == MAX_SUMMARY_CHARS and summary.endswith("…")


def test_long_dedup_keys_are_hashed_stably():
    long_key = "k" * 300
    first = build_event(incident(key=long_key), CONFIG)["dedup_key"]
    assert len(first) <= 255 and first == build_event(incident(key=long_key, action="RESOLVE"), CONFIG)["dedup_key"]


def test_templates_render_summary_and_severity():
    config = PagerDutyConfig(routing_key=KEY, description="{{ incident.reason }}: {{ firing | length }} on "
                             "{{ firing | map(attribute='labels.host') | join(',') }}",
                             severity="{{ 'info' if status == 'firing' else 'error' }}")
    client = PagerDutyClient("team/pagerduty/0", config, 120)
    payload = decoded(client.body(incident()))["payload"]
    assert (payload["summary"], payload["severity"]) == ("first_notification: 2 on web-1,web-2", "info")


def test_a_severity_template_giving_nonsense_falls_back_to_the_mapping():
    client = PagerDutyClient("team/pagerduty/0", PagerDutyConfig(routing_key=KEY, severity="{{ 'sev1' }}"), 120)
    assert decoded(client.body(incident()))["payload"]["severity"] == "critical"


def test_a_template_failing_at_send_time_sends_the_default():
    config = PagerDutyConfig(routing_key=KEY, description="{{ common_labels.team }}")  # no such label here
    client = PagerDutyClient("team/pagerduty/0", config, 120)
    assert decoded(client.body(incident()))["payload"]["summary"] == "[FIRING:2] HighCPU"


def test_retry_on_429_and_5xx_never_on_400():
    assert 429 in RETRYABLE_STATUS and 400 not in RETRYABLE_STATUS
    assert classify(202, RETRYABLE_STATUS) is Verdict.DELIVERED
    for status in (429, 500, 502, 503, 504, 599):
        assert classify(status, RETRYABLE_STATUS) is Verdict.RETRY, status
    for status in (400, 401, 403, 404, 413):
        assert classify(status, RETRYABLE_STATUS) is Verdict.FAILED, status
