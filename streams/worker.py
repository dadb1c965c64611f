"""`vigil streams`: read the rules (file and topic), create topics, run a Faust worker until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import sys

import faust

from kernel.kafka import broker_watch, ensure_topics
from kernel.settings import StreamsSettings
from streams.app import build_app
from streams import state_snapshot
from streams.broker_reset import rewrite_changelogs
from kernel.alerting.config import AlertingConfigError
from kernel.alerting.config_source import ConfigSource
from streams.incidents.engine import IncidentEngine
from streams.incidents.inhibit import InhibitIndex
from streams.incidents.inhibit_feed import InhibitFeed
from kernel.rules import RuleError, read_rules_file
from streams.rules_feed import RulesFeed
from streams.silences_feed import SilencesFeed

log = logging.getLogger(__name__)


def run(settings: StreamsSettings) -> None:
    """Start one worker of the streams consumer group."""
    file_rules = []
    if settings.rules_file is not None:
        try:
            file_rules = read_rules_file(settings.rules_file)
        except RuleError as exc:
            print(f"vigil streams: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        log.info("loaded %d rules from %s", len(file_rules), settings.rules_file)
    try:
        alerting = ConfigSource(settings.alerting_config, settings.default_receiver)
    except (AlertingConfigError, OSError) as exc:
        print(f"vigil streams: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    ensure_topics(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    feed = RulesFeed(settings, file_rules)
    silences = SilencesFeed(settings)
    inhibit = InhibitIndex(alerting().inhibit_rules)
    inhibit_feed = InhibitFeed(settings, inhibit)
    feeds = (feed, silences, inhibit_feed)
    for f in feeds:
        f.start()

    def incident_engine(store) -> IncidentEngine:
        return IncidentEngine(alerting, store, settings.metrics_partitions, inhibit, lambda: silences,
                              ready=lambda: silences.caught_up.is_set() and inhibit_feed.caught_up.is_set())

    app = build_app(settings, feed, incident_engine)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    # At WARNING and above Faust puts the root logger at DEBUG to turn a terminal spinner on every
    # record: aiokafka's debug records then cost ~10% of the worker (measured with py-spy).
    worker.spinner = None
    watch = broker_watch(settings)
    watch.on_reset(lambda: rewrite_changelogs(app, settings.kafka_bootstrap, settings.metrics_partitions))
    watch.start()
    try:
        state_snapshot.restore(app, settings.data_dir, settings.kafka_bootstrap, settings.metrics_partitions)
    except Exception as exc:  # the broker not up yet: the worker starts on what the changelogs hold
        log.error("could not restore the state snapshot: %s", exc)
    try:
        worker.execute_from_commandline()
    finally:
        watch.stop()
        for f in feeds:
            f.stop()
        if app.tables.recovery.completed.is_set():  # else the tables hold a part at most: keep the last snapshot
            state_snapshot.save(app, settings.data_dir)
