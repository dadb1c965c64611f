"""The OpenAPI document: FastAPI's own, plus how to authenticate and the API's one error shape on every error.

FastAPI documents what the routes declare. This adds what the app does around them:
- `securitySchemes` (bearer, and basic with the key as password) and a security requirement on
  every operation whose dependencies ask for a key (api/auth.py), so /docs has an Authorize button;
- the answers every keyed operation can give (401, 403, 429, 503) and every operation can give
  (422: a bad or unknown parameter, api/strict_params.py), all with the `ApiError` body of api/errors.py
  instead of FastAPI's default validation error shape, which this API never answers.
Authentication itself stays in api/auth.py: this module only describes it.
"""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from api.auth import require
from kernel.keys import Role
from api.models.errors import ApiError

ERROR_SCHEMA = "ApiError"
_REF = "#/components/schemas/{model}"
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "`Authorization: Bearer <key>`; create a key with `vigil keys create --role R --name N`"},
    "basic": {"type": "http", "scheme": "basic",
              "description": "the key as the password, any user name (Grafana's Prometheus data source, "
                             "\"Basic auth\")"},
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}
# status → (description, headers); added to an operation unless it declares that status itself.
KEYED_ERRORS = {
    401: ("no API key, or one that is unknown or revoked", {}),
    403: ("the key's role may not do this; the answer names the role needed", {}),
    429: ("the key is over its rate limit", _RETRY_AFTER),
    503: ("a store (Postgres, Redis, Kafka or the time-series store) did not answer; retry", _RETRY_AFTER),
}
ANY_ERRORS = {
    422: ("a bad parameter or body, or a query parameter the operation does not take; `errors[].loc` names it", {}),
}
BODY_ERRORS = {
    400: ("the body could not be read as the declared media type (e.g. it is not UTF-8)", {}),
}


def _needs_key(route) -> bool:
    """True when a dependency of the route (its own, its router's or the app's) asks for a key."""
    requirements = {require(role) for role in Role}
    pending = [route.dependant]
    while pending:
        current = pending.pop()
        if current.call in requirements:
            return True
        pending.extend(current.dependencies)
    return False


def _is_error(status: str) -> bool:
    return status[:1] in ("4", "5")


def _with_error_body(response: dict) -> None:
    """Give an error response the ApiError body unless it declares its own (e.g. /healthz's 503)."""
    content = response.setdefault("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    fastapi_shape = schema.get("$ref", "").rsplit("/", 1)[-1] in _FASTAPI_VALIDATION
    if not content or fastapi_shape:
        content["application/json"] = {"schema": {"$ref": _REF.format(model=ERROR_SCHEMA)}}


def complete(document: dict, routes: list) -> dict:
    """Add security schemes and requirements and the common error answers to FastAPI's document, in place."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    error_schema = ApiError.model_json_schema(ref_template=_REF)
    schemas.update(error_schema.pop("$defs", {}))
    schemas[ERROR_SCHEMA] = error_schema
    components["securitySchemes"] = SECURITY_SCHEMES
    # Route contexts carry the dependencies of the routers that include a route (FastAPI includes them lazily).
    keyed = {(route.path_format, method.lower()) for route in iter_route_contexts(routes)
             if isinstance(route.original_route, APIRoute) and _needs_key(route) for method in route.methods}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            needs_key = (path, method) in keyed
            if needs_key:
                operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
            responses = operation.setdefault("responses", {})
            common = {**ANY_ERRORS, **(BODY_ERRORS if "requestBody" in operation else {}),
                      **(KEYED_ERRORS if needs_key else {})}
            for status, (description, headers) in common.items():
                responses.setdefault(str(status), {"description": description,
                                                   **({"headers": headers} if headers else {})})
            for status, response in responses.items():
                if _is_error(status):
                    _with_error_body(response)
    for name in _FASTAPI_VALIDATION:  # no operation answers FastAPI's shape any more (outer one first)
        if f'"{_REF.format(model=name)}"' not in json.dumps(document):
            schemas.pop(name, None)
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (and so in /docs), built once on first request."""
    build = app.openapi
    built: list[dict] = []

    def openapi() -> dict:
        if not built:  # FastAPI caches its document in app.openapi_schema: complete it once
            built.append(complete(build(), app.routes))
        return built[0]

    app.openapi = openapi
