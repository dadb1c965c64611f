"""The compiled templates of one integration, rendered for each notification (kernel/alerting/templates.py
is the language: sandbox, context, checks)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from kernel.alerting.templates import compile_template, context, describe_error
from notifier import metrics
from schemas.records import Notification

log = logging.getLogger(__name__)


class TemplateSet:
    """The compiled templates of one integration; renders them for a notification, defaults on failure."""

    def __init__(self, kind: str, integration: str, sources: Mapping[str, str | None],
                 escape: Callable[[str], str] | None = None) -> None:
        self.kind, self.integration = kind, integration
        self._templates = {field: compile_template(src, escape) for field, src in sources.items() if src is not None}

    def __bool__(self) -> bool:
        return bool(self._templates)

    def render(self, note: Notification, defaults: Mapping[str, str]) -> dict[str, str]:
        """Each field rendered, or its default when it has no template or the template fails (counted)."""
        out = dict(defaults)
        if not self._templates:
            return out
        ctx = context(note)
        for field, template in self._templates.items():
            try:
                text = template.render(ctx).strip()
            except Exception as exc:  # checked at load, so only data the sample lacked gets here
                text = ""
                log.warning("template %s of %s failed for %s, using the default: %s", field, self.integration,
                            note["dedup_key"], describe_error(exc))
            if text:
                out[field] = text
            else:
                metrics.TEMPLATE_FAILURES.labels(self.kind, field).inc()
        return out
