"""Refuse query parameters a route doesn't declare: a typo (`stauts=firing`) must not silently widen a filter.

One app-level dependency (`FastAPI(dependencies=[Depends(strict_query)])`) looks at the route the
request matched and the query parameters its dependency tree declares (the endpoint's own and
those of every sub-dependency), and answers 422 naming each unknown parameter and the allowed ones.

A route that takes any parameters by design (a Prometheus-compatible endpoint that Grafana sends
its own extras to) opts out with `openapi_extra=ANY_QUERY` (or `{**ANY_QUERY, ...}`), which also
documents the fact in the OpenAPI document as the `x-any-query-params` extension.
"""

from __future__ import annotations

from typing import Any, Union, get_args, get_origin

from fastapi import routing
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from pydantic import AliasChoices, BaseModel
from starlette.requests import HTTPConnection

ANY_QUERY_FLAG = "x-any-query-params"
ANY_QUERY: dict[str, Any] = {ANY_QUERY_FLAG: True}
MAX_NAME_CHARS = 80
# Allowed names, computed once per route and kept on it: a route's dependency tree never changes once built.
_CACHE_ATTR = "_vigil_allowed_query"
_ANY = "*"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model of a query-parameter model (`Annotated[Filters, Query()]`, optional or not)."""
    if get_origin(annotation) is Union:
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        annotation = members[0] if len(members) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _names_of(field) -> list[str]:
    """The names a query field is read from: its alias, and every choice of an AliasChoices."""
    names = [field.alias]
    choices = field.field_info.validation_alias
    if isinstance(choices, AliasChoices):
        names.extend(choice for choice in choices.choices if isinstance(choice, str))
    return names


def declared_query_params(dependant: Dependant) -> tuple[str, ...]:
    """Query parameter names a route's dependency tree declares, in declaration order, without repeats."""
    names: dict[str, None] = {}
    pending = [dependant]
    while pending:
        current = pending.pop()
        for field in current.query_params:
            model = _model_of(field.field_info.annotation)
            if model is None:
                names.update(dict.fromkeys(_names_of(field)))
            else:
                names.update(dict.fromkeys(info.alias or name for name, info in model.model_fields.items()))
        pending.extend(reversed(current.dependencies))
    return tuple(names)


def _allowed(route: Any) -> tuple[str, ...] | None:
    """The query parameters `route` takes, or None when it takes any (opted out, or not a FastAPI route)."""
    allowed = getattr(route, _CACHE_ATTR, None)
    if allowed is None:
        dependant = getattr(route, "dependant", None)
        extra = getattr(route, "openapi_extra", None) or {}
        allowed = _ANY if dependant is None or extra.get(ANY_QUERY_FLAG) else declared_query_params(dependant)
        setattr(route, _CACHE_ATTR, allowed)
    return None if allowed == _ANY else allowed


def _matched(scope: dict) -> Any:
    """The route as FastAPI runs it: with the dependencies of the routers that include it, when FastAPI says so.

    FastAPI ≥ 0.16x includes routers lazily: `scope["route"]` is the route as its own router declared
    it, and the route with its includers' dependencies is an "effective context" FastAPI keeps in the scope.
    """
    effective = getattr(routing, "_get_scope_effective_route_context", None)
    context = effective(scope) if effective is not None else None
    return context if getattr(context, "dependant", None) is not None else scope.get("route")


async def strict_query(connection: HTTPConnection) -> None:
    """Refuse (422) query parameters the matched route does not declare, naming them and the allowed ones."""
    route = _matched(connection.scope)
    allowed = _allowed(route) if route is not None else None
    if allowed is None:
        return
    unknown = [name for name in dict.fromkeys(connection.query_params) if name not in allowed]
    if not unknown:
        return
    takes = f"this route takes {', '.join(allowed)}" if allowed else "this route takes no query parameters"
    raise RequestValidationError([
        {"type": "extra_forbidden", "loc": ("query", name.replace("\x00", "\\0")[:MAX_NAME_CHARS]),
         "msg": f"unknown parameter; {takes}", "input": None} for name in unknown])
