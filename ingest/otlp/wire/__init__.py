"""Generated wire-compatible OTLP views with raw attribute bytes (see metrics_raw.proto)."""
