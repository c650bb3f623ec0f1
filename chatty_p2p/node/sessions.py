"""Sessions: dialling a peer (every address at once, strangers a few at a time),
adopting a session once it is authenticated (dialled here, or accepted by the
``listener``), serving it until it ends, and keeping one session per pair of
devices when two arrive.

One session per pair: if both dialled at once, both sides keep the session opened by
the smaller device id; a session from a newer run of the peer (another ``boot``
token), or one arriving while the old has gone quiet (the peer changed networks),
replaces the old.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from chatty_p2p.clock import CLOCK_WARN, clock_advice
from chatty_p2p.errors import (
    ChattyError,
    DialFailed,
    IdentityMismatch,
    PeerError,
    RefusedByPeer,
    StoreError,
    unreachable,
)
from chatty_p2p.events import PeerOnline, PeerUpdated
from chatty_p2p.files.manager import FileTransfers
from chatty_p2p.identity import Identity, short_id
from chatty_p2p.net import dialling
from chatty_p2p.net.addresses import format_address
from chatty_p2p.net.connection import PEER_ERROR, Connection
from chatty_p2p.net.memory import Trimmer
from chatty_p2p.node import policy
from chatty_p2p.node.datadir import StoreTrouble
from chatty_p2p.node.events import Announcer
from chatty_p2p.node.peers import MAX_ADDRESSES, RETRY_MAX, PeerState, PeerTable, clean_addresses
from chatty_p2p.node.tasks import Tasks
from chatty_p2p.protocol.limits import Budget
from chatty_p2p.protocol.messages import Event, Hello
from chatty_p2p.store import Store

log = logging.getLogger(__package__)

YIELD_DIAL = 0.5
"""How long the peer with the larger id waits before dialling, to avoid double dials."""
MAX_STRANGER_DIALS = 4
"""Dials at once to peers neither paired nor added by address (``is_known``): a
flood of forged records pointing at a blackhole must not cost a thousand sockets
(the usual limit on descriptors), and known peers never wait behind them."""
PROBE_WAIT = 0.5
"""How long an old session has to answer a ping before a new one replaces it."""
NETWORK_CHANGED = "network changed"


class Me(Protocol):
    """This device as its HELLO presents it (the node: its name may change)."""

    @property
    def device_id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def port(self) -> int: ...


class Gate(Protocol):
    """Trust, as sessions need it (``guard.Guard``)."""

    def admitted(self, state: PeerState) -> bool: ...

    def admit(self, peer_id: str) -> str: ...

    def take_name(self, state: PeerState, name: str) -> bool: ...

    def session_lost(self, peer_id: str) -> None: ...


class Handler(Protocol):
    """What a session carries goes here (``inbox.Inbox``)."""

    def on_event(self, state: PeerState, conn: Connection, event: Event) -> None: ...

    def session_ended(self, state: PeerState, conn: Connection) -> None: ...


class Resender(Protocol):
    def resend(self, state: PeerState, conn: Connection) -> None: ...


class Answered(Protocol):
    def answered(self, peer_id: str) -> None: ...


@dataclass
class Partners:
    """The parts a session hands its work to, made after ``Sessions`` (they dial
    through it): given once, by ``Sessions.join``, before any session exists."""

    gate: Gate
    inbox: Handler
    outbox: Resender
    files: FileTransfers
    adverts: Answered


class Sessions:
    def __init__(
        self,
        me: Me,
        *,
        identity: Identity,
        store: Store,
        table: PeerTable,
        events: Announcer,
        trouble: StoreTrouble,
        tasks: Tasks,
        trimmer: Trimmer,
        boot: str,
        lanes: int,
        offline: bool,
    ) -> None:
        self._me = me
        self._identity = identity
        self._store = store
        self._table = table
        self._events = events
        self._trouble = trouble
        self._tasks = tasks
        self._trimmer = trimmer
        self._stranger_dials = asyncio.Semaphore(MAX_STRANGER_DIALS)
        self._boot = boot
        self._lanes = lanes
        self._offline = offline
        self._parts: Partners

    def join(self, parts: Partners) -> None:
        self._parts = parts

    def hello(self) -> Hello:
        return Hello(
            device_id=self._me.device_id,
            name=self._me.name,
            boot=self._boot,
            port=self._me.port,
            time=time.time(),
            lanes=self._lanes,
        )

    def budgets_for(self, peer_id: str) -> tuple[Budget, Budget]:
        """A peer's rate budgets, from the first byte of each session: those of a peer
        seen before outlive its sessions; one never seen starts full, and ``attach``
        keeps what its first session drew (see ``Session.share_budgets``)."""
        state = self._table.get(peer_id)
        if state is None or state.budgets is None:
            return Budget(), Budget.outgoing()
        return state.budgets

    async def say_goodbye(self) -> None:
        """A goodbye on every session (the node is stopping)."""
        closing = [s.conn.close("quit") for s in self._table.states() if s.conn is not None]
        await asyncio.gather(*closing, return_exceptions=True)

    # ----- dialling -------------------------------------------------------

    def _wants(self, state: PeerState) -> bool:
        if self._tasks.stopping or self._offline or not state.addresses:
            return False
        if state.pair_wanted:
            return self._table.trust_level(state.id) != "blocked"
        if not self._parts.gate.admitted(state):
            return False
        return (
            state.discovered
            or state.manual
            or bool(self._store.undelivered(state.id))
            or self._parts.files.owes_offer(state.id)
        )

    def want_connection(self, state: PeerState, delay: float, restart: bool = False) -> None:
        if state.conn is not None or not self._wants(state):
            return
        if state.dialer is not None and not state.dialer.done():
            if not restart:
                return
            state.dialer.cancel()
        state.dialer = self._tasks.spawn(self._dial_loop(state, delay))

    def dial_soon(self, state: PeerState) -> None:
        """Fresh news of a peer (a restart, a new port): dial now rather than after a
        backoff; the one with the larger id a moment later, so usually one side dials."""
        delay = 0.0 if self._me.device_id < state.id else YIELD_DIAL
        self.want_connection(state, delay=delay, restart=True)

    async def _dial_loop(self, state: PeerState, delay: float) -> None:
        failures: list[tuple[str, str]] = []

        def failed(host: str, port: int, exc: ChattyError) -> None:
            if isinstance(exc, IdentityMismatch):
                self._warn_spoof(state, format_address(host, port), exc)
            if isinstance(exc, RefusedByPeer):
                self._events.refused(state, exc.code, exc.text)
            failures.append((host, exc.reason if isinstance(exc, DialFailed) else str(exc)))

        while True:
            if delay:
                await asyncio.sleep(delay)
            if state.conn is not None or not self._wants(state):
                return
            failures.clear()
            known = self._table.is_known(state.id)
            gate = contextlib.nullcontext() if known else self._stranger_dials
            async with gate:
                if state.conn is not None or not self._wants(state):
                    return  # it left (or came to us) while waiting for its turn
                conn = await dialling.dial_any(
                    list(state.addresses),
                    self._identity,
                    self.hello(),
                    state.id,
                    failed,
                    self.budgets_for,
                )
            if conn is not None:
                self.attach(conn)
                return
            log.info("%s", unreachable(state.name, failures))
            delay = min(max(delay * 2, 1.0), RETRY_MAX)

    def _warn_spoof(self, state: PeerState, address: str, exc: Exception) -> None:
        """Someone answers at an address advertised for this id without holding its key."""
        log.warning("%s at %s: %s", state.name, address, exc)
        # One warning per impostor, not per address it answers on (IPv4, IPv6,
        # link-local): until the real peer is back, further addresses are only logged.
        warned = bool(state.spoofed)
        state.spoofed.add(address)
        if warned:
            return
        trusted = self._table.trust_level(state.id) == "trusted"
        self._events.warn(
            state.id,
            f"{'IMPOSTOR: ' if trusted else ''}the device at {address} claims to be "
            f"'{state.name}' ({short_id(state.id)}) but cannot prove it holds that key; refused.",
        )

    async def add_peer(self, host: str, port: int) -> PeerState:
        """Dial an address the user gave and keep the session; it is remembered."""
        conn = await dialling.dial(host, port, self._identity, self.hello(), None, self.budgets_for)
        state = self.attach(conn)
        if state is None:
            raise PeerError(f"{format_address(host, port)} was refused (see the warning)")
        state.manual = True
        state.addresses = clean_addresses([(host, port), *state.addresses])
        self._table.save(state)
        return state

    # ----- one session per peer -------------------------------------------

    def attach(self, conn: Connection) -> PeerState | None:
        """Adopt a freshly authenticated connection, or refuse it; see the module rules."""
        hello = conn.peer
        log.debug("attaching %s (dialed=%s)", hello.name, conn.dialed)
        if hello.device_id == self._me.device_id:
            self._tasks.spawn(conn.close("that is me"))
            return None
        # It proved its key: its record is a real device's, even if refused below.
        self._parts.adverts.answered(hello.device_id)
        state = self._table.state(hello.device_id, hello.name)
        renamed = state.name != hello.name
        conflict = self._parts.gate.take_name(state, hello.name)
        if not self._parts.gate.admitted(state) and not state.pair_wanted:
            error = policy.conflict_error(hello.name) if conflict else policy.not_accepted()
            conn.session.fail(error)
            self._tasks.spawn(conn.close(str(error)))
            return None
        existing = state.conn
        if existing is not None and not existing.closed:
            if (
                existing.peer.boot == hello.boot
                and not self._wins(conn, existing)
                and not existing.quiet
            ):
                self._tasks.spawn(self._keep_one(state, conn, existing))
                return state
            state.conn = None
            if existing.peer.boot != hello.boot:
                self._parts.gate.session_lost(state.id)  # a restarted peer forgot its half
            self._tasks.spawn(existing.close("replaced by a newer session"))
        self._adopt(state, conn)
        if renamed:
            self._events.peer(PeerUpdated, state)
        self._events.peer(PeerOnline, state)
        if self._parts.gate.admitted(state):  # otherwise the session is up for pairing only
            try:
                self._catch_up(state, conn)
            except StoreError as exc:  # a full disk: the session is served all the same
                self._trouble.failed(exc)
        self._tasks.spawn(self._serve(state, conn))
        return state

    def _adopt(self, state: PeerState, conn: Connection) -> None:
        """``conn`` is the peer's session from now on."""
        hello = conn.peer
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
        self._table.save(state)

    def _check_clock(self, state: PeerState, hello: Hello) -> None:
        """Message times are the sender's clock: say once if the peer's is far off."""
        if hello.time is None:
            return
        skew = hello.time - time.time()
        was_off = state.clock_skew is not None and abs(state.clock_skew) > CLOCK_WARN
        state.clock_skew = skew
        if abs(skew) > CLOCK_WARN and not was_off:
            self._events.warn(state.id, clock_advice(state.name, skew))

    def _catch_up(self, state: PeerState, conn: Connection) -> None:
        """A full session begins: send what waited for it, resume its transfers."""
        if state.caught_up is conn:
            return
        state.caught_up = conn
        self._parts.outbox.resend(state, conn)
        self._parts.files.on_online(state.id, conn)

    async def _keep_one(self, state: PeerState, new: Connection, old: Connection) -> None:
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
        self.attach(new)

    def _wins(self, new: Connection, old: Connection) -> bool:
        """Both sides keep the session dialled by the smaller device id."""

        def dialer(c: Connection) -> str:
            return self._me.device_id if c.dialed else c.peer.device_id

        return dialer(new) < dialer(old)

    async def _serve(self, state: PeerState, conn: Connection) -> None:
        reason = await conn.run(lambda c, e: self._parts.inbox.on_event(state, c, e))
        log.info("session with %s ended: %s", state.name, reason)
        if state.caught_up is conn:
            # A peer that has left must not keep its session alive through this
            # reference: its TLS objects and buffers are a third of a megabyte or more.
            state.caught_up = None
        self._parts.inbox.session_ended(state, conn)
        self._trimmer.soon()
        if state.conn is not conn:
            return
        state.conn = None
        candidate, state.candidate = state.candidate, None
        if candidate is not None and not candidate.closed and not self._tasks.stopping:
            log.info("%s: the waiting session takes over", state.name)
            self.attach(candidate)
            return
        state.last_seen = time.time()
        self._parts.gate.session_lost(state.id)
        if not self._tasks.stopping:
            self._table.save(state)
            self._events.offline(state, reason)
            if not reason.startswith(PEER_ERROR):
                state.refused_by = ""
            self.want_connection(state, delay=redial_after(reason))


def redial_after(reason: str) -> float:
    """How soon to dial a peer again whose session ended for ``reason``. One that ended
    it with an ERROR (it refuses us, say) would only refuse again, and show online and
    offline in turn: it waits ``RETRY_MAX``."""
    left = reason.startswith("peer left")
    moved = reason == NETWORK_CHANGED  # our path is gone, another may work now
    refused = reason.startswith(PEER_ERROR)
    return RETRY_MAX if refused else 2.0 if left else 0.0 if moved else 0.5
