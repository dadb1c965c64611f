"""Silences saved through the store reach a running SilencesFeed over the real broker, and stop when they end."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from api.publisher import producer_overrides
from api.silence_store import SilenceSpec, SilenceStore, StoredSilence
from kernel.kafka import make_producer
from schemas import codec
from kernel.matchers import parse_matcher
from streams.silences_feed import SilencesFeed
from tests.harness import wait_until

pytestmark = pytest.mark.integration

WEB3 = {"alertname": "HighCPU", "host": "web-3", "env": "prod"}


def now_ms() -> int:
    return int(time.time() * 1000)


def spec(*matchers: str, starts_in_s: float = 0, lasts_s: float = 3600) -> SilenceSpec:
    starts = datetime.now(timezone.utc) + timedelta(seconds=starts_in_s)
    return SilenceSpec(tuple(parse_matcher(m) for m in matchers), starts, starts + timedelta(seconds=lasts_s),
                       "alice", "maintenance")


def run_store(vigil_env, change):
    """Run `change(store)` against a SilenceStore on the test's database and topics, publishing for real."""
    async def go():
        async with await psycopg.AsyncConnection.connect(vigil_env.dsn, autocommit=True) as conn:
            producer = make_producer(vigil_env.settings, **producer_overrides())
            return await change(SilenceStore(conn, producer, vigil_env.settings.topics))
    return asyncio.run(go())


@pytest.fixture
def feed(vigil_env):
    running = SilencesFeed(vigil_env.settings)
    running.start()
    yield running
    running.stop()


def test_a_silence_saved_through_the_store_applies_and_stops_when_expired(vigil_env, feed):
    assert feed.caught_up.wait(20), "an empty silences topic is read at once"
    assert feed.silenced_by(WEB3, now_ms()) == []
    saved: StoredSilence = run_store(vigil_env, lambda store: store.create(
        spec('alertname="HighCPU"', 'host=~"web-.*"'), "test"))
    wait_until(lambda: feed.silenced_by(WEB3, now_ms()) == [saved.id], timeout=10, message="the silence applies")
    assert feed.silenced_by({**WEB3, "host": "db-1"}, now_ms()) == []
    run_store(vigil_env, lambda store: store.expire(saved.id, "test"))
    wait_until(lambda: feed.silenced_by(WEB3, now_ms()) == [], timeout=10, message="the expired silence stops")
    assert len(feed.index) == 0 and feed.records[saved.id]["deleted"] is True


def test_a_silence_silences_only_within_its_window(vigil_env, feed):
    short = run_store(vigil_env, lambda store: store.create(spec('env="prod"', lasts_s=5), "test"))
    later = run_store(vigil_env, lambda store: store.create(spec('host="web-3"', starts_in_s=5), "test"))
    wait_until(lambda: len(feed.index) == 2, timeout=10, message="both silences in the index")
    assert feed.silenced_by(WEB3, now_ms()) == [short.id]
    time.sleep(max(0.0, (later.starts_at.timestamp() * 1000 - now_ms()) / 1000) + 0.1)
    assert feed.silenced_by(WEB3, now_ms()) == [later.id], "the short one ended, the later one started"


def test_a_feed_started_later_reads_the_whole_topic_and_skips_unusable_records(vigil_env):
    live = run_store(vigil_env, lambda store: store.create(spec('alertname="HighCPU"'), "test"))
    gone = run_store(vigil_env, lambda store: store.create(spec('host="web-3"'), "test"))
    run_store(vigil_env, lambda store: store.expire(gone.id, "test"))
    broken = {**live.record(), "id": "broken", "matchers": [{"name": "host", "op": "=~", "value": "("}]}
    producer = make_producer(vigil_env.settings)
    producer.produce(vigil_env.settings.topics.silences, codec.silence().encode(broken), key=b"broken")
    producer.produce(vigil_env.settings.topics.silences, b"not avro", key=b"garbage")
    assert producer.flush(15) == 0
    feed = SilencesFeed(vigil_env.settings)
    feed.start()
    try:
        assert feed.caught_up.wait(20), "the topic was read to its end"
        assert feed.silenced_by(WEB3, now_ms()) == [live.id] and len(feed.index) == 1
        assert "broken" not in feed.records
    finally:
        feed.stop()
