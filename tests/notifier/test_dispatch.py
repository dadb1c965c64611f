"""The dispatcher in-process against real Redis, Kafka and the local receivers: ledger states and skips."""

from __future__ import annotations

import asyncio

import pytest

from notifier.dispatch import Decision
from notifier.idempotency import SentLedger
from kernel.alerting.receivers import ReceiverConfig
from schemas import codec
from infra.topic_reader import TopicReader
from tests.notifier import dispatching
from schemas.examples import incident

pytestmark = pytest.mark.integration
KEY = "0123456789abcdef0123456789abcdef"


def run(vigil_env, receiver, body):
    """`body(dispatcher, integrations, ledger, redis)` with the team's three integrations on `receiver`."""
    config = ReceiverConfig(name="team", pagerduty_configs=({"routing_key": KEY, "url": receiver.pagerduty_url},),
                            slack_configs=({"api_url": receiver.url, "send_resolved": False},),
                            webhook_configs=({"url": receiver.webhook_url},))
    return dispatching.run(vigil_env, config, body)


async def deliver_all(dispatcher, integrations, note):
    results = [await dispatcher.deliver(note, i) for i in integrations]
    await asyncio.gather(*(a for r in results for a in r.acks))
    return [r.decision for r in results]


def test_each_integration_once_with_its_own_delivery_records(vigil_env, receiver):
    async def body(dispatcher, integrations, *_):
        note = incident()
        return [await deliver_all(dispatcher, integrations, note) for _ in range(2)]
    first, again = run(vigil_env, receiver, body)
    assert first == [Decision.DELIVERED] * 3 and again == [Decision.DUPLICATE] * 3
    assert len(receiver.pd_events) == len(receiver.pages) == len(receiver.webhooks) == 1
    deliveries = TopicReader(vigil_env.settings, vigil_env.settings.topics.deliveries, codec.delivery())
    records = deliveries.wait_for(lambda r: len(r) >= 3)
    assert sorted((d["receiver"], d["status"], d["http_status"]) for d in records) == [
        ("team/pagerduty/0", "DELIVERED", 202), ("team/slack/0", "DELIVERED", 200),
        ("team/webhook/0", "DELIVERED", 200)]


def test_skips_say_why(vigil_env, receiver):
    async def body(dispatcher, integrations, *_):
        ack = await deliver_all(dispatcher, integrations, incident(action="ACKNOWLEDGE", sequence=2))
        resolve = await deliver_all(dispatcher, integrations, incident(action="RESOLVE", sequence=3))
        return ack, resolve
    ack, resolve = run(vigil_env, receiver, body)
    assert ack == [Decision.DELIVERED, Decision.DELIVERED, Decision.ACKNOWLEDGE_NOT_SUPPORTED]
    assert resolve == [Decision.DELIVERED, Decision.RESOLVE_NOT_WANTED, Decision.DELIVERED]
    assert [e["event_action"] for e in receiver.pd_events] == ["acknowledge", "resolve"]


def test_a_send_a_dead_notifier_left_on_the_wire(vigil_env, receiver):
    """PagerDuty: re-sent (it deduplicates); Slack and webhook: not re-sent, an IN_DOUBT Delivery instead."""
    async def body(dispatcher, integrations, ledger, store):
        note = incident()
        for integration in integrations:  # a notifier that died during attempt 2 (its liveness key is gone)
            await store.set(ledger.key(integration.id, note), "sending:gone-host/123/abcd:2")
        return await deliver_all(dispatcher, integrations, note)
    decisions = run(vigil_env, receiver, body)
    assert decisions == [Decision.RESENT_IN_DOUBT, Decision.IN_DOUBT, Decision.IN_DOUBT]
    assert len(receiver.pd_events) == 1 and receiver.pages == [] and receiver.webhooks == []
    deliveries = TopicReader(vigil_env.settings, vigil_env.settings.topics.deliveries, codec.delivery())
    records = deliveries.wait_for(lambda r: len(r) >= 3)
    # Numbered on: attempt 1 has its record from the dead notifier; attempt 2 was the one on the wire.
    assert sorted((d["receiver"], d["status"], d["attempt"]) for d in records) == [
        ("team/pagerduty/0", "DELIVERED", 2), ("team/slack/0", "IN_DOUBT", 2), ("team/webhook/0", "IN_DOUBT", 2)]


def test_a_dead_notifiers_claim_with_nothing_on_the_wire_is_just_sent(vigil_env, receiver):
    async def body(dispatcher, integrations, ledger, store):
        note = incident()  # a notifier that stopped after 2 answered attempts, waiting to retry
        await store.set(ledger.key(integrations[1].id, note), "claimed:gone-host/123/abcd:2")
        result = await dispatcher.deliver(note, integrations[1])
        await asyncio.gather(*result.acks)
        return result.decision, result.final["attempt"]
    assert run(vigil_env, receiver, body) == (Decision.DELIVERED, 3) and len(receiver.pages) == 1


def test_a_live_replica_sending_it_is_waited_for(vigil_env, receiver):
    async def body(dispatcher, integrations, ledger, store):
        note = incident()
        other = SentLedger(store, vigil_env.prefix, "other-replica")
        await other.announce()
        key = ledger.key(integrations[1].id, note)
        assert (await other.claim(key)).state.value == "free"
        await other.on_wire(key, 1)
        waiting = asyncio.create_task(dispatcher.deliver(note, integrations[1]))
        await asyncio.sleep(1.2)
        assert not waiting.done()  # the other replica is alive and sending
        await other.mark_sent(key)
        return (await waiting).decision
    assert run(vigil_env, receiver, body) is Decision.DUPLICATE and receiver.pages == []
