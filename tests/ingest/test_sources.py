"""The ingest sources file and token parsing, pure."""

from __future__ import annotations

import base64
import hashlib

import pytest

from kernel.keys import presented_key
from ingest.sources import ConfigError, Sources, load

TOKEN = "agent-token-0123456789"


def test_a_full_file_loads_and_tokens_identify_agents(tmp_path):
    path = tmp_path / "ingest.yaml"
    path.write_text(f"""
tokens:
  - {{name: edge-eu, sha256: {hashlib.sha256(TOKEN.encode()).hexdigest()}, labels: {{site: eu-1}}}}
  - {{name: test, token: another-token-0123456789}}
sources:
  "*": {{max_new_series_per_hour: 1000}}
  edge-eu:
    max_new_series_per_hour: 10
    relabel_configs: [{{source_labels: [__name__], regex: "go_.*", action: drop}}]
""")
    sources = Sources(load(path))
    assert sources.tokens_required
    assert sources.agent(TOKEN).name == "edge-eu" and sources.agent(TOKEN).labels == {"site": "eu-1"}
    assert sources.agent("another-token-0123456789").name == "test" and sources.agent("nope") is None
    assert sources.policy("edge-eu").max_new_series_per_hour == 10
    assert sources.policy("statsd").max_new_series_per_hour == 1000  # the "*" default


def test_no_file_means_no_tokens_and_no_limits():
    sources = Sources(load(None))
    assert not sources.tokens_required and sources.policy("influx").max_new_series_per_hour is None


@pytest.mark.parametrize(("text", "message"), [
    ("tokens: [{name: a}]", "tokens.0: Value error, give exactly one of sha256 (recommended) or token"),
    ("tokens: [{name: a, token: short}]", "tokens.0.token"),
    ("tokens: [{name: 'bad name', token: 0123456789abcdef0}]", "tokens.0.name"),
    ("sources: {x: {max_new_series_per_hour: -1}}", "sources.x.max_new_series_per_hour"),
    ("sources: {x: {relabel_configs: [{action: keep}]}}", "sources.x.relabel_configs.0"),
    ("sources: {x: {typo: 1}}", "sources.x.typo: Extra inputs are not permitted"),
    ("tokens: [", "while parsing"),
    ("tokens: [{name: a, token: 0123456789abcdef0}, {name: a, token: 0123456789abcdef1}]", "unique"),
])
def test_bad_files_name_the_key_at_fault(tmp_path, text, message):
    path = tmp_path / "ingest.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)


@pytest.mark.parametrize(("header", "token"), [
    (f"Bearer {TOKEN}", TOKEN), (f"Token {TOKEN}", TOKEN), (f"bearer  {TOKEN} ", TOKEN),
    ("Basic " + base64.b64encode(f"telegraf:{TOKEN}".encode()).decode(), TOKEN),
    ("Basic !!!", None), ("Basic " + base64.b64encode(b"user-only").decode(), None), ("Digest x", None), ("", None),
])
def test_tokens_come_from_bearer_token_and_basic_auth(header, token):
    assert presented_key(header) == token
