"""label_replace and label_join, with Go regexp's `$1` / `${name}` template expansion.

Prometheus 2.42 promql/functions.go funcLabelReplace/funcLabelJoin; Go's Regexp.ExpandString
(https://pkg.go.dev/regexp#Regexp.Expand) defines the template syntax.
"""

from __future__ import annotations

from kernel.names import is_label_name

from .errors import PromQLError
from .matchers import compile_anchored
from .model import Sample, Vector


def _name_char(c: str) -> bool:
    return c.isalnum() or c == "_"


def expand(template: str, match, groups: int, group_index: dict[str, int]) -> str:
    """Expand `$n`, `${n}`, `$name`, `${name}` and `$$` like Go's Regexp.ExpandString."""
    out = []
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        i += 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        brace = i < n and template[i] == "{"
        j = i + 1 if brace else i
        k = j
        while k < n and _name_char(template[k]):
            k += 1
        name = template[j:k]
        if not name or (brace and (k >= n or template[k] != "}")):
            out.append("$")  # malformed: the dollar is literal text
            continue
        i = k + 1 if brace else k
        if name.isdigit() and name.isascii():
            num = int(name) if not (name[0] == "0" and len(name) > 1) else -1
        else:
            num = group_index.get(name, -1)
        if 0 <= num <= groups:
            value = match.group(num)
            if value is not None:
                out.append(value)
    return "".join(out)


def label_replace(args, node, ts) -> Vector:
    """Set label dst to the expanded replacement when regex fully matches label src."""
    vec = args[0]
    dst, repl, src, regex = (a.value for a in args[1:5])
    try:
        compiled = compile_anchored(regex)
    except PromQLError:
        raise PromQLError(f"invalid regular expression in label_replace(): {regex}") from None
    if not is_label_name(dst):
        raise PromQLError(f"invalid destination label name in label_replace(): {dst}")
    out = []
    for s in vec:
        match = compiled.search(s.labels.get(src, ""))
        if match is None:
            out.append(Sample(s.labels, s.value, ts))
            continue
        value = expand(repl, match, compiled.groups, compiled.groupindex)
        labels = {k: v for k, v in s.labels.items() if k != dst}
        if value:
            labels[dst] = value
        out.append(Sample(labels, s.value, ts))
    return out


def label_join(args, node, ts) -> Vector:
    """Set label dst to the values of the source labels joined by the separator."""
    vec = args[0]
    dst, sep = args[1].value, args[2].value
    sources = [a.value for a in args[3:]]
    for src in sources:
        if not is_label_name(src):
            raise PromQLError(f"invalid source label name in label_join(): {src}")
    if not is_label_name(dst):
        raise PromQLError(f"invalid destination label name in label_join(): {dst}")
    out = []
    for s in vec:
        value = sep.join(s.labels.get(src, "") for src in sources)
        labels = {k: v for k, v in s.labels.items() if k != dst}
        if value:
            labels[dst] = value
        out.append(Sample(labels, s.value, ts))
    return out
