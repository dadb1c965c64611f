"""Whole-object examples in the OpenAPI document: the model config that shows them.

Each resource module keeps the example objects of its own shapes beside its models; a unit test
(tests/api/test_schemathesis.py) validates every example against its model so they can't drift.
"""

from __future__ import annotations

from pydantic import ConfigDict


def with_examples(*examples: dict, **config) -> ConfigDict:
    """A model config whose JSON schema (and so the OpenAPI document) shows these whole-object examples."""
    return ConfigDict(json_schema_extra={"examples": list(examples)}, **config)
