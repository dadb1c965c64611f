"""The package layers hold (pyproject.toml [tool.importlinter], docs/architecture.md): a stage never imports
another stage or the composition root, the kernel imports no stage, and no package's parts import each
other in a circle. import-linter reads every import, those inside functions included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
