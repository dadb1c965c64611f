"""The OPC-UA connector against asyncua's own server, through Vigil's `publish` boundary.

Values by node id and by browse path arrive with their labels and follow the server's writes; an
unknown node is one problem while the others still work; a stopped server shows as availability 0
and a new server on the same port brings values and availability back without a restart; a user
manager accepts the right password and keeps a wrong one down with a clear error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from asyncua import Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

from kernel.retry import RetryableError
from ingest.connectors.base import AVAILABILITY
from ingest.opcua.config import OpcuaConnectorConfig
from ingest.opcua.connector import OpcuaConnector
from ingest.pipeline import Problem
from tests.harness import free_port
from tests.ingest.publish_recorder import Recorder, stop, until


class Plant:
    """An asyncua server with Objects/Plant/Pump holding Speed (float), Count (int), Running (bool),
    Level (float, for the deadband) and Model (a string)."""

    def __init__(self, port: int, users: dict[str, str] | None = None,
                 certificate: tuple[Path, Path] | None = None) -> None:
        self.port, self.users, self.certificate = port, users, certificate
        self.server: Server | None = None
        self.vars: dict[str, object] = {}

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/vigil/"

    async def start(self, speed: float = 1.5) -> None:
        server = Server(user_manager=_OneUser(self.users) if self.users else None)
        await server.init()
        server.set_endpoint(self.endpoint)
        if self.certificate:
            await server.load_certificate(str(self.certificate[0]))
            await server.load_private_key(str(self.certificate[1]))
            server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        else:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        if self.users:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        idx = await server.register_namespace("urn:vigil:test:plant")
        assert idx == 2
        plant = await server.nodes.objects.add_object(ua.NodeId("Plant", idx), f"{idx}:Plant")
        pump = await plant.add_object(ua.NodeId("Pump", idx), f"{idx}:Pump")
        self.vars = {
            "speed": await pump.add_variable(ua.NodeId(5, idx), f"{idx}:Speed", speed),
            "count": await pump.add_variable(ua.NodeId("Pump.Count", idx), f"{idx}:Count",
                                             ua.Variant(7, ua.VariantType.Int32)),
            "running": await pump.add_variable(ua.NodeId("Pump.Running", idx), f"{idx}:Running", True),
            "level": await pump.add_variable(ua.NodeId("Pump.Level", idx), f"{idx}:Level", 10.0),
            "model": await pump.add_variable(ua.NodeId("Pump.Model", idx), f"{idx}:Model", "P-100"),
        }
        await server.start()
        self.server = server

    async def write(self, name: str, value: object) -> None:
        await self.vars[name].write_value(value)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None


class _OneUser:
    """A user manager that knows one username and password."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(self, iserver, username=None, password=None, certificate=None) -> User | None:
        if username in self.users and self.users[username] == password:
            return User(role=UserRole.User)
        return None


def config(endpoint: str, **extra) -> OpcuaConnectorConfig:
    return OpcuaConnectorConfig.model_validate({
        "type": "opcua", "name": "line1", "endpoint": endpoint, "device": "pump-1",
        "labels": {"site": "ams"}, "publishing_interval": "100ms", "availability_interval": "300ms",
        "reconnect_max": "1s", "timeout": "2s",
        "nodes": [
            {"name": "pump_speed", "node_id": "ns=2;i=5", "sampling_interval": "50ms", "labels": {"unit": "rpm"}},
            {"name": "pump_count", "browse_path": ["0:Objects", "2:Plant", "2:Pump", "2:Count"],
             "sampling_interval": "50ms"},
            {"name": "pump_running", "node_id": "ns=2;s=Pump.Running", "sampling_interval": "50ms"},
            {"name": "pump_level", "node_id": "ns=2;s=Pump.Level", "sampling_interval": "50ms", "deadband": 1.0},
            {"name": "pump_model", "node_id": "ns=2;s=Pump.Model", "sampling_interval": "50ms"},
            {"name": "pump_missing", "node_id": "ns=2;i=99"},
            {"name": "pump_lost", "browse_path": ["0:Objects", "2:Plant", "2:Nowhere"]},
        ],
        **extra})


def test_values_problems_and_a_server_restart():
    asyncio.run(_values_problems_and_a_server_restart())


async def _values_problems_and_a_server_restart():
    plant = Plant(free_port())
    await plant.start()
    connector = OpcuaConnector(config(plant.endpoint))
    publish = Recorder()
    task = asyncio.create_task(connector.run(publish))
    try:
        await until(lambda: publish.values("pump_speed") and publish.values("pump_count")
                    and publish.values("pump_running") and publish.values("pump_level"), "the first values")
        assert publish.last_up() == 1.0
        assert connector.statuses()[0].up is True
        speed = publish.samples("pump_speed")[0]
        assert speed["value"] == 1.5
        assert speed["labels"] == {"site": "ams", "unit": "rpm", "device": "pump-1"}
        assert abs(speed["timestamp_ms"] - time.time() * 1000) < 60_000
        assert publish.samples("pump_count")[0]["value"] == 7.0
        assert publish.samples("pump_count")[0]["labels"] == {"site": "ams", "device": "pump-1"}
        assert publish.samples("pump_running")[0]["value"] == 1.0
        assert all(device == "pump-1" for device, _, _ in publish.calls)
        up = publish.samples(AVAILABILITY)[-1]
        assert up["labels"] == {"site": "ams", "connector": "line1", "device": "pump-1"}

        # Unknown node id, bad browse path, a string: one problem each, naming the node and the error.
        await until(lambda: len(publish.problems()) == 3, "three problems")
        by_node = {p.location.split(" ", 1)[1]: p for p in publish.problems()}
        assert set(by_node) == {"ns=2;i=99", "0:Objects/2:Plant/2:Nowhere", "ns=2;s=Pump.Model"}
        assert by_node["ns=2;i=99"].location == f"{plant.endpoint} ns=2;i=99"
        assert "pump_missing" in by_node["ns=2;i=99"].reason and "BadNodeIdUnknown" in by_node["ns=2;i=99"].reason
        assert "pump_lost" in by_node["0:Objects/2:Plant/2:Nowhere"].reason
        assert "BadNoMatch" in by_node["0:Objects/2:Plant/2:Nowhere"].reason
        assert "not a number" in by_node["ns=2;s=Pump.Model"].reason
        assert not publish.samples("pump_model") and not publish.samples("pump_missing")

        # The server's writes arrive; the level's deadband (1.0) swallows a change of 0.5.
        await plant.write("speed", 1234.5)
        await plant.write("count", ua.Variant(8, ua.VariantType.Int32))
        await plant.write("running", False)
        await plant.write("level", 10.5)
        await plant.write("model", "P-200")
        await until(lambda: 1234.5 in publish.values("pump_speed"), "the new speed")
        await until(lambda: 8.0 in publish.values("pump_count") and 0.0 in publish.values("pump_running"),
                    "the new count and state")
        await plant.write("level", 15.0)
        await until(lambda: 15.0 in publish.values("pump_level"), "a level change beyond the deadband")
        assert publish.values("pump_level") == [10.0, 15.0]
        assert len(publish.problems()) == 3  # the model's second string is not reported again

        # The server goes away: availability 0 and the status says down, the connector keeps running.
        await plant.stop()
        await until(lambda: publish.last_up() == 0.0, "availability 0")
        status = connector.statuses()[0]
        assert status.up is False and status.last_error
        await asyncio.sleep(0.5)
        assert not task.done()
        assert publish.last_up() == 0.0  # re-sent every availability_interval while down

        # A new server on the same port with the same address space: values and availability come back.
        seen = len(publish.calls)
        await plant.start(speed=42.0)
        await until(lambda: publish.last_up() == 1.0, "availability 1 again")
        await until(lambda: 42.0 in publish.values("pump_speed"), "values from the new server")
        await plant.write("speed", 43.0)
        await until(lambda: 43.0 in publish.values("pump_speed"), "a write on the new server")
        assert connector.statuses()[0].up is True
        assert len(publish.problems()) == 3  # still-missing nodes are not reported again
        assert any(s["name"] == AVAILABILITY and s["value"] == 1.0
                   for _, samples, _ in publish.calls[seen:] for s in samples)
    finally:
        await stop(task)
        await plant.stop()


def test_username_and_password():
    asyncio.run(_username_and_password())


async def _username_and_password():
    plant = Plant(free_port(), users={"vigil": "s3cret"})
    await plant.start()
    try:
        wrong = OpcuaConnector(config(plant.endpoint, username="vigil", password="nope"))
        right = OpcuaConnector(config(plant.endpoint, username="vigil", password="s3cret"))
        wrong_publish, right_publish = Recorder(), Recorder()
        tasks = [asyncio.create_task(wrong.run(wrong_publish)), asyncio.create_task(right.run(right_publish))]
        try:
            await until(lambda: right_publish.values("pump_speed"), "values with the right password")
            assert right_publish.last_up() == 1.0 and right.statuses()[0].up is True
            await until(lambda: wrong_publish.last_up() == 0.0, "availability 0 with the wrong password")
            await asyncio.sleep(0.5)  # it keeps trying and stays down
            status = wrong.statuses()[0]
            assert status.up is False
            assert "refused user 'vigil'" in status.last_error and "BadUserAccessDenied" in status.last_error
            assert not wrong_publish.values("pump_speed")
            assert all(s["value"] == 0.0 for s in wrong_publish.samples(AVAILABILITY))
            assert not any(t.done() for t in tasks)
        finally:
            for task in tasks:
                await stop(task)
    finally:
        await plant.stop()


class Flaky(Recorder):
    """Kafka refusing the first two calls."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def __call__(self, device: str, samples: list, problems: list[Problem]) -> int:
        if self.refused < 2:
            self.refused += 1
            raise RetryableError("kafka unavailable")
        return await super().__call__(device, samples, problems)


def test_a_refused_publish_is_retried():
    asyncio.run(_a_refused_publish_is_retried())


async def _a_refused_publish_is_retried():
    plant = Plant(free_port())
    await plant.start()
    publish = Flaky()
    task = asyncio.create_task(OpcuaConnector(config(plant.endpoint)).run(publish))
    try:
        await until(lambda: publish.values("pump_speed") and publish.last_up() == 1.0, "values after two refusals")
        assert publish.refused == 2 and not task.done()
    finally:
        await stop(task)
        await plant.stop()


def test_basic256sha256_sign_and_encrypt(tmp_path):
    asyncio.run(_basic256sha256_sign_and_encrypt(tmp_path))


async def _basic256sha256_sign_and_encrypt(tmp_path: Path):
    server_cert, server_key = tmp_path / "server.der", tmp_path / "server.pem"
    client_cert, client_key = tmp_path / "client.der", tmp_path / "client.pem"
    await setup_self_signed_certificate(server_key, server_cert, "urn:vigil:test:server", "127.0.0.1",
                                        [ExtendedKeyUsageOID.SERVER_AUTH], {})
    await setup_self_signed_certificate(client_key, client_cert, "urn:vigil:opcua:line1", "127.0.0.1",
                                        [ExtendedKeyUsageOID.CLIENT_AUTH], {})
    plant = Plant(free_port(), certificate=(server_cert, server_key))
    await plant.start()
    connector = OpcuaConnector(config(plant.endpoint, security="Basic256Sha256", certificate=str(client_cert),
                                      private_key=str(client_key)))
    publish = Recorder()
    task = asyncio.create_task(connector.run(publish))
    try:
        await until(lambda: publish.values("pump_speed"), "values over a signed and encrypted channel")
        assert publish.last_up() == 1.0
    finally:
        await stop(task)
        await plant.stop()


logging.getLogger("asyncua").setLevel(logging.WARNING)
