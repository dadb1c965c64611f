"""Reading an HTTP request body with a size limit and a deadline, decompressing gzip without bomb risk."""

from __future__ import annotations

import asyncio
import logging
import zlib

from starlette.requests import ClientDisconnect, Request

log = logging.getLogger(__name__)

# A sender has this long, from the first byte we ask for, to deliver the whole body. Without it a
# client trickling one byte every few seconds holds a connection (and an in-flight slot) forever.
BODY_READ_TIMEOUT_S = 30.0
# nginx's "client closed request": nobody reads the answer, it only labels the request metric.
CLIENT_CLOSED = 499


class BodyError(Exception):
    """The body can't be read: status and a message for the sender."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request: Request, max_bytes: int, timeout_s: float = BODY_READ_TIMEOUT_S) -> bytes:
    """The (decompressed) body; BodyError 413 past `max_bytes`, 400 on corrupt gzip, 415 on unknown encoding,
    408 when not received within `timeout_s`, 499 when the client went away."""
    raw = await read_raw_body(request, max_bytes, timeout_s)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding == "gzip":
        return gunzip(raw, max_bytes)
    raise BodyError(415, f"Content-Encoding '{encoding}' is not supported; use gzip or identity")


async def read_raw_body(request: Request, max_bytes: int, timeout_s: float = BODY_READ_TIMEOUT_S) -> bytes:
    """The body as sent (still compressed); BodyError 413 once it passes `max_bytes`, 408 when it is not
    all there within `timeout_s`, 499 (logged at DEBUG, no traceback) when the client disconnects mid-body."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyError(413, f"request body is {int(declared)} bytes; the limit is {max_bytes} bytes")
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise BodyError(413, f"request body exceeds the limit of {max_bytes} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise BodyError(408, f"request body not received within {timeout_s:g} s ({size} bytes arrived); "
                             "send the whole body at once") from None
    except ClientDisconnect:
        log.debug("client disconnected after %d bytes of the request body", size)
        raise BodyError(CLIENT_CLOSED, "client closed the connection before the body was complete") from None
    return b"".join(chunks)


def gunzip(raw: bytes, max_bytes: int) -> bytes:
    """Decompress gzip, every member of it (RFC 1952 §2.2: a file is a series of members, as `gzip -c a b`
    writes), refusing output larger than `max_bytes` in total (a zip bomb stops there) and bytes after a
    member that are not another member."""
    out = []
    size = 0
    rest = raw
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(rest, max_bytes - size + 1)
        except zlib.error as exc:
            if out:
                raise BodyError(400, f"gzip body has {len(rest)} bytes after its last member that are not "
                                     f"another gzip member: {exc}") from None
            raise BodyError(400, f"body is not valid gzip: {exc}") from None
        size += len(part)
        if size > max_bytes:
            raise BodyError(413, f"decompressed body exceeds the limit of {max_bytes} bytes")
        out.append(part)
        if not inflater.eof:
            raise BodyError(400, "gzip body is truncated")
        rest = inflater.unused_data
        if not rest:
            return b"".join(out)
