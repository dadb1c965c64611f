"""Receiver URLs redacted for logs, records and the API: where it points stays, the credential goes."""

from __future__ import annotations

import pytest

from kernel.redact import REDACTED, redact_in, redact_url


@pytest.mark.parametrize(("url", "shown"), [
    ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/…"),
    ("https://example.com/hook?token=abc", "https://example.com/hook?token=REDACTED"),
    ("https://hookuser:SECRETpw@hooks.example.com:8443/hooks/SECRETpath?token=SECRETtoken&v=2",
     "https://REDACTED@hooks.example.com:8443/hooks/…?token=REDACTED&v=REDACTED"),
    ("https://user@example.com/hook", "https://REDACTED@example.com/hook"),
    ("https://events.pagerduty.com/v2/enqueue", "https://events.pagerduty.com/v2/…"),
    ("https://example.com/hook/", "https://example.com/hook/"),
    ("https://example.com/", "https://example.com/"),
    ("https://example.com", "https://example.com"),
    ("http://[::1]:9000/alertmanager", "http://[::1]:9000/alertmanager"),
    ("https://example.com/hook#SECRETfragment", "https://example.com/hook#…"),
    # a query item without a name (`?<token>`), or whose name is token-like, is a secret whole
    ("https://example.com/hook?SECRETbare", "https://example.com/hook?REDACTED"),
    ("https://example.com/hook?a=1&0f3c9e2b7d41a8c5=x", "https://example.com/hook?a=REDACTED&REDACTED"),
    # a first path segment that is itself a token: Telegram's bot URLs, a bare token path
    ("https://api.telegram.org/bot123456:AAHsecret/sendMessage", "https://api.telegram.org/…"),
    ("https://example.com/0f3c9e2b7d41a8c59b6e", "https://example.com/…"),
    ("https://example.com/abcdefghijklmnopqrstuvwxyz", "https://example.com/…"),
])
def test_redact_url_keeps_where_it_points(url, shown):
    assert redact_url(url) == shown


@pytest.mark.parametrize("url", ["hooks.slack.com/services/T000/B000/XXXX", "SECRETnotaurl", "http://h:SECRET/x",
                                 "http://[::1/x?token=SECRET", "", "/hook?token=SECRET"])
def test_what_is_not_an_absolute_url_is_redacted_whole(url):
    assert redact_url(url) == REDACTED


def test_redact_in_removes_every_secret_piece_a_receiver_echoes():
    url = "https://user:SECRETpw@hooks.example.com/hook/SECRETpath?token=SECRETtoken%2Bx"
    answer = (f"404: no route for POST /hook/SECRETpath?token=SECRETtoken%2Bx (token SECRETtoken+x); "
              f"full URL {url}; user user:SECRETpw")
    cleaned = redact_in(answer, url)
    assert "SECRET" not in cleaned
    assert "https://REDACTED@hooks.example.com/hook/…?token=REDACTED" in cleaned
    assert cleaned.startswith("404: no route for POST /hook/REDACTED?REDACTED")
    slack = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX"
    assert redact_in(f"invalid_token XXXXXXXXXXXXXXXX for {slack}", slack) == (
        "invalid_token REDACTED for https://hooks.slack.com/services/…")


def test_redact_in_leaves_ordinary_answers_alone():
    assert redact_in("ok", "https://hooks.slack.com/services/T000/B000/XXXXXXXX") == "ok"
    assert redact_in("invalid_payload", "https://example.com/hook?token=abc") == "invalid_payload"
    assert redact_in('{"status":"success","dedup_key":"inc-1"}', "https://events.pagerduty.com/v2/enqueue") == (
        '{"status":"success","dedup_key":"inc-1"}')
