"""Label-name validity, as Prometheus checks it for label_replace, label_join and count_values.

https://prometheus.io/docs/concepts/data_model/#metric-names-and-labels
"""

from __future__ import annotations

import re

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def is_valid_label_name(name: str) -> bool:
    """Tell whether `name` is a valid Prometheus label name (model.LabelNameRE)."""
    return _LABEL_NAME.match(name) is not None
