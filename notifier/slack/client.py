"""Posting an incident to a Slack incoming webhook: text fallback plus Block Kit blocks.

https://api.slack.com/messaging/webhooks — one message per notification: the incident's status and
reason, its alerts (bounded, "and N more"), and the resolution when it resolves. Whatever comes from
an alert (labels, annotations, the title and text rendered from them) is escaped for mrkdwn, and made
bracket-free in the plain_text header (notifier/slack/mrkdwn.py): anyone who can write a sample must
not be able to @channel the on-call channel or plant a disguised link. Limits are applied to the
escaped text, which is what Slack counts.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from kernel.alerting.notification import alerts_of, common_labels, incident_key, omitted
from kernel.ratelimit import Rate
from notifier.limiter import SLACK_BURST
from notifier.outcome import Outcome, Verdict, classify as classify_status, post_json
from notifier.slack import mrkdwn
from kernel.alerting.slack_config import SlackConfig
from notifier.templates import TemplateSet
from schemas.records import Notification

# Limits from https://api.slack.com/reference/block-kit/blocks and https://api.slack.com/methods/chat.postMessage
MAX_TEXT_CHARS = 40_000
MAX_HEADER_CHARS = 150
MAX_SECTION_CHARS = 3_000
MAX_FIELD_CHARS = 2_000
MAX_BLOCKS = 50
MAX_FIELDS = 10
MAX_CONTEXT_CHARS = 3_000
# Alerts listed one per line in one section; the rest are counted ("and N more").
MAX_ALERT_LINES = 20
MAX_ALERT_LINE_CHARS = 300

# Slack answers 429 with Retry-After when rate limited and 5xx when it is failing; every other
# 4xx (400 invalid_payload, 403 action_prohibited, 404 no_service, 410 channel_is_archived) is
# permanent. https://api.slack.com/messaging/webhooks#handling_errors
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})

_EMOJI = {"TRIGGER": ":rotating_light:", "ACKNOWLEDGE": ":eyes:", "RESOLVE": ":white_check_mark:"}
_STATUS = {"TRIGGER": "FIRING", "ACKNOWLEDGE": "ACKNOWLEDGED", "RESOLVE": "RESOLVED"}
_HIDDEN_LABELS = ("alertname", "severity")

_esc = mrkdwn.escape
_cut = mrkdwn.cut


def _cut_plain(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def default_title(note: Notification) -> str:
    """The incident's title with its status tag: `[FIRING:3] HighCPU`, `[ACKNOWLEDGED] HighCPU`, …"""
    status = _STATUS[note["action"]]
    title = note["title"]
    if title.startswith("["):
        tag, _, rest = title.partition("] ")
        # An acknowledgement reuses the incident's title, whose tag still says FIRING.
        return f"[{status}] {rest}" if note["action"] == "ACKNOWLEDGE" and tag.startswith("[FIRING") else title
    return f"[{status}] {title}"


def _alert_lines(note: Notification) -> str | None:
    alerts = alerts_of(note)
    if len(alerts) < 2 and not note.get("truncated_alerts"):
        return None  # the title and text already say everything about a single alert
    lines = []
    for alert in alerts[:MAX_ALERT_LINES]:
        shown = " ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()) if k not in _HIDDEN_LABELS)
        summary = alert["annotations"].get("summary", "")
        mark = ":red_circle:" if alert["status"] == "firing" else ":large_green_circle:"
        line = f"*{_esc(alert['alertname'])}* {_esc(shown)}" + (f" — {_esc(summary)}" if summary else "")
        lines.append(_cut(f"{mark} {line}", MAX_ALERT_LINE_CHARS))
    more = omitted(note, len(lines))
    text = "\n".join(lines)
    tail = f"\n_and {more} more_" if more else ""
    if len(text) + len(tail) > MAX_SECTION_CHARS:
        text = _cut(text, MAX_SECTION_CHARS - len(tail))
    return text + tail


def _resolution(note: Notification) -> str:
    alerts = alerts_of(note)
    if note.get("reason") == "resolved_by_command":
        return ":white_check_mark: *Resolved* by an operator."
    count = len(alerts) + note.get("truncated_alerts", 0)
    return f":white_check_mark: *Resolved*: {'the alert has' if count == 1 else f'all {count} alerts have'} stopped firing."


def render(note: Notification, title: str | None = None, text: str | None = None,
           channel: str | None = None) -> dict[str, Any]:
    """The webhook JSON body for a notification.

    `title`/`text` are rendered templates, if any: mrkdwn whose interpolated values are already escaped
    (TemplateSet with `mrkdwn.escape`). Without them, the notification's own title and text are
    escaped whole: they were rendered from labels upstream, so nothing in them can be trusted as markup.
    """
    title = title or _esc(default_title(note))
    text = text or _esc(note["text"]) or title
    fallback = _cut(f"{title}: {text}", MAX_TEXT_CHARS)
    fields = [{"type": "mrkdwn", "text": _cut(f"*severity*\n{_esc(note['severity'])}", MAX_FIELD_CHARS)}]
    if note.get("incident_status"):
        fields.append({"type": "mrkdwn", "text": _cut(f"*incident*\n{_esc(note['incident_status'])}",
                                                      MAX_FIELD_CHARS)})
    for key, value in sorted(common_labels(note).items()):
        if key in _HIDDEN_LABELS or len(fields) >= MAX_FIELDS:
            continue
        fields.append({"type": "mrkdwn", "text": _cut(f"*{_esc(key)}*\n{_esc(value)}", MAX_FIELD_CHARS)})
    # The header is plain_text: the title as it reads, with no `<…>` left for any receiver to parse.
    header = mrkdwn.plain(mrkdwn.unescape(title))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut_plain(f"{_EMOJI[note['action']]} {header}",
                                                                              MAX_HEADER_CHARS), "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, MAX_SECTION_CHARS)}},
        {"type": "section", "fields": fields},
    ]
    lines = _alert_lines(note)
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": lines}})
    if note["action"] == "RESOLVE":
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _resolution(note)}})
    reason = f" · {_esc(note['reason'].replace('_', ' '))}" if note.get("reason") else ""
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(
        f"incident `{_esc(incident_key(note))}`{reason} · notification {note['sequence']}", MAX_CONTEXT_CHARS)}]})
    body: dict[str, Any] = {"text": fallback, "blocks": blocks[:MAX_BLOCKS]}
    if channel:
        body["channel"] = channel
    return body


def classify(status: int) -> Verdict:
    """DELIVERED for 2xx, RETRY for the retryable codes, FAILED for everything else."""
    return classify_status(status, RETRYABLE_STATUS)


class SlackClient:
    """Sends to one webhook (and channel); returns an Outcome, never raises for Slack's answer."""

    kind = "slack"
    acknowledges = True
    resend_in_doubt = False  # a second post is a second message

    def __init__(self, integration: str, config: SlackConfig, messages_per_second: float) -> None:
        self._config = config
        self._url = config.url.get_secret_value()
        self._http = httpx.AsyncClient(timeout=config.timeout_s)
        self._templates = TemplateSet(self.kind, integration, {"title": config.title, "text": config.text},
                                      escape=mrkdwn.escape)
        self.rate = Rate(messages_per_second, SLACK_BURST)
        self.limit_key = f"{self._url}#{config.channel or ''}"  # Slack limits per channel

    def body(self, note: Notification) -> bytes:
        """The JSON body this client would send for `note` (templates rendered)."""
        rendered = self._templates.render(note, {"title": "", "text": ""})
        return orjson.dumps(render(note, rendered["title"] or None, rendered["text"] or None, self._config.channel))

    async def notify(self, note: Notification) -> Outcome:
        """One attempt to deliver `note`."""
        return await post_json(self._http, self._url, self.body(note), self._config.timeout_s, RETRYABLE_STATUS)

    async def aclose(self) -> None:
        await self._http.aclose()
