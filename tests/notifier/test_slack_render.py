"""Slack payloads and status classification (no servers)."""

from __future__ import annotations

from notifier.outcome import Verdict
from notifier.slack.client import MAX_HEADER_CHARS, MAX_SECTION_CHARS, classify, render

NOTE = {"dedup_key": "abc", "receiver": "slack", "action": "TRIGGER", "sequence": 1, "fingerprint": "abc",
        "severity": "page", "title": "[FIRING] HighCPU host=web-3", "text": "CPU on web-3 is 97%",
        "labels": {"alertname": "HighCPU", "host": "web-3", "severity": "page"}, "annotations": {},
        "event_time_ms": 1, "created_at_ms": 2}


def test_text_and_blocks():
    body = render(NOTE)
    assert body["text"] == "[FIRING] HighCPU host=web-3: CPU on web-3 is 97%"
    header, section, fields, context = body["blocks"]
    assert header["text"]["text"].startswith(":rotating_light: [FIRING] HighCPU")
    assert section["text"]["text"] == "CPU on web-3 is 97%"
    assert {"type": "mrkdwn", "text": "*host*\nweb-3"} in fields["fields"]
    assert "abc" in context["elements"][0]["text"]


def test_resolve_is_marked_resolved():
    body = render({**NOTE, "action": "RESOLVE", "title": "HighCPU host=web-3"})
    assert body["text"].startswith("[RESOLVED] HighCPU") and ":white_check_mark:" in body["blocks"][0]["text"]["text"]


def test_limits_truncate():
    body = render({**NOTE, "title": "T" * 500, "text": "x" * 10_000,
                   "labels": {f"l{i}": "v" for i in range(40)}})
    assert len(body["blocks"][0]["text"]["text"]) == MAX_HEADER_CHARS
    assert len(body["blocks"][1]["text"]["text"]) == MAX_SECTION_CHARS
    assert body["blocks"][1]["text"]["text"].endswith("…")
    assert len(body["blocks"][2]["fields"]) == 10


def test_status_classification():
    assert classify(200) is Verdict.DELIVERED
    for status in (408, 429, 500, 502, 503, 504, 599):
        assert classify(status) is Verdict.RETRY, status
    for status in (400, 403, 404, 410):
        assert classify(status) is Verdict.FAILED, status
