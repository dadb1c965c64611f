"""`vigil streams`: load the rules, create topics, run a Faust worker until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import sys

import faust

from infra.kafka import ensure_topics
from infra.settings import StreamsSettings
from streams.app import build_app
from streams.rules import RuleError, load_rules

log = logging.getLogger(__name__)


def run(settings: StreamsSettings) -> None:
    """Start one worker of the streams consumer group."""
    try:
        rules = load_rules(settings.rules_file)
    except RuleError as exc:
        print(f"vigil streams: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    log.info("loaded %d rules from %s", len(rules), settings.rules_file)
    ensure_topics(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = build_app(settings, rules)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True)
    worker.execute_from_commandline()
