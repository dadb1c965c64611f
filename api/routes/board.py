"""`/board`: the live incident board, a static page (no data in it) that reads the API with the user's key.

The page holds no data, so it needs no key: it asks for one and sends it on every API request
(api/board/board.js). Its headers forbid any script, style or connection not from this origin, so
even a label that slipped past the page's escaping could not run code.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(tags=["board"], include_in_schema=False)

ASSETS = {"board.js": "text/javascript; charset=utf-8", "board.css": "text/css; charset=utf-8"}
PAGE = "index.html"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # a new release's page and script must arrive together
}


@cache
def _asset(name: str) -> bytes:
    return resources.files("api").joinpath("board", name).read_bytes()


@router.get("/board")
@router.get("/board/")
async def page() -> Response:
    """The board's HTML page."""
    return Response(_asset(PAGE), media_type="text/html; charset=utf-8", headers=HEADERS)


@router.get("/board/board.js")
async def script() -> Response:
    """The board's script."""
    return Response(_asset("board.js"), media_type=ASSETS["board.js"], headers=HEADERS)


@router.get("/board/board.css")
async def style() -> Response:
    """The board's style sheet."""
    return Response(_asset("board.css"), media_type=ASSETS["board.css"], headers=HEADERS)
