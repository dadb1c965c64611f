"""Configuration of one OPC-UA connector: the server endpoint, how to log in, and which nodes to watch."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from asyncua import ua
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ingest.config_types import NAME_PATTERN, seconds
from kernel.names import METRIC_NAME_PATTERN

_BROWSE_NAME = re.compile(r"^\d+:.+$")  # a QualifiedName as `<namespace index>:<name>`


class Node(BaseModel):
    """One variable to monitor: by `node_id` (`ns=2;i=5`) or by `browse_path` from the root — exactly one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=METRIC_NAME_PATTERN, description="the metric name of its samples")
    node_id: str | None = None
    browse_path: tuple[str, ...] | None = Field(None, min_length=1,
                                                description='from the root: ["0:Objects", "2:Plant", "2:Speed"]')
    sampling_interval: float = Field(1.0, gt=0, description="how often the server samples the value (seconds)")
    deadband: float | None = Field(None, ge=0, description="absolute deadband: report only changes larger than this")
    labels: dict[str, str] = {}

    @field_validator("sampling_interval", mode="before")
    @classmethod
    def _duration(cls, value):
        return seconds(value)

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, node_id: str | None) -> str | None:
        if node_id is not None:
            try:
                ua.NodeId.from_string(node_id)
            except ua.UaStringParsingError:
                raise ValueError(f"{node_id!r} is not a node id like ns=2;i=5 or ns=2;s=Pump.Speed") from None
        return node_id

    @field_validator("browse_path")
    @classmethod
    def _browse_path(cls, path: tuple[str, ...] | None) -> tuple[str, ...] | None:
        bad = [p for p in path or () if not _BROWSE_NAME.match(p)]
        if bad:
            raise ValueError(f"each element is <namespace index>:<browse name> like 2:Pump, got {bad[0]!r}")
        return path

    @model_validator(mode="after")
    def _exactly_one(self):
        if (self.node_id is None) == (self.browse_path is None):
            raise ValueError(f"node {self.name!r}: give exactly one of node_id or browse_path")
        return self

    @property
    def address(self) -> str:
        """How the node is named in problems and logs: its node id or its browse path."""
        return self.node_id if self.node_id is not None else "/".join(self.browse_path or ())


class OpcuaConnectorConfig(BaseModel):
    """One OPC-UA server connection with the nodes to subscribe to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["opcua"]
    name: str = Field(pattern=NAME_PATTERN)
    endpoint: str = Field(description="opc.tcp://host:port/path")
    # Basic256Sha256 signs and encrypts the channel (OPC UA Part 2 §6, Part 7 security policies):
    # it needs the client's application instance certificate and key, which the server must trust.
    security: Literal["None", "Basic256Sha256"] = "None"
    certificate: Path | None = Field(None, description="client certificate (DER or PEM), Basic256Sha256 only")
    private_key: Path | None = Field(None, description="client private key (PEM or DER), Basic256Sha256 only")
    private_key_password: SecretStr | None = None
    server_certificate: Path | None = Field(None, description="pin the server's certificate; default: the "
                                                              "one its endpoint presents")
    application_uri: str | None = Field(None, description="default urn:vigil:opcua:<name>; must match the "
                                                          "certificate's URI")
    username: str | None = None
    password: SecretStr | None = None
    device: str | None = Field(None, description="the device in availability and status; default: the name")
    labels: dict[str, str] = {}
    publishing_interval: float = Field(1.0, gt=0)
    reconnect_max: float = Field(30.0, gt=0, description="the longest wait between reconnect attempts")
    availability_interval: float = Field(10.0, gt=0, description="re-send the device's availability this often")
    timeout: float = Field(4.0, gt=0, description="for each request to the server, and the watchdog's probe")
    nodes: tuple[Node, ...] = Field(min_length=1)

    @field_validator("publishing_interval", "reconnect_max", "availability_interval", "timeout", mode="before")
    @classmethod
    def _duration(cls, value):
        return seconds(value)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, endpoint: str) -> str:
        if not endpoint.startswith("opc.tcp://") or len(endpoint) == len("opc.tcp://"):
            raise ValueError(f"{endpoint!r} is not an OPC-UA endpoint like opc.tcp://host:4840/path")
        return endpoint

    @field_validator("nodes")
    @classmethod
    def _unique(cls, nodes: tuple[Node, ...]) -> tuple[Node, ...]:
        seen: set[str] = set()
        for node in nodes:
            if node.name in seen:
                raise ValueError(f"metric name {node.name!r} is used by two nodes; names must be unique")
            seen.add(node.name)
        return nodes

    @model_validator(mode="after")
    def _credentials(self):
        if self.password is not None and not self.username:
            raise ValueError("password: give the username too")
        if self.security == "Basic256Sha256" and (self.certificate is None or self.private_key is None):
            raise ValueError("security: Basic256Sha256 needs certificate and private_key")
        return self

    @property
    def device_name(self) -> str:
        return self.device or self.name

    @property
    def uri(self) -> str:
        return self.application_uri or f"urn:vigil:opcua:{self.name}"
