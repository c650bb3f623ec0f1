"""The bus that hands each node event to every subscriber's queue, and the
``Announcer`` the node's parts speak through. The event types themselves, and their
JSON codec, are in :mod:`chatty_p2p.events` (light, so a face that only reads events
need not load the node); they are re-exported here."""

from __future__ import annotations

import asyncio
import logging

from chatty_p2p.events import (
    EventType,
    MessageStatus,
    NewMessage,
    NodeEvent,
    NodeWarning,
    PairingChanged,
    PairingInfo,
    PeerDiscovered,
    PeerLost,
    PeerOffline,
    PeerOnline,
    PeerUpdated,
    TransferChanged,
    TransferOffered,
    TransferProgress,
)
from chatty_p2p.files.model import TransferInfo
from chatty_p2p.node.peers import PeerState, PeerTable
from chatty_p2p.store import StoredMessage

__all__ = ["Announcer", "EventBus", "EventType", "NodeEvent"]

log = logging.getLogger(__package__)


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
    it from the table), a message, a warning, a transfer (``files.ledger.TransferNews``),
    a pairing, or any event."""

    def __init__(self, bus: EventBus, table: PeerTable) -> None:
        self._bus = bus
        self._table = table

    def emit(self, event: NodeEvent) -> None:
        self._bus.emit(event)

    def peer(
        self, kind: type[PeerDiscovered | PeerUpdated | PeerOnline | PeerLost], state: PeerState
    ) -> None:
        """An event about one peer, as it is now."""
        self.emit(kind(peer=self._table.snapshot(state)))

    def offline(self, state: PeerState, reason: str) -> None:
        self.emit(PeerOffline(peer=self._table.snapshot(state), text=reason))

    def message(self, state: PeerState, message: StoredMessage) -> None:
        """A message joined the conversation with the peer."""
        self.emit(NewMessage(peer=self._table.snapshot(state), message=message))

    def status(self, state: PeerState, message: StoredMessage, text: str = "") -> None:
        """A message to the peer changed status (``text``: why, if it is stuck)."""
        self.emit(MessageStatus(peer=self._table.snapshot(state), message=message, text=text))

    def warn(self, peer_id: str, text: str) -> None:
        self.emit(NodeWarning(peer=self._table.snapshot_of(peer_id), text=text))

    def refused(self, state: PeerState, code: str, text: str) -> None:
        """The peer refused us (an ERROR in the handshake or the session): said once,
        not at each redial, until it stops refusing (``state.refused_by`` is cleared)."""
        said = f"{state.name} reported an error ({code}): {text or 'no reason given'}"
        if said != state.refused_by:
            state.refused_by = said
            self.warn(state.id, said)

    def transfer_changed(self, info: TransferInfo) -> None:
        self.emit(TransferChanged(transfer=info))

    def transfer_offered(self, info: TransferInfo) -> None:
        self.emit(TransferOffered(transfer=info))

    def transfer_progress(self, info: TransferInfo) -> None:
        self.emit(TransferProgress(transfer=info))

    def pairing(self, info: PairingInfo) -> None:
        self.emit(PairingChanged(pairing=info))
