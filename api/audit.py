"""The audit log: one row per write through the API (who, what, when, the resource before and after).

Routes record a change once their store has committed it (`record`), naming the action as
`<resource>.<verb>` (rule.update, silence.expire, incident.acknowledge, key.revoke, …). Secrets
never reach it: keys appear by id and name only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi.encoders import jsonable_encoder
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from api.auth import Principal
from kernel.db import connection
from api.metrics import AUDIT_UNRECORDED

log = logging.getLogger(__name__)


_INSERT = ("INSERT INTO audit_log (key_id, key_name, role, action, resource, resource_id, before, after, remote) "
           "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)")


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(jsonable_encoder(value))


async def record(db: AsyncConnectionPool, who: Principal, action: str, resource_id: str,
                 before: Any = None, after: Any = None) -> None:
    """Append a write to the audit log. The change already happened: a failure here is logged and counted."""
    resource = action.partition(".")[0]
    try:
        async with connection(db) as conn:
            await conn.execute(_INSERT, (who.key_id, who.name, who.role.value, action, resource, resource_id,
                                         _json(before), _json(after), who.remote))
    except Exception as exc:  # the write it records stands; losing its trail must not turn it into an error
        AUDIT_UNRECORDED.inc()
        log.error("audit row for %s %s by key %s not written: %s", action, resource_id, who.key_id, exc)
