"""Agent tokens on every HTTP write: who is sending, or a 401 when tokens are required.

A token is taken from `Authorization: Bearer …` (Prometheus `authorization`, OTLP exporter
headers), `Authorization: Token …` (InfluxDB clients and Telegraf) or `Authorization: Basic …`
whose password is the token (Prometheus `basic_auth`, Telegraf's influx v1 output). Health,
metrics, docs and the InfluxDB ping stay open. The identified agent is put on the request
(`request.state.agent`) for the pipeline; tokens never reach a log.

Whether a token is required is the `TokenPolicy` of the process (VIGIL_INGEST_AUTH): `auto`
requires one as soon as tokens are in use, and stays so when the last one is revoked; only
`open` turns the requirement off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from weakref import WeakKeyDictionary

from starlette.types import ASGIApp, Receive, Scope, Send

from kernel.keys import presented_key
from ingest import metrics
from ingest.sources import Sources

OPEN_PATHS = ("/healthz", "/metrics", "/ping", "/docs", "/openapi.json", "/redoc")
HOW_TO_SEND = "send Authorization: Bearer <token> (or Token <token>, or basic auth with the token as password)"


class AuthMode(str, Enum):
    """VIGIL_INGEST_AUTH."""

    AUTO = "auto"          # required once any token is configured or was ever stored
    REQUIRED = "required"  # always required, even before the first token exists
    OPEN = "open"          # never required; a valid token still names the agent


@dataclass
class TokenPolicy:
    """Whether HTTP writes need a valid token in this process."""

    mode: AuthMode = AuthMode.AUTO
    # An ingest token was stored in Postgres at some point, live or revoked. Only ever set, never
    # cleared: revoking every token must not open ingest, and neither may a refresh that read nothing.
    tokens_in_use: bool = False

    def required(self, sources: Sources) -> bool:
        """True when a write without a valid token is refused."""
        if self.mode is AuthMode.OPEN:
            return False
        return self.mode is AuthMode.REQUIRED or self.tokens_in_use or sources.tokens_required

    def saw_stored_tokens(self, ever_created: bool) -> None:
        """Record what the token store said: once tokens were in use, they stay required."""
        self.tokens_in_use = self.tokens_in_use or ever_created


# The middleware (added by ingest/app.py), the token refresh and the pipeline assembly share the
# process's one `Sources`; its policy is kept beside it here.
_POLICIES: WeakKeyDictionary[Sources, TokenPolicy] = WeakKeyDictionary()


def policy_of(sources: Sources) -> TokenPolicy:
    """The token policy that goes with `sources` (AUTO until configured)."""
    policy = _POLICIES.get(sources)
    if policy is None:
        policy = _POLICIES[sources] = TokenPolicy()
    return policy


class AgentTokens:
    """ASGI middleware: identifies the agent by its token, refusing writes without a valid one when required."""

    def __init__(self, app: ASGIApp, sources: Sources) -> None:
        self.app = app
        self.sources = sources
        self.policy = policy_of(sources)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(OPEN_PATHS):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        token = presented_key(headers.get(b"authorization", b"").decode("latin-1"))
        agent = self.sources.agent(token) if token else None
        if agent is None and self.policy.required(self.sources):
            metrics.UNAUTHORIZED.inc()
            await _refuse(send, self._reason(token))
            return
        scope.setdefault("state", {})["agent"] = agent
        await self.app(scope, receive, send)

    def _reason(self, token: str | None) -> str:
        if not self.sources.tokens_required and not self.policy.tokens_in_use:
            return ("an agent token is required (VIGIL_INGEST_AUTH=required) but none exists yet: create one with "
                    f"`vigil keys create --role ingest --name AGENT`, then {HOW_TO_SEND}")
        if token is None:
            return f"no token given: {HOW_TO_SEND}"
        return f"the token is not known or was revoked: {HOW_TO_SEND}"


async def _refuse(send: Send, message: str) -> None:
    body = json.dumps({"code": "unauthorized", "message": message}).encode()
    await send({"type": "http.response.start", "status": 401, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="vigil-ingest"')]})
    await send({"type": "http.response.body", "body": body})
