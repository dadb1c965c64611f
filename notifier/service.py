"""`vigil notifier`: notifications topic → each integration of the addressed receiver, Delivery records, offsets after.

One asyncio loop handles many notifications at once (notifier/inflight.py keeps per-key order and
commits only finished offsets). A notification is settled when every integration of its receiver
has a decision and every record it caused (Deliveries, dead letters) is acknowledged by the broker.
Permanent failures and given-up sends go to the dead-letter topic with their final Delivery.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import redis
import redis.asyncio as aioredis
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from kernel.health import serve_health
from kernel.kafka import broker_watch, ensure_topics, make_consumer, make_producer
from kernel.retry import Backoff
from kernel.settings import NotifierSettings
from notifier import metrics
from notifier.dispatch import DEAD_LETTER, Decision, Dispatcher, Result
from notifier.idempotency import SentLedger, new_owner_id
from notifier.inflight import Lanes, Offsets, Token
from notifier.limiter import Limiter
from notifier.outbox import Outbox
from notifier.registry import Receiver, build_receivers, close_receivers, load_receivers
from schemas import codec
from schemas.codec import DecodeError
from schemas.records import Notification

log = logging.getLogger(__name__)

POLL_BATCH = 500
IDLE_SLEEP_S = 0.01  # between empty polls: the latency a page may gain here
COMMIT_EVERY_S = 0.2
ACK_POLL_S = 0.005
REDIS_CONNECTIONS = 32
SHUTDOWN_GRACE_S = 15.0  # for sends on the wire when stopping (requests time out before this)


class Handler:
    """Settles one notification: every integration of its receiver, then the acks of what it wrote."""

    def __init__(self, receivers: dict[str, Receiver], dispatcher: Dispatcher, offsets: Offsets) -> None:
        self.receivers = receivers
        self.dispatcher = dispatcher
        self.offsets = offsets
        self.lanes = Lanes()
        self.failed = asyncio.Event()  # a record was not acknowledged: stop, nothing later may be committed

    async def handle(self, note: Notification, raw: bytes, token: Token) -> None:
        """Settle `note`; finish its offset unless it must be handled again (stopping, a record not acked)."""
        try:
            await self._settle(note, raw, token)
        except Exception:  # our bug: stop rather than stall every later offset behind this one unnoticed
            log.exception("notification %s: internal error; stopping without committing it", note["dedup_key"])
            self.failed.set()

    async def _settle(self, note: Notification, raw: bytes, token: Token) -> None:
        receiver = self.receivers.get(note["receiver"])
        if receiver is None:
            outcomes = [("none", note["receiver"], self.dispatcher.unknown_receiver(note))]
        elif not receiver.integrations:
            outcomes = [("none", note["receiver"], Result(Decision.NO_INTEGRATIONS))]
        else:
            results = await asyncio.gather(*(
                self.lanes.run((i.id, note["dedup_key"]), self.dispatcher.deliver(note, i))
                for i in receiver.integrations))
            outcomes = [(i.kind, i.id, r) for i, r in zip(receiver.integrations, results)]
        acks = []
        for kind, where, result in outcomes:
            metrics.DECISIONS.labels(kind, result.decision.value).inc()
            log.info("notification %s %s #%d → %s: %s", note["dedup_key"], note["action"], note["sequence"], where,
                     result.decision.value)
            acks += result.acks
            if result.decision in DEAD_LETTER and result.final is not None:
                metrics.DEAD_LETTERED.labels(kind).inc()
                acks.append(self.dispatcher.outbox.dead_letter(raw, note, result.final))
        try:
            await asyncio.gather(*acks)
        except Exception as exc:  # a ProduceError: the record may be lost, so this offset must not be committed
            log.error("notification %s: a record was not acknowledged (%s); stopping without committing it",
                      note["dedup_key"], exc)
            self.failed.set()
            return
        if all(r.decision is not Decision.STOPPING for _, _, r in outcomes):
            self.offsets.finish(token)


async def consume(consumer: Consumer, topic: str, handler: Handler, outbox: Outbox, stop: asyncio.Event,
                  max_in_flight: int, reset: asyncio.Event | None = None) -> set[asyncio.Task]:
    """Read and hand out notifications until `stop` (or `reset`); commits finished offsets as it goes.

    Returns the tasks in flight.
    """
    reset = reset or asyncio.Event()
    decoder = codec.notification()
    offsets = handler.offsets
    tasks: set[asyncio.Task] = set()
    paused = False
    loop = asyncio.get_running_loop()
    next_commit = loop.time()

    def on_assign(c: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("assigned %d partitions of %s", len(partitions), topic)
        if paused:
            c.pause(partitions)

    def on_revoke(c: Consumer, partitions: list[TopicPartition]) -> None:
        _commit(c, offsets, asynchronous=False)
        offsets.revoke(partitions)

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    while not stop.is_set() and not handler.failed.is_set() and not reset.is_set():
        outbox.poll()
        # Beyond max_in_flight the partitions are paused, but still polled: the group keeps a member
        # only while it polls (max.poll.interval.ms), however long one slow receiver takes.
        if not paused and len(tasks) >= max_in_flight:
            consumer.pause(consumer.assignment())
            paused = True
        elif paused and len(tasks) < max_in_flight // 2:
            consumer.resume(consumer.assignment())
            paused = False
        messages: list[Message] = consumer.consume(POLL_BATCH, timeout=0)
        for msg in messages:
            if msg.error():
                log.warning("consumer: %s", msg.error())
                continue
            token = offsets.add(msg.topic(), msg.partition(), msg.offset())
            try:
                note = decoder.decode(msg.value())
            except DecodeError as exc:
                log.error("skipping undecodable record %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), exc)
                offsets.finish(token)
                continue
            task = asyncio.create_task(handler.handle(note, msg.value(), token))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if loop.time() >= next_commit:
            _commit(consumer, offsets, asynchronous=True)
            next_commit = loop.time() + COMMIT_EVERY_S
        await asyncio.sleep(0 if messages else IDLE_SLEEP_S)
    return tasks


async def _pump(outbox: Outbox, done: asyncio.Event) -> None:
    """Serve the broker's acks also while the consume loop is not running (at shutdown)."""
    while not done.is_set():
        outbox.poll()
        await asyncio.sleep(ACK_POLL_S)


def _commit(consumer: Consumer, offsets: Offsets, asynchronous: bool) -> None:
    committable = offsets.committable()
    if not committable:
        return
    try:
        consumer.commit(offsets=committable, asynchronous=asynchronous)
    except KafkaException as exc:  # e.g. during a rebalance; the next commit covers it, redelivery is deduplicated
        log.warning("offset commit failed: %s", exc)


async def serve(settings: NotifierSettings, receivers: dict[str, Receiver], stop: asyncio.Event,
                reset: asyncio.Event | None = None) -> bool:
    """Run the notifier until `stop` is set and settle what is in flight; False when a record was not acked.

    `reset` is set when the broker restarted empty: the offsets in flight mean nothing on the re-created
    topic, and the producer's idempotence state is void. The consumer itself rejoins the new group on
    its own and, with no committed offset there, reads from the start (closing it and subscribing a new
    one left the new member waiting for an assignment that never came: measured on Tansu). Notifications
    in flight finish; the ledger keeps a redelivered one from paging twice.
    """
    reset = reset or asyncio.Event()
    # A blocking pool: hundreds of sends in flight wait for a connection instead of failing.
    store = aioredis.Redis(connection_pool=aioredis.BlockingConnectionPool.from_url(
        settings.redis_url.get_secret_value(), max_connections=REDIS_CONNECTIONS, timeout=None))
    ledger = SentLedger(store, settings.topic_prefix, new_owner_id())
    await ledger.announce()
    retired = asyncio.Event()
    liveness = asyncio.create_task(ledger.keep_alive(retired))
    producer = make_producer(settings)
    outbox = Outbox(producer, settings.topics)
    pump = asyncio.create_task(_pump(outbox, retired))
    dispatcher = Dispatcher(ledger, Limiter(store, settings.topic_prefix), outbox,
                            Backoff(settings.backoff_initial_s, settings.backoff_max_s), settings.max_attempts, stop)
    handler = Handler(receivers, dispatcher, Offsets())
    consumer = make_consumer(settings, f"{settings.topic_prefix}.notifier")
    log.info("notifier %s: receivers %s", ledger.owner, ", ".join(
        f"{r.name} ({', '.join(i.id for i in r.integrations) or 'no integrations'})" for r in receivers.values())
        or "none")
    try:
        tasks: set[asyncio.Task] = set()
        while True:
            tasks |= await consume(consumer, settings.topics.notifications, handler, outbox, stop,
                                   settings.notifier_max_in_flight, reset)
            if not reset.is_set() or stop.is_set() or handler.failed.is_set():
                break
            reset.clear()
            log.warning("the broker restarted empty: forgetting the offsets in flight; the consumer joins the "
                        "new group and reads %s from its start", settings.topics.notifications)
            handler.offsets.forget_all()
            producer.renew()
        stop.set()  # waits (limiter, backoff, claims) end now; sends on the wire finish
        unfinished = (await asyncio.wait(tasks, timeout=SHUTDOWN_GRACE_S))[1] if tasks else set()
        if unfinished:
            log.warning("%d notifications still on the wire at exit: a restart treats them as in doubt",
                        len(unfinished))
        if not handler.failed.is_set():
            _commit(consumer, handler.offsets, asynchronous=False)
        retired.set()
        await asyncio.gather(liveness, pump)
        if not unfinished:  # else our claims must look dead once the liveness key expires
            await ledger.retire()
        return not handler.failed.is_set()
    finally:
        retired.set()
        consumer.close()
        outbox.flush(10)
        await close_receivers(receivers)
        await store.aclose()


def run(settings: NotifierSettings) -> None:
    """Serve /healthz and /metrics, then consume until SIGINT/SIGTERM."""
    try:
        configs = load_receivers(settings)
    except (ValueError, OSError) as exc:  # AlertingConfigError names the file, line and field
        print(f"vigil notifier: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    ensure_topics(settings)
    receivers = build_receivers(configs, settings)
    if not receivers:
        log.warning("no receiver configured: set VIGIL_ALERTING_CONFIG (or VIGIL_SLACK_WEBHOOK_URL for the receiver "
                    "named 'slack'); notifications will fail")
    health_store = redis.Redis.from_url(settings.redis_url.get_secret_value())
    watch = broker_watch(settings)

    def healthy() -> bool:
        try:
            return bool(health_store.ping()) and watch.status.healthy
        except redis.RedisError:
            return False

    server = serve_health(settings.notifier_health_port, healthy)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        reset = asyncio.Event()
        watch.on_reset(lambda: loop.call_soon_threadsafe(reset.set))
        watch.start()
        if not await serve(settings, receivers, stop, reset):
            raise SystemExit(1)

    try:
        asyncio.run(main())
    finally:
        watch.stop()
        server.shutdown()
        health_store.close()
