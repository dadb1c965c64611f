"""`/api/v1/stream`: live alert and incident changes as Server-Sent Events, filtered per client.

Each change is one event (https://html.spec.whatwg.org/multipage/server-sent-events.html):
`event: alert|incident`, `id: <fingerprint or incident key>:<sequence>`, `data: <JSON>` (AlertChange,
IncidentChange in api/models/stream.py). Only changes after the client connected are sent: a client reads
the current state from the list routes, then applies the stream. A comment line every
`VIGIL_API_STREAM_HEARTBEAT_S` keeps proxies from closing a quiet stream; a client that falls too
far behind gets `event: overflow` and the stream ends (reconnect and reload); a stream whose key was
revoked gets `event: revoked` at its next heartbeat and ends. EventSource can't send
an Authorization header: browsers read the stream with fetch() (see api/board/board.js).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from api import label_filters
from api.errors import BadParam
from api.live import CLOSED, KINDS, OVERFLOW, LiveEvent, LiveFeed
from api.models.alerts import AlertStatus
from api.models.incidents import IncidentStatus
from api.models.stream import AlertChange, IncidentChange

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/stream", tags=["stream"])

MAX_FILTERS = 20
MAX_NAME_CHARS = 200
RECONNECT_MS = 3000  # the SSE `retry:` a client should wait before reconnecting
REVOKED = "revoked"
STATUSES = {"alert": {s.value for s in AlertStatus}, "incident": {s.value for s in IncidentStatus}}
# Buffering proxies (nginx) would hold events back; caches must never answer a stream.
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_EXAMPLE = ('event: incident\nid: 9f3c2a1b4d5e6f70.3:2\ndata: {"incident_key":"9f3c2a1b4d5e6f70.3","sequence":2,'
            '"status":"ACKNOWLEDGED","previous_status":"OPEN","reason":"acknowledged","actor":"alice",...}\n\n'
            ": keepalive\n\n")
_RESPONSES = {200: {"description": "an endless text/event-stream: `alert` events (data: AlertChange), `incident` "
                                   "events (data: IncidentChange), `overflow` (the client fell behind; the stream "
                                   "ends), `revoked` (the key was revoked; the stream ends) and `:` comment lines "
                                   "(heartbeats)",
                    "content": {"text/event-stream": {
                        "schema": {"type": "string"}, "example": _EXAMPLE,
                        # What `data:` of each event holds (OpenAPI has no way to describe SSE frames).
                        "x-sse-events": {"alert": AlertChange.model_json_schema(),
                                         "incident": IncidentChange.model_json_schema()}}}},
              422: {"description": "a bad filter; `errors[].loc` names it"}}


@dataclass(frozen=True)
class StreamFilter:
    """Which changes a client wants: every given filter must match (an empty one matches everything)."""

    kinds: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()
    labels: tuple[tuple[str, str], ...] = ()

    def __call__(self, event: LiveEvent) -> bool:
        """Whether the client wants this change."""
        return ((not self.kinds or event.kind in self.kinds)
                and (not self.severities or event.severity in self.severities)
                and (not self.statuses or event.status in self.statuses)
                and all(event.labels.get(name) == value for name, value in self.labels))


def _kinds(values: list[str]) -> frozenset[str]:
    for value in values:
        if value not in KINDS:
            raise BadParam("query", "kind", f"{value[:40]!r} is not one of {', '.join(KINDS)}")
    return frozenset(values)


def _statuses(values: list[str], kinds: frozenset[str]) -> frozenset[str]:
    """Upper-cased statuses; each must be a status of a requested kind (else it could never match)."""
    of = kinds or frozenset(KINDS)
    for value in values:
        if not any(value.upper() in STATUSES[kind] for kind in of):
            allowed = sorted({s.lower() for kind in of for s in STATUSES[kind]})
            raise BadParam("query", "status", f"{value[:40]!r} is not a status of {' or '.join(sorted(of))} events "
                                              f"({', '.join(allowed)})")
    return frozenset(value.upper() for value in values)


def frame(event: LiveEvent) -> bytes:
    """One SSE event; JSON keeps `data` on one line (newlines inside strings are escaped)."""
    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event.kind}\nid: {event.id}\ndata: {data}\n\n".encode()


def _body(chunk: bytes, more: bool = True) -> dict:
    return {"type": "http.response.body", "body": chunk, "more_body": more}


class EventStream(StreamingResponse):
    """An SSE answer fed by one subscription, which is dropped as soon as the client goes away."""

    media_type = "text/event-stream"

    def __init__(self, feed: LiveFeed, accept: StreamFilter, key_live: Callable[[], Awaitable[bool]]) -> None:
        super().__init__(iter(()), headers=HEADERS)  # the body comes from the subscription, not an iterator
        self._feed = feed
        self._accept = accept
        self._key_live = key_live  # asked at each heartbeat: a revoked key's stream ends

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        subscription = self._feed.subscribe(self._accept)
        stream = asyncio.create_task(self._stream(send, subscription))
        gone = asyncio.create_task(_until_disconnect(receive))
        try:
            await asyncio.wait({stream, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when the server cancels us at shutdown
            self._feed.unsubscribe(subscription)
            for task in (stream, gone):
                task.cancel()
            results = await asyncio.gather(stream, gone, return_exceptions=True)
        if isinstance(results[0], Exception) and not isinstance(results[0], OSError):  # OSError: client gone
            log.error("live stream failed", exc_info=results[0])

    async def _stream(self, send: Send, subscription) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        # The first bytes tell the client it is subscribed: changes from here on reach it.
        await send(_body(f": connected\nretry: {RECONNECT_MS}\n\n".encode()))
        while True:
            try:
                async with asyncio.timeout(self._feed.heartbeat_s):
                    event = await subscription.next()
            except TimeoutError:
                if not await self._key_live():
                    await send(_body(frame(LiveEvent(REVOKED, REVOKED, data={
                        "detail": "the API key of this stream was revoked"}))))
                    break
                await send(_body(b": keepalive\n\n"))
                continue
            if event.kind == CLOSED:
                break
            await send(_body(frame(event)))
            if event.kind == OVERFLOW:
                break
        await send(_body(b"", more=False))


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


@router.get("", status_code=200, response_class=EventStream, responses=_RESPONSES,
            summary="Live alert and incident changes (Server-Sent Events)")
async def stream(
    request: Request,
    kind: Annotated[list[str], Query(description="alert or incident; repeat for both (default: both)")] = [],
    severity: Annotated[list[str], Query(description="repeat for several", examples=["critical"])] = [],
    label: Annotated[list[str], Query(description="name=value on an alert's labels or an incident's group "
                                                  "labels; every one must match", examples=["env=prod"])] = [],
    status: Annotated[list[str], Query(description="status after the change, any case: pending, firing, resolved "
                                                   "(alerts); open, acknowledged, escalated, critical, resolved "
                                                   "(incidents); repeat for several")] = [],
) -> EventStream:
    """Changes of alerts and incidents from now on, as Server-Sent Events, with a heartbeat when quiet."""
    if len(kind) + len(severity) + len(label) + len(status) > MAX_FILTERS:
        raise BadParam("query", "label", f"at most {MAX_FILTERS} filters in one request")
    if any(len(value) > MAX_NAME_CHARS for value in severity):
        raise BadParam("query", "severity", f"longer than {MAX_NAME_CHARS} characters")
    kinds = _kinds(kind)
    accept = StreamFilter(kinds, frozenset(severity), _statuses(status, kinds), tuple(label_filters.parse(label)))
    auth, who = request.app.state.auth, request.state.principal
    return EventStream(request.app.state.live, accept, lambda: auth.still_live(who))
