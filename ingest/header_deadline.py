"""uvicorn's HTTP protocol with a deadline on a request's headers, which uvicorn itself lacks.

uvicorn (0.55) times out only an idle keep-alive connection, and any byte cancels that timer: a
client sending its request line and headers one byte every few seconds holds a connection open
forever (measured: 1,000 such connections took ingest to its 1,024 file descriptors). Here the
headers of each request must be complete within `header_timeout_s` of its first byte (of the
connection, for the first request); otherwise the client gets 408 and the connection is closed,
as nginx's `client_header_timeout` does. The body has its own deadline (ingest/body.py).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ingest import metrics

HEADER_TIMEOUT_S = 10.0
_TIMED_OUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\n"
              b"content-length: 47\r\n\r\nrequest headers not received within the limit\r\n")


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol that answers 408 and closes when a request's headers take too long."""

    header_timeout_s = HEADER_TIMEOUT_S
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_timed_out)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        metrics.HEADER_TIMEOUTS.inc()
        self.transport.write(_TIMED_OUT)
        self.transport.close()


def with_header_timeout(timeout_s: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for uvicorn's `http=` setting, with this deadline."""
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout_s": timeout_s})
