"""The headless core every face drives: one asyncio ``Node`` per data dir.

Theory of operation
-------------------
* A node owns its data dir (an exclusive lock, ``datadir``), its identity, its
  store, a TCP listener (``listener``) and its mDNS record (``adverts``). Faces
  call its coroutines and read its events (``events``).
* Presence is a live control session (``sessions``). A node dials every peer it
  discovers (the one with the smaller id at once, the other after a short pause, so
  usually only one dial happens); a peer is *online* exactly while a session is up.
  Pings keep sessions alive, so a crashed or unplugged peer goes offline within
  ``DEAD_AFTER`` seconds, whatever mDNS caches still say.
* One session per pair of devices. If both dialled at once, both sides keep the
  session opened by the smaller device id; a session from a newer run of the
  peer (another ``boot`` token), or one arriving while the old has gone quiet
  (the peer changed networks), replaces the old.
* Every address at once: a peer's addresses are dialled happy-eyeballs style and
  the first to authenticate is kept. The node watches the interfaces (``network``);
  when they change it re-announces, drops what rode on vanished addresses and
  redials, and transfers resume on the new path.
* Messages are written to the store before they are sent, and re-sent in order
  on every new session until the peer's receipt arrives (``outbox``); the receiver
  drops ids it has already stored (``inbox``). That gives exactly-once, in-order
  delivery across reconnects and restarts.
* Files travel on bulk connections of their own (see ``files``): the listener
  answers both kinds, told apart by the preamble.
* Trust (``policy`` decides, ``guard`` applies). The device id *is* the certificate
  hash, so an id cannot be claimed without its key. A peer is *unverified* until
  the users pair (compare a code, see ``trust``) or the user checks its
  fingerprint; then it is *trusted*. Only trusted peers' offers may be accepted
  unasked; a new key under a trusted peer's name is refused with a warning until
  the user pairs again; a setting refuses everyone but trusted peers, and a
  blocked peer is refused before TLS.
* Strangers are bounded (``admission``): connections per address, handshakes
  in flight (a newcomer displaces the greediest address's oldest; a paired peer
  is never displaced), pending offers, queued messages, stored strangers,
  announced records (``AdvertTable``: unanswered ones age out) and dials to
  them (``MAX_STRANGER_DIALS`` at once). What a stranger leaves behind goes
  with it: its session is dropped, and the memory is given back (``memory``).

``Node`` is the facade: it makes the parts at ``start`` and gives each what it
needs, and its methods are the node's API.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path
from typing import Any

from chatty_p2p.errors import NAME_NEEDED, ChattyError, UnknownPeer
from chatty_p2p.events import NameChanged, NodeWarning, PairingInfo
from chatty_p2p.files.model import FileInfo, TransferInfo, files_of
from chatty_p2p.files.receiving import lanes_here
from chatty_p2p.identity import Identity, format_fingerprint, short_id
from chatty_p2p.localsend.face import LocalSendFace
from chatty_p2p.net import netif
from chatty_p2p.net.addresses import parse_address
from chatty_p2p.net.admission import Hush
from chatty_p2p.net.memory import Trimmer
from chatty_p2p.node import datadir, peers
from chatty_p2p.node.adverts import Adverts
from chatty_p2p.node.announcing import Announcers
from chatty_p2p.node.datadir import StoreTrouble
from chatty_p2p.node.events import Announcer, EventBus, NodeEvent
from chatty_p2p.node.guard import Guard
from chatty_p2p.node.inbox import Inbox
from chatty_p2p.node.listener import Listener
from chatty_p2p.node.localsend import LocalSendPart, localsend_face, localsend_text
from chatty_p2p.node.network import NetworkWatch
from chatty_p2p.node.outbox import Outbox
from chatty_p2p.node.peers import Peer, PeerTable
from chatty_p2p.node.sessions import Partners, Sessions
from chatty_p2p.node.settings import Settings
from chatty_p2p.node.tasks import Tasks
from chatty_p2p.node.transfers import file_transfers
from chatty_p2p.portable import Held
from chatty_p2p.protocol.dnssd import TsigKey
from chatty_p2p.protocol.localsend import ID_PREFIX as LOCALSEND_PREFIX
from chatty_p2p.protocol.localsend import PORT as LOCALSEND_PORT
from chatty_p2p.protocol.names import readable
from chatty_p2p.protocol.text import clean_name, has_visible_name
from chatty_p2p.store import Store, StoredMessage

log = logging.getLogger(__package__)


class Node:
    """A Chatty peer. ``await start()``, drive it, ``await stop()``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        name: str | None = None,
        port: int = 0,
        discovery: bool = True,
        interfaces: list[str] | None = None,
        offline: bool = False,
        download_dir: Path | None = None,
        accept_from: list[str] | None = None,
        lanes: int | None = None,
        localsend: bool | None = None,
        localsend_port: int = LOCALSEND_PORT,
        dns_sd_domains: list[str] | None = None,
        tsig_key: TsigKey | None = None,
    ) -> None:
        """``offline`` opens only the store and identity: for reading history or renaming
        while no network presence is wanted. ``download_dir`` overrides the stored
        setting for this run; offers from peers matching ``accept_from`` (names, id
        prefixes, ``*``) are accepted without asking. ``lanes`` is how many bulk
        connections one transfer may use (default: ``files.receiving.lanes_here``).
        ``localsend`` speaks LocalSend too (``localsend.face``), on ``localsend_port``;
        by default when discovery is on (without it, only over HTTP: no multicast).
        ``dns_sd_domains``: unicast DNS domains to register in and browse besides mDNS
        (wide-area DNS-SD, for peers behind a router), updates signed with ``tsig_key``."""
        self.data_dir = data_dir
        self._requested_name = name
        self._requested_port = port
        self._use_discovery = discovery
        self._interfaces = interfaces
        self._offline = offline
        self._download_dir = download_dir
        self._accept_from = [spec.lower() for spec in accept_from or []]
        self._lanes = lanes or lanes_here()
        self._bus = EventBus()
        self._tasks = Tasks()
        self._lock_file: Held | None = None
        self._dns_sd = (dns_sd_domains or [], tsig_key)
        self._use_localsend = (discovery if localsend is None else localsend) and not offline
        self._localsend_port = localsend_port
        self._boot = secrets.token_hex(8)
        self._hush_refused = Hush()
        self._trimmer = Trimmer()
        self.port = 0

    # ----- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_file = await datadir.acquire_lock_soon(self.data_dir)
        self.identity = Identity.load_or_create(self.data_dir)
        self.store = Store(self.data_dir / datadir.DATABASE)
        self.device_id = self.identity.device_id
        self._settings = Settings(self.store)
        if self._requested_name:
            self._settings.set_name(clean_name(self._requested_name))
        self.name = self._settings.name or clean_name(netif.hostname())
        self._make_parts()
        if self._offline:
            return
        self.port = self._listener.listen(self._requested_port, self._settings.last_port)
        if self.port != self._settings.last_port:
            self._settings.set_last_port(self.port)
        self.files.start()
        for record in self.store.peers():
            if record.manual:
                state = self._peers.from_record(record)
                state.manual = True
                self._sessions.want_connection(state, delay=0)
        if self._use_discovery:
            await self.announcing.start(self.device_id, self.name, self.port)
            self._network.announcers = self.announcing
        await self.localsend.start()
        self._tasks.spawn(self._network.watch())
        self._tasks.spawn(self._adverts.age_out())
        log.info(
            "node %s (%s) listening on port %d", self.name, short_id(self.device_id), self.port
        )

    def _make_parts(self) -> None:
        """Each part, given what it needs. ``Sessions`` comes first, as the others dial
        through it; what it hands work to joins it last."""
        self.localsend = LocalSendPart(self._make_localsend, self._settings, self._use_localsend)
        """LocalSend: on or off, its PIN, its face while it runs (``node.localsend``)."""
        trouble = StoreTrouble(self.data_dir, self._bus)
        self._peers = table = PeerTable(self.store, trouble)
        events = Announcer(self._bus, table)
        self._sessions = sessions = Sessions(
            self,
            identity=self.identity,
            store=self.store,
            table=table,
            events=events,
            trouble=trouble,
            tasks=self._tasks,
            trimmer=self._trimmer,
            boot=self._boot,
            lanes=self._lanes,
            offline=self._offline,
        )
        self._guard = guard = Guard(
            self.device_id,
            self.store,
            self._settings,
            table,
            events,
            self._tasks,
            sessions,
            self._accept_from,
        )
        self.pairings = guard.pairings
        self.files = file_transfers(
            self.store,
            self.identity,
            table=table,
            events=events,
            dialler=sessions,
            gate=guard,
            tasks=self._tasks,
            download_dir=datadir.first_download_dir(self._download_dir, self._settings),
            lanes=self._lanes,
        )
        outbox = self._outbox = Outbox(self.store, table, events, trouble, guard, sessions)
        inbox = Inbox(
            self, self.store, self._settings, table, events, trouble, guard, outbox, self.files
        )
        self._make_watchers(table, events)
        sessions.join(Partners(guard, inbox, outbox, self.files, self._adverts))

    def _make_watchers(self, table: PeerTable, events: Announcer) -> None:
        """The parts that watch for peers: mDNS records, the listener, the network."""
        self._adverts = Adverts(
            store=self.store,
            settings=self._settings,
            table=table,
            events=events,
            gate=self._guard,
            sessions=self._sessions,
            trimmer=self._trimmer,
            hush=self._hush_refused,
        )
        self._listener = Listener(
            identity=self.identity,
            table=table,
            sessions=self._sessions,
            gate=self._guard,
            files=self.files,
            tasks=self._tasks,
            trimmer=self._trimmer,
            hush_refused=self._hush_refused,
        )
        self._network = NetworkWatch(self._interfaces, table, self.files, self._sessions)
        domains, key = self._dns_sd
        self.announcing = Announcers(  # mDNS and DNS-SD; the face sets the DNS-SD domain
            self._adverts.on_advert,
            lambda text: self._bus.emit(NodeWarning(text=text)),
            settings=self._settings,
            interfaces=self._interfaces,
            domains=domains,
            key=key,
        )

    async def stop(self) -> None:
        """Leave politely: goodbye on mDNS and on every session, then release the dir."""
        if self._tasks.stopping:
            return
        self._tasks.stopping = True
        await self.announcing.stop()
        self._listener.close()
        await self.files.stop()
        await self._sessions.say_goodbye()
        if not self._offline:
            await self.localsend.stop()
        await self._tasks.cancel_all()
        self._trimmer.cancel()
        self.store.close()
        if self._lock_file is not None:
            self._lock_file.close()

    @property
    def interfaces(self) -> list[str] | None:
        """The interfaces asked for (``--interface``), or ``None`` for every usable one."""
        return self._interfaces

    def _make_localsend(self) -> LocalSendFace:
        return localsend_face(
            name=self.name,
            identity=self.identity,
            files=self.files,
            bus=self._bus,
            table=self._peers,
            store=self.store,
            addresses=lambda: [
                a for _, found in self.looking_on() for a in found if ":" not in a
            ],  # LocalSend's multicast is IPv4 only
            port=self._localsend_port,
            multicast=self._use_discovery,
        )

    def looking_on(self) -> list[tuple[str, tuple[str, ...]]]:
        """The interfaces this node announces itself and listens on (``--interface``, or
        every usable one), each with its addresses: where the window says it looks."""
        return [(i.name, i.addresses) for i in netif.chosen(self._interfaces)]

    # ----- events ----------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[NodeEvent]:
        return self._bus.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[NodeEvent]) -> None:
        self._bus.unsubscribe(queue)

    # ----- peers -----------------------------------------------------------

    def peers(self) -> list[Peer]:
        """Every peer seen in this run or pinned in the store, online ones first; then
        the LocalSend devices heard."""
        face = self.localsend.face
        heard = face.peers() if face is not None else []
        return self._peers.peers() + sorted(heard, key=lambda p: (not p.online, p.name.lower()))

    def peer(self, peer_id: str) -> Peer:
        if peer_id.startswith(LOCALSEND_PREFIX):
            face = self.localsend.face
            found = face.peer(peer_id) if face is not None else None
            if found is None:
                raise UnknownPeer(f"no LocalSend device {peer_id} here (it may have left)")
            return found
        return self._peers.peer(peer_id)

    async def resolve(self, spec: str) -> Peer:
        """A peer from what a user typed: ``host:port``, a name, or an id prefix."""
        address = parse_address(spec)
        if address is not None:
            return await self.add_peer(*address)
        return peers.match(spec, self.peers())

    async def add_peer(self, host: str, port: int) -> Peer:
        """Connect to an address (for networks that block multicast) and remember it."""
        state = await self._sessions.add_peer(host, port)
        return self._peers.snapshot(state)

    def forget(self, peer_id: str) -> bool:
        """Drop a peer's pinned key (for a reinstalled device), and unblock its successor."""
        return self._guard.forget(peer_id)

    # ----- messages and profile -------------------------------------------

    async def send_text(self, peer_id: str, text: str, kind: str = "text") -> StoredMessage:
        """Store and send a message; it waits in the outbox while the peer is away. To a
        LocalSend device it goes at once (LocalSend has no outbox), stored once taken."""
        if peer_id.startswith(LOCALSEND_PREFIX):
            peer = self.peer(peer_id)
            return await localsend_text(
                self.localsend.running(), self.store, self._bus, peer, text, kind
            )
        return self._outbox.send_text(peer_id, text, kind)

    def history(self, peer_id: str, limit: int = 100) -> list[StoredMessage]:
        return self.store.history(peer_id, limit)

    async def set_name(self, name: str) -> str:
        """Rename this device: store it, update mDNS, tell every connected peer. A name
        with nothing visible is refused, from every face (window, CLI, control socket)."""
        if not has_visible_name(name):
            raise ChattyError(NAME_NEEDED)
        self.name = clean_name(name)
        self._settings.set_name(self.name)
        await self.announcing.rename(self.name)
        for state in self._peers.states():
            if state.conn is not None:
                state.conn.send_profile(self.name)
            elif state.refused_by:  # perhaps for the old name: try the new one now
                state.refused_by = ""
                self._sessions.want_connection(state, delay=0, restart=True)
        self._bus.emit(NameChanged(text=self.name))
        return self.name

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.device_id,
            "fingerprint": format_fingerprint(self.device_id),
            "port": self.port,
            "data_dir": str(self.data_dir),
            "dns_sd": self.announcing.status(),
        }

    # ----- files -----------------------------------------------------------

    def download_dir(self) -> Path:
        """Where offers accepted from now on land: the folder last set while running,
        which a face shows and a ``--download-dir`` given at start does not hide."""
        return self.files.download_dir

    def set_download_dir(self, folder: Path) -> Path:
        folder = self.files.set_download_dir(folder)  # checked there: a ChattyError if unusable
        self._settings.set_download_dir(str(folder))
        return folder

    async def send_files(self, peer_id: str, paths: list[Path], pin: str = "") -> TransferInfo:
        """Offer files and folders; they travel once the peer accepts. ``pin``: the PIN a
        LocalSend device asked for."""
        self.peer(peer_id)  # an unknown peer is an error before any disk walk
        if peer_id.startswith(LOCALSEND_PREFIX):
            return await self.localsend.running().send(peer_id, paths, pin)
        return await self.files.send(peer_id, paths)

    def transfers(self) -> list[TransferInfo]:
        return self.files.all()

    def transfer_files(self, transfer: str, limit: int = 1000) -> list[FileInfo]:
        """The first ``limit`` files and folders of a transfer (by id or unique id
        prefix), in the batch's order, each with its state and saved name. Read only."""
        keys = self.store.transfer_keys(transfer.lower()) if transfer else []
        if len(keys) != 1:
            raise ChattyError(f"no single transfer with id {transfer!r}; see `chatty transfers`")
        record = self.store.transfer(keys[0])
        entries, local, statuses = self.store.entries(keys[0])
        rows = zip(entries[:limit], local, statuses, strict=False)
        found = [(readable(e.path), e.kind, e.size, readable(w), s) for e, w, s in rows]
        return files_of(keys[0][2], record.state if record else "", found)

    def accept(self, transfer: str) -> TransferInfo:
        return self.files.accept(transfer)

    def decline(self, transfer: str) -> TransferInfo:
        return self.files.decline(transfer)

    def cancel(self, transfer: str) -> TransferInfo:
        return self.files.cancel(transfer)

    def resume(self, transfer: str) -> TransferInfo:
        return self.files.request_resume(transfer)

    # ----- trust -----------------------------------------------------------

    async def pair(self, peer_id: str) -> PairingInfo:
        """Start pairing with a peer (or join its request) and return the code to compare."""
        return await self._guard.pair(peer_id)

    def confirm_pairing(self, peer_id: str, code: str | None = None) -> PairingInfo:
        """The user says the codes match (optionally typing the other screen's code)."""
        return self._guard.confirm(peer_id, code)

    def reject_pairing(self, peer_id: str, reason: str = "the codes differ") -> PairingInfo:
        return self._guard.reject(peer_id, reason)

    def pair_by_fingerprint(self, peer_id: str, fingerprint: str) -> None:
        """Trust a key whose fingerprint the user read off the other device (``chatty id``)."""
        self._guard.pair_by_fingerprint(peer_id, fingerprint)

    def active_pairings(self) -> list[PairingInfo]:
        """The pairings under way, each with its code, for a face to list."""
        return self.pairings.all()

    def unpair(self, peer_id: str) -> None:
        """Stop trusting a peer: it is unverified again."""
        self._guard.unpair(peer_id)

    def block(self, peer_id: str, blocked: bool = True) -> None:
        """Refuse a peer entirely (before TLS), or lift that."""
        self._guard.block(peer_id, blocked)

    # ----- settings --------------------------------------------------------

    @property
    def trusted_only(self) -> bool:
        return self._settings.trusted_only

    def set_trusted_only(self, on: bool) -> None:
        """Accept connections from trusted peers only (off by default)."""
        self._guard.set_trusted_only(on)

    @property
    def auto_accept_trusted(self) -> bool:
        """Whether offers from trusted peers are accepted without asking (off by default)."""
        return self._settings.auto_accept_trusted

    def set_auto_accept_trusted(self, on: bool) -> None:
        self._settings.set_auto_accept_trusted(on)

    @property
    def auto_copy_trusted(self) -> bool:
        """Whether text from trusted peers goes straight to the clipboard (off by default:
        a clipboard is pasted into terminals, so only paired devices may fill it)."""
        return self._settings.auto_copy_trusted

    def set_auto_copy_trusted(self, on: bool) -> None:
        self._settings.set_auto_copy_trusted(on)

    @property
    def start_minimised(self) -> bool:
        """Whether the window starts hidden in the tray. The window's own choice, kept
        here with the other settings so that it lives in the data dir it belongs to."""
        return self._settings.start_minimised

    def set_start_minimised(self, on: bool) -> None:
        self._settings.set_start_minimised(on)

    @property
    def told_about_tray(self) -> bool:
        """Whether the window has said, once, that closing it leaves Chatty running in
        the tray (the window's own, kept here with ``start_minimised``)."""
        return self._settings.told_about_tray

    def set_told_about_tray(self, on: bool) -> None:
        self._settings.set_told_about_tray(on)

    @property
    def receiving_paused(self) -> bool:
        """Whether new offers are declined ("receiving is paused"), trusted peers' too.
        For this run only: a restart receives again."""
        return self.files.paused

    def set_receiving_paused(self, on: bool) -> None:
        self.files.paused = on
