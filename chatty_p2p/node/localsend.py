"""The node's side of the LocalSend face (``localsend.face``): what LocalSend devices
become in the node (peers in its list, their text messages in its conversations, their
transfers in its transfers), and the face made from the node's parts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

from chatty_p2p.device import detect
from chatty_p2p.errors import StoreError
from chatty_p2p.events import NewMessage, Peer, PeerDiscovered, PeerOffline, PeerUpdated
from chatty_p2p.files.manager import FileTransfers
from chatty_p2p.identity import Identity
from chatty_p2p.localsend.face import LocalSendFace
from chatty_p2p.net.tls import localsend_server_context
from chatty_p2p.node.events import EventBus
from chatty_p2p.node.peers import PeerTable
from chatty_p2p.protocol import localsend as ls
from chatty_p2p.protocol.messages import ChatMessage
from chatty_p2p.store import Store


class LocalSendHooks:
    """``localsend.face.Hooks``: devices as peers, texts as messages, in the node's events."""

    def __init__(self, bus: EventBus, table: PeerTable, store: Store) -> None:
        self._bus, self._table, self._store = bus, table, store

    def peer_changed(self, peer: Peer, new: bool) -> None:
        self._table.foreign_names[peer.id] = peer.name
        if new:
            self._bus.emit(PeerDiscovered(peer=peer))
        elif peer.online:
            self._bus.emit(PeerUpdated(peer=peer))
        else:
            self._bus.emit(PeerOffline(peer=peer, text="not heard for a while"))

    def text_received(self, peer: Peer, text: str) -> None:
        message = ChatMessage(uuid.uuid4().hex, time.time(), "text", text)
        try:
            stored = self._store.add_message(peer.id, message, outgoing=False)
        except StoreError:
            return
        if stored is not None:
            self._bus.emit(NewMessage(peer=peer, message=stored))


def localsend_face(
    *,
    name: str,
    identity: Identity,
    files: FileTransfers,
    bus: EventBus,
    table: PeerTable,
    store: Store,
    addresses: Callable[[], list[str]],
    port: int = ls.PORT,
    https: bool = True,
) -> LocalSendFace:
    """The face for this node: its name as the alias, its device type in LocalSend's
    words, the certificate's SHA-256 as its fingerprint (over HTTPS)."""
    kind = ls.LOCALSEND_DEVICE.get(detect(), "desktop")
    me = ls.Device(
        alias=name,
        # Upper case, as LocalSend writes a certificate's SHA-256 (peers compare exactly).
        fingerprint=identity.device_id.upper() if https else uuid.uuid4().hex.upper(),
        device_type=kind,
        device_model="Chatty",
        port=port,
        protocol="https" if https else "http",
    )
    tls = localsend_server_context(identity) if https else None
    return LocalSendFace(me, tls, files, LocalSendHooks(bus, table, store), addresses, port)
