"""Generated protobuf classes of Prometheus remote write 1.0 and 2.0 (regenerate: see remote.proto, write_v2.proto)."""
