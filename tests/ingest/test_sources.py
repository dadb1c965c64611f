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
    ("tokens: [{name: a}]", ":1: tokens[0]: give exactly one of sha256 (recommended) or token"),
    ("tokens: [{name: a, token: short}]", ":1: tokens[0].token: String should have at least 16 characters"),
    ("tokens: [{name: 'bad name', token: 0123456789abcdef0}]", ":1: tokens[0].name: String should match pattern"),
    ("sources: {x: {max_new_series_per_hour: -1}}", ":1: sources.x.max_new_series_per_hour: Input should be"),
    ("sources: {x: {relabel_configs: [{action: keep}]}}",
     ":1: sources.x.relabel_configs[0]: action 'keep' needs source_labels"),
    ("sources: {x: {typo: 1}}", ":1: sources.x.typo: unknown field"),
    ("tokens: [", ":1: not valid YAML: while parsing a flow node, expected the node content"),
    ("tokens: [{name: a, token: 0123456789abcdef0}, {name: a, token: 0123456789abcdef1}]",
     ":1: tokens: tokens must be unique: ['a']"),
    ("- a list", ":1: (top): expected a mapping"),
])
def test_bad_files_name_the_line_and_key_at_fault(tmp_path, text, message):
    path = tmp_path / "ingest.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert str(caught.value).startswith(f"{path}{message}")


def test_every_mistake_is_listed_at_its_own_line(tmp_path):
    path = tmp_path / "ingest.yaml"
    path.write_text("""tokens:
  - name: edge
    sha256: not-hex
sources:
  edge:
    max_new_series_per_hour: 10
    relabel_configs:
      - source_labels: [__name__]
        regex: "("
        action: drop
scrape_configs:
  - job_name: node
    scrape_interval: often
""")
    with pytest.raises(ConfigError) as caught:
        load(path)
    assert caught.value.problems == [
        f"{path}:3: tokens[0].sha256: String should match pattern '^[0-9a-f]{{64}}$'",
        f"{path}:9: sources.edge.relabel_configs[0].regex: regex '(' does not compile: invalid regex "
        "(RE2 syntax, as in Prometheus): missing ): (",
        f"{path}:13: scrape_configs[0].scrape_interval: 'often' is not a duration like 15s, 1m or 500ms"]


def test_an_unreadable_file_is_named(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "missing.yaml")
    assert str(caught.value) == f"{tmp_path / 'missing.yaml'}: cannot read the ingest config: No such file or directory"


@pytest.mark.parametrize(("header", "token"), [
    (f"Bearer {TOKEN}", TOKEN), (f"Token {TOKEN}", TOKEN), (f"bearer  {TOKEN} ", TOKEN),
    ("Basic " + base64.b64encode(f"telegraf:{TOKEN}".encode()).decode(), TOKEN),
    ("Basic !!!", None), ("Basic " + base64.b64encode(b"user-only").decode(), None), ("Digest x", None), ("", None),
])
def test_tokens_come_from_bearer_token_and_basic_auth(header, token):
    assert presented_key(header) == token
