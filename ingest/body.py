"""Reading an HTTP request body with a size limit, decompressing gzip without bomb risk."""

from __future__ import annotations

import zlib

from starlette.requests import Request


class BodyError(Exception):
    """The body can't be read: status and a message for the sender."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The (decompressed) body; BodyError 413 past `max_bytes`, 400 on corrupt gzip, 415 on unknown encoding."""
    raw = await read_raw_body(request, max_bytes)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding == "gzip":
        return gunzip(raw, max_bytes)
    raise BodyError(415, f"Content-Encoding '{encoding}' is not supported; use gzip or identity")


async def read_raw_body(request: Request, max_bytes: int) -> bytes:
    """The body as sent (still compressed); BodyError 413 once it passes `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise BodyError(413, f"request body is {int(declared)} bytes; the limit is {max_bytes} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise BodyError(413, f"request body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def gunzip(raw: bytes, max_bytes: int) -> bytes:
    """Decompress gzip, refusing output larger than `max_bytes` (a zip bomb stops there)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, max_bytes + 1)
    except zlib.error as exc:
        raise BodyError(400, f"body is not valid gzip: {exc}") from None
    if len(out) > max_bytes:
        raise BodyError(413, f"decompressed body exceeds the limit of {max_bytes} bytes")
    if not inflater.eof:
        raise BodyError(400, "gzip body is truncated")
    return out
