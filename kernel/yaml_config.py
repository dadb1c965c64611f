"""The YAML files users write, read one way: the data, the line of every key and item, and each mistake
as `FILE:LINE: key.path[3].field: reason`.

The alerting config (kernel/alerting/config.py), Vigil rules files (kernel/rules.py), the ingest config
(ingest/sources.py) and the connectors config (ingest/connectors/config.py) are read with `read` and
validated by pydantic, whose errors `validation_problems` turns into key paths of the file; Prometheus
rule files and promtool test files walk the nodes `compose` returns (kernel/prom_rules/yaml_source.py).
PyYAML's safe loader builds only plain data; the lines come from the node tree it composes on the way.
Repeated keys are kept as PyYAML keeps them (the last wins), except where Prometheus refuses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import yaml
from pydantic import ValidationError

Loc = tuple[str | int, ...]
MAX_PROBLEMS = 20
# Pydantic's wording where a config file's author needs fewer words; other messages are kept as they are.
_REASONS = {"extra_forbidden": "unknown field", "missing": "required", "string_type": "expected a string",
            "tuple_type": "expected a list", "list_type": "expected a list", "dict_type": "expected a mapping",
            "model_type": "expected a mapping", "model_attributes_type": "expected a mapping",
            "bool_type": "expected true or false", "bool_parsing": "expected true or false",
            "int_type": "expected a whole number", "int_parsing": "expected a whole number"}
_UNION_TAG = ("union_tag_invalid", "union_tag_not_found")


@dataclass(frozen=True)
class Problem:
    """One mistake in a user's file: where it is and what was expected."""

    file: str
    line: int  # 1-based; 0 when no line is known (the file as a whole, or data that came without lines)
    path: str  # the key path, e.g. groups[0].rules[3].expr; "" when the file as a whole is at fault
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigFileError(ValueError):
    """A user's file that can't be used; `problems` holds its mistakes, one `FILE:LINE: path: reason` each."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems) or [message]

    @classmethod
    def listing(cls, problems: Sequence[Problem], limit: int | None = MAX_PROBLEMS) -> ConfigFileError:
        """The error for `problems`, one per line; past `limit`, a last line counts the rest."""
        texts = [str(p) for p in problems[:limit]]
        if limit is not None and len(problems) > limit:
            texts.append(f"{problems[0].file}: … and {len(problems) - limit} more")
        return cls("\n".join(texts), texts)


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 scalars: `10:00` and `1:5` stay strings (YAML 1.1 reads them as base-60 numbers), `on`,
    `yes` and `no` stay strings, timestamps stay strings. Go's YAML reads them by target type, so
    Alertmanager files rely on this."""

    yaml_implicit_resolvers: dict = {}


for _tag, _regexp, _first in (
        ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("int", r"^[-+]?(?:0|[1-9][0-9]*)$", "-+0123456789"),
        ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                  r"|\.(?:nan|NaN|NAN))$", "-+0123456789."),
        ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("merge", r"^(?:<<)$", "<")):
    Yaml12Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_regexp), list(_first))


@dataclass(frozen=True)
class Document:
    """A YAML document as read: its data and the line (1-based) of every key and item, by key path.

    Data that came without a file (a request body, a converted config) has no lines: its problems read
    `WHERE: key.path: reason`.
    """

    file: str
    data: object
    lines: Mapping[Loc, int] = field(default_factory=dict)

    def line(self, loc: Loc) -> int:
        """The line of `loc`, else of the nearest key above it that is in the file (a missing key's mapping)."""
        return next((self.lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in self.lines), 0)

    def problem(self, loc: Loc, message: str) -> Problem:
        """A mistake at `loc`, with its line."""
        return Problem(self.file, self.line(loc), key_path(loc), message)

    def fail(self, problems: Iterable[tuple[Loc, str]], error: type[ConfigFileError] = ConfigFileError) -> NoReturn:
        """Raise `error` listing every (loc, reason), each with its line."""
        raise error.listing([self.problem(loc, message) for loc, message in problems])


def read_text(path: Path, error: type[ConfigFileError] = ConfigFileError, *, what: str = "the file",
              file: str | None = None) -> str:
    """The UTF-8 text of `path`; `error` naming the file when it can't be read."""
    name = file or str(path)
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{name}: cannot read {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{name}: not UTF-8 text (byte {exc.start})") from None


def read(path: Path, error: type[ConfigFileError] = ConfigFileError, *, what: str = "the file",
         loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> Document:
    """Read one YAML document from `path` with the line of every key; `error` for a file that can't be read
    or isn't YAML (`FILE:LINE: not valid YAML: …`)."""
    return parse(read_text(path, error, what=what), str(path), error, loader)


def parse(text: str, file: str, error: type[ConfigFileError] = ConfigFileError,
          loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> Document:
    """One YAML document from `text` with the line of every key; `file` names it in messages."""
    node, data = _load(text, file, error, loader, construct=True)
    lines: dict[Loc, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return Document(file, data, lines)


def compose(text: str, file: str, error: type[ConfigFileError] = ConfigFileError,
            loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> yaml.Node | None:
    """The node tree of one YAML document (None for an empty one), for readers that walk the nodes."""
    return _load(text, file, error, loader, construct=False)[0]


def _load(text: str, file: str, error: type[ConfigFileError], loader: type[yaml.SafeLoader],
          construct: bool) -> tuple[yaml.Node | None, object]:
    reader = None
    try:
        reader = loader(text)
        node = reader.get_single_node()
        return node, reader.construct_document(node) if construct and node is not None else None
    except yaml.YAMLError as exc:  # syntax, more than one document, a tag the safe loader refuses
        raise error.listing([syntax_problem(file, exc, text)]) from None
    finally:
        if reader is not None:
            reader.dispose()


def syntax_problem(file: str, exc: yaml.YAMLError, text: str = "") -> Problem:
    """A YAML error as a Problem at its line, in PyYAML's words: `not valid YAML: while parsing a block
    mapping (line 2), expected <block end>, but found '-' (column 3)`."""
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow, anywhere in the text
        line = text.count("\n", 0, exc.position) + 1 if text else 0
        return Problem(file, line, "", f"not valid YAML: character #x{exc.character:04x}: {exc.reason}")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem, context = getattr(exc, "problem", None), getattr(exc, "context", None)
    if mark is None or not (problem or context):
        return Problem(file, 0, "", f"not valid YAML: {exc}")
    parts = []
    context_mark = getattr(exc, "context_mark", None)
    if context and problem:
        if context_mark is not None and context_mark.line != mark.line:
            parts.append(f"{context} (line {context_mark.line + 1})")
        else:
            parts.append(context)
    parts.append(f"{problem or context} (column {mark.column + 1})")
    return Problem(file, mark.line + 1, "", "not valid YAML: " + ", ".join(parts))


def _index_lines(node: yaml.Node, path: Loc, lines: dict[Loc, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            _index_lines(value, child, lines)
            lines[child] = key.start_mark.line + 1  # a key's own line, where a block value starts below it
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), lines)


def validation_problems(exc: ValidationError, data: object, at: Loc = ()) -> list[tuple[Loc, str]]:
    """Pydantic's errors on `data` (found at `at` in the document) as (key path in the document, reason)."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = _document_loc(error["loc"], data, missing=error["type"] == "missing")
        discriminator = str(error.get("ctx", {}).get("discriminator", "")).strip("'")
        if error["type"] in _UNION_TAG and discriminator:  # the tag's key is at fault, not the whole entry
            loc = (*loc, discriminator)
        reason = (_REASONS.get(error["type"])
                  or error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, "))
        problems.append(((*at, *loc), reason))
    return problems


def _document_loc(loc: Sequence[str | int], data: object, missing: bool) -> Loc:
    """Pydantic's `loc` without the parts it adds that are not keys of the file: `[key]` (the error is in
    a mapping's key) and the member of a union it tried (`connectors[0].mqtt.port` is `connectors[0].port`).
    Only a missing field's key is named though the file lacks it."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if part == "[key]":
            continue
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        elif missing and i == len(loc) - 1 and isinstance(node, dict):
            pass  # the required key the mapping lacks
        else:
            continue
        out.append(part)
    return tuple(out)


def join(path: str, key: str | int) -> str:
    """Extend a key path: `groups` + 0 → `groups[0]`, `groups[0]` + `name` → `groups[0].name`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def key_path(loc: Loc) -> str:
    """('route', 'routes', 1, 'receiver') → 'route.routes[1].receiver'; () → '(top)'."""
    text = ""
    for part in loc:
        text = join(text, part)
    return text or "(top)"
