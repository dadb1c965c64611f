"""The analysts' HTTP API: alerts from Postgres, metrics from the time-series store."""
