"""The OPC-UA connector: one asyncua client, one subscription, a monitored item per configured node.

Values arrive as data change notifications (OPC UA Part 4 §5.12 MonitoredItems, §5.13
Subscriptions): the server samples each node every `sampling_interval`, filters by the absolute
deadband, and publishes queued changes every `publishing_interval`. The asyncua callback only
turns them into samples and queues them; a sender task hands them to `publish`.

One device per connector (the server): it is up while the subscription is live. A lost server
(found by asyncua's supervisor, a bad subscription status, or our own read of the server's
CurrentTime every `availability_interval`) marks it down and publishes `vigil_device_up` 0; the
connector then connects again with backoff, re-resolves the nodes (a restarted server may have
new node ids behind the same browse paths) and subscribes again, and the device is up once that
subscription exists. A node that can't be resolved or monitored is reported once as a problem and
skipped; the others still work.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time

from asyncua import Client, ua
from asyncua.client.ua_client import UaClientState
from asyncua.common.subscription import DataChangeNotif
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256

from kernel.retry import Backoff, ErrorLog, RetryableError
from ingest import metrics
from ingest.connectors.base import DeviceStatus, Publish, availability
from ingest.opcua import nodes, values
from ingest.opcua.config import Node, OpcuaConnectorConfig
from ingest.pipeline import Problem
from schemas.records import Sample

log = logging.getLogger(__name__)
PROTOCOL = "opcua"
PUBLISH_ATTEMPTS = 5  # then the batch is counted as dropped: the next values replace it anyway
OUTBOX_MAX = 10_000  # batches waiting for publish; beyond this Kafka is far behind and new values are dropped
CURRENT_TIME = ua.NodeId(ua.ObjectIds.Server_ServerStatus_CurrentTime)  # i=2258


class ConnectionLost(Exception):
    """The server went away while subscribed."""


class OpcuaConnector:
    """One OPC-UA server (one device) with one subscription monitoring every configured node."""

    def __init__(self, config: OpcuaConnectorConfig) -> None:
        self.config = config
        self.name = config.name
        self.device = config.device_name
        self.status = DeviceStatus(config.name, self.device)
        self.subscribed = False
        self._reconnect = Backoff(initial_s=min(0.5, config.reconnect_max), max_s=config.reconnect_max)
        self._publish_backoff = Backoff(initial_s=0.2, max_s=5.0)
        self._publish: Publish | None = None
        self._outbox: asyncio.Queue[tuple[list[Sample], list[Problem]]] | None = None
        self._unresolved: set[str] = set()  # nodes whose resolve problem was published: reported once
        self._non_numeric: set[str] = set()  # nodes whose non-numeric value was published: reported once

    def statuses(self) -> list[DeviceStatus]:
        return [self.status]

    async def run(self, publish: Publish) -> None:
        """Connect, subscribe and publish values until cancelled, reconnecting whenever the server goes away."""
        self._publish, self._outbox = publish, asyncio.Queue()
        helpers = [asyncio.create_task(self._sender(), name=f"opcua-{self.name}-sender"),
                   asyncio.create_task(self._heartbeat(), name=f"opcua-{self.name}-availability")]
        attempt, errors = 0, ErrorLog(log)
        try:
            while True:
                try:
                    await self._session()
                    error = "the session ended"  # not reached: _session raises when the connection ends
                except Exception as exc:  # any failed or lost connection: try again
                    error = _describe(exc)
                attempt = 1 if self.subscribed else attempt + 1
                self.subscribed = False
                self.status.failed(error)
                delay = self._reconnect.delay(attempt)
                errors.failed(error, "OPC-UA %s (%s): %s; reconnecting in %.1fs", self.name, self.config.endpoint,
                              error, delay)
                await self._send_availability()
                await asyncio.sleep(delay)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    # one connection -------------------------------------------------------------------------

    async def _session(self) -> None:
        """Connect, subscribe and watch the connection; raises when it fails or is lost."""
        handler = _Handler(self)  # per session: a late callback of an old session can't touch this one
        client = await self._client(handler)
        connected = False
        try:
            try:
                await client.connect()
            except ua.UaStatusCodeError as exc:
                raise _login_error(exc, self.config.username) from exc
            connected = True
            subscription = await client.create_subscription(self.config.publishing_interval * 1000, handler)
            handler.items, failures = await nodes.monitor(client, subscription, self.config.nodes,
                                                          self.config.publishing_interval)
            self._report(handler.items, failures)
            self.subscribed = True
            self.status.ok(0)
            log.info("OPC-UA %s subscribed to %d of %d nodes at %s", self.name, len(handler.items),
                     len(self.config.nodes), self.config.endpoint)
            await self._send_availability()
            await self._watch(client, handler)
        finally:
            handler.items = {}
            await self._close(client, connected)

    async def _client(self, handler: _Handler) -> Client:
        config = self.config
        client = Client(config.endpoint, timeout=config.timeout,
                        watchdog_intervall=min(config.availability_interval, config.timeout))
        client.name = client.description = f"Vigil {config.name}"
        client.application_uri = config.uri
        if config.username:
            client.set_user(config.username)
        if config.password is not None:
            client.set_password(config.password.get_secret_value())
        if config.security == "Basic256Sha256":
            # Sign and encrypt (Part 2 §6 / Part 7 security policies). Without server_certificate
            # the endpoint's own certificate is taken, asked for over an unsecured GetEndpoints.
            key_password = config.private_key_password.get_secret_value() if config.private_key_password else None
            await client.set_security(SecurityPolicyBasic256Sha256, str(config.certificate), str(config.private_key),
                                      key_password,
                                      str(config.server_certificate) if config.server_certificate else None,
                                      ua.MessageSecurityMode.SignAndEncrypt)
        # asyncua's supervisor probes the server every watchdog_intervall and calls this on a loss;
        # auto_reconnect stays off because we resubscribe from scratch ourselves (a restarted server
        # has none of our session, subscription or monitored items).
        client.connection_lost_callback = handler.connection_lost
        return client

    async def _watch(self, client: Client, handler: _Handler) -> None:
        """Return never: raise ConnectionLost once the server is gone.

        asyncua's supervisor notices a closed socket at once; reading the server's CurrentTime
        (i=2258) every availability_interval also catches a half-open connection that no longer answers.
        """
        probe = client.get_node(CURRENT_TIME)
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 a cancel arriving as wait_for times out is
            # swallowed (it raises TimeoutError), and this loop would then never end (seen in CI).
            try:
                async with asyncio.timeout(self.config.availability_interval):
                    await handler.lost.wait()
            except TimeoutError:
                pass
            if handler.lost.is_set():
                raise ConnectionLost(handler.reason)
            try:
                await asyncio.wait_for(probe.read_value(), timeout=self.config.timeout)
            except (Exception, asyncio.TimeoutError) as exc:
                raise ConnectionLost(f"the server did not answer a read of its current time: "
                                     f"{_describe(exc)}") from exc

    async def _close(self, client: Client, connected: bool) -> None:
        """Disconnect politely when the server can still hear it; otherwise only drop the socket."""
        try:
            if connected and client.state is UaClientState.CONNECTED:
                await asyncio.wait_for(client.disconnect(), timeout=self.config.timeout)
            elif connected:
                # Stops asyncua's supervisor tasks (started by a successful connect); the CloseSession
                # request itself fails fast on the dead transport.
                await asyncio.wait_for(client.close_session(), timeout=self.config.timeout)
        except (Exception, asyncio.TimeoutError) as exc:
            log.debug("OPC-UA %s: disconnect: %s", self.name, exc)
        finally:
            client.disconnect_socket()

    def value(self, item: Node, value: object, datavalue: ua.DataValue) -> None:
        """One new value of a monitored item → a sample (or a problem) in the outbox."""
        now_ms = int(time.time() * 1000)
        number = values.number(value)
        if number is None:
            # Non-numeric values (strings, arrays, structures) are a configuration mistake: one
            # problem per node so it shows on the dead-letter topic, then counted and skipped.
            metrics.SAMPLES_SKIPPED.labels(PROTOCOL, "non_numeric").inc()
            if item.name not in self._non_numeric:
                self._non_numeric.add(item.name)
                problem = self._problem(item, f"{values.describe(value)} is not a number", repr(value).encode())
                self._queue([], [problem])
            return
        if math.isnan(number):  # the pipeline would refuse it; a sensor reporting NaN is not news
            metrics.SAMPLES_SKIPPED.labels(PROTOCOL, "nan").inc()
            return
        labels = {**self.config.labels, **item.labels, "device": self.device}
        sample: Sample = {"series_id": 0, "name": item.name, "labels": labels, "value": number,
                          "timestamp_ms": values.timestamp_ms(datavalue, now_ms)}
        self._queue([sample], [])

    def _queue(self, samples: list[Sample], problems: list[Problem]) -> None:
        assert self._outbox is not None
        if self._outbox.qsize() >= OUTBOX_MAX:
            metrics.SAMPLES_DROPPED.labels(PROTOCOL, "outbox_full").inc(len(samples))
            return
        self._outbox.put_nowait((samples, problems))

    # problems, samples and availability out ---------------------------------------------------

    def _report(self, items: dict[int, Node], failures: list[tuple[Node, str]]) -> None:
        """Publish each node's failure once; a node that works again is reported again if it breaks later."""
        self._unresolved -= {n.name for n in items.values()}
        problems = []
        for node, error in failures:
            known = node.name in self._unresolved
            log.log(logging.DEBUG if known else logging.WARNING,
                    "OPC-UA %s: node %s (%s) skipped: %s", self.name, node.name, node.address, error)
            if not known:
                self._unresolved.add(node.name)
                problems.append(self._problem(node, error))
        if problems:
            self._queue([], problems)

    def _problem(self, node: Node, error: str, raw: bytes = b"") -> Problem:
        return Problem(f"{self.config.endpoint} {node.address}", f"node {node.name} ({node.address}): {error}",
                       raw[:1024])

    async def _sender(self) -> None:
        """Hand queued samples to publish in batches of whatever arrived meanwhile."""
        assert self._outbox is not None
        while True:
            samples, problems = await self._outbox.get()
            while not self._outbox.empty():
                more_samples, more_problems = self._outbox.get_nowait()
                samples += more_samples
                problems += more_problems
            try:
                published = await self._publish_retrying(samples, problems)
            except Exception:  # a bug in publish must not end the connector: log it and go on
                log.exception("OPC-UA %s: publish failed", self.name)
                continue
            if published and samples and self.subscribed:
                self.status.ok(len(samples))

    async def _publish_retrying(self, samples: list[Sample], problems: list[Problem]) -> bool:
        assert self._publish is not None
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                await self._publish(self.device, samples, problems)
                return True
            except RetryableError as exc:
                if attempt == PUBLISH_ATTEMPTS:
                    metrics.SAMPLES_DROPPED.labels(PROTOCOL, type(exc).__name__).inc(len(samples))
                    log.warning("OPC-UA %s: Kafka did not take %d samples after %d attempts, dropped: %s",
                                self.name, len(samples), attempt, exc)
                    return False
                await asyncio.sleep(self._publish_backoff.delay(attempt))
        return False

    async def _heartbeat(self) -> None:
        """The availability every availability_interval, so rules on `vigil_device_up` see a steady series."""
        while True:
            await asyncio.sleep(self.config.availability_interval)
            await self._send_availability()

    async def _send_availability(self) -> None:
        assert self._publish is not None
        sample = availability(self.name, self.device, self.subscribed, int(time.time() * 1000), self.config.labels)
        try:
            await self._publish(self.device, [sample], [])
        except RetryableError as exc:  # the next round sends a fresh value
            metrics.SAMPLES_DROPPED.labels(PROTOCOL, type(exc).__name__).inc()
            log.warning("OPC-UA %s: Kafka did not take the availability: %s", self.name, exc)
        except Exception:  # as in _sender: never end the connector over one publish
            log.exception("OPC-UA %s: publishing the availability failed", self.name)


class _Handler:
    """asyncua's subscription handler and connection-lost callback for one session.

    asyncua calls these from its own tasks: they only queue samples or set the lost event.
    """

    def __init__(self, connector: OpcuaConnector) -> None:
        self.connector = connector
        self.items: dict[int, Node] = {}  # client handle → configured node
        self.lost = asyncio.Event()
        self.reason = ""

    def datachange_notification(self, node: object, value: object, data: DataChangeNotif) -> None:
        """A new value of a monitored item."""
        item = self.items.get(data.subscription_data.client_handle or 0)
        if item is not None:  # None: a late notification of a subscription being torn down
            self.connector.value(item, value, data.monitored_item.Value)

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        """The server ended the subscription (BadTimeout) or asyncua saw the server go (BadShutdown)."""
        self.lose(f"the subscription ended: {status.Status.name}")

    async def connection_lost(self, exc: Exception) -> None:
        """asyncua's supervisor found the connection dead."""
        self.lose(f"lost the OPC-UA server: {_describe(exc)}")

    def lose(self, reason: str) -> None:
        if not self.lost.is_set():
            self.reason = reason
            self.lost.set()


def _login_error(exc: ua.UaStatusCodeError, username: str | None) -> Exception:
    """A clearer error for a refused login (Part 4 §5.6.3 ActivateSession)."""
    name = ua.StatusCode(exc.code).name
    if name in ("BadUserAccessDenied", "BadIdentityTokenInvalid", "BadIdentityTokenRejected"):
        who = f"user {username!r}" if username else "an anonymous login"
        return PermissionError(f"the OPC-UA server refused {who} ({name}): check username and password")
    return exc


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
