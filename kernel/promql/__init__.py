"""A PromQL evaluation engine with Prometheus 2.42 semantics, over raw samples from a Storage.

Used by `vigil rules test` (promtool's unit-test format, in-memory series) and by live rule
evaluation against VictoriaMetrics, whose MetricsQL differs from PromQL (rate extrapolation,
staleness, lookback): evaluating PromQL ourselves gives exactly Prometheus' answers.
"""

from .engine import Engine
from .errors import PromQLError
from .matchers import Matcher
from .model import STALE_NAN, Matrix, Sample, Scalar, Series, String, Value, Vector, is_stale
from .nodes import Expr
from .parse import parse, selectors
from .storage import MemoryStorage, Storage

__all__ = [
    "Engine", "Expr", "Matcher", "Matrix", "MemoryStorage", "PromQLError", "STALE_NAN", "Sample",
    "Scalar", "Series", "Storage", "String", "Value", "Vector", "is_stale", "parse", "selectors",
]
