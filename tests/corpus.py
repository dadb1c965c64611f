"""Where the public rule corpus is: `shared/corpus/` beside the repository (as CI lays it), read in place.

Files from users' world are never copied into the repository; a test that needs them skips, saying
where it looked, when they are absent. `VIGIL_CORPUS` points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("VIGIL_CORPUS", _REPO.parent / "shared" / "corpus"))
PROMETHEUS_RULES = CORPUS / "prometheus-rules"
