"""The one error type of the PromQL engine: a user's query is wrong, or cannot be evaluated."""

from __future__ import annotations


class PromQLError(ValueError):
    """A parse or evaluation error; the message says what went wrong and, when known, where."""
