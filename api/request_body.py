"""What a write request carries, read and checked by hand: its JSON body (size-limited) and its If-Match version.

The rules and silences routes read their bodies here rather than through FastAPI, so a body too
large, not JSON, or holding what Postgres and Avro can't store is refused with a RequestProblem
whose `loc` names the spot; `answer` turns problems into the API's error shape.
"""

from __future__ import annotations

import json
import math

from fastapi import Request
from fastapi.responses import JSONResponse

_REQUEST_PARTS = ("body", "path", "query", "header")


class RequestProblem(Exception):
    """Bad input found before or while validating a body; answered in the API's error shape."""

    def __init__(self, status: int, problems: list[dict]) -> None:
        super().__init__(problems[0]["msg"])
        self.status = status
        self.problems = problems


def problem(status: int, loc: list[str], msg: str) -> RequestProblem:
    """A RequestProblem with one problem at `loc`."""
    return RequestProblem(status, [{"loc": loc, "msg": msg}])


def answer(status: int, problems: list[dict], headers: dict | None = None) -> JSONResponse:
    """The problems as `{"detail", "errors"}`; `body.matchers.0` reads as `matchers.0: …` in the detail."""
    # A store (`kafka`) is named by the message itself.
    detail = "; ".join(f"{'.'.join(p['loc'][1:]) or p['loc'][0]}: {p['msg']}" if p["loc"][0] in _REQUEST_PARTS
                       else p["msg"] for p in problems)
    return JSONResponse({"detail": detail, "errors": problems}, status_code=status, headers=headers)


async def read_body(request: Request, max_bytes: int, what: str) -> bytes:
    """The body, refused with 413 past `max_bytes` without reading the rest; `what` names the resource."""
    too_large = problem(413, ["body"], f"larger than {max_bytes // 1024} KB; a {what} is far smaller")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def json_object(request: Request, max_bytes: int, what: str) -> dict:
    """The JSON object in the body; RequestProblem (413/415/422) when it is not one."""
    raw = await read_body(request, max_bytes, what)
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise problem(415, ["header", "Content-Type"], f"{content_type[:80]!r}: send the {what} as application/json")
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise problem(422, ["body"], "not UTF-8") from None
    except RecursionError:
        raise problem(422, ["body"], "nested too deeply") from None
    except ValueError as exc:
        raise problem(422, ["body"], f"not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(document, dict):
        raise problem(422, ["body"], f"expected a JSON object (one {what}), got {type(document).__name__}")
    return document


def text_problem(value: str) -> str | None:
    """Why Postgres or Avro can't hold this text (NUL, lone surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL byte"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate (not valid Unicode)"
    return None


def check_values(document: object) -> None:
    """Refuse what Postgres or JSON can't hold: NUL, lone surrogates, NaN/Infinity; `loc` names the spot."""
    pending: list[tuple[list[str], object]] = [(["body"], document)]
    while pending:
        loc, value = pending.pop()
        if isinstance(value, str):
            if (why := text_problem(value)) is not None:
                raise problem(422, loc, why)
        elif isinstance(value, float) and not math.isfinite(value):
            raise problem(422, loc, "must be a finite number")
        elif isinstance(value, dict):
            for key, item in value.items():
                shown = key.replace("\x00", "\\0")[:80]
                if "\x00" in key:
                    raise problem(422, [*loc, shown], "field name contains a NUL byte")
                pending.append(([*loc, shown], item))
        elif isinstance(value, list):
            pending.extend(([*loc, str(i)], item) for i, item in enumerate(value))


def expected_version(value: str | None, what: str) -> int | None:
    """The version an `If-Match: "3"` header expects; None for no header or `*` (any current version)."""
    if value is None or value.strip() == "*":
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise problem(422, ["header", "If-Match"], f"{value[:40]!r} is not a {what} version like \"3\"")
    return int(tag)
