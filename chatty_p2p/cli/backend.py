"""How a ``chatty`` command reaches a node.

Only one process may own a data dir. When a daemon or the window owns it, a command
talks to that process's node through its control socket (:mod:`chatty_p2p.control`);
otherwise it starts a node of its own for as long as it runs. Either way the command
sees a :class:`Backend`: ``call`` an operation of :mod:`chatty_p2p.api`, ``subscribe``
to the node's events. The node itself is imported only when no daemon answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from chatty_p2p import config
from chatty_p2p.control import ControlClient, endpoint
from chatty_p2p.errors import UnknownPeer

if TYPE_CHECKING:
    from chatty_p2p.events import NodeEvent
    from chatty_p2p.node import Node

DISCOVERY_GRACE = 2.0
"""Seconds after a node starts during which discovery may still bring a peer that is
already on the network (``chatty peers`` listens 1.5 s); after that, a name or id
nobody has announced will not appear by waiting for it."""


class Events(Protocol):
    """The node's events, typed (:mod:`chatty_p2p.events`), from a node in this process
    or decoded from the control socket."""

    async def get(self) -> NodeEvent: ...


class Backend(Protocol):
    local: bool

    async def call(self, op: str, **args: Any) -> dict[str, Any]: ...

    async def subscribe(self) -> Events: ...

    def discovery_left(self) -> float:
        """Seconds for which waiting may still let an unknown peer appear."""
        ...


@dataclass
class _NodeEvents:
    queue: asyncio.Queue[NodeEvent]

    async def get(self) -> NodeEvent:
        return await self.queue.get()


class LocalBackend:
    """A node living only as long as this command."""

    local = True

    def __init__(self, node: Node, discovery: bool) -> None:
        self.node = node
        self._discovery = discovery

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        # Lazy for start-up, not for a cycle: api brings the node (see open_backend).
        from chatty_p2p import api

        return await api.call(self.node, op, args)

    async def subscribe(self) -> Events:
        return _NodeEvents(self.node.subscribe())

    def discovery_left(self) -> float:
        return float("inf") if self._discovery else 0.0


class RemoteBackend:
    """The node of the daemon or window that owns the data dir."""

    local = False

    def __init__(self, client: ControlClient, started: float) -> None:
        self.client = client
        self._started = started

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        return await self.client.call(op, **args)

    async def subscribe(self) -> Events:
        await self.client.call("subscribe")
        return self.client

    def discovery_left(self) -> float:
        return max(0.0, self._started + DISCOVERY_GRACE - time.time())


@contextlib.asynccontextmanager
async def open_backend(args: argparse.Namespace, network: bool = True) -> AsyncIterator[Backend]:
    directory = config.data_dir(args.data_dir)
    if config.lock_is_held(directory):
        client = await ControlClient.connect(directory)
        started = 0.0
        with contextlib.suppress(OSError):
            started = endpoint(directory).stat().st_mtime
        try:
            yield RemoteBackend(client, started)
        finally:
            await client.close()
        return
    # Lazy for start-up, not for a cycle: `chatty say` through a daemon must not load
    # the node, and with it the transfer stack and zeroconf.
    from chatty_p2p.node import Node

    node = Node(
        directory,
        offline=not network,
        discovery=not args.no_discovery,
        interfaces=args.interface or None,
    )
    await node.start()
    try:
        yield LocalBackend(node, discovery=network and not args.no_discovery)
    finally:
        await node.stop()


async def resolve(backend: Backend, spec: str, wait: float) -> dict[str, Any]:
    """Resolve a peer, giving discovery up to ``wait`` seconds to find it, and no longer
    than it could still bring someone new (see ``Backend.discovery_left``)."""
    deadline = time.monotonic() + min(wait, backend.discovery_left())
    while True:
        try:
            peer: dict[str, Any] = (await backend.call("resolve", peer=spec))["peer"]
            return peer
        except UnknownPeer:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.1)
