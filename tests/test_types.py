"""The kernel and the records type-check (pyproject.toml [tool.mypy]: which packages, which checks, which
modules are excused for now and why). mypy follows the imports of `kernel/` and `schemas/` into each other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_kernel_and_schemas_type_check():
    mypy = Path(sys.executable).with_name("mypy")
    result = subprocess.run([str(mypy)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
