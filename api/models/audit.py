"""`/api/v1/audit`: one write through the API, and a page of the audit log."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from api.models.examples import with_examples
from api.models.keys import KeyRole


AUDIT_EXAMPLE = {"id": 1042, "at": "2026-12-01T21:58:40Z", "key_id": "3f9a0c12be47", "key_name": "operator-alice",
                 "role": "operator", "action": "silence.create", "resource": "silence",
                 "resource_id": "4b1e0c1e-3f2a-4c55-9a43-0b5f0e9b2d61", "before": None,
                 "after": {"id": "4b1e0c1e-3f2a-4c55-9a43-0b5f0e9b2d61", "version": 1}, "remote": "10.0.4.17"}


class AuditEntry(BaseModel):
    """One write through the API: who (key id and name, role, address), what, when, before and after."""

    model_config = with_examples(AUDIT_EXAMPLE)

    id: int
    at: datetime
    key_id: str
    key_name: str
    role: KeyRole
    action: str = Field(examples=["silence.create"])
    resource: str = Field(examples=["silence"])
    resource_id: str
    before: dict | None
    after: dict | None
    remote: str


class AuditPage(BaseModel):
    """One page of the audit log, newest first; pass `next_cursor` as `cursor` for the next page."""

    model_config = with_examples({"items": [AUDIT_EXAMPLE], "next_cursor": "1041"})

    items: list[AuditEntry]
    next_cursor: str | None = None
