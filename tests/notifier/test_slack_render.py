"""Slack payloads for incident notifications, checked with the local receiver's Slack rules (no servers)."""

from __future__ import annotations

import re

import orjson

from infra.demo.receiver import slack_errors
from notifier.outcome import Verdict
from notifier.slack.client import (MAX_ALERT_LINES, MAX_FIELD_CHARS, MAX_HEADER_CHARS, MAX_SECTION_CHARS,
                                   MAX_TEXT_CHARS, SlackClient, classify, render)
from kernel.alerting.slack_config import SlackConfig
from notifier.slack.mrkdwn import cut, escape, plain, unescape
from schemas.examples import alert, incident

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


# --- what an alert's labels can't do to a Slack message (issue 15) ---

HOSTILE = "<!channel> <https://evil.example/phish|Click to acknowledge>"
HOSTILE_SHOWN = "&lt;!channel&gt; &lt;https://evil.example/phish|Click to acknowledge&gt;"


def texts(value) -> list[str]:
    """Every string in a Slack body: text, header, sections, fields, context."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


def assert_inert(body: dict | list) -> None:
    for text in texts(body):
        assert "<!channel>" not in text and "<https://evil" not in text, text
        assert "<!" not in text and "<http" not in text, text  # no mention, no link: Vigil builds none here


def hostile_incident(action: str = "TRIGGER") -> dict:
    """An incident whose sample labels and annotations carry Slack markup, as any sample writer can make."""
    alerts = [alert(1, host=HOSTILE), alert(2, cluster=HOSTILE)]
    alerts[0]["annotations"] = {"summary": f"CPU on {HOSTILE} is 97%"}
    note = incident(action=action, alerts=alerts)
    common = {**note["common_labels"], "host": HOSTILE, HOSTILE: "label name too"}
    return {**note, "title": f"[FIRING:2] HighCPU {HOSTILE}", "text": f"CPU high on {HOSTILE}",
            "common_labels": common, "labels": common, "severity": HOSTILE, "incident_status": HOSTILE,
            "reason": HOSTILE, "incident_key": f"inc-1 {HOSTILE}"}


def test_hostile_label_values_are_shown_not_parsed():
    for note in (hostile_incident(), hostile_incident("RESOLVE"),
                 {**NOTE, "labels": {**NOTE["labels"], "host": HOSTILE}, "title": f"[FIRING] HighCPU host={HOSTILE}",
                  "text": f"CPU on {HOSTILE} is 97%"}):
        body = accepted(render(note))
        assert_inert(body)
    header, section, fields, *_ = body["blocks"]
    assert body["text"] == f"[FIRING] HighCPU host={HOSTILE_SHOWN}: CPU on {HOSTILE_SHOWN} is 97%"
    assert section["text"]["text"] == f"CPU on {HOSTILE_SHOWN} is 97%"
    assert {"type": "mrkdwn", "text": f"*host*\n{HOSTILE_SHOWN}"} in fields["fields"]
    # plain_text parses no markup (Slack's text object reference); brackets go too, for look-alike receivers.
    assert header["text"] == {"type": "plain_text", "emoji": True, "text": ":rotating_light: [FIRING] HighCPU "
                              "host=‹!channel› ‹https://evil.example/phish|Click to acknowledge›"}


def test_hostile_alert_lines_fields_and_context_are_escaped():
    body = accepted(render(hostile_incident()))
    _, _, fields, lines, context = body["blocks"]
    assert f"host={HOSTILE_SHOWN} — CPU on {HOSTILE_SHOWN} is 97%" in lines["text"]["text"]
    assert f"cluster={HOSTILE_SHOWN}" in lines["text"]["text"]
    assert {"type": "mrkdwn", "text": f"*{HOSTILE_SHOWN}*\nlabel name too"} in fields["fields"]
    assert {"type": "mrkdwn", "text": f"*severity*\n{HOSTILE_SHOWN}"} in fields["fields"]
    assert f"incident `inc-1 {HOSTILE_SHOWN}`" in context["elements"][0]["text"]


def test_templates_keep_their_own_links_but_escape_what_they_interpolate():
    config = SlackConfig(url="http://127.0.0.1:1/services/x",
                         title="{{ common_labels.host }} is down",
                         text="<https://runbook.example/cpu|runbook> for {{ common_labels.host }} & "
                              "{{ alerts[0].annotations.summary | upper }}: {{ text }}")
    body = accepted(orjson.loads(SlackClient("team/slack/0", config, 1.0).body(hostile_incident())))
    assert_inert(body["blocks"][2:])
    assert all("<!channel>" not in t and "<https://evil" not in t for t in texts(body))
    section = body["blocks"][1]["text"]["text"]
    assert section.startswith(f"<https://runbook.example/cpu|runbook> for {HOSTILE_SHOWN} & "
                              "CPU ON &lt;!CHANNEL&gt; &lt;HTTPS://EVIL.EXAMPLE/PHISH|CLICK TO ACKNOWLEDGE&gt; IS 97%: ")
    assert section.endswith(f"CPU high on {HOSTILE_SHOWN}")
    assert "<!channel>" not in section and "<https://evil" not in section
    assert body["blocks"][0]["text"]["text"].startswith(":rotating_light: ‹!channel› ‹https://evil.example/phish|")
    assert body["text"].startswith(f"{HOSTILE_SHOWN} is down: <https://runbook.example/cpu|runbook> for ")


def test_limits_hold_after_escaping():
    """Escaping makes text longer (`<` is 4 characters): the limits apply to what is sent, and no entity is cut."""
    angles = "<" * 5000
    note = {**hostile_incident(), "title": angles, "text": angles, "common_labels": {f"l{i}": angles for i in range(12)}}
    note["alerts"] = [{**a, "labels": {**a["labels"], "host": angles}, "annotations": {"summary": angles}}
                      for a in note["alerts"] * 15]
    body = accepted(render(note))
    assert_inert(body)
    header, section, fields, lines, _ = body["blocks"]
    assert len(header["text"]["text"]) == MAX_HEADER_CHARS
    assert MAX_SECTION_CHARS - 4 <= len(section["text"]["text"]) <= MAX_SECTION_CHARS
    assert section["text"]["text"].endswith("&lt;…")
    assert all(len(f["text"]) <= MAX_FIELD_CHARS for f in fields["fields"])
    assert all(f["text"].endswith("&lt;…") for f in fields["fields"][2:])  # the labels (after severity, incident)
    assert len(lines["text"]["text"]) <= MAX_SECTION_CHARS
    for text in texts(body):
        assert not re.search(r"&(a|am|amp|l|lt|g|gt)?…", text), text  # never half an entity before the cut
    assert len(body["text"]) <= MAX_TEXT_CHARS


def test_mrkdwn_cut_never_splits_an_entity():
    assert cut("ab&lt;cd", 4) == "ab…" and cut("ab&lt;cd", 7) == "ab&lt;…" and cut("abcdef", 4) == "abc…"
    assert cut("&amp;&amp;", 6) == "&amp;…" and cut("short", 5) == "short"
    assert unescape(escape("a & <b> &lt;")) == "a & <b> &lt;"
    assert plain("<<!here>> a < b, c > d") == "‹‹!here›› a ‹ b, c › d"
