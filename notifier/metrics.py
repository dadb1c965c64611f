"""The notifier's self-metrics (labels bounded: receiver names come from configuration)."""

from prometheus_client import Counter, Histogram

ATTEMPTS = Counter("vigil_notifier_attempts_total", "Delivery attempts", ["receiver", "verdict"])
DECISIONS = Counter("vigil_notifier_decisions_total", "What happened to each notification", ["receiver", "decision"])
LATENCY = Histogram("vigil_notifier_delivery_seconds", "One attempt's HTTP round trip", ["receiver"],
                    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
