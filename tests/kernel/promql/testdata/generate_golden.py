"""Regenerate golden.json: Prometheus 2.42's answers (via promtool) for golden_cases.EXPRESSIONS.

Run from the repository root: `.venv/bin/python -m tests.kernel.promql.testdata.generate_golden`.
Every case is written with no expected samples, so promtool's failure report prints exactly what
Prometheus computed ("got: ...") or the error; cases it does not report returned nothing.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import tempfile

import yaml

from tests.kernel.promql.golden_cases import EXPRESSIONS, INTERVAL, SERIES, TIMES
from tests.kernel.promql.promtool_output import parse_report

HERE = pathlib.Path(__file__).parent
GOLDEN = HERE / "golden.json"


def go_duration(minutes: int) -> str:
    """Format like Prometheus' model.Duration.String for whole minutes."""
    if minutes == 0:
        return "0s"
    h, m = divmod(minutes, 60)
    return (f"{h}h" if h else "") + (f"{m}m" if m else "")


def main() -> None:
    cases = [(expr, t) for expr in EXPRESSIONS for t in TIMES]
    test_file = {
        "evaluation_interval": INTERVAL,
        "tests": [{
            "interval": INTERVAL,
            "input_series": [{"series": s, "values": v} for s, v in SERIES],
            "promql_expr_test": [
                {"expr": expr, "eval_time": go_duration(t), "exp_samples": []} for expr, t in cases
            ],
        }],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "golden_test.yml"
        path.write_text(yaml.safe_dump(test_file, sort_keys=False))
        proc = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    report = parse_report(proc.stdout + proc.stderr)
    golden = []
    for expr, t in cases:
        answer = report.pop((expr, go_duration(t)), {"samples": []})
        golden.append({"expr": expr, "eval_time_ms": t * 60_000, **answer})
    if report:
        raise SystemExit(f"unmatched promtool report entries: {list(report)[:5]}")
    GOLDEN.write_text(json.dumps(
        {"promtool": subprocess.run(["promtool", "--version"], capture_output=True, text=True).stdout.split("\n")[0],
         "cases": golden}, indent=1) + "\n")
    errors = sum(1 for g in golden if "error" in g)
    print(f"wrote {len(golden)} cases ({errors} errors) to {GOLDEN}")


if __name__ == "__main__":
    main()
