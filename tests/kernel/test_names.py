"""Metric and label names: one rule, Prometheus' (https://prometheus.io/docs/concepts/data_model/), everywhere."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from kernel.names import (LABEL_NAME_PATTERN, METRIC_NAME, METRIC_NAME_PATTERN, NOT_LABEL_NAME_CHAR,
                          NOT_METRIC_NAME_CHAR, is_label_name, is_metric_name, is_reserved_label_name)
from kernel.rules import Rule
from kernel.settings import StreamsSettings

NAMES = ["up", "_x", "__name__", "http_requests_total", "job:rate5m", ":colon_first", "a1", "1a", "", "a-b", "a b",
         "é", "job\n", "a.b", "A_Z_09"]


@pytest.mark.parametrize("name", NAMES)
def test_predicates_and_pydantic_patterns_agree(name):
    class Names(BaseModel):
        metric: str = Field(pattern=METRIC_NAME_PATTERN)
        label: str = Field(pattern=LABEL_NAME_PATTERN)

    def valid(field: str) -> bool:
        try:
            Names.model_validate({"metric": "m", "label": "l", field: name})
            return True
        except ValidationError:
            return False

    assert valid("metric") == is_metric_name(name) and valid("label") == is_label_name(name)


def test_the_rule_itself():
    assert [n for n in NAMES if is_metric_name(n)] == ["up", "_x", "__name__", "http_requests_total", "job:rate5m",
                                                       ":colon_first", "a1", "A_Z_09"]
    assert [n for n in NAMES if is_label_name(n)] == ["up", "_x", "__name__", "http_requests_total", "a1", "A_Z_09"]
    assert is_reserved_label_name("__name__") and not is_reserved_label_name("_x")


def test_a_trailing_newline_is_not_part_of_a_valid_name():
    # `^…$` with re.match took "job\n" (`$` matches before a final newline); Prometheus refuses it.
    assert not is_label_name("job\n") and not is_metric_name("up\n")
    with pytest.raises(ValidationError, match="is not a valid label name"):
        Rule.model_validate({"id": "a", "alert": "A", "metric": "m", "threshold": 1, "labels": {"team\n": "x"}})
    with pytest.raises(ValidationError, match="is not a label name"):
        StreamsSettings(external_labels={"cluster\n": "eu"})


def test_scanning_and_sanitizing_use_the_same_charset():
    assert METRIC_NAME.match("up{job='a'}").group() == "up"
    assert NOT_METRIC_NAME_CHAR.sub("_", "api.requests:rate-5m") == "api_requests:rate_5m"
    assert NOT_LABEL_NAME_CHAR.sub("_", "http.method:x") == "http_method_x"
