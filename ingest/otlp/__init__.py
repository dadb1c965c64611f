"""OTLP/HTTP metrics (`POST /v1/metrics`, protobuf and JSON)."""
