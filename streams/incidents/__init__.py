"""Incidents: alert transitions grouped, deduplicated, silenced, inhibited and escalated (Alertmanager semantics)."""
