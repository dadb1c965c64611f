"""The sinks' self-metrics (names in one place; labels are bounded: sink name and failure reason)."""

from prometheus_client import Counter, Gauge, Histogram

RECORDS_WRITTEN = Counter("vigil_sink_records_written_total", "Kafka records written to the store", ["sink"])
ROWS_WRITTEN = Counter("vigil_sink_rows_written_total", "Points (TSDB) or rows (Postgres) written", ["sink"])
BATCHES = Counter("vigil_sink_batches_total", "Batches written", ["sink"])
WRITE_SECONDS = Histogram("vigil_sink_write_seconds", "Duration of one successful write", ["sink"],
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
WRITE_FAILURES = Counter("vigil_sink_write_failures_total", "Failed write attempts", ["sink", "reason"])
RECORDS_DROPPED = Counter("vigil_sink_records_dropped_total",
                          "Records the store refused for good (logged, then skipped)", ["sink"])
UNDECODABLE = Counter("vigil_sink_undecodable_total", "Kafka records that are not a known Avro record", ["sink"])
RETRYING = Gauge("vigil_sink_retrying", "1 while the sink is retrying a failed write", ["sink"])
COMMIT_FAILURES = Counter("vigil_sink_commit_failures_total",
                          "Offset commits refused by Kafka (the records will be redelivered)", ["sink"])
CACHE_BYTES = Gauge("vigil_sink_cache_bytes", "Bytes held by the TSDB sink's series-prefix cache (estimated; "
                    "bounded in bytes)", ["cache"], multiprocess_mode="livesum")
CACHE_EVICTIONS = Counter("vigil_sink_cache_evictions_total", "Entries the TSDB sink's series-prefix cache dropped "
                          "to stay within its byte or entry budget", ["cache"])
REWINDS = Counter("vigil_sink_rewinds_total", "Times the store restarted with acknowledged batches not yet durable: "
                  "the sink read them again", ["sink"])
