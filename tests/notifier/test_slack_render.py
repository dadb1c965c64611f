"""Slack payloads for incident notifications, checked with the local receiver's Slack rules (no servers)."""

from __future__ import annotations

import orjson

from infra.demo.receiver import slack_errors
from notifier.outcome import Verdict
from notifier.slack.client import (MAX_ALERT_LINES, MAX_HEADER_CHARS, MAX_SECTION_CHARS, SlackClient, classify,
                                   render)
from notifier.slack.config import SlackConfig
from tests.notifier.incidents import alert, incident

NOTE = {"dedup_key": "abc", "receiver": "slack", "action": "TRIGGER", "sequence": 1, "fingerprint": "abc",
        "severity": "page", "title": "[FIRING] HighCPU host=web-3", "text": "CPU on web-3 is 97%",
        "labels": {"alertname": "HighCPU", "host": "web-3", "severity": "page"}, "annotations": {},
        "event_time_ms": 1, "created_at_ms": 2}  # a per-alert notification (schema v1 fields only)


def accepted(body: dict) -> dict:
    assert slack_errors(body) == []  # Slack would take it
    return body


def test_a_single_alert_page():
    body = accepted(render(NOTE))
    assert body["text"] == "[FIRING] HighCPU host=web-3: CPU on web-3 is 97%"
    header, section, fields, context = body["blocks"]
    assert header["text"]["text"].startswith(":rotating_light: [FIRING] HighCPU")
    assert section["text"]["text"] == "CPU on web-3 is 97%"
    assert {"type": "mrkdwn", "text": "*host*\nweb-3"} in fields["fields"]
    assert "abc" in context["elements"][0]["text"]


def test_an_incident_lists_its_alerts_status_and_reason():
    body = accepted(render(incident(alerts=[alert(1), alert(2), alert(3, "resolved")])))
    header, _, fields, alerts, context = body["blocks"]
    assert header["text"]["text"] == ":rotating_light: [FIRING:2] HighCPU"
    assert {"type": "mrkdwn", "text": "*incident*\nOPEN"} in fields["fields"]
    lines = alerts["text"]["text"].splitlines()
    assert len(lines) == 3 and lines[0].startswith(":red_circle: *HighCPU* host=web-1")
    assert lines[2].startswith(":large_green_circle:") and "CPU on web-3 is 97%" in lines[2]
    assert "first notification" in context["elements"][0]["text"] and "inc-1" in context["elements"][0]["text"]


def test_many_alerts_are_bounded_with_and_n_more():
    note = incident(alerts=[alert(i) for i in range(1000)])
    note["truncated_alerts"] = 500
    body = accepted(render(note))
    text = body["blocks"][3]["text"]["text"]
    assert len(text.splitlines()) == MAX_ALERT_LINES + 1 and text.endswith(f"_and {1500 - MAX_ALERT_LINES} more_")


def test_resolve_posts_the_resolution():
    note = incident(action="RESOLVE", alerts=[alert(1, "resolved"), alert(2, "resolved")], status="RESOLVED",
                    reason="all_alerts_resolved")
    body = accepted(render(note))
    assert body["text"].startswith("[RESOLVED] HighCPU")
    assert body["blocks"][0]["text"]["text"].startswith(":white_check_mark:")
    assert any("all 2 alerts have stopped firing" in b.get("text", {}).get("text", "") for b in body["blocks"])
    by_operator = render({**note, "reason": "resolved_by_command"})
    assert any("by an operator" in b.get("text", {}).get("text", "") for b in by_operator["blocks"])


def test_an_acknowledgement_is_marked_so():
    body = accepted(render(incident(action="ACKNOWLEDGE", status="ACKNOWLEDGED", reason="acknowledged")))
    assert body["blocks"][0]["text"]["text"] == ":eyes: [ACKNOWLEDGED] HighCPU"


def test_limits_truncate():
    body = accepted(render({**NOTE, "title": "T" * 500, "text": "x" * 10_000,
                            "labels": {f"l{i}": "v" for i in range(40)}}))
    assert len(body["blocks"][0]["text"]["text"]) == MAX_HEADER_CHARS
    assert len(body["blocks"][1]["text"]["text"]) == MAX_SECTION_CHARS
    assert body["blocks"][1]["text"]["text"].endswith("…")
    assert len(body["blocks"][2]["fields"]) == 10
    huge = incident(alerts=[alert(i, note="n" * 2000) for i in range(30)])
    huge["alerts"] = [{**a, "annotations": {"summary": "s" * 5000}} for a in huge["alerts"]]
    accepted(render(huge))


def test_templates_and_channel():
    config = SlackConfig(url="http://127.0.0.1:1/services/x", channel="#ops",
                         title="{{ incident.status }}: {{ group_labels.alertname }} ({{ alerts | length }})",
                         text="{% for a in firing %}{{ a.labels.host }} since {{ a.starts_at }}\n{% endfor %}")
    body = accepted(orjson.loads(SlackClient("team/slack/0", config, 1.0).body(incident())))
    assert body["channel"] == "#ops"
    assert body["text"].startswith("OPEN: HighCPU (2): web-1 since 2023-11-14T22:13:20.001Z")
    assert body["blocks"][0]["text"]["text"] == ":rotating_light: OPEN: HighCPU (2)"


def test_the_receiver_refuses_what_slack_refuses():
    assert slack_errors({}) == ["no_text: neither text nor blocks"]
    assert slack_errors({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51})
    assert slack_errors({"blocks": [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}]})
    assert slack_errors({"text": "t", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]})


def test_status_classification():
    assert classify(200) is Verdict.DELIVERED
    for status in (408, 429, 500, 502, 503, 504, 599):
        assert classify(status) is Verdict.RETRY, status
    for status in (400, 403, 404, 410):
        assert classify(status) is Verdict.FAILED, status
