"""Ingest: protocol adapters → validate → enrich → Avro MetricBatch → Kafka."""
