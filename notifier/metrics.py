"""The notifier's self-metrics. Labels are bounded: integration kind (never a URL or key), a Decision, an outcome."""

from prometheus_client import Counter, Histogram

DECISIONS = Counter("vigil_notifier_decisions_total", "What happened to each notification at each integration, "
                    "by reason", ["kind", "decision"])
ATTEMPTS = Counter("vigil_notifier_attempts_total", "Delivery attempts by integration kind and outcome",
                   ["kind", "outcome"])
LATENCY = Histogram("vigil_notifier_delivery_seconds", "One attempt's HTTP round trip", ["kind"],
                    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
LIMITER_WAITS = Counter("vigil_notifier_limiter_waits_total", "Sends that waited for a rate-limit slot", ["kind"])
LIMITER_WAIT_SECONDS = Counter("vigil_notifier_limiter_wait_seconds_total", "Time sends spent waiting for a "
                               "rate-limit slot", ["kind"])
IN_DOUBT = Counter("vigil_notifier_in_doubt_total", "Sends a stopped notifier left on the wire, found on restart",
                   ["kind", "handling"])
TEMPLATE_FAILURES = Counter("vigil_notifier_template_failures_total", "Template renders that failed or came out "
                            "empty at send time (the default text was sent)", ["kind", "field"])
PAYLOAD_TRIMMED = Counter("vigil_notifier_payload_trimmed_total", "Payloads cut to the receiver's size limits",
                          ["kind"])
DEAD_LETTERED = Counter("vigil_notifier_dead_lettered_total", "Notifications written to the dead-letter topic",
                        ["kind"])
