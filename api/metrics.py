"""The API's self-metrics (labels are bounded: the route template, the method and the status code)."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_SECONDS = Histogram("vigil_api_request_seconds", "API requests by route template and status",
                            ["method", "route", "status"],
                            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
RATE_LIMITED = Counter("vigil_api_rate_limited_total", "API requests refused by a key's rate limit")
RATE_UNCHECKED = Counter("vigil_api_rate_limit_unchecked_total", "API requests let through because Redis did not answer")
AUDIT_UNRECORDED = Counter("vigil_api_audit_unrecorded_total", "API writes whose audit row could not be written")
STREAM_SUBSCRIBERS = Gauge("vigil_api_stream_subscribers", "Clients connected to the live stream")
STREAM_OVERFLOWS = Counter("vigil_api_stream_overflows_total", "Live-stream clients dropped because they fell behind")
STREAM_EVENTS = Counter("vigil_api_stream_events_total", "Changes read from the topics by the live feed", ["kind"])


class RequestMetrics:
    """ASGI middleware timing every HTTP request; unknown paths count under route `unmatched`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app raises before answering

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            REQUEST_SECONDS.labels(scope["method"], getattr(route, "path", "unmatched"),
                                   str(status)).observe(time.perf_counter() - started)
