"""What one step of the incident processor produced for one group: records to send, then the state to write."""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.records import IncidentEvent, Notification


@dataclass(slots=True)
class Outputs:
    """IncidentEvents and Notifications of one group, and the reason of each decision taken."""

    gid: str
    events: list[IncidentEvent] = field(default_factory=list)
    notes: list[Notification] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.notes)
