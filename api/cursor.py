"""Opaque keyset cursors for list endpoints: the sort key of the last row handed out."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from api.errors import BadParam

MAX_CURSOR_CHARS = 200


def encode(updated_at: datetime, fingerprint: str) -> str:
    """The cursor that resumes a listing after the row (updated_at, fingerprint)."""
    raw = json.dumps([updated_at.isoformat(), fingerprint], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, str]:
    """The sort key inside a cursor; BadParam naming `cursor` when it is not one this API issued."""
    problem = BadParam("query", "cursor", "not a cursor this API issued; pass next_cursor from a previous page")
    if len(cursor) > MAX_CURSOR_CHARS:
        raise problem
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        stamp, fingerprint = json.loads(raw)
        updated_at = datetime.fromisoformat(stamp)
    except (binascii.Error, ValueError, TypeError):
        raise problem from None
    if not isinstance(fingerprint, str) or updated_at.tzinfo is None:
        raise problem
    return updated_at, fingerprint
