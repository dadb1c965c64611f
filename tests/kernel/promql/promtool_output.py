"""Parse promtool's `test rules` failure report into per-case results (the golden answers).

A case that passes is not reported; with no expected samples that means an empty result.
Reported cases look like:
    expr: "foo", time: 4m,
        exp: nil
        got: {__name__="foo", a="1"} 4E+01, {a="2"} -Inf
    expr: "bar", time: 5m, err: 1:4: parse error: ...
"""

from __future__ import annotations

import json
import re

_CASE = re.compile(r'^\s*expr: (".*"), time: ([0-9a-z]+),(?: err: (.*))?$')


def parse_report(text: str) -> dict[tuple[str, str], dict]:
    """Map (expr, time) to {"samples": [[labels, value_text], ...]} or {"error": message}."""
    out: dict[tuple[str, str], dict] = {}
    current = None
    for line in text.splitlines():
        m = _CASE.match(line)
        if m:
            expr = json.loads(m.group(1))
            current = (expr, m.group(2))
            if m.group(3) is not None:
                out[current] = {"error": m.group(3)}
                current = None
            continue
        stripped = line.strip()
        if current is not None and stripped.startswith("got: "):
            out[current] = {"samples": parse_samples(stripped[len("got: "):])}
            current = None
    return out


def parse_samples(text: str) -> list[list]:
    """Parse '{a="b", c="d"} 1E+00, {} NaN' into [[{"a": "b", "c": "d"}, "1E+00"], [{}, "NaN"]]."""
    if text == "nil":
        return []
    samples, i, n = [], 0, len(text)
    while i < n:
        assert text[i] == "{", text[i:]
        i += 1
        labels = {}
        while text[i] != "}":
            eq = text.index("=", i)
            name = text[i:eq].strip()
            i = eq + 1
            assert text[i] == '"'
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            labels[name] = json.loads(text[i:j + 1])
            i = j + 1
            if text[i] == ",":
                i += 2
        i += 2  # "} "
        end = text.find(", {", i)
        end = n if end < 0 else end
        samples.append([labels, text[i:end]])
        i = end + 2
    return samples
