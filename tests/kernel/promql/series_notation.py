"""Load promtool's `input_series` notation ('0+10x30', '_', 'stale', '_x3') into a MemoryStorage.

Test helper mirroring Prometheus' promql/parser "expanding notation"
(https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/#series).
"""

from __future__ import annotations

import re

import promql_parser

from kernel.promql import STALE_NAN, MemoryStorage
from kernel.promql.model import METRIC_NAME

def _num(text: str) -> float:
    return float(text)


def expand_values(notation: str) -> list[float | None]:
    """Return one value per interval; None for '_' (no sample), STALE_NAN for 'stale'."""
    out: list[float | None] = []
    for token in notation.split():
        if token == "_":
            out.append(None)
        elif token == "stale":
            out.append(STALE_NAN)
        elif token.startswith("_x"):
            out.extend([None] * int(token[2:]))
        elif "x" in token and not token.lower().startswith("0x"):
            body, n = token.rsplit("x", 1)
            m = re.match(r"^([+-]?[^+-]+)([+-])(.+)$", body)
            if m is None:  # 'axn': a repeated n+1 times
                out.extend([_num(body)] * (int(n) + 1))
                continue
            start, sign, step = _num(m.group(1)), m.group(2), _num(m.group(3))
            step = step if sign == "+" else -step
            out.extend(start + i * step for i in range(int(n) + 1))
        else:
            out.append(_num(token))
    return out


def parse_series_labels(text: str) -> dict[str, str]:
    """Parse 'name{a="b"}' into labels using the PromQL parser."""
    node = promql_parser.parse(text)
    labels = {m.name: m.value for m in node.matchers.matchers}
    if node.name:
        labels[METRIC_NAME] = node.name
    return labels


def load(series: list[tuple[str, str]], interval_ms: int = 60_000) -> MemoryStorage:
    """Build a MemoryStorage from (series, values) pairs, the first value at time 0."""
    storage = MemoryStorage()
    for labels_text, notation in series:
        labels = parse_series_labels(labels_text)
        for i, value in enumerate(expand_values(notation)):
            if value is not None:
                storage.add(labels, i * interval_ms, value)
    return storage
