"""The incident engine's group store over a plain dict: for replays outside a worker (tests, benchmarks).

A worker uses streams/state.StateStore (a changelog-backed Faust table); the engine needs only
get/put/changed/keys from it.
"""

from __future__ import annotations

from streams.incidents.group import Group


class MemoryStore:
    """Groups by id, in memory."""

    def __init__(self) -> None:
        self.live: dict[str, Group] = {}

    def get(self, key: str) -> Group | None:
        return self.live.get(key)

    def put(self, key: str, partition: int, state: Group) -> None:
        self.live[key] = state

    def changed(self, key: str) -> None:
        """Nothing to write: the dict is the state."""

    def keys(self) -> set[str]:
        return set(self.live)
