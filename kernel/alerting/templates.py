"""Per-integration Jinja2 templates (Slack title/text, PagerDuty description/severity), sandboxed: the language.

Part of the alerting config: checked wherever a config is loaded; notifier/templates.py renders them.

Templates run in Jinja2's immutable sandbox (https://jinja.palletsprojects.com/en/3.1.x/sandbox/):
no attribute starting with `_`, no calls that change data, `range` capped; a template can't reach
Python internals (`{{ ''.__class__ }}` is refused). Undefined names fail (StrictUndefined) instead
of rendering as empty text; write `{{ common_labels.team | default('') }}` for an optional label.

The context of every template:

    status              firing | acknowledged | resolved   (the notification's action)
    receiver            the receiver name the notification is addressed to
    incident            {key, status, reason, group_key}
    group_labels, common_labels, common_annotations          dicts of text
    alerts, firing, resolved   lists of {fingerprint, status, alertname, labels, annotations,
                               starts_at, ends_at (RFC 3339, "" when unset), value}
    truncated_alerts    alerts the notification left out
    title, text, severity      as the incident processor rendered them

For Slack, every `{{ … }}` output is escaped for mrkdwn (notifier/slack/mrkdwn.py) while the
template's own text is not: `<{{ common_annotations.runbook_url }}|runbook>` stays a link, a label
value holding `<!channel>` shows as typed. Filters see the raw values; a value printed twice through
`{% set %}` blocks or macros is escaped twice.

`check_receivers` compiles every template and renders it against a sample notification, so a
broken template fails when the alerting config is loaded (`vigil routes check`), not at 3 a.m.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from kernel.alerting.notification import STATUS, alerts_of, common_annotations, common_labels, incident_key, rfc3339
from kernel.alerting.receiver_kinds import RECEIVER_KINDS
from schemas.records import Notification, NotifiedAlert

if TYPE_CHECKING:
    from kernel.alerting.receivers import ReceiverConfig

_ENV = ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False,
                                     keep_trailing_newline=False)
_ESCAPING_ENVS: dict[Callable[[str], str], jinja2.Environment] = {}


def _env(escape: Callable[[str], str] | None) -> jinja2.Environment:
    """The sandbox; with `escape`, every `{{ … }}` output goes through it while the template's own text does not.

    Jinja's `finalize` runs on each expression's value as it is printed, after filters, so a label
    value can't bring markup into a Slack message while a link written into the template stays one.
    """
    if escape is None:
        return _ENV
    if escape not in _ESCAPING_ENVS:
        _ESCAPING_ENVS[escape] = ImmutableSandboxedEnvironment(
            undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False,
            finalize=lambda value: escape(value if isinstance(value, str) else str(value)))
    return _ESCAPING_ENVS[escape]


class TemplateError(ValueError):
    """A template that does not compile or render; names the receiver, integration and field."""


def _alert(alert: NotifiedAlert) -> dict[str, Any]:
    return {"fingerprint": alert["fingerprint"], "status": alert["status"], "alertname": alert["alertname"],
            "labels": alert["labels"], "annotations": alert["annotations"],
            "starts_at": rfc3339(alert["starts_at_ms"]),
            "ends_at": rfc3339(alert["ends_at_ms"]) if alert["ends_at_ms"] is not None else "",
            "value": alert["value"]}


def context(note: Notification) -> dict[str, Any]:
    """The variables a template sees for `note` (see the module docstring)."""
    alerts = [_alert(a) for a in alerts_of(note)]
    return {
        "status": STATUS[note["action"]], "receiver": note["receiver"],
        "incident": {"key": incident_key(note), "status": note.get("incident_status", ""),
                     "reason": note.get("reason", ""), "group_key": note.get("group_key", "")},
        "group_labels": note.get("group_labels") or {}, "common_labels": common_labels(note),
        "common_annotations": common_annotations(note), "alerts": alerts,
        "firing": [a for a in alerts if a["status"] == "firing"],
        "resolved": [a for a in alerts if a["status"] == "resolved"],
        "truncated_alerts": note.get("truncated_alerts", 0),
        "title": note["title"], "text": note["text"], "severity": note["severity"],
    }


class _AnyKey(dict):
    """A sample label map: any label a template asks for exists (the real ones may not)."""

    def __missing__(self, key: str) -> str:
        return f"sample-{key}"


def _sample_context() -> dict[str, Any]:
    """The context of a two-alert sample incident whose label maps answer every key."""
    labels = {"alertname": "HighCPU", "host": "web-1", "severity": "critical"}
    alerts = [NotifiedAlert(fingerprint=f"fp{i}", status=status, alertname="HighCPU",
                            labels=_AnyKey({**labels, "host": f"web-{i}"}), annotations=_AnyKey(summary="CPU high"),
                            starts_at_ms=1_700_000_000_000, ends_at_ms=None if status == "firing" else 1_700_000_060_000,
                            value=97.5)
              for i, status in enumerate(("firing", "resolved"), start=1)]
    note = Notification(
        dedup_key="sample", receiver="sample", action="TRIGGER", sequence=1, fingerprint="sample",
        severity="critical", title="[FIRING:1] HighCPU", text="CPU high", labels=_AnyKey(labels),
        annotations=_AnyKey(summary="CPU high"), event_time_ms=1_700_000_000_000, created_at_ms=1_700_000_000_000,
        incident_key="sample", incident_status="OPEN", reason="first_notification", group_key="{}:{alertname=\"HighCPU\"}",
        group_labels=_AnyKey(alertname="HighCPU"), common_labels=_AnyKey(alertname="HighCPU"),
        common_annotations=_AnyKey(), alerts=alerts, truncated_alerts=0)
    return context(note)


def describe_error(exc: Exception) -> str:
    """A template error as the user should read it (the line for a syntax error)."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"line {exc.lineno}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def compile_template(source: str, escape: Callable[[str], str] | None = None) -> jinja2.Template:
    """Compile one template in the sandbox, `escape` applied to what it interpolates (raises TemplateSyntaxError)."""
    return _env(escape).from_string(source)


def check_receivers(receivers: Sequence[ReceiverConfig]) -> None:
    """Compile and sample-render every template; raise TemplateError listing each one at fault."""
    sample = _sample_context()
    problems = []
    for receiver in receivers:
        for spec in receiver.integrations():
            for field in RECEIVER_KINDS[spec.kind].template_fields:
                source = getattr(spec.config, field)
                if source is None:
                    continue
                try:
                    compile_template(source).render(sample)
                except Exception as exc:  # any Jinja error, or an exception a filter raised
                    problems.append(f"receiver {receiver.name!r} integration {spec.id} field {field!r}: "
                                    f"{describe_error(exc)}")
    if problems:
        raise TemplateError("; ".join(problems))
