"""`vigil sinks`: the TSDB sink and the Postgres sink, each a consumer group on its own thread."""

from __future__ import annotations

import logging
import signal
import threading

from kernel.health import serve_health
from kernel.kafka import ensure_topics, make_consumer
from kernel.migrate import migrate
from kernel.retry import Backoff
from kernel.settings import SinksSettings
from schemas import codec
from sinks.base import Decoder, Sink, SinkLoop
from sinks.postgres import PostgresSink
from sinks.tsdb import TsdbSink

log = logging.getLogger(__name__)


def build_loops(settings: SinksSettings, stop: threading.Event) -> list[SinkLoop]:
    """The two sink loops, with their consumers, sinks and codecs, sharing one stop flag."""
    topics = settings.topics
    backoff = Backoff(initial_s=settings.sinks_backoff_initial_s, max_s=settings.sinks_backoff_max_s)

    def loop(sink: Sink, decoders: dict[str, Decoder]) -> SinkLoop:
        consumer = make_consumer(settings, f"{settings.topic_prefix}.sinks.{sink.name}")
        return SinkLoop(sink, consumer, decoders, stop, max_messages=settings.batch_max_messages,
                        max_wait_s=settings.batch_max_wait_s, backoff=backoff)

    tsdb = TsdbSink(settings.tsdb_url, timeout_s=settings.tsdb_timeout_s, max_lines=settings.tsdb_max_lines_per_write,
                    durable_after_s=settings.tsdb_durable_after_s)
    postgres = PostgresSink(settings.postgres_dsn.get_secret_value(), topics)
    metrics = {topics.metrics: codec.SeriesBatchCodec().columns}
    if settings.metrics_v1_topic:  # the transition: drain what was written to the v1 topic too
        metrics[topics.metrics_v1] = codec.metric_batch().decode
    return [
        loop(tsdb, metrics),
        loop(postgres, {topics.alerts: codec.alert_event().decode, topics.incidents: codec.incident_event().decode,
                        topics.deliveries: codec.delivery().decode}),
    ]


def run(settings: SinksSettings) -> None:
    """Run both sinks until SIGTERM/SIGINT, then finish their batches, commit and return (exit 0)."""
    migrate(settings.postgres_dsn.get_secret_value())
    ensure_topics(settings)
    stop = threading.Event()
    crashed = threading.Event()

    def guarded(loop: SinkLoop) -> None:
        try:
            loop.run()
        except BaseException:
            # A bug or a fatal Kafka error: take the whole process down so its supervisor restarts it.
            log.exception("%s sink crashed; stopping", loop.sink.name)
            crashed.set()
            stop.set()

    threads = [threading.Thread(target=guarded, args=(loop,), name=f"sink:{loop.sink.name}")
               for loop in build_loops(settings, stop)]
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    # Bind the health port first: if it is taken, fail before any consumer starts.
    server = serve_health(settings.sinks_health_port,
                          healthy=lambda: not stop.is_set() and all(t.is_alive() for t in threads))
    for thread in threads:
        thread.start()
    log.info("sinks running: %s → %s, %s + %s + %s → Postgres", settings.topics.metrics, settings.tsdb_url,
             settings.topics.alerts, settings.topics.incidents, settings.topics.deliveries)
    # The main thread only waits, with a timeout so the signal handler runs promptly.
    while not stop.wait(0.5):
        pass
    log.info("stopping: finishing the batches in hand")
    for thread in threads:
        thread.join()
    server.shutdown()
    if crashed.is_set():
        raise SystemExit(1)
    log.info("sinks stopped cleanly")
