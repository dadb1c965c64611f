"""Configured nodes → monitored items of one subscription (OPC UA Part 4 §5.12 MonitoredItem services)."""

from __future__ import annotations

import math

from asyncua import Client, ua
from asyncua.common.node import Node as UaNode
from asyncua.common.subscription import Subscription

from ingest.opcua.config import Node

MAX_QUEUE = 100


async def resolve(client: Client, node: Node) -> UaNode:
    """The server's node for a configured one; raises ua.UaStatusCodeError (BadNoMatch…) when a path leads nowhere.

    A node id is not checked here: CreateMonitoredItems answers BadNodeIdUnknown for it, which
    saves a round trip per node.
    """
    if node.node_id is not None:
        return client.get_node(node.node_id)
    # TranslateBrowsePathsToNodeIds from the Root folder (Part 4 §5.8.4).
    return await client.nodes.root.get_child(list(node.browse_path or ()))


def request(handle: int, target: UaNode, node: Node, publishing_interval_s: float) -> ua.MonitoredItemCreateRequest:
    """The CreateMonitoredItems entry of one node: its sampling interval, queue and deadband filter."""
    params = ua.MonitoringParameters()
    params.ClientHandle = handle
    params.SamplingInterval = node.sampling_interval * 1000  # ms
    # Sampling faster than publishing would otherwise keep only the last value of each publish
    # cycle: queue what one cycle samples (Part 4 §5.12.1.5 queue parameters).
    params.QueueSize = max(1, min(MAX_QUEUE, math.ceil(publishing_interval_s / node.sampling_interval)))
    params.DiscardOldest = True
    if node.deadband is not None:
        # Absolute deadband (Part 4 §7.22.2 DataChangeFilter): report a value only when it differs
        # from the last reported one by more than `deadband`. The trigger must include the value
        # (StatusValue); the default trigger, Status, would report status changes only.
        params.Filter = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValue,
                                            DeadbandType=ua.DeadbandType.Absolute,
                                            DeadbandValue=node.deadband)
    item = ua.MonitoredItemCreateRequest()
    item.ItemToMonitor = ua.ReadValueId(NodeId=target.nodeid, AttributeId=ua.AttributeIds.Value)
    item.MonitoringMode = ua.MonitoringMode.Reporting
    item.RequestedParameters = params
    return item


async def monitor(client: Client, subscription: Subscription, nodes: tuple[Node, ...],
                  publishing_interval_s: float) -> tuple[dict[int, Node], list[tuple[Node, str]]]:
    """Monitor every node that resolves: (client handle → node, (node, error) of those that didn't).

    Only per-node answers (bad status codes) become failures; a lost connection raises.
    """
    failures: list[tuple[Node, str]] = []
    requests: list[tuple[Node, ua.MonitoredItemCreateRequest]] = []
    for handle, node in enumerate(nodes, start=1):
        try:
            target = await resolve(client, node)
        except ua.UaStatusCodeError as exc:
            failures.append((node, _error(exc.code)))
            continue
        requests.append((node, request(handle, target, node, publishing_interval_s)))
    handles: dict[int, Node] = {}
    if requests:
        results = await subscription.create_monitored_items([r for _, r in requests])
        for (node, item), result in zip(requests, results, strict=True):
            if isinstance(result, ua.StatusCode):  # asyncua hands back the bad StatusCode of a refused item
                failures.append((node, _error(result.value)))
            else:
                handles[item.RequestedParameters.ClientHandle] = node
    return handles, failures


def _error(code: int) -> str:
    status = ua.StatusCode(code)
    return f"{status.name}: {status.doc}" if status.doc else status.name
