"""Posting a Notification to a Slack incoming webhook: text fallback plus Block Kit blocks.

https://api.slack.com/messaging/webhooks
"""

from __future__ import annotations

import httpx

from notifier.outcome import Outcome, Verdict
from notifier.slack.config import SlackConfig
from schemas.records import Notification

# Limits from https://api.slack.com/reference/block-kit/blocks and https://api.slack.com/methods/chat.postMessage
MAX_TEXT_CHARS = 40_000
MAX_HEADER_CHARS = 150
MAX_SECTION_CHARS = 3_000
MAX_BLOCKS = 50
MAX_FIELDS = 10
MAX_RESPONSE_CHARS = 1_024

# Slack answers 429 with Retry-After when rate limited and 5xx when it is failing; every other
# 4xx (400 invalid_payload, 403 action_prohibited, 404 no_service, 410 channel_is_archived) is
# permanent. https://api.slack.com/messaging/webhooks#handling_errors
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

_EMOJI = {"TRIGGER": ":rotating_light:", "ACKNOWLEDGE": ":eyes:", "RESOLVE": ":white_check_mark:"}
_STATUS = {"TRIGGER": "FIRING", "ACKNOWLEDGE": "ACKNOWLEDGED", "RESOLVE": "RESOLVED"}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(note: Notification) -> dict:
    """The webhook JSON body for a notification."""
    status = _STATUS[note["action"]]
    title = note["title"] if note["title"].startswith("[") else f"[{status}] {note['title']}"
    fallback = _cut(f"{title}: {note['text']}", MAX_TEXT_CHARS)
    fields = [{"type": "mrkdwn", "text": _cut(f"*severity*\n{note['severity']}", 2000)}]
    for key, value in sorted(note["labels"].items()):
        if key in ("alertname", "severity") or len(fields) >= MAX_FIELDS:
            continue
        fields.append({"type": "mrkdwn", "text": _cut(f"*{key}*\n{value}", 2000)})
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(f"{_EMOJI[note['action']]} {title}",
                                                                        MAX_HEADER_CHARS), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(note["text"] or title, MAX_SECTION_CHARS)}},
        {"type": "section", "fields": fields},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(
            f"fingerprint `{note['fingerprint']}` · transition {note['sequence']}", MAX_SECTION_CHARS)}]},
    ]
    return {"text": fallback, "blocks": blocks[:MAX_BLOCKS]}


def classify(status: int) -> Verdict:
    """DELIVERED for 2xx, RETRY for the retryable codes, FAILED for everything else."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    return Verdict.RETRY if status in RETRYABLE_STATUS or status >= 500 else Verdict.FAILED


class SlackClient:
    """Sends to one webhook; never raises for a receiver's answer, returns an Outcome."""

    def __init__(self, config: SlackConfig, http: httpx.Client | None = None) -> None:
        self._config = config
        self._http = http or httpx.Client(timeout=config.timeout_s)

    def notify(self, note: Notification) -> Outcome:
        """One attempt to deliver `note`."""
        try:
            answer = self._http.post(self._config.url.get_secret_value(), json=render(note))
        except httpx.TimeoutException:
            return Outcome(Verdict.RETRY, None, f"timed out after {self._config.timeout_s:g}s")
        except httpx.TransportError as exc:
            return Outcome(Verdict.RETRY, None, f"connection failed: {type(exc).__name__}")
        retry_after = answer.headers.get("retry-after")
        return Outcome(classify(answer.status_code), answer.status_code, answer.text[:MAX_RESPONSE_CHARS],
                       float(retry_after) if retry_after and retry_after.isdigit() else None)

    def close(self) -> None:
        self._http.close()
