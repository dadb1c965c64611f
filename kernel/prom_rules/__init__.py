"""Prometheus rule files, rule-group evaluation with Prometheus 2.42's alert semantics, and promtool's unit tests.

- files.py: load and validate rule files (`promtool check rules`), errors naming file:line and key path.
- group.py: `RuleGroup.evaluate(at_ms)` → `GroupEvaluation` (samples, alert transitions, notifications).
- group_state.py: the group's alert state as a versioned record (`encode_state` / `decode_state`).
- for_state_restore.py: Prometheus' restore of `for` progress from ALERTS_FOR_STATE after a restart.
- unit_test_runner.py: `vigil rules test`, promtool's `test rules`.
"""

from kernel.yaml_config import Problem

from .alerting import Alert, AlertingRule, AlertState
from .files import AlertingRuleSpec, RecordingRuleSpec, RuleFile, RuleGroupSpec, load_rule_file
from .group import AlertNotification, AlertTransition, GroupEvaluation, RuleGroup, RuleKind, RuleOutcome
from .group_state import GroupState, RuleState, StateCodecError, decode_state, encode_state
from .rule_query import QueryFunc, QuerySample, RuleEvaluationError, RuleSample, engine_query_func
from .tsdb_appender import AppendError, HeadAppender, SampleAppender
from .yaml_source import SourceError

__all__ = [
    "Alert", "AlertNotification", "AlertState", "AlertTransition", "AlertingRule", "AlertingRuleSpec", "AppendError",
    "GroupEvaluation", "GroupState", "HeadAppender", "Problem", "QueryFunc", "QuerySample", "RecordingRuleSpec",
    "RuleEvaluationError", "RuleFile", "RuleGroup", "RuleGroupSpec", "RuleKind", "RuleOutcome", "RuleSample",
    "RuleState", "SampleAppender", "SourceError", "StateCodecError", "decode_state", "encode_state",
    "engine_query_func", "load_rule_file",
]
