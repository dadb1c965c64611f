"""Text from alerts made inert in Slack messages: escaped for mrkdwn, bracket-free for plain_text.

Slack reads `&`, `<` and `>` as control characters in mrkdwn: `<!channel>` pages a whole channel and
`<https://x|Click>` is a link whose target is hidden. Text that is not ours (labels, annotations,
titles rendered from them) is escaped as Slack asks, and only those three characters
(https://api.slack.com/reference/surfaces/formatting#escaping). plain_text (the header block) has no
formatting (https://api.slack.com/reference/block-kit/composition-objects#text), so escaping there
is not needed — and whether Slack decodes entities in plain_text is not documented. `plain` instead
turns a `<…>` pair into `‹…›`: inert also for Slack-compatible receivers (Mattermost, Rocket.Chat)
that may parse it, and it reads the same.
"""

from __future__ import annotations

import re

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}
_CONTROL = re.compile(r"[&<>]")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_BRACKETED = re.compile(r"<([^<>]*)>")
# The longest entity, so a cut never leaves half of one (`&am…`).
_MAX_ENTITY_CHARS = max(len(v) for v in _ESCAPES.values())


def escape(text: str) -> str:
    """`text` with Slack's control characters as entities: shown as typed, never a mention or link."""
    return _CONTROL.sub(lambda m: _ESCAPES[m.group()], text)


def unescape(text: str) -> str:
    """The text an escaped mrkdwn string shows (the inverse of `escape`)."""
    return _ENTITY.sub(lambda m: _UNESCAPES[m.group()], text)


def plain(text: str) -> str:
    """Text for a plain_text object: every `<…>` pair as `‹…›`, so no receiver reads it as a mention or link."""
    while _BRACKETED.search(text):  # again for nested pairs: `<<!channel>>` → `<‹!channel›>` → `‹‹!channel››`
        text = _BRACKETED.sub(r"‹\1›", text)
    return text


def cut(text: str, limit: int) -> str:
    """mrkdwn cut to `limit` characters with "…", never inside an entity; Slack counts the escaped text."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    amp = head.rfind("&", max(0, len(head) - _MAX_ENTITY_CHARS + 1))
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head + "…"
