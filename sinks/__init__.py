"""Sinks: consume Vigil's topics and store them (metrics → TSDB, alerts and deliveries → Postgres)."""
