"""Alertmanager's configuration → Vigil's alerting config: the supported subset, and a report of the rest.

`vigil routes import alertmanager.yml` (infra/routes_cli.py) runs this, then validates the result.
"""

from __future__ import annotations

from kernel.alerting.receiver_kinds import RECEIVER_KINDS, AlertmanagerFields, ReceiverKind, in_prose
from kernel.alerting.routing import duration_ms, parse_route_matcher
from kernel.matchers import Matcher, MatcherError

# What `import` says about the parts of an Alertmanager config it leaves out.
GO_TEMPLATE = ("Go template not converted: Vigil templates are Jinja2; rewrite it as one (Vigil's default text "
               "is used until then)")
HTTP_CONFIG = "proxy, TLS and auth settings are not supported: Vigil connects to the receiver directly"
SECRET_FILE = ("secrets read from files are not supported: put the secret in an environment variable and write "
               "${NAME} in the plain field")
SERVICE_KEY = ("PagerDuty Events API v1 (service_key) is not supported: Vigil sends Events API v2; set routing_key "
               "to an Events v2 integration key")
TEMPLATES = "Go template files are not converted: Vigil templates are Jinja2, written in each receiver"
_ROUTE_KEYS = ("receiver", "group_by", "group_wait", "group_interval", "repeat_interval", "continue",
               "mute_time_intervals", "active_time_intervals")
_INTERVAL_KEYS = ("times", "weekdays", "days_of_month", "months", "years", "location")
# The integrations Alertmanager and Vigil share, by Alertmanager's key (`slack_configs`); each kind's field
# mapping is in kernel/alerting/receiver_kinds.py.
_INTEGRATIONS = {kind.key: (kind, kind.alertmanager) for kind in RECEIVER_KINDS.values() if kind.alertmanager}
# `global:` keys that supply an integration's field when its entry has none.
_GLOBALS = {key for _, mapping in _INTEGRATIONS.values() for key in mapping.from_global.values()}
_PAGES_THROUGH = f"Vigil pages through {in_prose()}"


class AlertmanagerImport:
    """Alertmanager config → Vigil alerting config (a plain document), noting every item left out."""

    def __init__(self) -> None:
        self.dropped: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []
        self.literal_secrets = 0
        self.globals: dict = {}

    def translate(self, doc: dict) -> dict:
        """The Vigil document for an Alertmanager one (keys it has no use for are reported, not copied)."""
        self.globals = self._mapping(doc.get("global"), "global")
        for key in self.globals:
            if key not in _GLOBALS:
                self.dropped.append((f"global.{key}", self._why_not(key)))
        out: dict = {}
        if "route" in doc:
            out["route"] = self._route(self._mapping(doc["route"], "route"), "route")
        out["receivers"] = [self._receiver(self._mapping(r, p), p) for p, r in self._items(doc, "receivers", "")]
        rules = [self._inhibit(self._mapping(r, p), p) for p, r in self._items(doc, "inhibit_rules", "")]
        if any(rules):
            out["inhibit_rules"] = [r for r in rules if r]
        intervals = [self._interval_set(self._mapping(t, p), p) for key in ("time_intervals", "mute_time_intervals")
                     for p, t in self._items(doc, key, "")]
        if intervals:
            out["time_intervals"] = intervals
        for key in doc:
            if key == "templates":
                self.dropped.append((key, TEMPLATES))
            elif key not in ("global", "route", "receivers", "inhibit_rules", "time_intervals", "mute_time_intervals"):
                self.dropped.append((key, "not an Alertmanager section Vigil uses"))
        return out

    def _mapping(self, value: object, path: str) -> dict:
        if not isinstance(value, dict) and value is not None:
            self.dropped.append((path, "expected a mapping"))
        return value if isinstance(value, dict) else {}

    def _items(self, node: dict, key: str, path: str) -> list[tuple[str, object]]:
        """(path, item) of the list `node[key]`; anything else there is reported and skipped."""
        where = f"{path}.{key}" if path else key
        value = node.get(key)
        if not isinstance(value, list):
            if value is not None:
                self.dropped.append((where, "expected a list"))
            return []
        return [(f"{where}[{i}]", item) for i, item in enumerate(value)]

    @staticmethod
    def _why_not(key: str) -> str:
        if key.endswith("_file"):
            return SECRET_FILE
        if key == "http_config":
            return HTTP_CONFIG
        if key.startswith("smtp_"):
            return f"email is not supported ({_PAGES_THROUGH})"
        if key == "resolve_timeout":
            return "not needed: Vigil's rules send the resolution themselves"
        return "not used by Vigil"

    def _matchers(self, eq: dict, regex: dict, texts: list, path: str) -> list[str]:
        """Legacy match/match_re and `matchers` (also `{a="b", c=~"d"}` lists) as Prometheus matcher strings."""

        out = [str(Matcher.make(str(k), "=", str(v))) for k, v in (eq or {}).items()]
        out += [str(Matcher.make(str(k), "=~", str(v))) for k, v in (regex or {}).items()]
        for text in texts or []:
            out += [str(parse_route_matcher(part)) for part in _split_matchers(str(text))]
        return out

    def _route(self, node: dict, path: str) -> dict | None:

        try:
            matchers = self._matchers(node.get("match"), node.get("match_re"), node.get("matchers"), path)
        except MatcherError as exc:
            self.dropped.append((path, f"route not imported, with its child routes: {exc}"))
            return None
        out: dict = {"matchers": matchers} if matchers else {}
        out.update((k, node[k]) for k in _ROUTE_KEYS if k in node)
        for key in node:
            if key not in (*_ROUTE_KEYS, "routes", "match", "match_re", "matchers"):
                self.dropped.append((f"{path}.{key}", "not a route field Vigil knows"))
        children = [self._route(self._mapping(c, p), p) for p, c in self._items(node, "routes", path)]
        if any(children):
            out["routes"] = [c for c in children if c]
        return out

    def _receiver(self, node: dict, path: str) -> dict:
        out: dict = {"name": node.get("name")}
        for key in node:
            if key in _INTEGRATIONS:
                kept = [self._integration(*_INTEGRATIONS[key], self._mapping(c, p), p)
                        for p, c in self._items(node, key, path)]
                if any(kept):
                    out[key] = [c for c in kept if c]
            elif key != "name":
                self.dropped.append((f"{path}.{key}", f"{key.removesuffix('_configs')} receivers are not supported "
                                                      f"({_PAGES_THROUGH})"))
        if len(out) == 1:
            self.warnings.append((path, f"receiver '{out['name']}' has no integration left: notifications routed "
                                        "to it are not delivered"))
        return out

    def _integration(self, kind: ReceiverKind, mapping: AlertmanagerFields, node: dict, path: str) -> dict | None:
        fields = mapping.fields
        out: dict = {}
        for key, value in node.items():
            where = f"{path}.{key}"
            if key in fields and isinstance(value, str) and "{{" in value:
                self.dropped.append((where, GO_TEMPLATE))
            elif key in mapping.durations:
                try:
                    timeout_ms = duration_ms(value)
                except ValueError as exc:
                    self.dropped.append((where, str(exc)))
                    continue
                if timeout_ms:  # Alertmanager's 0 means no timeout; Vigil keeps its default then
                    out[fields[key]] = timeout_ms / 1000
            elif key in mapping.choices and str(value).strip() not in mapping.choices[key]:
                self.dropped.append((where, f"{kind.prose} takes {', '.join(mapping.choices[key])} (or a template)"))
            elif key in fields:
                out[fields[key]] = value
            elif key == "service_key":
                self.dropped.append((where, SERVICE_KEY))
            else:
                self.dropped.append((where, self._why_not(key) if key.endswith("_file") or key == "http_config"
                                     else GO_TEMPLATE if isinstance(value, str) and "{{" in value
                                     else f"not supported by Vigil's {kind.name} integration"))
        for name, default in mapping.defaults.items():
            out.setdefault(name, default)
        for name, global_key in mapping.from_global.items():
            if name not in out and self.globals.get(global_key):
                out[name] = self.globals[global_key]
        secret = mapping.secret
        if secret not in out:
            nor = f" (nor global.{mapping.from_global[secret]})" if secret in mapping.from_global else ""
            self.dropped.append((path, f"integration not imported: it has no {secret}{nor}"))
            return None
        if "${" not in str(out[secret]):
            self.literal_secrets += 1
        return out

    def _inhibit(self, node: dict, path: str) -> dict | None:

        try:
            out = {side: self._matchers(node.get(f"{prefix}_match"), node.get(f"{prefix}_match_re"),
                                        node.get(f"{prefix}_matchers"), path)
                   for side, prefix in (("source_matchers", "source"), ("target_matchers", "target"))}
        except MatcherError as exc:
            self.dropped.append((path, f"inhibit rule not imported: {exc}"))
            return None
        known = {f"{p}_{k}" for p in ("source", "target") for k in ("match", "match_re", "matchers")} | {"equal"}
        for key in node:
            if key not in known:
                self.dropped.append((f"{path}.{key}", "not an inhibit rule field Vigil knows"))
        if node.get("equal"):
            out["equal"] = node["equal"]
        return out

    def _interval_set(self, node: dict, path: str) -> dict:
        entries = []
        for where, entry in self._items(node, "time_intervals", path):
            entry = self._mapping(entry, where)
            kept = {k: v for k, v in entry.items() if k in _INTERVAL_KEYS}
            for key in entry:
                if key not in _INTERVAL_KEYS:
                    self.dropped.append((f"{where}.{key}", "not a time interval field"))
            if kept.get("location") == "Local":
                del kept["location"]
                self.dropped.append((f"{where}.location", "'Local' (the server's zone) is not supported: UTC is "
                                     "used; write an IANA name such as Europe/Berlin"))
            entries.append(kept)
        return {"name": node.get("name"), "time_intervals": entries}


def _split_matchers(text: str) -> list[str]:
    """`{a="b", c=~"x,y"}` or `a="b"` → one string per matcher (commas inside quotes kept)."""
    text = text.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return [text]
    body, parts, current, quote, i = text[1:-1], [], "", None, 0
    while i < len(body):
        ch = body[i]
        if quote and ch == "\\":
            current, i = current + body[i:i + 2], i + 2  # an escaped character, e.g. \" inside the value
            continue
        if ch == "," and not quote:
            parts.append(current)
            current = ""
        else:
            current += ch
            quote = (None if ch == quote else quote) if quote else (ch if ch in "\"'" else None)
        i += 1
    return [p.strip() for p in [*parts, current] if p.strip()]
