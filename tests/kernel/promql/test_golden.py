"""The engine agrees with Prometheus 2.42 (answers recorded from promtool in testdata/golden.json).

promtool is not needed at test time: testdata/generate_golden.py records its answers once, so the
suite stays fast and runs where Prometheus is not installed; the generator is rerun when cases change.
"""

from __future__ import annotations

import json
import math
import pathlib

import pytest

from kernel.promql import Engine, PromQLError, Scalar
from tests.kernel.promql.golden_cases import SERIES
from tests.kernel.promql.series_notation import load

# Go implements these in pure Go (Cephes/FreeBSD algorithms), not with the C library Python uses:
# results may differ in the last bit or two, so they are compared with a tolerance of a few ulps.
_GO_OWN_MATH = ("^", "atan2", "sin(", "cos(", "tan(", "atan(")

GOLDEN = json.loads((pathlib.Path(__file__).parent / "testdata" / "golden.json").read_text())["cases"]


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load(SERIES), default_subquery_step_ms=60_000)


def _normalise(samples) -> list[tuple]:
    out = []
    for labels, value in samples:
        v = float(value)
        out.append((tuple(sorted(labels.items())), "NaN" if math.isnan(v) else v))
    return sorted(out, key=repr)


def _engine_answer(engine: Engine, expr: str, at_ms: int) -> list[tuple]:
    result = engine.instant(expr, at_ms)
    if isinstance(result, Scalar):
        return _normalise([({}, result.value)])
    return _normalise([(s.labels, s.value) for s in result])


@pytest.mark.parametrize("case", GOLDEN, ids=[f"{c['expr']}@{c['eval_time_ms'] // 60000}m" for c in GOLDEN])
def test_matches_prometheus(engine: Engine, case: dict) -> None:
    if "error" in case:
        with pytest.raises(PromQLError):
            engine.instant(case["expr"], case["eval_time_ms"])
        return
    got = _engine_answer(engine, case["expr"], case["eval_time_ms"])
    want = _normalise(case["samples"])
    if any(op in case["expr"] for op in _GO_OWN_MATH):
        assert [g[0] for g in got] == [w[0] for w in want]
        for (_, g), (_, w) in zip(got, want):
            assert g == w or (g != "NaN" and w != "NaN" and math.isclose(g, w, rel_tol=4e-16))
        return
    assert got == want
