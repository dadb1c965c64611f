"""Who sends to ingest and what applies to them: agent tokens, static labels, relabeling, series limits.

Read once from the YAML file named by VIGIL_INGEST_CONFIG (optional); an invalid file stops
`vigil ingest` at start with the line and key path at fault (kernel/yaml_config.py). Example:

    tokens:                         # when any is listed (here or by `vigil keys create --role ingest`),
                                    # every HTTP write needs one of them
      - name: edge-eu               # the source name its data is accounted under
        sha256: 9f86d08…            # hex SHA-256 of the token (or `token:` in clear, for tests)
        labels: {site: eu-1}        # added to every sample it sends, overriding the sender's
    sources:                        # by source name: a token's name, else the protocol's name
      "*": {max_new_series_per_hour: 100000}          # the default for every source
      edge-eu:
        max_new_series_per_hour: 5000
        relabel_configs:
          - {source_labels: [__name__], regex: "go_.*", action: drop}
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from ingest.relabel import RelabelRule
from ingest.config_types import NAME_PATTERN, ScrapeJob
from kernel.yaml_config import ConfigFileError, read, validation_problems

DEFAULT_SOURCE = "*"


class TokenConfig(BaseModel):
    """One agent token; stored as its SHA-256 so the file holds no secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    token: str | None = Field(None, min_length=16)
    labels: dict[str, str] = {}

    @model_validator(mode="after")
    def _one_secret(self):
        if (self.sha256 is None) == (self.token is None):
            raise ValueError("give exactly one of sha256 (recommended) or token")
        return self

    @property
    def digest(self) -> bytes:
        return bytes.fromhex(self.sha256) if self.sha256 else hashlib.sha256(self.token.encode()).digest()


class SourcePolicy(BaseModel):
    """What applies to one source's samples before they are published."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    relabel_configs: tuple[RelabelRule, ...] = ()
    max_new_series_per_hour: int | None = Field(None, ge=0)


class IngestConfig(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tokens: tuple[TokenConfig, ...] = ()
    sources: dict[str, SourcePolicy] = {}
    scrape_configs: tuple[ScrapeJob, ...] = ()

    @field_validator("tokens", "scrape_configs")
    @classmethod
    def _unique_names(cls, entries: tuple, info: ValidationInfo) -> tuple:
        kind = "token" if info.field_name == "tokens" else "job_name"
        names = [entry.name if kind == "token" else entry.job_name for entry in entries]
        if len(names) != len(set(names)):
            raise ValueError(f"{kind}s must be unique: {sorted(n for n in set(names) if names.count(n) > 1)}")
        return entries


@dataclass(frozen=True)
class Agent:
    """The sender a token identified."""

    name: str
    labels: dict[str, str]


class ConfigError(ConfigFileError):
    """The ingest configuration file is invalid; each line names the file, line and key path at fault."""


def load(path: Path | None) -> IngestConfig:
    """The configuration in `path`, or an empty one (no tokens, no limits) when there is none."""
    if path is None:
        return IngestConfig()
    document = read(path, ConfigError, what="the ingest config")
    data = document.data or {}
    try:
        return IngestConfig.model_validate(data)
    except ValidationError as exc:
        document.fail(validation_problems(exc, data), ConfigError)


class Sources:
    """Token lookup and per-source policy: the file's tokens, plus the ingest tokens stored in Postgres."""

    def __init__(self, config: IngestConfig) -> None:
        self._tokens = [(t.digest, Agent(t.name, dict(t.labels))) for t in config.tokens]
        self._stored: dict[bytes, Agent] = {}  # sha256 → agent, from `vigil keys create --role ingest`
        self._policies = dict(config.sources)
        self.scrape_jobs = config.scrape_configs
        self._default = self._policies.get(DEFAULT_SOURCE, SourcePolicy())

    @property
    def tokens_required(self) -> bool:
        return bool(self._tokens) or bool(self._stored)

    def replace_stored(self, stored: dict[bytes, Agent]) -> None:
        """Take the current set of tokens stored in Postgres (ingest polls them)."""
        self._stored = stored

    def agent(self, token: str) -> Agent | None:
        """The agent whose token this is (constant-time comparison of the file's digests), or None."""
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        found = self._stored.get(digest)  # looked up by digest: timing reveals nothing of the token
        for known, agent in self._tokens:
            if hmac.compare_digest(known, digest):
                found = agent
        return found

    def policy(self, source: str) -> SourcePolicy:
        """The source's own policy, else the `*` default, else none."""
        return self._policies.get(source, self._default)
