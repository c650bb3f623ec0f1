"""Two nodes on loopback and their transfers: wait for a state, for bytes on disk; trust."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from chatty_p2p.files.model import TransferInfo
from chatty_p2p.node import EventType, Node, NodeEvent


async def wait_transfer(
    queue: asyncio.Queue[NodeEvent],
    check: Callable[[TransferInfo], bool],
    kinds: tuple[EventType, ...] = (EventType.TRANSFER,),
    timeout: float = 30,
) -> TransferInfo:
    async with asyncio.timeout(timeout):
        while True:
            event = await queue.get()
            if event.type in kinds and event.transfer is not None and check(event.transfer):
                return event.transfer


async def grows_to(partial: Path, size: int) -> None:
    """Wait until a partial file holds ``size`` bytes: the transfer is mid-way."""
    async with asyncio.timeout(30):
        while not partial.exists() or partial.stat().st_size < size:
            await asyncio.sleep(0.002)


def vouch(node: Node, *others: Node) -> None:
    """``node`` trusts ``others`` as if its user had checked their fingerprints."""
    for other in others:
        node.pair_by_fingerprint(other.device_id, other.device_id[:16])


def ended(info: TransferInfo) -> bool:
    return info.state in ("done", "failed", "declined", "cancelled", "expired")
