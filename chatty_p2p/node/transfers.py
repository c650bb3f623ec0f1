"""``FileTransfers`` as the node makes it: the node's parts, seen through the typed
protocols ``files.peers`` names, in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from chatty_p2p.files.manager import FileTransfers
from chatty_p2p.identity import Identity
from chatty_p2p.net.connection import Connection
from chatty_p2p.node.events import Announcer
from chatty_p2p.node.peers import Dialler, PeerTable
from chatty_p2p.node.tasks import Tasks
from chatty_p2p.store import Store


class OfferPolicy(Protocol):
    """Whose offers are accepted unasked (``guard.Guard``)."""

    def accepts_from(self, peer_id: str) -> bool: ...


class _NodePeers:
    """The peer table, the dialler and the offer policy, as ``files.peers.Peers``."""

    def __init__(self, table: PeerTable, dialler: Dialler, gate: OfferPolicy) -> None:
        self._table, self._dialler, self._gate = table, dialler, gate

    def connection(self, peer_id: str) -> Connection | None:
        return self._table.connection(peer_id)

    def addresses(self, peer_id: str) -> list[tuple[str, int]]:
        return self._table.addresses(peer_id)

    def name(self, peer_id: str) -> str:
        return self._table.name(peer_id)

    def want_connection(self, peer_id: str) -> None:
        state = self._table.get(peer_id)
        if state is not None:
            self._dialler.want_connection(state, delay=0)

    def accepts_from(self, peer_id: str) -> bool:
        return self._gate.accepts_from(peer_id)


def file_transfers(
    store: Store,
    identity: Identity,
    *,
    table: PeerTable,
    events: Announcer,
    dialler: Dialler,
    gate: OfferPolicy,
    tasks: Tasks,
    download_dir: Path,
    lanes: int,
) -> FileTransfers:
    return FileTransfers(
        store,
        identity,
        news=events,
        peers=_NodePeers(table, dialler, gate),
        tasks=tasks,
        download_dir=download_dir,
        lanes=lanes,
    )
