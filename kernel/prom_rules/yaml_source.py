"""YAML read as positioned nodes, so a mistake in a user's file is reported with its file, line and key path.

Prometheus decodes rule files with yaml.v3 (`KnownFields(true)`) and promtool's test files with
yaml.v2 `UnmarshalStrict`: unknown keys and repeated keys are errors, and a scalar decoded into a
string field keeps its text as written (`yes` stays "yes", `010` stays "010"). Walking the composed
node tree, rather than PyYAML's converted values, gives both behaviours and the line of every node.
Reading the file, YAML syntax errors, key paths and the `FILE:LINE: path: message` form are Vigil's one
way for every config file (kernel/yaml_config.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kernel import yaml_config
from kernel.yaml_config import ConfigFileError, Problem, join

from .durations import DurationError, parse_duration

NULL_TAG = "tag:yaml.org,2002:null"


class SourceError(ConfigFileError):
    """A user's YAML file is invalid; every Problem found, one per line of the message (`problems`)."""


@dataclass
class Source:
    """A YAML document being read: its file name, for messages, and the problems found so far."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def problem(self, node: Node | None, path: str, message: str) -> None:
        """Record a mistake at `node` (its line) under key `path`."""
        line = node.start_mark.line + 1 if node is not None else 0
        self.problems.append(Problem(self.file, line, path, message))

    def raise_if_problems(self) -> None:
        """Raise SourceError if any mistake was recorded."""
        if self.problems:
            raise SourceError.listing(self.problems, limit=None)  # promtool lists every mistake


def compose(path: Path, display_name: str | None = None) -> tuple[Source, Node | None]:
    """Read and compose one YAML document; unreadable files and YAML syntax errors raise SourceError."""
    name = display_name or str(path)
    text = yaml_config.read_text(path, SourceError, file=name)
    return Source(name), yaml_config.compose(text, name, SourceError)


def is_null(node: Node | None) -> bool:
    """True for a missing value or an explicit YAML null (`~`, `null`, nothing)."""
    return node is None or (isinstance(node, ScalarNode) and node.tag == NULL_TAG)


def mapping(source: Source, node: Node | None, path: str, known: tuple[str, ...]) -> dict[str, Node]:
    """The keys of a mapping node; unknown or repeated keys are recorded as problems (strict decoding)."""
    if is_null(node):
        return {}
    if not isinstance(node, MappingNode):
        source.problem(node, path, f"expected a mapping, got {describe(node)}")
        return {}
    out: dict[str, Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value if isinstance(key_node, ScalarNode) else None
        if key is None:
            source.problem(key_node, path, "mapping keys must be strings")
            continue
        where = join(path, key)
        if key in out:
            source.problem(key_node, where, f"key {key!r} is repeated")
        elif key not in known:
            source.problem(key_node, where, f"unknown field {key!r} (expected one of: {', '.join(known)})")
        else:
            out[key] = value_node
    return out


def string_map(source: Source, node: Node | None, path: str) -> dict[str, str]:
    """A mapping of strings to strings (labels, annotations), in file order; nulls read as ""."""
    if is_null(node):
        return {}
    if not isinstance(node, MappingNode):
        source.problem(node, path, f"expected a mapping of strings, got {describe(node)}")
        return {}
    out: dict[str, str] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            source.problem(key_node, path, "mapping keys must be strings")
            continue
        where = join(path, key_node.value)
        if key_node.value in out:
            source.problem(key_node, where, f"key {key_node.value!r} is repeated")
            continue
        value = scalar(source, value_node, where)
        out[key_node.value] = value if value is not None else ""
    return out


def sequence(source: Source, node: Node | None, path: str) -> list[Node]:
    """The items of a sequence node (a null reads as empty)."""
    if is_null(node):
        return []
    if not isinstance(node, SequenceNode):
        source.problem(node, path, f"expected a list, got {describe(node)}")
        return []
    return list(node.value)


def scalar(source: Source, node: Node | None, path: str) -> str | None:
    """A scalar's text as written (None for a null); records a problem for a list or mapping."""
    if is_null(node):
        return None
    if not isinstance(node, ScalarNode):
        source.problem(node, path, f"expected a string, got {describe(node)}")
        return None
    return node.value


def duration(source: Source, node: Node | None, path: str) -> int:
    """A Prometheus duration scalar in milliseconds (0 when absent); a bad one is a problem naming its line."""
    text = scalar(source, node, path)
    if text is None:
        return 0
    try:
        return parse_duration(text)
    except DurationError as exc:
        source.problem(node, path, f"{exc} (expected a duration like 30s, 5m, 1h30m)")
        return 0


def describe(node: Node | None) -> str:
    """A short name for a node's kind, for messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return "a scalar"
