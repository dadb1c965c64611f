"""Prometheus-style scraping of `/metrics` endpoints (text exposition and OpenMetrics)."""
