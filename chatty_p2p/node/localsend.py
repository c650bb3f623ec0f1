"""The node's side of the LocalSend face (``localsend.face``): what LocalSend devices
become in the node (peers in its list, their text messages in its conversations, their
transfers in its transfers), and the face made from the node's parts."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import replace

from chatty_p2p.device import detect
from chatty_p2p.errors import ChattyError, StoreError
from chatty_p2p.events import NewMessage, Peer, PeerDiscovered, PeerOffline, PeerUpdated
from chatty_p2p.files.manager import FileTransfers
from chatty_p2p.identity import Identity
from chatty_p2p.localsend.face import CHATTY_MODEL, LocalSendFace
from chatty_p2p.net.tls import localsend_server_context
from chatty_p2p.node.events import EventBus
from chatty_p2p.node.peers import PeerTable
from chatty_p2p.node.settings import Settings
from chatty_p2p.protocol import localsend as ls
from chatty_p2p.protocol.messages import ChatMessage
from chatty_p2p.store import DELIVERED, Store, StoredMessage


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

    def is_chatty(self, fingerprint: str) -> bool:
        device_id = fingerprint.lower()
        return self._table.get(device_id) is not None or self._store.peer(device_id) is not None

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
    multicast: bool = True,
) -> LocalSendFace:
    """The face for this node: its name as the alias, its device type in LocalSend's
    words, the certificate's SHA-256 as its fingerprint (over HTTPS)."""
    kind = ls.LOCALSEND_DEVICE.get(detect(), "desktop")
    me = ls.Device(
        alias=name,
        # Upper case, as LocalSend writes a certificate's SHA-256 (peers compare exactly).
        fingerprint=identity.device_id.upper() if https else uuid.uuid4().hex.upper(),
        device_type=kind,
        device_model=CHATTY_MODEL,
        port=port,
        protocol="https" if https else "http",
    )
    tls = localsend_server_context(identity) if https else None
    hooks = LocalSendHooks(bus, table, store)
    return LocalSendFace(me, tls, files, hooks, addresses, port, multicast=multicast)


async def localsend_text(
    face: LocalSendFace, store: Store, bus: EventBus, peer: Peer, text: str, kind: str
) -> StoredMessage:
    """A message to a LocalSend device: sent at once (LocalSend has no outbox), stored
    and shown as delivered once the device took it; an error (not stored) otherwise."""
    await face.send_text(peer.id, text)
    stored = store.add_message(
        peer.id, ChatMessage(uuid.uuid4().hex, time.time(), kind, text), outgoing=True
    )
    assert stored is not None  # a fresh id
    store.set_status(peer.id, stored.id, DELIVERED)
    delivered = replace(stored, status=DELIVERED)
    bus.emit(NewMessage(peer=peer, message=delivered))
    return delivered


class LocalSendPart:
    """LocalSend as the node runs it: started when allowed (``--no-localsend`` not given,
    and not turned off in the settings), stopped, turned on or off, its PIN."""

    def __init__(
        self, make: Callable[[], LocalSendFace], settings: Settings, allowed: bool
    ) -> None:
        self._make = make
        self._settings = settings
        self._allowed = allowed
        self.face: LocalSendFace | None = None
        """The face, while it runs."""

    @property
    def on(self) -> bool:
        return not self._settings.localsend_off

    @property
    def pin(self) -> str:
        return self._settings.localsend_pin

    def running(self) -> LocalSendFace:
        if self.face is None:
            raise ChattyError("LocalSend is off here (chatty localsend on)")
        return self.face

    async def start(self) -> None:
        if self._allowed and self.on and self.face is None:
            self.face = self._make()
            self.face.pin = self.pin
            await self.face.start()

    async def stop(self) -> None:
        face, self.face = self.face, None
        if face is not None:
            await face.stop()

    async def turn(self, on: bool) -> None:
        """On or off, now and at the next start (the setting; ``--no-localsend`` still
        wins for a run)."""
        self._settings.set_localsend_off(not on)
        await (self.start() if on else self.stop())

    def set_pin(self, pin: str) -> None:
        """The PIN LocalSend devices must send with their files ("": none)."""
        self._settings.set_localsend_pin(pin)
        if self.face is not None:
            self.face.pin = pin
