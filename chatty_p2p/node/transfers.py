"""``FileTransfers`` as the node makes it: the eleven things it is handed, in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from chatty_p2p.files.manager import FileTransfers
from chatty_p2p.identity import Identity
from chatty_p2p.node.events import Announcer
from chatty_p2p.node.peers import Dialler, PeerTable
from chatty_p2p.node.tasks import Tasks
from chatty_p2p.store import Store


class OfferPolicy(Protocol):
    """Whose offers are accepted unasked (``guard.Guard``)."""

    def accepts_from(self, peer_id: str) -> bool: ...


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
    def want_connection(peer_id: str) -> None:
        state = table.get(peer_id)
        if state is not None:
            dialler.want_connection(state, delay=0)

    return FileTransfers(
        store,
        identity,
        news=events,
        warn=events.warn,
        control=table.connection,
        addresses=table.addresses,
        peer_name=table.name,
        want_connection=want_connection,
        download_dir=download_dir,
        accept_from=gate.accepts_from,
        lanes=lanes,
        spawn=tasks.spawn,
    )
