"""Typed configuration of one Slack-compatible receiver."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, SecretStr


class SlackConfig(BaseModel):
    """An incoming webhook URL (a secret: it is the credential) and the request timeout."""

    model_config = ConfigDict(frozen=True)

    url: SecretStr
    timeout_s: float = 5.0
