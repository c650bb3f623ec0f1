"""The peer table: what the node knows of each peer in this run (``PeerState``),
what a face sees of one (``Peer``), and finding a peer by what a user typed."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from chatty_p2p.device import UNKNOWN
from chatty_p2p.errors import AmbiguousPeer, StoreError, UnknownPeer
from chatty_p2p.events import Peer as Peer  # it lives with the events, light for the faces
from chatty_p2p.identity import short_id
from chatty_p2p.net import connection as conn_mod
from chatty_p2p.net import netif
from chatty_p2p.net.addresses import format_address, parse_address
from chatty_p2p.net.connection import Connection
from chatty_p2p.node import policy
from chatty_p2p.protocol.limits import Budget
from chatty_p2p.store import PeerRecord, Store

log = logging.getLogger(__package__)

RETRY_MAX = 30.0
RESEND_FIRST = 5.0
"""After a peer said it could not keep a message (NACK: its disk is full), how long
until the messages it owes are sent again; doubled each time, up to ``RETRY_MAX``."""
MAX_ADDRESSES = 16
"""Addresses taken from one announcement; twice as many are remembered per peer."""
KEEP_STRANGERS = 500
"""Peers remembered only by name (no messages, no trust) beyond which the oldest go."""


def clean_addresses(addresses: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Each address once, spelled one way (see ``connection.scoped``), in order;
    link-local ones this machine cannot dial left out (see ``_on_a_link_here``).

    A repeater that copies mDNS between networks passes the other network's
    link-local addresses along; listed, they look like a way to the peer and fail
    every dial at once."""
    scoped = ((conn_mod.scoped(host), port) for host, port in addresses)
    spelled = [(host, port) for host, port in scoped if host is not None]
    if not any(_link_local(host) for host, _ in spelled):
        return list(dict.fromkeys(spelled))  # the interfaces are read only when needed
    here = netif.interfaces()
    kept = (a for a in spelled if not _link_local(a[0]) or _on_a_link_here(a[0], here))
    return list(dict.fromkeys(kept))


def _link_local(host: str) -> bool:
    """fe80::/10 or 169.254/16; a host name is not an address, and not link-local."""
    try:
        return ipaddress.ip_address(host.partition("%")[0]).is_link_local
    except ValueError:
        return False


def _on_a_link_here(host: str, here: list[netif.Interface]) -> bool:
    """Whether a link-local address leads somewhere from this machine: an IPv6 one
    through the interface its scope names, if that is here (an index no interface
    has stays a number); an IPv4 one (169.254/16) only where an interface of this
    machine is on such a link, as two machines cabled without DHCP are."""
    address, _, scope = host.partition("%")
    if ":" in address:
        return any(i.name == scope for i in here)
    return any(_link_local(a) for i in here for a in i.addresses if ":" not in a)


def stored_addresses(record: PeerRecord) -> list[tuple[str, int]]:
    return clean_addresses(a for a in map(parse_address, record.addresses) if a)


@dataclass
class PeerState:
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
    """The session that last got the outbox and transfers (see ``Outbox.catch_up``)."""
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
    device: str = UNKNOWN
    """What its mDNS record says it is (laptop, desktop...), once validated; kept
    for this run only, so a peer not announced since start is "unknown"."""


class StoreWatch(Protocol):
    """Told when the store cannot be written (see ``datadir.StoreTrouble``)."""

    def failed(self, exc: StoreError) -> str: ...


class PeerTable:
    """Every peer of this run, by id, over the store's records of them."""

    def __init__(self, store: Store, trouble: StoreWatch) -> None:
        self._store = store
        self._trouble = trouble
        self._peers: dict[str, PeerState] = {}
        self.foreign_names: dict[str, str] = {}
        """Names of peers of another protocol (LocalSend devices), for their transfers."""

    def __getitem__(self, peer_id: str) -> PeerState:
        return self._peers[peer_id]

    def __contains__(self, peer_id: object) -> bool:
        return peer_id in self._peers

    def __iter__(self) -> Iterator[str]:
        return iter(self._peers)

    def get(self, peer_id: str) -> PeerState | None:
        return self._peers.get(peer_id)

    def states(self) -> list[PeerState]:
        return list(self._peers.values())

    def pop(self, peer_id: str) -> PeerState | None:
        return self._peers.pop(peer_id, None)

    def state(self, peer_id: str, name: str) -> PeerState:
        state = self._peers.get(peer_id)
        if state is None:
            state = self._peers[peer_id] = PeerState(peer_id, name)
        return state

    def known_state(self, peer_id: str) -> PeerState:
        """A peer of this run or of the store; an ``UnknownPeer`` error otherwise."""
        state = self._peers.get(peer_id)
        if state is not None:
            return state
        record = self._store.peer(peer_id)
        if record is None:
            raise UnknownPeer(f"no peer with id {short_id(peer_id)}")
        return self.from_record(record)

    def from_record(self, record: PeerRecord) -> PeerState:
        """This run's state of a peer from the store: its name, addresses and the kind
        of device it last said it is (it may be away)."""
        state = self.state(record.id, record.name)
        state.addresses = stored_addresses(record)
        if state.device == UNKNOWN and record.device:
            state.device = record.device
        return state

    def connection(self, peer_id: str) -> Connection | None:
        state = self._peers.get(peer_id)
        return state.conn if state is not None else None

    def addresses(self, peer_id: str) -> list[tuple[str, int]]:
        state = self._peers.get(peer_id)
        return state.addresses if state is not None else []

    def name(self, peer_id: str) -> str:
        state = self._peers.get(peer_id)
        if state is not None:
            return state.name
        if peer_id in self.foreign_names:
            return self.foreign_names[peer_id]
        record = self._store.peer(peer_id)
        return record.name if record is not None else short_id(peer_id)

    def trust_level(self, peer_id: str) -> str:
        return policy.trust_level(self._store.peer(peer_id))

    def is_known(self, peer_id: str) -> bool:
        return policy.is_known(self._store.peer(peer_id))

    def snapshot(self, state: PeerState) -> Peer:
        return Peer(
            id=state.id,
            name=state.name,
            online=state.conn is not None,
            discovered=state.discovered,
            known=self._store.peer(state.id) is not None,
            addresses=tuple(format_address(h, p) for h, p in state.addresses),
            last_seen=state.last_seen,
            conflict=state.conflict,
            trust=self.trust_level(state.id),
            clock_skew=state.clock_skew,
            refused_by=state.refused_by,
            device=state.device,
        )

    def snapshot_of(self, peer_id: str) -> Peer | None:
        state = self._peers.get(peer_id)
        return self.snapshot(state) if state is not None else None

    def peers(self) -> list[Peer]:
        """Every peer seen in this run or pinned in the store, online ones first."""
        for record in self._store.peers():
            if record.id not in self._peers:
                self.from_record(record).last_seen = record.last_seen
        found = [self.snapshot(s) for s in self._peers.values()]
        return sorted(found, key=lambda p: (not p.online, not p.discovered, p.name.lower(), p.id))

    def peer(self, peer_id: str) -> Peer:
        state = self._peers.get(peer_id)
        if state is None:
            record = self._store.peer(peer_id)
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
                trust=policy.trust_level(record),
                device=record.device or UNKNOWN,
            )
        return self.snapshot(state)

    def save(self, state: PeerState) -> None:
        """Remember a peer's name, addresses and last visit. A store that cannot be
        written (a full disk) is told to the user once, never fatal to the session
        this is for; a write that matters (trust, a block) fails on its own."""
        try:
            new = self._store.peer(state.id) is None
            record = PeerRecord(
                id=state.id,
                name=state.name,
                last_seen=state.last_seen,
                addresses=[format_address(h, p) for h, p in state.addresses],
                manual=state.manual,
                device="" if state.device == UNKNOWN else state.device,
            )
            self._store.save_peer(record)
            pruned = new and self._store.prune_strangers(KEEP_STRANGERS)
        except StoreError as exc:
            self._trouble.failed(exc)
            return
        if pruned:
            log.info("forgot the oldest strangers beyond %d", KEEP_STRANGERS)
            gone = [
                peer_id
                for peer_id, other in self._peers.items()
                if other.conn is None
                and not other.discovered
                and not other.manual
                and self._store.peer(peer_id) is None
            ]
            for peer_id in gone:
                del self._peers[peer_id]


def match(spec: str, peers: list[Peer]) -> Peer:
    """The one peer ``spec`` names (a name, an id prefix, the start of a name), or an
    error listing the candidates."""
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


class Dialler(Protocol):
    """What parts ask of the sessions part when a peer's session may be wanted now."""

    def want_connection(self, state: PeerState, delay: float, restart: bool = False) -> None: ...
