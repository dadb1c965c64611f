"""`/api/v1/keys`: an API key or ingest token to create, as listed, as created (with its secret, once)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.models.examples import with_examples
from kernel.names import LABEL_NAME_PATTERN


KEY_OUT_EXAMPLE = {"id": "3f9a0c12be47", "name": "grafana", "role": "viewer", "labels": {}, "rate_per_s": None,
                   "burst": None, "created_at": "2026-11-30T08:00:00Z", "created_by": "key:admin-alice",
                   "revoked_at": None}


KeyRole = Literal["viewer", "operator", "admin", "ingest"]


class KeyIn(BaseModel):
    """A key to create: who holds it, its role, and (ingest tokens) the labels added to their samples."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "grafana", "role": "viewer"},
        {"name": "node-agent-eu1", "role": "ingest", "labels": {"dc": "eu1"}},
        {"name": "ci-bot", "role": "operator", "rate_per_s": 5, "burst": 20}]})

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$", description="unique among live keys")
    role: KeyRole
    labels: dict[Annotated[str, Field(pattern=LABEL_NAME_PATTERN, max_length=128)],
                 Annotated[str, Field(max_length=1024, pattern=r"^[^\x00]*$")]] = Field(
        default_factory=dict, max_length=32, description="ingest tokens only: labels added to every sample")
    rate_per_s: float | None = Field(None, gt=0, le=100_000, description="requests/s; default VIGIL_API_RATE_PER_S")
    burst: int | None = Field(None, ge=1, le=100_000, description="requests back to back; default VIGIL_API_RATE_BURST")


class KeyOut(BaseModel):
    """A key as listed: never its secret."""

    model_config = with_examples(KEY_OUT_EXAMPLE)

    id: str = Field(examples=["3f9a0c12be47"])
    name: str = Field(examples=["grafana"])
    role: KeyRole
    labels: dict[str, str]
    rate_per_s: float | None
    burst: int | None
    created_at: datetime
    created_by: str = Field(examples=["admin-alice"])
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    """A new key: `key` is shown in this answer only (only its SHA-256 is stored)."""

    model_config = with_examples({**KEY_OUT_EXAMPLE, "key": "vk_3f9a0c12be47_Zm9vYmFyYmF6cXV4"})

    key: str = Field(examples=["vk_3f9a0c12be47_Zm9vYmFy..."])


class KeyPage(BaseModel):
    """The keys, oldest first."""

    model_config = with_examples({"items": [KEY_OUT_EXAMPLE]})

    items: list[KeyOut]
