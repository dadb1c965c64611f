"""Faust stream processors: rule evaluation (metrics → alerts) and routing (alerts → notifications)."""
