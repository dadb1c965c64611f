"""The embedded stack: real servers started as local processes under a state directory."""

from infra.stack.stack import PartStatus, Stack, StackError

__all__ = ["PartStatus", "Stack", "StackError"]
