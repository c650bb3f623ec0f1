"""What the node tells its faces: the event types, ``NodeEvent``, and the bus that
hands each event to every subscriber's queue."""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass
from typing import Any

from chatty_p2p.files.model import TransferInfo
from chatty_p2p.node.peers import Peer, PeerState, PeerTable
from chatty_p2p.store import StoredMessage
from chatty_p2p.trust import PairingInfo

log = logging.getLogger(__package__)


class EventType(enum.StrEnum):
    PEER_DISCOVERED = "peer-discovered"
    PEER_UPDATED = "peer-updated"
    PEER_ONLINE = "peer-online"
    PEER_OFFLINE = "peer-offline"
    PEER_LOST = "peer-lost"
    MESSAGE = "message"
    MESSAGE_STATUS = "message-status"
    NAME_CHANGED = "name-changed"
    WARNING = "warning"
    TRANSFER = "transfer"
    TRANSFER_OFFERED = "transfer-offered"
    TRANSFER_PROGRESS = "transfer-progress"
    PAIRING = "pairing"
    CLIPBOARD = "clipboard"
    """Text a face should put on the clipboard (``text``): see ``auto_copy_trusted``."""


@dataclass(frozen=True)
class NodeEvent:
    """Something a face may want to show. Only the fields of its type are set."""

    type: EventType
    peer: Peer | None = None
    message: StoredMessage | None = None
    transfer: TransferInfo | None = None
    pairing: PairingInfo | None = None
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": str(self.type), "time": time.time()}
        if self.peer is not None:
            out["peer"] = self.peer.to_dict()
        if self.message is not None:
            out["message"] = self.message.to_dict()
        if self.transfer is not None:
            out["transfer"] = self.transfer.to_dict()
        if self.pairing is not None:
            out["pairing"] = self.pairing.to_dict()
        if self.text:
            out["text"] = self.text
        return out


class EventBus:
    """The subscribers' queues: every event goes to each of them."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[NodeEvent]] = set()

    def subscribe(self) -> asyncio.Queue[NodeEvent]:
        queue: asyncio.Queue[NodeEvent] = asyncio.Queue(maxsize=10_000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[NodeEvent]) -> None:
        self._subscribers.discard(queue)

    def emit(self, event: NodeEvent) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("dropping a subscriber that stopped reading events")
                self._subscribers.discard(queue)


class Announcer:
    """How the parts of the node speak to the faces: about a peer (a fresh snapshot of
    it from the table), a warning, a transfer, a pairing, or any event."""

    def __init__(self, bus: EventBus, table: PeerTable) -> None:
        self._bus = bus
        self._table = table

    def emit(self, event: NodeEvent) -> None:
        self._bus.emit(event)

    def peer(
        self,
        kind: EventType,
        state: PeerState,
        message: StoredMessage | None = None,
        text: str = "",
    ) -> None:
        """An event about one peer, as it is now."""
        self.emit(NodeEvent(kind, peer=self._table.snapshot(state), message=message, text=text))

    def warn(self, peer_id: str, text: str) -> None:
        self.emit(NodeEvent(EventType.WARNING, peer=self._table.snapshot_of(peer_id), text=text))

    def transfer(self, kind: str, info: TransferInfo) -> None:
        self.emit(NodeEvent(EventType(kind), transfer=info))

    def pairing(self, info: PairingInfo) -> None:
        self.emit(NodeEvent(EventType.PAIRING, pairing=info))
