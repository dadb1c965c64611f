"""Agent tokens on every HTTP write: who is sending, or a 401 when tokens are configured.

A token is taken from `Authorization: Bearer …` (Prometheus `authorization`, OTLP exporter
headers), `Authorization: Token …` (InfluxDB clients and Telegraf) or `Authorization: Basic …`
whose password is the token (Prometheus `basic_auth`, Telegraf's influx v1 output). Health,
metrics, docs and the InfluxDB ping stay open. The identified agent is put on the request
(`request.state.agent`) for the pipeline; tokens never reach a log.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from api.keys import presented_key
from ingest import metrics
from ingest.sources import Sources

OPEN_PATHS = ("/healthz", "/metrics", "/ping", "/docs", "/openapi.json", "/redoc")


class AgentTokens:
    """ASGI middleware: identifies the agent by its token, refusing writes without a valid one."""

    def __init__(self, app: ASGIApp, sources: Sources) -> None:
        self.app = app
        self.sources = sources

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        token = presented_key(headers.get(b"authorization", b"").decode("latin-1"))
        agent = self.sources.agent(token) if token else None
        if agent is None and self.sources.tokens_required:
            metrics.UNAUTHORIZED.inc()
            reason = "no token given" if token is None else "the token is not known"
            body = json.dumps({"code": "unauthorized", "message": f"{reason}: send Authorization: Bearer <token> "
                               "(or Token <token>, or basic auth with the token as password)"}).encode()
            await send({"type": "http.response.start", "status": 401, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", b'Bearer realm="vigil-ingest"')]})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})["agent"] = agent
        await self.app(scope, receive, send)
