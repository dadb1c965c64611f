"""Receiver URLs made safe to log, store and show: what the URL points at stays, the credential in it goes.

A Slack incoming webhook is its own credential (`https://hooks.slack.com/services/T…/B…/<token>`), and
generic webhooks carry tokens in the path, the query or the userinfo. `redact_url` keeps the scheme,
host, port and first path segment — enough to tell `hooks.slack.com/services/…` from
`events.pagerduty.com/v2/…` — and replaces everything after them, as Alertmanager shows a secret URL
as `<secret>` (https://prometheus.io/docs/alerting/latest/configuration/#secret).
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus, urlsplit

REDACTED = "REDACTED"
ELIDED = "…"
# A first path segment or query name is kept only when it reads like a word (`services`, `hook`, `v2`,
# `token`): a token-like one — long, with many digits, or with other characters (Telegram's
# `/bot<id>:<token>/`) — is a secret itself.
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,23}")
_MAX_WORD_DIGITS = 3
# Secrets shorter than this are not searched for in free text: they would match ordinary words.
_MIN_SECRET_CHARS = 6


def _is_word(segment: str) -> bool:
    return bool(_WORD.fullmatch(segment)) and sum(c.isdigit() for c in segment) <= _MAX_WORD_DIGITS


def _query_names(query: str) -> list[str]:
    """Each query item's name, or "" for an item whose name is not word-like or that has no `=` (all secret)."""
    names = []
    for item in query.split("&"):
        name, eq, _ = item.partition("=")
        names.append(name if eq and _is_word(unquote(name)) else "")
    return names


def redact_url(url: str) -> str:
    """`url` with userinfo, the path after its first segment, query values and fragment redacted.

    `https://hooks.slack.com/services/T0/B0/XX` → `https://hooks.slack.com/services/…`;
    `https://u:p@example.com/hook?token=abc` → `https://REDACTED@example.com/hook?token=REDACTED`.
    Anything that does not parse as an absolute URL with a host is answered as `REDACTED`.
    """
    try:
        parts = urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:  # a bad port or IPv6 literal
        return REDACTED
    if not parts.scheme or not host:
        return REDACTED
    if ":" in host:
        host = f"[{host}]"
    out = f"{parts.scheme}://"
    if parts.username is not None or parts.password is not None:
        out += f"{REDACTED}@"
    out += host + (f":{port}" if port is not None else "")
    first, sep, rest = parts.path.lstrip("/").partition("/")
    if first and not _is_word(first):
        out += f"/{ELIDED}"
    elif first:
        out += f"/{first}" + (f"/{ELIDED}" if rest else sep)
    elif parts.path:
        out += "/"
    if parts.query:
        out += "?" + "&".join(f"{name}={REDACTED}" if name else REDACTED for name in _query_names(parts.query))
    if parts.fragment:
        out += f"#{ELIDED}"
    return out


def _secrets_of(url: str) -> list[str]:
    """The pieces of `url` that `redact_url` hides (the whole URL among them), longest first."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    first, _, rest = parts.path.lstrip("/").partition("/")
    pieces = [url, rest, parts.query, parts.fragment, parts.netloc.rpartition("@")[0]]
    # Every segment after the first is hidden by redact_url, so each is a secret here (an ordinary word
    # among them may be redacted in the text too: harmless in an error message).
    pieces += rest.split("/") + ([] if _is_word(first) else [first])
    for item in parts.query.split("&"):
        name, _, value = item.partition("=")
        pieces += [value, unquote_plus(value)] + ([] if _is_word(unquote(name)) else [name])
    found = {p for p in pieces if len(p) >= _MIN_SECRET_CHARS}
    return sorted(found, key=len, reverse=True)


def redact_in(text: str, url: str) -> str:
    """`text` (a receiver's answer, an error message) with every credential-bearing piece of `url` replaced.

    A receiver or proxy that echoes the request line (`404: no route for /hook?token=…`) must not put
    the token into a Delivery record or a log line.
    """
    for secret in _secrets_of(url):
        if secret in text:
            text = text.replace(secret, redact_url(url) if secret == url.strip() else REDACTED)
    return text
