"""The listener: connections from outside, capped per address (``admission``),
told apart by their preamble: a control session goes to ``Sessions``, a bulk
connection to ``files``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from chatty_p2p.errors import ChattyError, why_failed
from chatty_p2p.files.manager import FileTransfers
from chatty_p2p.identity import Identity
from chatty_p2p.net import accepting, listening, tls
from chatty_p2p.net.admission import Admission, Hush, Refused, Ticket
from chatty_p2p.net.connection import Connection
from chatty_p2p.net.listening import Raw
from chatty_p2p.net.memory import Trimmer
from chatty_p2p.net.tls import ServerContexts
from chatty_p2p.node.peers import PeerState, PeerTable
from chatty_p2p.node.tasks import Tasks
from chatty_p2p.protocol.limits import Budget
from chatty_p2p.protocol.messages import Hello
from chatty_p2p.protocol.preamble import ChannelKind

log = logging.getLogger(__package__)


class Attacher(Protocol):
    """Where an authenticated session goes (``sessions.Sessions``)."""

    def hello(self) -> Hello: ...

    def budgets_for(self, peer_id: str) -> tuple[Budget, Budget]: ...

    def attach(self, conn: Connection) -> PeerState | None: ...


class Admitter(Protocol):
    def admit(self, peer_id: str) -> str: ...


class Listener:
    def __init__(
        self,
        *,
        identity: Identity,
        table: PeerTable,
        sessions: Attacher,
        gate: Admitter,
        files: FileTransfers,
        tasks: Tasks,
        trimmer: Trimmer,
        hush_refused: Hush,
    ) -> None:
        self._contexts = ServerContexts(identity)
        self._table = table
        self._sessions = sessions
        self._gate = gate
        self._files = files
        self._tasks = tasks
        self._trimmer = trimmer
        self._hush_refused = hush_refused
        self._hush_tls = Hush()
        self._admission = Admission()
        self._socket: Raw | None = None

    def listen(self, port: int, remembered: int = 0) -> int:
        """Listen on ``port``, or with 0 on the ``remembered`` one (the port of the last
        run, so a peer that added this one by address finds it again) if it is free,
        else on any; accept from now on; returns the port."""
        self._socket = None
        if not port and remembered:
            with contextlib.suppress(ChattyError):
                self._socket = listening.listening_socket(remembered)
        if self._socket is None:
            self._socket = listening.listening_socket(port)
        self._tasks.spawn(
            listening.accept_loop(self._socket, self._on_connection, lambda: self._tasks.stopping)
        )
        return int(self._socket.getsockname()[1])

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()

    def _on_connection(self, sock: Raw, host: str) -> None:
        try:
            ticket = self._admission.enter(host)
        except Refused as exc:
            if self._hush_refused(host, asyncio.get_running_loop().time()):
                log.warning("refused a connection from %s: %s", host, exc)
            sock.close()
            return
        ticket.on_evict = self._tasks.spawn(self._on_accept(sock, ticket)).cancel

    async def _on_accept(self, sock: Raw, ticket: Ticket) -> None:
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

    async def _handshake(self, sock: Raw, ticket: Ticket) -> None:
        host = ticket.host

        def admit(peer_id: str) -> str:
            refusal = self._gate.admit(peer_id)
            if not refusal and self._table.is_known(peer_id):
                ticket.known(peer_id)
            return refusal

        with ticket:
            try:
                kind, ctx = await accepting.read_preamble(sock, self._contexts, admit)
            except (ChattyError, OSError, TimeoutError) as exc:
                log.info("refused a connection from %s: %s", host, why_failed(exc))
                sock.close()
                return
            if kind is ChannelKind.BULK:
                # TLS on the event loop, under one deadline: a peer that dribbles its
                # handshake holds no worker thread (``files`` takes one only later).
                try:
                    pipe = await accepting.server_pipe(sock, ctx)
                    peer_id = tls.peer_id(pipe.obj)
                except (OSError, TimeoutError, ChattyError) as exc:  # ssl.SSLError is an OSError
                    log.info("bulk handshake failed: %s", why_failed(exc))
                    sock.close()
                    return
                await self._files.serve_bulk(pipe, peer_id, ticket.authenticated)
                return
            try:
                conn = await accepting.accept(  # closes sock on failure
                    sock, ctx, self._sessions.hello(), self._sessions.budgets_for
                )
            except Exception as exc:  # ssl.SSLError and friends from a broken handshake
                self._handshake_failed(host, exc)
                return
            ticket.authenticated()
            self._sessions.attach(conn)
            await conn.finished  # the address keeps its slot while the session lives

    def _handshake_failed(self, host: str, exc: Exception) -> None:
        # TLS refused the key proof (not a mere end of stream: a dialer that
        # gave up, as happy eyeballs' losers do), or the dialer fell silent
        # once its preamble was answered: a replayed preamble or first flight,
        # or a forged one. Worth a warning the user and ``chatty doctor`` see,
        # once a minute per address so a flood of them cannot fill the log.
        forged = accepting.looks_forged(exc)
        loud = forged and self._hush_tls(host, asyncio.get_running_loop().time())
        log.log(
            logging.WARNING if loud else logging.INFO,
            "handshake from %s failed after its preamble%s: %s",
            host,
            " (replayed or forged?)" if forged else "",
            str(exc) or exc.__class__.__name__,
        )
