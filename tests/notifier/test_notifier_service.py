"""`vigil notifier` without an alerting config (VIGIL_SLACK_WEBHOOK_URL is the receiver `slack`), as a
real subprocess against real Kafka, real Redis and the local Slack-compatible receiver."""

from __future__ import annotations

import signal
import time

import pytest

from infra.demo.receiver import DemoReceiver
from kernel.kafka import make_producer
from schemas import codec
from tests.harness import free_port
from infra.topic_reader import TopicReader
from schemas.examples import alert, incident

pytestmark = pytest.mark.integration


def note(key: str, action: str = "TRIGGER", sequence: int = 1, event_time_ms: int = 1) -> dict:
    resolved = action == "RESOLVE"
    n = incident(key, action, sequence, receiver="slack", alerts=[alert(1, "resolved" if resolved else "firing")],
                 status="RESOLVED" if resolved else "OPEN", event_time_ms=event_time_ms)
    return {**n, "title": f"[{'RESOLVED' if resolved else 'FIRING:1'}] HighCPU {key}"}


def publish(settings, *notes) -> None:
    producer = make_producer(settings)
    for n in notes:
        producer.produce(settings.topics.notifications, codec.notification().encode(n), key=n["dedup_key"].encode())
    assert producer.flush(10) == 0


def start_notifier(vigil_env, receiver, name="notifier"):
    port = free_port()
    return vigil_env.start("notifier", health_port=port, name=name, extra_env={
        "VIGIL_NOTIFIER_HEALTH_PORT": str(port), "VIGIL_SLACK_WEBHOOK_URL": receiver.url,
        "VIGIL_BACKOFF_INITIAL_S": "0.1", "VIGIL_MAX_ATTEMPTS": "4"})


def wait_pages(receiver, count, timeout=30.0):
    deadline = time.monotonic() + timeout
    while len(receiver.pages) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # and nothing more arrives
    return receiver.pages


def headers(pages) -> list[str]:
    return [p["blocks"][0]["text"]["text"] for p in pages]


def test_one_page_per_transition_and_a_delivery_record(vigil_env, receiver):
    start_notifier(vigil_env, receiver)
    publish(vigil_env.settings, note("web-1"), note("web-1", "RESOLVE", 2))
    pages = wait_pages(receiver, 2)
    assert [p["text"] for p in pages] == ["[FIRING:1] HighCPU web-1: CPU high on the web tier",
                                          "[RESOLVED] HighCPU web-1: CPU high on the web tier"]
    assert headers(pages) == [":rotating_light: [FIRING:1] HighCPU web-1", ":white_check_mark: [RESOLVED] HighCPU web-1"]
    deliveries = TopicReader(vigil_env.settings, vigil_env.settings.topics.deliveries, codec.delivery())
    records = deliveries.wait_for(lambda r: len(r) >= 2)
    assert [(d["receiver"], d["action"], d["status"], d["attempt"], d["http_status"]) for d in records] == [
        ("slack/slack/0", "TRIGGER", "DELIVERED", 1, 200), ("slack/slack/0", "RESOLVE", "DELIVERED", 1, 200)]


def test_redelivery_after_restart_never_pages_twice(vigil_env, receiver):
    first = start_notifier(vigil_env, receiver, "n1")
    publish(vigil_env.settings, note("web-2"))
    assert len(wait_pages(receiver, 1)) == 1
    first.popen.send_signal(signal.SIGTERM)
    assert first.popen.wait(20) == 0
    publish(vigil_env.settings, note("web-2"))  # the same notification again (a replayed upstream)
    start_notifier(vigil_env, receiver, "n2")
    publish(vigil_env.settings, note("web-3"))
    pages = wait_pages(receiver, 2)
    assert headers(pages) == [":rotating_light: [FIRING:1] HighCPU web-2", ":rotating_light: [FIRING:1] HighCPU web-3"]


def test_a_new_episode_after_a_broker_reset_pages_again(vigil_env, receiver):
    """Sequences restart at 1 when the in-memory broker loses the streams' state; Redis doesn't forget."""
    start_notifier(vigil_env, receiver)
    publish(vigil_env.settings, note("web-4", event_time_ms=1_000))
    assert len(wait_pages(receiver, 1)) == 1
    publish(vigil_env.settings, note("web-4", event_time_ms=1_000),  # a redelivery: no page
            note("web-4", event_time_ms=3_600_000))  # the same sequence, a later episode: a page
    assert len(wait_pages(receiver, 2)) == 2


def test_429_then_500_then_success_is_one_page_three_attempts(vigil_env, receiver):
    receiver.fail_next(1, 429, retry_after=1)
    receiver.fail_next(1, 500)
    start_notifier(vigil_env, receiver)
    publish(vigil_env.settings, note("web-4"))
    assert len(wait_pages(receiver, 1)) == 1 and receiver.requests == 3
    deliveries = TopicReader(vigil_env.settings, vigil_env.settings.topics.deliveries, codec.delivery())
    records = deliveries.wait_for(lambda r: len(r) >= 3)
    assert [(d["attempt"], d["status"], d["http_status"]) for d in records] == [
        (1, "RETRYING", 429), (2, "RETRYING", 500), (3, "DELIVERED", 200)]


def test_permanent_failure_is_not_retried_and_does_not_block(vigil_env, receiver):
    receiver.fail_next(1, 404)  # whichever of the two the notifier sends first
    start_notifier(vigil_env, receiver)
    publish(vigil_env.settings, note("web-5"), note("web-6"))
    pages = wait_pages(receiver, 1)
    assert len(pages) == 1 and receiver.requests == 2  # the 404 was not retried
    paged = pages[0]["text"].split(":")[1].split()[-1]
    deliveries = TopicReader(vigil_env.settings, vigil_env.settings.topics.deliveries, codec.delivery())
    records = deliveries.wait_for(lambda r: len(r) >= 2)
    failed = ({"web-5", "web-6"} - {paged}).pop()
    # Different dedup keys live on different partitions, so their records have no common order.
    assert sorted((d["dedup_key"], d["status"], d["http_status"]) for d in records) == sorted([
        (failed, "FAILED", 404), (paged, "DELIVERED", 200)])


def test_receiver_down_gives_up_after_max_attempts(vigil_env):
    gone = DemoReceiver(free_port())  # never started: connection refused
    start_notifier(vigil_env, gone)
    publish(vigil_env.settings, note("web-7"))
    deliveries = TopicReader(vigil_env.settings, vigil_env.settings.topics.deliveries, codec.delivery())
    records = deliveries.wait_for(lambda r: len(r) >= 4, timeout=60)
    assert [d["status"] for d in records] == ["RETRYING", "RETRYING", "RETRYING", "FAILED"]
    assert all(d["http_status"] is None and "connection failed" in d["response"] for d in records)
    dead = TopicReader(vigil_env.settings, vigil_env.settings.topics.dead_notifications, codec.notification())
    assert [n["dedup_key"] for n in dead.wait_for(lambda r: len(r) >= 1)] == ["web-7"]


def test_a_notification_for_an_unknown_receiver_is_dead_lettered(vigil_env, receiver):
    start_notifier(vigil_env, receiver)
    publish(vigil_env.settings, {**note("web-8"), "receiver": "nobody"}, note("web-9"))
    assert len(wait_pages(receiver, 1)) == 1
    dead = TopicReader(vigil_env.settings, vigil_env.settings.topics.dead_notifications, codec.notification())
    assert [n["receiver"] for n in dead.wait_for(lambda r: len(r) >= 1)] == ["nobody"]
