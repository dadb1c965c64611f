"""Generated protobuf classes of Prometheus remote write 1.0 (regenerate: see remote.proto)."""
