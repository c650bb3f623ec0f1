"""The headless core every face drives: one asyncio ``Node`` per data dir.

Theory of operation
-------------------
* A node owns its data dir (an exclusive lock), its identity, its store, a TCP
  listener and its mDNS record. Faces call its coroutines and read its events.
* Presence is a live control session. A node dials every peer it discovers (the
  one with the smaller id at once, the other after a short pause, so usually only
  one dial happens); a peer is *online* exactly while a session is up. Pings keep
  sessions alive, so a crashed or unplugged peer goes offline within
  ``DEAD_AFTER`` seconds, whatever mDNS caches still say.
* One session per pair of devices. If both dialled at once, both sides keep the
  session opened by the smaller device id; a session from a newer run of the
  peer (another ``boot`` token), or one arriving while the old has gone quiet
  (the peer changed networks), replaces the old.
* Every address at once: a peer's addresses are dialled happy-eyeballs style and
  the first to authenticate is kept. The node watches the interfaces; when they
  change it re-announces, drops what rode on vanished addresses and redials, and
  transfers resume on the new path.
* Messages are written to the store before they are sent, and re-sent in order
  on every new session until the peer's receipt arrives; the receiver drops ids
  it has already stored. That gives exactly-once, in-order delivery across
  reconnects and restarts.
* Files travel on bulk connections of their own (see ``files`` and
  ``files``): the listener answers both kinds, told apart by the preamble.
* Trust. The device id *is* the certificate hash, so an id cannot be claimed
  without its key. A peer is *unverified* until the users pair (compare a code,
  see ``trust``) or the user checks its fingerprint; then it is *trusted*.
  Only trusted peers' offers may be accepted unasked; a new key under a trusted
  peer's name is refused with a warning until the user pairs again; a setting
  refuses everyone but trusted peers, and a blocked peer is refused before TLS.
* Strangers are bounded (``admission``): connections per address, handshakes
  in flight (a newcomer displaces the greediest address's oldest; a paired peer
  is never displaced), pending offers, queued messages, stored strangers,
  announced records (``AdvertTable``: unanswered ones age out) and dials to
  them (``MAX_STRANGER_DIALS`` at once). What a stranger leaves behind goes
  with it: its session is dropped, and the memory is given back (``memory``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import logging
import os
import secrets
import socket
import ssl
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import platformdirs

from chatty_p2p import connection as conn_mod
from chatty_p2p import netif
from chatty_p2p.addresses import format_address, parse_address
from chatty_p2p.admission import Admission, Hush, Refused, Ticket
from chatty_p2p.clock import CLOCK_WARN, clock_advice
from chatty_p2p.connection import Connection
from chatty_p2p.discovery import Advert, AdvertTable, Discovery
from chatty_p2p.errors import (
    NAME_NEEDED,
    AmbiguousPeer,
    ChattyError,
    DialFailed,
    IdentityMismatch,
    NodeAlreadyRunning,
    OutboxFull,
    PeerError,
    ProtocolError,
    StoreError,
    UnknownPeer,
    disk_full,
    unreachable,
)
from chatty_p2p.files.manager import FileTransfers
from chatty_p2p.files.model import TransferInfo
from chatty_p2p.files.receiving import lanes_here
from chatty_p2p.identity import Identity, format_fingerprint, short_id
from chatty_p2p.links import is_safe_url
from chatty_p2p.memory import Trimmer
from chatty_p2p.protocol.limits import Budget
from chatty_p2p.protocol.preamble import ChannelKind
from chatty_p2p.protocol.session import (
    MAX_TEXT_BYTES,
    ChatMessage,
    Event,
    Hello,
    MessageReceived,
    NackReceived,
    OfferReceived,
    PairReceived,
    PeerReportedError,
    ProfileReceived,
    ReceiptReceived,
    UnknownFrameReceived,
    clean_name,
    has_visible_name,
)
from chatty_p2p.store import DELIVERED, SENT, PeerRecord, Store, StoredMessage
from chatty_p2p.tls import ServerContexts
from chatty_p2p.trust import PairingInfo, Pairings

log = logging.getLogger(__name__)

RETRY_MAX = 30.0
MAX_OUTBOX = 500
"""Messages waiting for one offline peer: half the receiver's burst, so a reconnect's
flush (plus offers and receipts) never comes near its limit even if read late."""
KEEP_STRANGERS = 500
"""Peers remembered only by name (no messages, no trust) beyond which the oldest go."""
FINGERPRINT_DIGITS = 16
"""Hex digits of a fingerprint a user must type to vouch for a key: 64 bits."""
YIELD_DIAL = 0.5
MAX_STRANGER_DIALS = 4
"""Dials at once to peers neither paired nor added by address (``_is_known``): a
flood of forged records pointing at a blackhole must not cost a thousand sockets
(the usual limit on descriptors), and known peers never wait behind them."""
ADVERT_SWEEP = 5.0
"""How often records that never answered are looked for (see ``AdvertTable``)."""
"""How long the peer with the larger id waits before dialling, to avoid double dials."""
MAX_ADDRESSES = 16
"""Addresses taken from one announcement; twice as many are remembered per peer."""
PROBE_WAIT = 0.5
"""How long an old session has to answer a ping before a new one replaces it."""
NETWORK_CHANGED = "network changed"
NETWORK_POLL = 1.0
"""How often the interfaces are looked at when nothing says they changed: on Linux
rtnetlink wakes the watcher at once, elsewhere this poll (a getifaddrs call) is all."""
LOCK_WAIT = 2.0
"""How long a starting node waits for the data dir's lock before saying it is taken."""
NETWORK_SETTLE = 0.1
"""After a change is signalled, the pause for the rest of it (an address, its route)."""
RESEND_FIRST = 5.0
"""After a peer said it could not keep a message (NACK: its disk is full), how long
until the messages it owes are sent again; doubled each time, up to ``RETRY_MAX``."""


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
class Peer:
    """What a face shows about a peer at one moment."""

    id: str
    name: str
    online: bool
    discovered: bool
    known: bool
    addresses: tuple[str, ...]
    last_seen: float
    conflict: str | None = None
    """Id of the trusted peer whose name this one claims, if refused for that."""
    trust: str = "unverified"
    """``trusted`` (paired), ``unverified`` or ``blocked``."""
    clock_skew: float | None = None
    """Seconds the peer's clock was ahead of ours when it connected (if it said)."""
    refused_by: str = ""
    """Why the peer ended our last session with an ERROR (it refuses us), if it did."""

    @property
    def short_id(self) -> str:
        return short_id(self.id)

    @property
    def state(self) -> str:
        if self.trust == "blocked":
            return "blocked"
        if self.conflict:
            return "refused: key changed"
        if self.online:
            return "online"
        if self.refused_by:
            return "refuses us"
        return "seen" if self.discovered else "offline"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "online": self.online,
            "discovered": self.discovered,
            "known": self.known,
            "trust": self.trust,
            "conflict": self.conflict,
            "addresses": list(self.addresses),
            "clock_skew": self.clock_skew,
            "refused_by": self.refused_by,
            "last_seen": self.last_seen,
        }


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


def _drain(sock: socket.socket, changed: asyncio.Event) -> None:
    with contextlib.suppress(OSError):  # BlockingIOError once empty; ENOBUFS after a burst
        while sock.recv(65536):
            pass
    changed.set()


def clean_addresses(addresses: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Each address once, spelled one way (see ``connection.scoped``), in order;
    link-local ones without an interface, which cannot be dialled, left out."""
    spelled = ((conn_mod.scoped(host), port) for host, port in addresses)
    return list(dict.fromkeys((host, port) for host, port in spelled if host is not None))


def stored_addresses(record: PeerRecord) -> list[tuple[str, int]]:
    return clean_addresses(a for a in map(parse_address, record.addresses) if a)


@dataclass
class _PeerState:
    id: str
    name: str
    addresses: list[tuple[str, int]] = field(default_factory=list)
    discovered: bool = False
    manual: bool = False
    conn: Connection | None = None
    dialer: asyncio.Task[None] | None = None
    last_seen: float = field(default_factory=time.time)
    conflict: str | None = None
    pair_wanted: bool = False
    """The user asked to pair: let a session up even if policy would refuse it."""
    spoofed: set[str] = field(default_factory=set)
    """Addresses that claimed this id without its key since it was last here."""
    caught_up: Connection | None = None
    """The session that last got the outbox and transfers (see ``_catch_up``)."""
    clock_skew: float | None = None
    candidate: Connection | None = None
    """A second session waiting to see whether the current one is still alive."""
    budgets: tuple[Budget, Budget] | None = None
    """Rate limits in and out for this peer, shared by all its sessions; made with
    the first one, as most peers announced (or forged) never have a session."""
    refusing: tuple[Connection, str, str] | None = None
    """The session on which we could not keep this peer's message, that message's id
    and why: later ones on it are refused too until that one is kept, so none
    overtakes it."""
    refused_reason: str | None = None
    """Why the peer last refused our message (its disk is full), until one is delivered."""
    nacked: set[str] = field(default_factory=set)
    """Messages it refused since they were last sent (each told to the faces once)."""
    resend: asyncio.TimerHandle | None = None
    resend_after: float = RESEND_FIRST
    refused_by: str = ""
    """What the peer said when it last ended our session with an ERROR (our name is
    that of a device paired there, say): warned about once, and dialled again only
    after ``RETRY_MAX`` or once our name changed."""


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
    ) -> None:
        """``offline`` opens only the store and identity: for reading history or renaming
        while no network presence is wanted. ``download_dir`` overrides the stored
        setting for this run; offers from peers matching ``accept_from`` (names, id
        prefixes, ``*``) are accepted without asking. ``lanes`` is how many bulk
        connections one transfer may use (default: ``files.receiving.lanes_here``)."""
        self.data_dir = data_dir
        self._requested_name = name
        self._requested_port = port
        self._use_discovery = discovery
        self._interfaces = interfaces
        self._offline = offline
        self._download_dir = download_dir
        self._accept_from = [spec.lower() for spec in accept_from or []]
        self._lanes = lanes or lanes_here()
        self._peers: dict[str, _PeerState] = {}
        self._subscribers: set[asyncio.Queue[NodeEvent]] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock_file: IO[str] | None = None
        self._listener: socket.socket | None = None
        self._discovery: Discovery | None = None
        self._stopping = False
        self._boot = secrets.token_hex(8)
        self._admission = Admission()
        self._adverts = AdvertTable()
        self._stranger_dials = asyncio.Semaphore(MAX_STRANGER_DIALS)
        self._hush_refused = Hush()
        self._hush_tls = Hush()
        self._trimmer = Trimmer()
        self._store_trouble = ""
        """What is wrong with writing the store, as last told to the user (once)."""
        self.port = 0

    # ----- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_file = await _acquire_lock_soon(self.data_dir)
        self.identity = Identity.load_or_create(self.data_dir)
        self.store = Store(self.data_dir / "chatty.db")
        self.device_id = self.identity.device_id
        if self._requested_name:
            self.store.set_setting("name", clean_name(self._requested_name))
        self.name = self.store.setting("name") or clean_name(socket.gethostname())
        self._contexts = ServerContexts(self.identity)
        self.pairings = Pairings(
            self.device_id,
            control=lambda peer_id: self._connection(peer_id),
            peer_name=self._peer_name,
            emit=lambda info: self._emit(NodeEvent(EventType.PAIRING, pairing=info)),
            on_paired=self._on_paired,
            on_failed=lambda peer_id: (
                self._pairing_over(self._peers[peer_id]) if peer_id in self._peers else None
            ),
        )
        self.files = FileTransfers(
            self.store,
            self.identity,
            emit=self._emit_transfer,
            warn=self._warn,
            control=lambda peer_id: self._connection(peer_id),
            addresses=lambda peer_id: (
                self._peers[peer_id].addresses if peer_id in self._peers else []
            ),
            peer_name=self._peer_name,
            want_connection=lambda peer_id: (
                self._want_connection(self._peers[peer_id], delay=0)
                if peer_id in self._peers
                else None
            ),
            download_dir=self._first_download_dir(),
            accept_from=self._accepts_from,
            lanes=self._lanes,
            spawn=self._spawn,
        )
        if self._offline:
            return
        self._listener = _listening_socket(self._requested_port)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop(self._listener))
        self.files.start()
        for record in self.store.peers():
            if record.manual:
                state = self._state(record.id, record.name)
                state.manual = True
                state.addresses = stored_addresses(record)
                self._want_connection(state, delay=0)
        if self._use_discovery:
            self._discovery = Discovery(
                self.device_id, self.name, self.port, self._on_advert, self._interfaces
            )
            await self._discovery.start()
        self._spawn(self._watch_network())
        self._spawn(self._age_out_adverts())
        log.info(
            "node %s (%s) listening on port %d", self.name, short_id(self.device_id), self.port
        )

    async def stop(self) -> None:
        """Leave politely: goodbye on mDNS and on every session, then release the dir."""
        if self._stopping:
            return
        self._stopping = True
        if self._discovery is not None:
            with contextlib.suppress(Exception):
                await self._discovery.stop()
        if self._listener is not None:
            self._listener.close()
        await self.files.stop()
        closing = [s.conn.close("quit") for s in self._peers.values() if s.conn is not None]
        await asyncio.gather(*closing, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._trimmer.cancel()
        self.store.close()
        if self._lock_file is not None:
            self._lock_file.close()

    @property
    def interfaces(self) -> list[str] | None:
        """The interfaces asked for (``--interface``), or ``None`` for every usable one."""
        return self._interfaces

    # ----- events ----------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[NodeEvent]:
        queue: asyncio.Queue[NodeEvent] = asyncio.Queue(maxsize=10_000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[NodeEvent]) -> None:
        self._subscribers.discard(queue)

    def _emit(self, event: NodeEvent) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("dropping a subscriber that stopped reading events")
                self._subscribers.discard(queue)

    # ----- peers -----------------------------------------------------------

    def _snapshot(self, state: _PeerState) -> Peer:
        return Peer(
            id=state.id,
            name=state.name,
            online=state.conn is not None,
            discovered=state.discovered,
            known=self.store.peer(state.id) is not None,
            addresses=tuple(format_address(h, p) for h, p in state.addresses),
            last_seen=state.last_seen,
            conflict=state.conflict,
            trust=self._trust_level(state.id),
            clock_skew=state.clock_skew,
            refused_by=state.refused_by,
        )

    def _trust_level(self, peer_id: str) -> str:
        record = self.store.peer(peer_id)
        if record is None:
            return "unverified"
        return "blocked" if record.blocked else "trusted" if record.trusted else "unverified"

    def peers(self) -> list[Peer]:
        """Every peer seen in this run or pinned in the store, online ones first."""
        for record in self.store.peers():
            if record.id not in self._peers:
                state = _PeerState(record.id, record.name, last_seen=record.last_seen)
                state.addresses = stored_addresses(record)
                self._peers[record.id] = state
        found = [self._snapshot(s) for s in self._peers.values()]
        return sorted(found, key=lambda p: (not p.online, not p.discovered, p.name.lower(), p.id))

    def peer(self, peer_id: str) -> Peer:
        state = self._peers.get(peer_id)
        if state is None:
            record = self.store.peer(peer_id)
            if record is None:
                raise UnknownPeer(f"no peer with id {short_id(peer_id)}")
            return Peer(
                record.id,
                record.name,
                False,
                False,
                True,
                tuple(record.addresses),
                record.last_seen,
                trust=self._trust_level(record.id),
            )
        return self._snapshot(state)

    async def resolve(self, spec: str) -> Peer:
        """A peer from what a user typed: ``host:port``, a name, or an id prefix."""
        address = parse_address(spec)
        if address is not None:
            return await self.add_peer(*address)
        peers = self.peers()
        lowered = spec.strip().lower()
        matches = [p for p in peers if p.name.lower() == lowered]
        trusted = [p for p in matches if p.trust == "trusted"]
        if len(matches) > 1 and len(trusted) == 1:
            return trusted[0]  # the paired one, not a newcomer under the same name
        if not matches and len(lowered) >= 4:
            matches = [p for p in peers if p.id.startswith(lowered)]
        if not matches:
            matches = [p for p in peers if p.name.lower().startswith(lowered)]
        if len(matches) == 1:
            return matches[0]
        listing = ", ".join(f"{p.name} ({p.short_id}, {p.state})" for p in (matches or peers))
        if matches:
            raise AmbiguousPeer(f"{spec!r} matches several peers: {listing}; use an id prefix")
        raise UnknownPeer(
            f"no peer matches {spec!r}"
            + (f"; known peers: {listing}" if peers else "; no peers found yet (try host:port)")
        )

    async def add_peer(self, host: str, port: int) -> Peer:
        """Connect to an address (for networks that block multicast) and remember it."""
        conn = await conn_mod.dial(
            host, port, self.identity, self._hello(), None, self._budgets_for
        )
        state = self._attach(conn)
        if state is None:
            raise PeerError(f"{format_address(host, port)} was refused (see the warning)")
        state.manual = True
        state.addresses = clean_addresses([(host, port), *state.addresses])
        self._save(state)
        return self._snapshot(state)

    def forget(self, peer_id: str) -> bool:
        """Drop a peer's pinned key (for a reinstalled device), and unblock its successor."""
        state = self._peers.pop(peer_id, None)
        if state is not None:
            if state.dialer is not None:
                state.dialer.cancel()
            if state.conn is not None:
                self._spawn(state.conn.close("forgotten"))
        removed = self.store.forget_peer(peer_id)
        for other in self._peers.values():
            if other.conflict == peer_id:
                other.conflict = None
                self._want_connection(other, delay=0)
        return removed or state is not None

    def _state(self, peer_id: str, name: str) -> _PeerState:
        state = self._peers.get(peer_id)
        if state is None:
            state = self._peers[peer_id] = _PeerState(peer_id, name)
        return state

    def _pinned_conflict(self, peer_id: str, name: str) -> PeerRecord | None:
        """The trusted peer whose name an untrusted id claims, if any."""
        record = self.store.peer(peer_id)
        if record is not None and record.trusted:
            return None
        for trusted in self.store.trusted_with_name(name):
            if trusted.id != peer_id:
                return trusted
        return None

    def _take_name(self, state: _PeerState, name: str) -> bool:
        """The peer now calls itself ``name`` (its record, HELLO or PROFILE). Under the
        name of a device paired here, with another key, it is refused: warned about
        once, and its session ended with the reason. The conflict belongs to the name,
        not the device: once it calls itself something else, it is an ordinary peer
        again. Returns whether it is refused."""
        state.name = name
        pinned = self._pinned_conflict(state.id, name)
        was, state.conflict = state.conflict, pinned.id if pinned is not None else None
        if pinned is None:
            if was is not None:
                log.info("%s (%s) no longer claims a paired name", name, short_id(state.id))
            return False
        if was != pinned.id:
            log.warning("key change: %s claims trusted %s's name", short_id(state.id), name)
            self._warn(
                state.id,
                f"KEY CHANGED: a device calling itself '{name}' presents a different "
                f"key ({short_id(state.id)}) than the one you paired with "
                f"({short_id(pinned.id)}); connection refused. It may be an impostor. If "
                f"that device was reset, pair with it again: chatty pair {short_id(state.id)}",
            )
        if not state.pair_wanted:  # the user pairing with it again (a reset device) may
            self._refuse(state, self._conflict_error(name))
        return True

    @staticmethod
    def _conflict_error(name: str) -> ProtocolError:
        """What a peer refused for its name reads: enough for an innocent one to fix it."""
        return ProtocolError(
            f"your key differs from the one paired under your name '{name}' here: that "
            "name belongs to another device; choose another name (chatty name NEW)",
            "key-changed",
        )

    def _refuse(self, state: _PeerState, error: ProtocolError, why: str = "") -> None:
        """End the peer's session for a reason of ours: an ERROR tells its side why
        (so it neither shows us online nor leaves its messages unanswered), and it is
        offline here at once, with ``why`` (what the user here did: "blocked") or
        else the same reason."""
        if state.dialer is not None:
            state.dialer.cancel()
        conn, state.conn = state.conn, None
        if conn is None:
            return
        conn.end(error, f"refused: {error}")
        text = why or str(error)
        self._emit(NodeEvent(EventType.PEER_OFFLINE, peer=self._snapshot(state), text=text))

    def _admitted(self, state: _PeerState) -> bool:
        """Whether policy lets this peer have a full session (pairing aside)."""
        level = self._trust_level(state.id)
        if level == "blocked" or state.conflict:
            return False
        return level == "trusted" or not self.trusted_only

    @property
    def trusted_only(self) -> bool:
        return self.store.setting("trusted_only") == "1"

    def _admit(self, peer_id: str) -> str:
        """Why to refuse a dialer before TLS (it only *claims* this id yet), or ``""``."""
        level = self._trust_level(peer_id)
        if level == "blocked":
            return f"{short_id(peer_id)} is blocked"
        state = self._peers.get(peer_id)
        if level != "trusted" and self.trusted_only and not (state and state.pair_wanted):
            return f"{short_id(peer_id)} is not paired and only paired peers are accepted"
        return ""

    def _budgets_for(self, peer_id: str) -> tuple[Budget, Budget]:
        """A peer's rate budgets, from the first byte of each session: those of a peer
        seen before outlive its sessions; one never seen starts full, and ``_attach``
        keeps what its first session drew (see ``Session.share_budgets``)."""
        state = self._peers.get(peer_id)
        if state is None or state.budgets is None:
            return Budget(), Budget.outgoing()
        return state.budgets

    def _save(self, state: _PeerState) -> None:
        """Remember a peer's name, addresses and last visit. A store that cannot be
        written (a full disk) is told to the user once, never fatal to the session
        this is for; a write that matters (trust, a block) fails on its own."""
        try:
            new = self.store.peer(state.id) is None
            record = PeerRecord(
                id=state.id,
                name=state.name,
                last_seen=state.last_seen,
                addresses=[format_address(h, p) for h, p in state.addresses],
                manual=state.manual,
            )
            self.store.save_peer(record)
            pruned = new and self.store.prune_strangers(KEEP_STRANGERS)
        except StoreError as exc:
            self._store_failed(exc)
            return
        if pruned:
            log.info("forgot the oldest strangers beyond %d", KEEP_STRANGERS)
            gone = [
                peer_id
                for peer_id, other in self._peers.items()
                if other.conn is None
                and not other.discovered
                and not other.manual
                and self.store.peer(peer_id) is None
            ]
            for peer_id in gone:
                del self._peers[peer_id]

    # ----- discovery -------------------------------------------------------

    def _is_known(self, peer_id: str) -> bool:
        """Paired or added by address: a peer the user chose, never crowded out by
        strangers (records, dials, handshakes)."""
        record = self.store.peer(peer_id)
        return record is not None and (record.trusted or record.manual)

    def _on_advert(self, peer_id: str, advert: Advert | None) -> None:
        if advert is None:
            self._adverts.remove(peer_id)
            self._lose(peer_id)
            return
        dropped = self._adverts.add(peer_id, self._is_known(peer_id), time.monotonic())
        if dropped != [] and self._hush_refused("mdns records", time.monotonic()):
            log.warning(
                "more Chatty records on the network than %d; %s",
                len(self._adverts),
                "dropping the oldest that never answered" if dropped else "ignoring newcomers",
            )
        if dropped is None:
            return
        for gone in dropped:
            self._lose(gone)
        state = self._peers.get(peer_id)
        is_new = state is None or not state.discovered
        state = self._state(peer_id, advert.name)
        renamed = state.name != advert.name
        state.discovered = True
        state.last_seen = time.time()
        # The path that worked last stays first (see ``_attach``), then what the peer
        # announces now, then older ones. Announcements are unauthenticated: they are
        # capped, so a forged one cannot push out every address known to work.
        # A peer that announces a new port (it restarted) no longer listens on the old
        # one: addresses with that port would only be refused, and crowd the list.
        announced = clean_addresses((a, advert.port) for a in advert.addresses)[:MAX_ADDRESSES]
        known = [a for a in state.addresses if a[1] == advert.port]
        kept = known[:1] + announced + known[1:]
        state.addresses = clean_addresses(kept)[: 2 * MAX_ADDRESSES]
        if self._take_name(state, advert.name):
            return
        if is_new:
            self._emit(NodeEvent(EventType.PEER_DISCOVERED, peer=self._snapshot(state)))
        if renamed:  # also when zeroconf tells a rename as a goodbye and a new record
            self._emit(NodeEvent(EventType.PEER_UPDATED, peer=self._snapshot(state)))
        if state.conn is None:
            # Fresh information (a restart, a new port): dial now rather than after a backoff.
            delay = 0.0 if self.device_id < peer_id else YIELD_DIAL
            self._want_connection(state, delay=delay, restart=True)

    def _lose(self, peer_id: str) -> None:
        """A record withdrawn, aged out or displaced: the peer is no longer seen, and
        one that is nothing else here (no session, never stored, not added by
        address) leaves the list, so forged records leave no trace."""
        state = self._peers.get(peer_id)
        if state is None or not state.discovered:
            return
        state.discovered = False
        self._emit(NodeEvent(EventType.PEER_LOST, peer=self._snapshot(state)))
        alone = state.conn is None and not state.manual and not state.pair_wanted
        if alone and self.store.peer(peer_id) is None:
            if state.dialer is not None:
                state.dialer.cancel()
            del self._peers[peer_id]

    async def _age_out_adverts(self) -> None:
        while True:
            await asyncio.sleep(ADVERT_SWEEP)
            if self.trusted_only:
                self._adverts.hold(time.monotonic())
                continue
            expired = self._adverts.expired(time.monotonic())
            for peer_id in expired:
                self._lose(peer_id)
            if expired:
                self._trimmer.soon()

    async def _watch_network(self) -> None:
        seen = netif.interfaces()
        ours = netif.advertised(self._interfaces)
        changed = asyncio.Event()
        events = netif.change_socket()
        loop = asyncio.get_running_loop()
        if events is not None:
            loop.add_reader(events.fileno(), _drain, events, changed)
        try:
            while True:
                # Woken by the kernel when it can tell; the poll catches what it cannot.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(NETWORK_POLL):
                        await changed.wait()
                if changed.is_set():
                    changed.clear()
                    await asyncio.sleep(NETWORK_SETTLE)
                    changed.clear()
                seen, ours = await self._look_at_network(seen, ours)
        finally:
            if events is not None:
                loop.remove_reader(events.fileno())
                events.close()

    async def _look_at_network(
        self, seen: list[netif.Interface], ours: list[str]
    ) -> tuple[list[netif.Interface], list[str]]:
        try:
            now = netif.interfaces()
            if now != seen:
                after = netif.advertised(self._interfaces)
                await self._network_changed(now, moved=after != ours)
                return now, after
        except Exception:  # one bad turn must not stop the watching for good
            log.exception("cannot follow a network change")
        return seen, ours

    async def _network_changed(self, interfaces: list[netif.Interface], moved: bool) -> None:
        """Wi-Fi to Ethernet, a new DHCP lease: drop what rode on vanished addresses at
        once and, if our own addresses changed (``moved``; not for a container's veth
        coming and going), dial everyone again now instead of after their backoff and
        re-announce."""
        local = {a.split("%")[0] for i in interfaces for a in i.addresses}
        log.info("network changed; addresses now %s", ", ".join(sorted(local)) or "none")
        self.files.on_network_change(local)
        for state in list(self._peers.values()):
            conn = state.conn
            if conn is not None:
                if conn.local_host and conn.local_host.split("%")[0] not in local:
                    conn.abort(NETWORK_CHANGED)
            elif moved:
                self._want_connection(state, delay=0, restart=True)
        if self._discovery is not None and moved:
            try:
                await self._discovery.refresh()
            except Exception as exc:  # zeroconf's socket errors vary by OS; keep running
                log.warning("cannot re-announce on the new network: %r", exc)

    # ----- connections -----------------------------------------------------

    def _hello(self) -> Hello:
        return Hello(
            device_id=self.device_id,
            name=self.name,
            boot=self._boot,
            port=self.port,
            time=time.time(),
            lanes=self._lanes,
        )

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        """A background task that died of an error says so in the log, not nowhere."""
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    def _wants(self, state: _PeerState) -> bool:
        if self._stopping or self._offline or not state.addresses:
            return False
        if state.pair_wanted:
            return self._trust_level(state.id) != "blocked"
        if not self._admitted(state):
            return False
        return (
            state.discovered
            or state.manual
            or bool(self.store.undelivered(state.id))
            or self.files.owes_offer(state.id)
        )

    def _want_connection(self, state: _PeerState, delay: float, restart: bool = False) -> None:
        if state.conn is not None or not self._wants(state):
            return
        if state.dialer is not None and not state.dialer.done():
            if not restart:
                return
            state.dialer.cancel()
        state.dialer = self._spawn(self._dial_loop(state, delay))

    async def _dial_loop(self, state: _PeerState, delay: float) -> None:
        failures: list[tuple[str, str]] = []

        def failed(host: str, port: int, exc: ChattyError) -> None:
            if isinstance(exc, IdentityMismatch):
                self._warn_spoof(state, format_address(host, port), exc)
            failures.append((host, exc.reason if isinstance(exc, DialFailed) else str(exc)))

        while True:
            if delay:
                await asyncio.sleep(delay)
            if state.conn is not None or not self._wants(state):
                return
            failures.clear()
            gate = contextlib.nullcontext() if self._is_known(state.id) else self._stranger_dials
            async with gate:
                if state.conn is not None or not self._wants(state):
                    return  # it left (or came to us) while waiting for its turn
                conn = await conn_mod.dial_any(
                    list(state.addresses),
                    self.identity,
                    self._hello(),
                    state.id,
                    failed,
                    self._budgets_for,
                )
            if conn is not None:
                self._attach(conn)
                return
            log.info("%s", unreachable(state.name, failures))
            delay = min(max(delay * 2, 1.0), RETRY_MAX)

    def _warn_spoof(self, state: _PeerState, address: str, exc: Exception) -> None:
        """Someone answers at an address advertised for this id without holding its key."""
        log.warning("%s at %s: %s", state.name, address, exc)
        # One warning per impostor, not per address it answers on (IPv4, IPv6,
        # link-local): until the real peer is back, further addresses are only logged.
        warned = bool(state.spoofed)
        state.spoofed.add(address)
        if warned:
            return
        trusted = self._trust_level(state.id) == "trusted"
        self._warn(
            state.id,
            f"{'IMPOSTOR: ' if trusted else ''}the device at {address} claims to be "
            f"'{state.name}' ({short_id(state.id)}) but cannot prove it holds that key; refused.",
        )

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, address = await loop.sock_accept(listener)
            except OSError as exc:  # out of descriptors, say: wait rather than spin
                if self._stopping:  # ``stop`` closed the listener under us
                    return
                log.warning("cannot accept a connection: %s", exc)
                await asyncio.sleep(0.5)
                continue
            host = str(address[0]).removeprefix("::ffff:")
            try:
                ticket = self._admission.enter(host)
            except Refused as exc:
                if self._hush_refused(host, loop.time()):
                    log.warning("refused a connection from %s: %s", host, exc)
                sock.close()
                continue
            ticket.on_evict = self._spawn(self._on_accept(sock, ticket)).cancel

    async def _on_accept(self, sock: socket.socket, ticket: Ticket) -> None:
        try:
            await self._handshake(sock, ticket)
        except asyncio.CancelledError:
            if not ticket.evicted:
                raise
            # Displaced by a newcomer (see ``admission``); the TLS layer has closed
            # what it owned, the preamble's socket is closed here.
            sock.close()
            log.info("dropped a handshake from %s to make room for others", ticket.host)
        finally:
            self._trimmer.soon()

    async def _handshake(self, sock: socket.socket, ticket: Ticket) -> None:
        host = ticket.host

        def admit(peer_id: str) -> str:
            refusal = self._admit(peer_id)
            if not refusal and self._is_known(peer_id):
                ticket.known(peer_id)
            return refusal

        with ticket:
            try:
                kind, ctx = await conn_mod.read_preamble(sock, self._contexts, admit)
            except (ChattyError, OSError, TimeoutError) as exc:
                log.info("refused a connection from %s: %s", host, str(exc) or "timed out")
                sock.close()
                return
            if kind is ChannelKind.BULK:
                await self.files.serve_bulk(sock, ctx, ticket.authenticated)
                return
            try:
                conn = await conn_mod.accept(  # closes sock on failure
                    sock, ctx, self._hello(), self._budgets_for
                )
            except Exception as exc:  # ssl.SSLError and friends from a broken handshake
                # TLS refused the key proof (not a mere end of stream: a dialer that
                # gave up, as happy eyeballs' losers do), or the dialer fell silent
                # once its preamble was answered: a replayed preamble or first flight,
                # or a forged one. Worth a warning the user and ``chatty doctor`` see,
                # once a minute per address so a flood of them cannot fill the log.
                forged = isinstance(exc, TimeoutError) or (
                    isinstance(exc, ssl.SSLError)
                    and not isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError)
                )
                loud = forged and self._hush_tls(host, asyncio.get_running_loop().time())
                log.log(
                    logging.WARNING if loud else logging.INFO,
                    "handshake from %s failed after its preamble%s: %s",
                    host,
                    " (replayed or forged?)" if forged else "",
                    str(exc) or exc.__class__.__name__,
                )
                return
            ticket.authenticated()
            self._attach(conn)
            await conn.finished  # the address keeps its slot while the session lives

    def _attach(self, conn: Connection) -> _PeerState | None:
        """Adopt a freshly authenticated connection, or refuse it; see the module rules."""
        hello = conn.peer
        log.debug("attaching %s (dialed=%s)", hello.name, conn.dialed)
        if hello.device_id == self.device_id:
            self._spawn(conn.close("that is me"))
            return None
        # It proved its key: its record is a real device's, even if refused below.
        self._adverts.answered(hello.device_id)
        state = self._state(hello.device_id, hello.name)
        renamed = state.name != hello.name
        conflict = self._take_name(state, hello.name)
        if not self._admitted(state) and not state.pair_wanted:
            error = (
                self._conflict_error(hello.name)
                if conflict
                else ProtocolError("not accepted here", "refused")
            )
            conn.session.fail(error)
            self._spawn(conn.close(str(error)))
            return None
        existing = state.conn
        if existing is not None and not existing.closed:
            if (
                existing.peer.boot == hello.boot
                and not self._wins(conn, existing)
                and not existing.quiet
            ):
                self._spawn(self._keep_one(state, conn, existing))
                return state
            state.conn = None
            if existing.peer.boot != hello.boot:
                self.pairings.on_offline(state.id)  # a restarted peer forgot its half
            self._spawn(existing.close("replaced by a newer session"))
        state.conn = conn
        state.spoofed.clear()  # the real one is here: a new impostor gets a new warning
        if state.budgets is None:  # its first session: what it drew stays with the peer
            state.budgets = conn.session.budgets
        conn.session.share_budgets(*state.budgets)
        state.last_seen = time.time()
        if conn.remote_host:
            # The path that works goes first for the next dial and for bulk connections;
            # the listener so learns a way back to the dialer (add-by-address both ways).
            used = (conn.remote_host, hello.port)
            state.addresses = clean_addresses([used, *state.addresses])[: 2 * MAX_ADDRESSES]
        self._check_clock(state, hello)
        self._save(state)
        if renamed:
            self._emit(NodeEvent(EventType.PEER_UPDATED, peer=self._snapshot(state)))
        self._emit(NodeEvent(EventType.PEER_ONLINE, peer=self._snapshot(state)))
        if self._admitted(state):  # otherwise the session is up for pairing only
            try:
                self._catch_up(state, conn)
            except StoreError as exc:  # a full disk: the session is served all the same
                self._store_failed(exc)
        self._spawn(self._serve(state, conn))
        return state

    def _check_clock(self, state: _PeerState, hello: Hello) -> None:
        """Message times are the sender's clock: say once if the peer's is far off."""
        if hello.time is None:
            return
        skew = hello.time - time.time()
        was_off = state.clock_skew is not None and abs(state.clock_skew) > CLOCK_WARN
        state.clock_skew = skew
        if abs(skew) > CLOCK_WARN and not was_off:
            self._warn(state.id, clock_advice(state.name, skew))

    def _catch_up(self, state: _PeerState, conn: Connection) -> None:
        """A full session begins: send what waited for it, resume its transfers."""
        if state.caught_up is conn:
            return
        state.caught_up = conn
        self._resend(state, conn)
        self.files.on_online(state.id, conn)

    def _resend(self, state: _PeerState, conn: Connection) -> None:
        """Send every message the peer still owes a receipt for, oldest first; it drops
        those it already has."""
        if state.resend is not None:
            state.resend.cancel()
            state.resend = None
        state.nacked.clear()
        if state.conn is not conn or conn.closed:
            return
        for stored in self.store.undelivered(state.id):
            conn.send_message(stored.message)
            self._mark(state, stored.id, SENT)

    def _mark(self, state: _PeerState, message_id: str, status: str) -> None:
        """Record a message's new status and tell the faces; a store that cannot be
        written (a full disk) leaves the old status, which only means it is sent again."""
        try:
            changed = self.store.set_status(state.id, message_id, status)
        except StoreError as exc:
            self._store_failed(exc)
            return
        if changed:
            self._emit_status(state, message_id)

    async def _keep_one(self, state: _PeerState, new: Connection, old: Connection) -> None:
        """A second session from the same run of the peer that would lose the tie-break:
        a double dial, or the peer moved networks and the old session's path is dead
        but not yet timed out. A ping on the old one tells which. Meanwhile the new one
        waits as the candidate: if the old one ends first (the peer kept the new one,
        say, after dialling two addresses), ``_serve`` promotes it without the peer
        ever showing offline."""
        if state.candidate is not None and state.candidate is not new:
            state.candidate.abort("superseded")
        state.candidate = new
        heard = old.last_heard
        if not old.closed:
            old.send(lambda s: s.ping())
            await asyncio.sleep(PROBE_WAIT)
        if state.candidate is not new:
            return  # promoted, or superseded by a newer one
        state.candidate = None
        if new.closed:
            return
        if not old.closed and old.last_heard != heard:
            await new.close("duplicate session")
            return
        log.info("%s: the old session is silent, keeping the new one", new.peer.name)
        old.abort("silent; replaced by a newer session")
        self._attach(new)

    def _wins(self, new: Connection, old: Connection) -> bool:
        """Both sides keep the session dialled by the smaller device id."""

        def dialer(c: Connection) -> str:
            return self.device_id if c.dialed else c.peer.device_id

        return dialer(new) < dialer(old)

    async def _serve(self, state: _PeerState, conn: Connection) -> None:
        reason = await conn.run(lambda c, e: self._on_session_event(state, c, e))
        log.info("session with %s ended: %s", state.name, reason)
        if state.caught_up is conn:
            # A peer that has left must not keep its session alive through this
            # reference: its TLS objects and buffers are a third of a megabyte or more.
            state.caught_up = None
        if state.refusing is not None and state.refusing[0] is conn:
            state.refusing = None
        if state.resend is not None and state.conn is conn:
            state.resend.cancel()
            state.resend = None
            state.nacked.clear()
        self._trimmer.soon()
        if state.conn is not conn:
            return
        state.conn = None
        candidate, state.candidate = state.candidate, None
        if candidate is not None and not candidate.closed and not self._stopping:
            log.info("%s: the waiting session takes over", state.name)
            self._attach(candidate)
            return
        state.last_seen = time.time()
        self.pairings.on_offline(state.id)
        if not self._stopping:
            self._save(state)
            self._emit(NodeEvent(EventType.PEER_OFFLINE, peer=self._snapshot(state), text=reason))
            left = reason.startswith("peer left")
            moved = reason == NETWORK_CHANGED  # our path is gone, another may work now
            # The peer ended it with an ERROR (it refuses us, say): dialling again at once
            # would only be refused again, and show it online and offline in turn.
            refused = reason.startswith(conn_mod.PEER_ERROR)
            if not refused:
                state.refused_by = ""
            delay = RETRY_MAX if refused else 2.0 if left else 0.0 if moved else 0.5
            self._want_connection(state, delay=delay)

    def _on_session_event(self, state: _PeerState, conn: Connection, event: Event) -> None:
        """Handle what a peer sent. A store that cannot be written (a full disk) is no
        reason to end the session: the user is told once, the peer why its message or
        offer was not kept, and it tries again; a dropped session would only be dialled
        again at once, and fail the same way."""
        try:
            self._handle_session_event(state, conn, event)
        except StoreError as exc:
            reason = self._store_failed(exc)
            if isinstance(event, OfferReceived):
                refusal = f"{self.name} cannot store this offer: {reason}"
                conn.send(lambda s: s.send_answer(event.offer.id, False, refusal))

    def _handle_session_event(self, state: _PeerState, conn: Connection, event: Event) -> None:
        if isinstance(event, PairReceived):
            self.pairings.on_message(state.id, event.message)
            return
        if not self._admitted(state):
            return  # a session up for pairing only carries nothing else
        if self.files.on_event(state.id, event):
            return
        match event:
            case MessageReceived(message=msg):
                self._receive(state, conn, msg)
            case ReceiptReceived(message_id=message_id):
                state.refused_reason = None
                state.resend_after = RESEND_FIRST
                self._mark(state, message_id, DELIVERED)
            case NackReceived(message_id=message_id, reason=reason):
                self._on_nack(state, conn, message_id, reason)
            case ProfileReceived(name=name):
                renamed = name != state.name
                if not self._take_name(state, name) and renamed:
                    self._save(state)
                    self._emit(NodeEvent(EventType.PEER_UPDATED, peer=self._snapshot(state)))
            case PeerReportedError(code=code, message=text):
                said = f"{state.name} reported an error ({code}): {text or 'no reason given'}"
                if said != state.refused_by:  # not again at each retry
                    state.refused_by = said
                    self._warn(state.id, said)
            case UnknownFrameReceived(frame_type=frame_type):
                log.debug("ignoring frame type %d from %s", frame_type, state.name)

    def _receive(self, state: _PeerState, conn: Connection, msg: ChatMessage) -> None:
        """Keep a message and acknowledge it; one that cannot be kept is refused (NACK,
        with the reason) and not acknowledged, so the sender tries it again."""
        refusing = state.refusing
        if refusing is not None and refusing[0] is conn and refusing[1] != msg.id:
            conn.send(lambda s: s.send_nack(msg.id, refusing[2]))
            return
        kind = msg.kind if msg.kind == "link" and is_safe_url(msg.body) else "text"
        try:
            stored = self.store.add_message(
                state.id, ChatMessage(msg.id, msg.ts, kind, msg.body), outgoing=False
            )
        except StoreError as exc:
            reason = f"{self.name} cannot store messages: {self._store_failed(exc)}"
            state.refusing = (conn, msg.id, reason)
            conn.send(lambda s: s.send_nack(msg.id, reason))
            return
        state.refusing = None
        self._store_works()
        conn.send_receipt(msg.id)
        if stored is not None:
            peer = self._snapshot(state)
            self._emit(NodeEvent(EventType.MESSAGE, peer=peer, message=stored))
            if self.auto_copy_trusted and peer.trust == "trusted":
                self._emit(NodeEvent(EventType.CLIPBOARD, peer=peer, text=msg.body))

    def _on_nack(self, state: _PeerState, conn: Connection, message_id: str, reason: str) -> None:
        """The peer could not keep our message: it stays unacknowledged, the user is
        told why (once until one gets through), and what waits goes again later."""
        if message_id in state.nacked:
            return  # a peer may say it a thousand times a second: the faces hear it once
        stored = self.store.message(state.id, message_id)
        if stored is None or not stored.outgoing or stored.status == DELIVERED:
            return  # not ours to worry about: a peer may say anything
        state.nacked.add(message_id)
        if state.refused_reason is None:
            state.refused_reason = reason
            self._warn(state.id, f"{reason}; the message waits here and is sent again")
        self._emit(
            NodeEvent(
                EventType.MESSAGE_STATUS, peer=self._snapshot(state), message=stored, text=reason
            )
        )
        if state.resend is None:
            delay, state.resend_after = state.resend_after, min(state.resend_after * 2, RETRY_MAX)
            state.resend = asyncio.get_running_loop().call_later(delay, self._resend, state, conn)

    def _store_failed(self, exc: StoreError) -> str:
        """Tell the user, once until it works again, that the store cannot be written;
        returns why in words a peer may read (no local paths)."""
        if disk_full(exc):
            trouble = (
                f"cannot save messages: the disk holding {self.data_dir} is full; "
                "free some space there (senders keep what they sent and try again)"
            )
            reason = "its disk is full"
        else:
            trouble = f"cannot save messages: {exc}"
            reason = "it cannot write its database"
        if trouble != self._store_trouble:
            self._store_trouble = trouble
            log.warning("%s", trouble)
            self._emit(NodeEvent(EventType.WARNING, text=trouble))
        return reason

    def _store_works(self) -> None:
        if self._store_trouble:
            self._store_trouble = ""
            log.info("messages are saved again")

    def _emit_status(self, state: _PeerState, message_id: str) -> None:
        stored = self.store.message(state.id, message_id)
        if stored is not None:
            self._emit(
                NodeEvent(EventType.MESSAGE_STATUS, peer=self._snapshot(state), message=stored)
            )

    # ----- messages and profile -------------------------------------------

    async def send_text(self, peer_id: str, text: str, kind: str = "text") -> StoredMessage:
        """Store and send a message; it waits in the outbox while the peer is away."""
        state = self._known_state(peer_id)
        if self._trust_level(peer_id) == "blocked":
            raise PeerError(f"{state.name} is blocked; unblock it to write to it")
        if not text.strip():
            raise ChattyError("nothing to send: the message is empty")
        if len(text.encode("utf-8")) > MAX_TEXT_BYTES:
            raise ChattyError(f"message too long ({len(text)} chars); send it as a file")
        if kind == "link" and not is_safe_url(text):
            raise ChattyError(f"not a link Chatty will send: {text!r} (use http://, https://, …)")
        if self.store.undelivered_count(peer_id) >= MAX_OUTBOX:
            when = "as they are delivered" if state.conn else "once it is back online"
            raise OutboxFull(
                f"{MAX_OUTBOX} messages already wait to go to {state.name}; send more {when}"
            )
        msg = ChatMessage(uuid.uuid4().hex, time.time(), kind, text)
        stored = self.store.add_message(peer_id, msg, outgoing=True)
        assert stored is not None
        self._emit(NodeEvent(EventType.MESSAGE, peer=self._snapshot(state), message=stored))
        if state.conn is not None and self._admitted(state):
            if state.resend is not None:  # the peer had no room: try what waits, in order
                self._resend(state, state.conn)
            else:
                state.conn.send_message(msg)
                self._mark(state, msg.id, SENT)
        else:
            self._want_connection(state, delay=0)
            if state.refused_by:  # "queued" would suggest it is merely away
                self._emit(
                    NodeEvent(
                        EventType.MESSAGE_STATUS,
                        peer=self._snapshot(state),
                        message=stored,
                        text=state.refused_by,
                    )
                )
        return stored

    # ----- files -----------------------------------------------------------

    def download_dir(self) -> Path:
        """Where offers accepted from now on land: the folder last set while running,
        which a face shows and a ``--download-dir`` given at start does not hide."""
        return self.files.download_dir

    def _first_download_dir(self) -> Path:
        """The folder at start: ``--download-dir``, else the setting, else the user's
        download folder."""
        if self._download_dir is not None:
            return self._download_dir.expanduser().absolute()
        stored = self.store.setting("download_dir")
        if stored:
            return Path(stored)
        return Path(platformdirs.user_downloads_dir()) / "Chatty"

    def set_download_dir(self, folder: Path) -> Path:
        folder = self.files.set_download_dir(folder)  # checked there: a ChattyError if unusable
        self.store.set_setting("download_dir", str(folder))
        return folder

    async def send_files(self, peer_id: str, paths: list[Path]) -> TransferInfo:
        """Offer files and folders; they travel once the peer accepts."""
        self.peer(peer_id)  # an unknown peer is an error before any disk walk
        return await self.files.send(peer_id, paths)

    def transfers(self) -> list[TransferInfo]:
        return self.files.all()

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
        state = self._known_state(peer_id)
        if self._trust_level(peer_id) == "blocked":
            raise PeerError(f"{state.name} is blocked; unblock it first")
        existing = self.pairings.info(peer_id)
        if existing is not None and existing.state != "exchanging":
            return existing
        state.pair_wanted = True
        try:
            if state.conn is None:
                self._want_connection(state, delay=0, restart=True)
                async with asyncio.timeout(conn_mod.CONNECT_TIMEOUT + conn_mod.HANDSHAKE_TIMEOUT):
                    while state.conn is None:
                        await asyncio.sleep(0.05)
            return await self.pairings.start(peer_id)
        except TimeoutError:
            raise PeerError(f"cannot reach {state.name} to pair with it") from None
        finally:
            if self.pairings.info(peer_id) is None:
                self._pairing_over(state)

    def confirm_pairing(self, peer_id: str, code: str | None = None) -> PairingInfo:
        """The user says the codes match (optionally typing the other screen's code)."""
        try:
            return self.pairings.confirm(peer_id, code)
        finally:
            if self.pairings.info(peer_id) is None:
                self._pairing_over(self._known_state(peer_id))

    def reject_pairing(self, peer_id: str, reason: str = "the codes differ") -> PairingInfo:
        info = self.pairings.reject(peer_id, reason)
        self._pairing_over(self._known_state(peer_id))
        return info

    def pair_by_fingerprint(self, peer_id: str, fingerprint: str) -> None:
        """Trust a key whose fingerprint the user read off the other device (``chatty id``)."""
        typed = "".join(fingerprint.split()).replace(":", "").lower()
        if len(typed) < FINGERPRINT_DIGITS:
            raise ChattyError(
                f"type at least {FINGERPRINT_DIGITS} hex digits of the fingerprint (4 groups)"
            )
        if not peer_id.startswith(typed):
            raise PeerError(
                f"that fingerprint is not {self._peer_name(peer_id)}'s key; "
                "read it again from 'chatty id' on that device"
            )
        if peer_id not in self._peers and self.store.peer(peer_id) is None:
            if typed != peer_id:
                raise UnknownPeer(
                    f"no peer with id {short_id(peer_id)} yet; to trust a device before it "
                    "ever connects, give its whole fingerprint (64 hex digits)"
                )
            self._state(peer_id, short_id(peer_id))  # its name comes with its first HELLO
        self._on_paired(peer_id)

    def _on_paired(self, peer_id: str) -> None:
        """Trust this key; a key it replaces under the same name stops being trusted."""
        state = self._known_state(peer_id)
        self._save(state)
        self.store.set_trusted(peer_id, True)
        for old in self.store.trusted_with_name(state.name):
            if old.id != peer_id:
                self.store.set_trusted(old.id, False)
        state.conflict = None
        log.info("paired with %s (%s)", state.name, short_id(peer_id))
        self._pairing_over(state)
        self._emit(NodeEvent(EventType.PEER_UPDATED, peer=self._snapshot(state)))

    def _pairing_over(self, state: _PeerState) -> None:
        """Pairing is done: a session that was up only for it ends unless now admitted."""
        state.pair_wanted = False
        conn = state.conn
        if conn is not None and state.caught_up is not conn:
            # Up for pairing only, we dropped whatever else the peer sent on it: start a
            # fresh session, on which it sends that again.
            state.conn = None
            self._spawn(conn.close("paired" if self._admitted(state) else "not accepted here"))
        self._want_connection(state, delay=0)

    def active_pairings(self) -> list[PairingInfo]:
        """The pairings under way, each with its code, for a face to list."""
        return self.pairings.all()

    def unpair(self, peer_id: str) -> None:
        """Stop trusting a peer: it is unverified again."""
        self._known_state(peer_id)
        self.store.set_trusted(peer_id, False)
        self._policy_changed(peer_id)

    def block(self, peer_id: str, blocked: bool = True) -> None:
        """Refuse a peer entirely (before TLS), or lift that."""
        state = self._known_state(peer_id)
        self._save(state)
        self.store.set_blocked(peer_id, blocked)
        if blocked and self.pairings.info(peer_id) is not None:
            self.pairings.reject(peer_id, "blocked")
        self._policy_changed(peer_id)

    def set_trusted_only(self, on: bool) -> None:
        """Accept connections from trusted peers only (off by default)."""
        self.store.set_setting("trusted_only", "1" if on else "0")
        for peer_id in list(self._peers):
            self._policy_changed(peer_id)

    def _policy_changed(self, peer_id: str) -> None:
        state = self._peers.get(peer_id)
        if state is None:
            return
        if not self._admitted(state) and not state.pair_wanted:
            level = self._trust_level(peer_id)
            why = (
                "blocked" if level == "blocked" else "unpaired, and only paired peers are accepted"
            )
            self._refuse(state, ProtocolError("not accepted here", "refused"), why)
        else:
            self._want_connection(state, delay=0)
        self._emit(NodeEvent(EventType.PEER_UPDATED, peer=self._snapshot(state)))

    def _known_state(self, peer_id: str) -> _PeerState:
        state = self._peers.get(peer_id)
        if state is not None:
            return state
        record = self.store.peer(peer_id)
        if record is None:
            raise UnknownPeer(f"no peer with id {short_id(peer_id)}")
        state = self._state(peer_id, record.name)
        state.addresses = stored_addresses(record)
        return state

    @property
    def auto_accept_trusted(self) -> bool:
        """Whether offers from trusted peers are accepted without asking (off by default)."""
        return self.store.setting("auto_accept_trusted") == "1"

    def set_auto_accept_trusted(self, on: bool) -> None:
        self.store.set_setting("auto_accept_trusted", "1" if on else "0")

    @property
    def auto_copy_trusted(self) -> bool:
        """Whether text from trusted peers goes straight to the clipboard (off by default:
        a clipboard is pasted into terminals, so only paired devices may fill it)."""
        return self.store.setting("auto_copy_trusted") == "1"

    def set_auto_copy_trusted(self, on: bool) -> None:
        self.store.set_setting("auto_copy_trusted", "1" if on else "0")

    @property
    def start_minimised(self) -> bool:
        """Whether the window starts hidden in the tray. The window's own choice, kept
        here with the other settings so that it lives in the data dir it belongs to."""
        return self.store.setting("start_minimised") == "1"

    def set_start_minimised(self, on: bool) -> None:
        self.store.set_setting("start_minimised", "1" if on else "0")

    def _accepts_from(self, peer_id: str) -> bool:
        """Offers are accepted unasked only from trusted peers: by the setting, or
        when ``accept_from`` names them. An unverified peer's offer always asks."""
        if self._trust_level(peer_id) != "trusted":
            return False
        if self.auto_accept_trusted:
            return True
        name = self._peer_name(peer_id).lower()
        return any(
            spec == "*" or spec == name or (len(spec) >= 4 and peer_id.startswith(spec))
            for spec in self._accept_from
        )

    def _connection(self, peer_id: str) -> Connection | None:
        state = self._peers.get(peer_id)
        return state.conn if state is not None else None

    def _peer_name(self, peer_id: str) -> str:
        state = self._peers.get(peer_id)
        if state is not None:
            return state.name
        record = self.store.peer(peer_id)
        return record.name if record is not None else short_id(peer_id)

    def _emit_transfer(self, kind: str, info: TransferInfo) -> None:
        self._emit(NodeEvent(EventType(kind), transfer=info))

    def _warn(self, peer_id: str, text: str) -> None:
        state = self._peers.get(peer_id)
        peer = self._snapshot(state) if state is not None else None
        self._emit(NodeEvent(EventType.WARNING, peer=peer, text=text))

    def history(self, peer_id: str, limit: int = 100) -> list[StoredMessage]:
        return self.store.history(peer_id, limit)

    async def set_name(self, name: str) -> str:
        """Rename this device: store it, update mDNS, tell every connected peer. A name
        with nothing visible is refused, from every face (window, CLI, control socket)."""
        if not has_visible_name(name):
            raise ChattyError(NAME_NEEDED)
        self.name = clean_name(name)
        self.store.set_setting("name", self.name)
        if self._discovery is not None:
            await self._discovery.rename(self.name)
        for state in self._peers.values():
            if state.conn is not None:
                state.conn.send_profile(self.name)
            elif state.refused_by:  # perhaps for the old name: try the new one now
                state.refused_by = ""
                self._want_connection(state, delay=0, restart=True)
        self._emit(NodeEvent(EventType.NAME_CHANGED, text=self.name))
        return self.name

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.device_id,
            "fingerprint": format_fingerprint(self.device_id),
            "port": self.port,
            "data_dir": str(self.data_dir),
        }


def _listening_socket(port: int) -> socket.socket:
    """One dual-stack socket when IPv6 exists, so the port is the same for both families."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        host = "::"
    except OSError:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        host = "0.0.0.0"
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ChattyError(f"cannot listen on port {port}: {exc.strerror}") from exc
    sock.listen(1024)  # a burst of connections waits to be refused, not dropped
    sock.setblocking(False)
    return sock


def acquire_lock(data_dir: Path) -> IO[str]:
    """Hold ``node.lock`` for the life of the process; one node per data dir."""
    handle = open(data_dir / "node.lock", "a+")  # noqa: SIM115 (held until stop)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise NodeAlreadyRunning(f"another Chatty process is using {data_dir}") from exc
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


async def _acquire_lock_soon(data_dir: Path) -> IO[str]:
    """The lock, waiting ``LOCK_WAIT`` for it: a one-shot command (``chatty id``) holds
    it for a moment, and a window started in that moment must not give up."""
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            return acquire_lock(data_dir)
        except NodeAlreadyRunning:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(0.05)
