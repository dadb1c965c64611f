"""What the worker keeps per query rule group in its changelog-backed table: a versioned record.

The kernel's GroupState (alerts with their `for` progress, StartsAt, keep_firing_for, the series
written last) plus what Vigil adds: the AlertEvent sequence of each fingerprint, so a successor
continues the sequence instead of paging again, and when the group was last evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from kernel.prom_rules import GroupState, StateCodecError, decode_state, encode_state

RECORD_VERSION = 1
RECORD_KEY_PREFIX = "query/"


@dataclass
class GroupRecord:
    """One query group's state as persisted."""

    state: GroupState
    sequences: dict[str, int] = field(default_factory=dict)  # fingerprint → last AlertEvent sequence sent
    evaluated_at_ms: int = 0


def record_key(group: str) -> str:
    """The table key of a group's record (apart from the stream rules' keys, which start with a rule id)."""
    return RECORD_KEY_PREFIX + group


def to_value(record: GroupRecord) -> dict:
    """The record as the JSON object the state table stores."""
    return {"query_group": RECORD_VERSION, "state": orjson.loads(encode_state(record.state)),
            "sequences": record.sequences, "evaluated_at_ms": record.evaluated_at_ms}


def from_value(value: dict) -> GroupRecord:
    """A record from the table's JSON object; StateCodecError when it is another version or damaged."""
    if value.get("query_group") != RECORD_VERSION:
        raise StateCodecError(f"query group record version {value.get('query_group')!r}, this code reads "
                              f"{RECORD_VERSION}")
    try:
        return GroupRecord(decode_state(orjson.dumps(value["state"])), {str(k): int(v) for k, v in
                                                                         value["sequences"].items()},
                           int(value["evaluated_at_ms"]))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, StateCodecError):
            raise
        raise StateCodecError(f"damaged query group record: {exc!r}") from None
