"""Series identity, computed in this one place: a stable 64-bit hash of name and sorted labels."""

from __future__ import annotations

from hashlib import blake2b


def labels_key(labels: dict[str, str]) -> bytes:
    """Canonical bytes of a label set: pairs sorted by key, each part length-prefixed.

    Length prefixes make the encoding unambiguous whatever characters names and values hold.
    Samples of one line share a label set, so callers compute this once per set.
    """
    return "".join([f"{len(key)}:{key}{len(value)}:{value}" for key, value in sorted(labels.items())]).encode()


def series_key(name: str, labels: dict[str, str]) -> bytes:
    """Canonical bytes of a series: the length-prefixed name, then its labels_key."""
    return f"{len(name)}:{name}".encode() + labels_key(labels)


def series_id_of(name: str, key_of_labels: bytes) -> int:
    """series_id from a precomputed labels_key (the hot path of ingest)."""
    digest = blake2b(f"{len(name)}:{name}".encode() + key_of_labels, digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class SeriesIds:
    """series_id_of with a bounded memo: agents send the same series every interval."""

    def __init__(self, max_entries: int = 1_000_000, max_bytes: int = 128 * 1024 * 1024) -> None:
        self._ids: dict[tuple[str, bytes], int] = {}
        self._max = max_entries
        self._max_bytes = max_bytes  # labels_keys are the sender's: a count alone bounds no memory
        self.bytes = 0

    def of(self, name: str, key_of_labels: bytes) -> int:
        """The series id of name + labels_key, hashed once per series while it stays in the memo."""
        memo_key = (name, key_of_labels)
        found = self._ids.get(memo_key)
        if found is None:
            size = len(name) + len(key_of_labels) + 250  # dict slot, key tuple, str/bytes/int headers
            if len(self._ids) >= self._max or self.bytes + size > self._max_bytes:
                self._ids.clear()  # cheaper than LRU bookkeeping; a clear costs one re-hash per series
                self.bytes = 0
            found = self._ids[memo_key] = series_id_of(name, key_of_labels)
            self.bytes += size
        return found


def series_id(name: str, labels: dict[str, str]) -> int:
    """Signed 64-bit id (fits Avro `long`), identical across processes and releases."""
    return series_id_of(name, labels_key(labels))


SERIES_ID_MASK = 0x7FFF_FFFF_FFFF_FFFF


def partition_for(series: int, partitions: int) -> int:
    """Metrics-topic partition of a series: every sample of it lands on the same one."""
    return (series & SERIES_ID_MASK) % partitions


def fingerprint(labels: dict[str, str]) -> str:
    """Alert fingerprint: 16 hex digits of the hash of the alert's full label set."""
    return blake2b(series_key("", labels), digest_size=8).hexdigest()


def group_id(route: str, group_labels: dict[str, str]) -> str:
    """Incident group id: 16 hex digits of the hash of the route path and the group_by label values."""
    return blake2b(series_key(route, group_labels), digest_size=8).hexdigest()


def incident_partition(incident_key: str, partitions: int) -> int:
    """Partition of an incident's state and of the commands for it: from the group id before the dot."""
    return int(incident_key.split(".", 1)[0][:16], 16) % partitions
