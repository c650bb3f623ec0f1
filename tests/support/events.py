"""Waiting for a node's next event of a kind."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from chatty_p2p.node import EventType, NodeEvent


async def next_event(
    queue: asyncio.Queue[NodeEvent],
    kind: EventType,
    timeout: float = 5,
    check: Callable[[NodeEvent], bool] = lambda _: True,
) -> NodeEvent:
    async with asyncio.timeout(timeout):
        while True:
            event = await queue.get()
            if event.type is kind and check(event):
                return event
