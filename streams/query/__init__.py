"""The query evaluator: Prometheus rules (`evaluator: query`) evaluated with PromQL against the time-series store.

- victoria.py: raw samples from VictoriaMetrics' export API, as a kernel.promql Storage.
- evaluation_storage.py: one evaluation's view: each selector fetched once, plus samples rules just wrote.
- groups.py: query rules gathered into rule groups; which partition (worker) owns a group.
- group_record.py: a group's persisted state (alerts, `for` progress, AlertEvent sequences).
- evaluator.py: the owned groups evaluated at their interval → AlertEvents and recorded samples.
"""

from .evaluator import QueryEvaluator, QueryOutput, recorded_batches
from .victoria import StoreRefused, StoreUnavailable, VictoriaStorage

__all__ = ["QueryEvaluator", "QueryOutput", "recorded_batches", "StoreRefused", "StoreUnavailable", "VictoriaStorage"]
