"""`/api/v1/routes` and `/api/v1/receivers`: the alerting config in force (VIGIL_ALERTING_CONFIG), read-only.

The API reads the file as the streams worker and the notifier do, and re-reads it when it changes
(kernel/alerting/config_source.py), so what it shows is what the workers route with. Receivers
are shown without their credentials: a secret setting (a PagerDuty routing key, a Slack or webhook
URL, any token) is answered as "redacted", a URL keeping only its scheme and host.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from pydantic import BaseModel, SecretStr

from api import label_filters
from api.errors import BadParam
from api.models.alerting import (IntegrationOut, ReceiverList, ReceiverOut, RouteHitOut, RouteOut, RouteTestResult,
                                 RouteTimings, RouteTree)
from api.timerange import parse_time
from kernel.settings import ApiSettings
from kernel.alerting.receivers import ReceiverConfig
from kernel.alerting.config import AlertingConfig
from kernel.alerting.config_source import ConfigSource
from kernel.alerting.route_trace import receivers_reached, trace
from kernel.alerting.routing import GROUP_BY_ALL, Route, format_duration

router = APIRouter(prefix="/api/v1", tags=["alerting"])

REDACTED = "redacted"
BUILT_IN = "built-in default (no VIGIL_ALERTING_CONFIG): every alert its own incident, to the default receiver"
MAX_TEST_LABELS = 64
_ERRORS = {422: {"description": "a bad parameter; `errors[].loc` names it"}}


def install(app: FastAPI, settings: ApiSettings) -> None:
    """Read the alerting config now (a bad file stops the start, as it stops the workers) and keep it fresh."""
    app.state.alerting = ConfigSource(settings.alerting_config, settings.default_receiver)


def _source(request: Request) -> ConfigSource:
    return request.app.state.alerting


SourceDep = Annotated[ConfigSource, Depends(_source)]


def _where(source: ConfigSource) -> str:
    return str(source.path) if source.path is not None else BUILT_IN


# --- routes tree ---

def _route_out(config: AlertingConfig, route: Route) -> RouteOut:
    return RouteOut(
        path=route.path, matchers=[str(m) for m in route.matchers], receiver=route.receiver,
        receiver_is_schedule=route.receiver in config.schedules,
        group_by=[GROUP_BY_ALL] if route.group_by_all else list(route.group_by),
        timings=RouteTimings(group_wait=format_duration(route.group_wait_ms),
                             group_interval=format_duration(route.group_interval_ms),
                             repeat_interval=format_duration(route.repeat_interval_ms),
                             group_wait_ms=route.group_wait_ms, group_interval_ms=route.group_interval_ms,
                             repeat_interval_ms=route.repeat_interval_ms),
        continue_=route.continue_, mute_time_intervals=list(route.mute_time_intervals),
        active_time_intervals=list(route.active_time_intervals), escalation_policy=route.escalation_policy,
        routes=[_route_out(config, child) for child in route.routes])


@router.get("/routes", response_model=RouteTree, responses=_ERRORS)
async def routes(source: SourceDep) -> RouteTree:
    """The routing tree the workers use: each route's matchers, receiver, grouping, timings and children."""
    config = source()
    return RouteTree(source=_where(source), route=_route_out(config, config.route))


# --- receivers ---

def _redacted_url(url: str) -> str:
    """Scheme and host of a URL that carries a credential (a Slack or webhook URL), the rest redacted."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return REDACTED
    if not parts.scheme or not host:
        return REDACTED
    return f"{parts.scheme}://{host}{port}/… ({REDACTED})"


def _settings(config: BaseModel) -> dict[str, Any]:
    """An integration's settings; every SecretStr redacted (a URL keeps scheme and host), so no credential leaks."""
    shown: dict[str, Any] = {}
    for name in type(config).model_fields:
        value = getattr(config, name)
        if isinstance(value, SecretStr):
            secret = value.get_secret_value()
            value = _redacted_url(secret) if "://" in secret else REDACTED
        elif isinstance(value, BaseModel):
            value = _settings(value)
        shown[name] = value
    return shown


def _receiver_out(receiver: ReceiverConfig) -> ReceiverOut:
    return ReceiverOut(name=receiver.name, integrations=[
        IntegrationOut(id=spec.id, kind=spec.kind, settings=_settings(spec.config))
        for spec in receiver.integrations()])


@router.get("/receivers", response_model=ReceiverList, responses=_ERRORS)
async def receivers(source: SourceDep) -> ReceiverList:
    """The receivers and their integrations (kind and settings); credentials are answered as "redacted"."""
    return ReceiverList(source=_where(source), items=[_receiver_out(r) for r in source().receivers])


# --- routes test ---

def _labels(values: list[str]) -> dict[str, str]:
    if len(values) > MAX_TEST_LABELS:
        raise BadParam("query", "label", f"at most {MAX_TEST_LABELS} labels")
    labels: dict[str, str] = {}
    for name, value in label_filters.parse(values):
        if name in labels:
            raise BadParam("query", "label", f"{name} is given twice; an alert has one value per label")
        labels[name] = value
    return labels


@router.get("/routes/test", response_model=RouteTestResult, responses=_ERRORS)
async def routes_test(
    source: SourceDep,
    label: Annotated[list[str], Query(description="the alert's labels as name=value; repeat for each",
                                      examples=["severity=critical"])] = [],
    at: Annotated[str | None, Query(description="when (muting, on-call): unix seconds or RFC 3339; default now")
                  ] = None,
) -> RouteTestResult:
    """Which routes and receivers an alert with these labels goes to (like `vigil routes test`)."""
    labels = _labels(label)
    at_s = parse_time("at", at) if at is not None else time.time()
    hits = trace(source(), labels, int(at_s * 1000))
    return RouteTestResult(
        labels=labels, at=datetime.fromtimestamp(at_s, tz=timezone.utc),
        routes=[RouteHitOut(path=h.route.path, receiver=h.receiver, schedule=h.schedule, on_call=h.on_call,
                            group_labels=h.group, muted=h.muted) for h in hits],
        receivers=receivers_reached(hits))
