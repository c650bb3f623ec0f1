"""The asyncio shell around a control session: ``Connection``, an authenticated
session with one peer, and the timings and limits every control connection keeps.

``Connection.run`` is the one place bytes meet the session: read, feed, dispatch
events, write what the session queued. A silent peer is declared dead after
``DEAD_AFTER`` seconds, which is how a crashed or unplugged machine is noticed long
before its mDNS record expires; a peer that stops reading is dropped once
``MAX_UNSENT`` bytes wait for it, so it cannot make us buffer without end.

How a ``Connection`` comes to be lives beside this module, each part importing it
and never the other way: ``handshake`` (the HELLO exchange both ends run),
``dialling`` (``dial``, ``dial_any``) and ``accepting`` (the preamble and TLS of an
accepted socket). The timings stay here, in one place, because both ends and the
node's guard read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from asyncio import sslproto
from collections.abc import Callable

from chatty_p2p.errors import ProtocolError, RemoteProtocolError, why_failed
from chatty_p2p.protocol.messages import ChatMessage, ClosedByPeer, Event, Hello, PeerReportedError
from chatty_p2p.protocol.session import Session, State

log = logging.getLogger(__name__)

PING_INTERVAL = 2.0
DEAD_AFTER = 6.5
HANDSHAKE_TIMEOUT = 5.0
LINGER = 1.0
"""After ending a session for what the peer sent, how long its further input is
read and dropped before closing: closing a socket with unread input sends a
reset, which can destroy the ERROR frame before the peer has read it."""
CLOSE_TIMEOUT = 1.0
"""How long a TLS goodbye may wait for the peer's (asyncio's default is 30 s, during
which a peer that never answers keeps the session's buffers, and whatever it
still sends piles up unread); then the connection is cut."""
CONNECT_TIMEOUT = 3.0
READ_SIZE = 16 * 1024
"""One read from a control session, and its stream's buffer (twice this, then it
stops reading): a TLS record's worth. Chat needs no more, and 256 sessions each
holding 128 KiB unread were 32 MiB a flood could pin."""
MAX_UNSENT = 16 * 1024 * 1024
SSL_READ_BUFFER = 32 * 1024
"""What asyncio's TLS layer reads into per connection: its default, 256 KiB, is
allocated zeroed (resident) for every connection, so each idle session cost a
third of a megabyte and 256 strangers' sessions 88 MB. Control sessions carry
chat, a few KiB a second; two TLS records per read are plenty. File data
travels on blocking sockets in threads, which this does not touch. Process-wide:
``SSLProtocol`` takes no per-connection size."""
sslproto.SSLProtocol.max_size = SSL_READ_BUFFER

PEER_ERROR = "peer reported an error"
"""How ``run``'s reason begins when the peer ended the session with an ERROR."""

MAX_PARTIAL = 32 * 1024 * 1024
"""Bytes of unfinished frames all sessions together may hold (see ``_PARTIAL``)."""


def limit_tls_reads(transport: asyncio.BaseTransport) -> None:
    """Let asyncio's TLS layer hold at most ``SSL_READ_BUFFER`` bytes a session has
    not yet read (its default is 256 KiB each, for 256 strangers 64 MiB)."""
    if isinstance(transport, asyncio.ReadTransport) and hasattr(
        transport, "set_read_buffer_limits"
    ):
        transport.set_read_buffer_limits(high=SSL_READ_BUFFER)


class _Partial:
    """What unfinished frames hold, over every session of the process.

    One peer may leave up to a frame (1 MiB) half sent; 256 strangers doing so at
    once would hold 256 MiB. Past ``MAX_PARTIAL`` in all, the sessions holding the
    most are dropped until the rest fit: the flood pays, while a friend's message
    in flight (a small share) goes on.
    """

    def __init__(self) -> None:
        self._held: dict[Connection, int] = {}
        self._total = 0

    def update(self, conn: Connection, held: int) -> list[Connection]:
        """``conn`` now holds ``held`` bytes; returns the sessions to drop for it."""
        self._total += held - self._held.pop(conn, 0)
        if held:
            self._held[conn] = held
        dropped = []
        while self._total > MAX_PARTIAL:
            biggest = max(self._held, key=self._held.__getitem__)
            self._total -= self._held.pop(biggest)
            dropped.append(biggest)
        return dropped


_PARTIAL = _Partial()


class Connection:
    """An authenticated, open control session with one peer."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: Session,
        dialed: bool,
        early: list[Event],
    ) -> None:
        """``early`` holds what arrived in the same read as the peer's HELLO: a dialer
        may send its first messages right behind it, and they must not be lost."""
        assert session.peer is not None
        self._early = early
        self._reader = reader
        self._writer = writer
        self.session = session
        self.peer: Hello = session.peer
        self.dialed = dialed
        self._loop = asyncio.get_running_loop()
        self._drain: asyncio.TimerHandle | None = None
        self._lingering = False
        self.finished: asyncio.Future[str] = self._loop.create_future()
        """Resolves with the reason once ``run`` has ended."""
        self.last_heard = self._loop.time()
        limit_tls_reads(writer.transport)
        self.remote_host = _host(writer.get_extra_info("peername"))
        self.local_host = _host(writer.get_extra_info("sockname"))
        """Our end's address: when it leaves the machine, so has this session's path."""

    @property
    def closed(self) -> bool:
        return self._writer.is_closing()

    @property
    def quiet(self) -> bool:
        """Nothing heard for longer than a ping's round: the path may be gone (the
        peer moved networks) though ``DEAD_AFTER`` has not yet passed."""
        return self._loop.time() - self.last_heard > PING_INTERVAL + 1.0

    def send(self, action: Callable[[Session], None]) -> None:
        """Queue frames through the session (``lambda s: s.send_offer(...)``) and write them.

        Once the session has closed nothing more is sent, and that is not an error:
        a peer's BYE can arrive in the same read as the message we are answering, or
        our own close can race a user's action. What the frame carried is still in
        the store and goes out next session (undelivered messages are sent again,
        owed offers made again, receipts given to the repeated message)."""
        if self.session.state is not State.OPEN:
            log.debug("not sending to %s: the session has closed", self.peer.name)
            return
        action(self.session)
        self._flush()

    def send_message(self, message: ChatMessage) -> None:
        self.send(lambda s: s.send_message(message))

    def send_receipt(self, message_id: str) -> None:
        self.send(lambda s: s.send_receipt(message_id))

    def send_profile(self, name: str) -> None:
        self.send(lambda s: s.send_profile(name))

    def _drained(self) -> None:
        self._drain = None
        self._flush()

    def _flush(self) -> None:
        if self._writer.is_closing():
            return
        now = self._loop.time()
        data = self.session.data_to_send(now)
        if data:
            self._writer.write(data)
            if self._writer.transport.get_write_buffer_size() > MAX_UNSENT:
                log.warning("%s stopped reading; dropping the session", self.peer.name)
                self._writer.transport.abort()
                return
        delay = self.session.send_delay(now)
        if delay is not None and self._drain is None:
            self._drain = self._loop.call_later(delay, self._drained)

    async def run(self, on_event: Callable[[Connection, Event], None]) -> str:
        """Serve the session until it ends; returns why it ended, in words."""
        pinger = asyncio.create_task(self._ping_forever())
        reason = "stopped"
        try:
            try:
                reason = await self._read_loop(on_event)
            except Exception as exc:  # a bug: end this session, never leave it a ghost
                log.exception("session with %s failed", self.peer.name)
                self._fail(ProtocolError("the peer could not handle a frame", "internal"))
                reason = f"internal error: {exc!r}"
            # Our own close or abort came first: that is why, not the EOF it caused.
            return self.finished.result() if self.finished.done() else reason
        finally:
            pinger.cancel()
            if self._lingering:  # only here: nothing else reads the stream now
                with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                    async with asyncio.timeout(LINGER):
                        while await self._reader.read(READ_SIZE):
                            pass
            await self._shutdown(reason)

    async def _read_loop(self, on_event: Callable[[Connection, Event], None]) -> str:
        early, self._early = self._early, []
        if ended := self._dispatch(early, on_event):
            return ended
        while True:
            try:
                data = await asyncio.wait_for(self._reader.read(READ_SIZE), DEAD_AFTER)
            except TimeoutError:
                # The link is dead: a polite TLS close would only wait for it in vain.
                self._writer.transport.abort()
                return f"no answer for {DEAD_AFTER:.1f} s"
            except (OSError, ssl.SSLError) as exc:
                return f"connection lost ({why_failed(exc)})"
            if not data:
                return "connection closed"
            self.last_heard = self._loop.time()
            try:
                events = self.session.receive_data(data, self._loop.time())
            except RemoteProtocolError as exc:
                log.warning("protocol error from %s: %s", self.peer.name, exc)
                self._fail(exc)
                return f"protocol error: {exc}"
            self._flush()
            for dropped in _PARTIAL.update(self, self.session.buffered):
                dropped.drop_for_memory()
            if self.finished.done():
                return self.finished.result()
            if ended := self._dispatch(events, on_event):
                return ended

    def drop_for_memory(self) -> None:
        """End a session holding more unfinished data than all can afford (see
        ``_Partial``): an ERROR at once, and its unfinished frame let go; its read
        loop ends at its next read (or once the peer has been silent too long)."""
        error = RemoteProtocolError(
            "too much unfinished data held for all peers, and this one holds the most; "
            "send it again later",
            "busy",
        )
        log.warning("protocol error from %s: %s", self.peer.name, error)
        self.end(error, f"protocol error: {error}")  # which lets go of the unfinished frame

    def end(self, error: ProtocolError, reason: str) -> None:
        """End the session for a reason of ours: an ERROR saying so at once; ``run``
        returns ``reason`` at its next read (the peer closing, once it has read the
        ERROR, or its silence past ``DEAD_AFTER``), then lingers and closes."""
        self._fail(error)
        if not self.finished.done():
            self.finished.set_result(reason)

    def _fail(self, error: ProtocolError) -> None:
        """Send an ERROR and end the session; ``run`` lingers before closing."""
        self.session.fail(error)
        self._flush()
        self._lingering = True

    def _dispatch(self, events: list[Event], on_event: Callable[[Connection, Event], None]) -> str:
        """Hand events on; a non-empty result is why the session just ended."""
        try:
            return self._hand_on(events, on_event)
        except Exception as exc:  # a full disk under the store, or a bug: end cleanly
            log.exception("cannot handle what %s sent", self.peer.name)
            self._fail(ProtocolError("the peer could not handle a frame", "internal"))
            return f"internal error: {str(exc) or type(exc).__name__}"  # AssertionError() says ""

    def _hand_on(self, events: list[Event], on_event: Callable[[Connection, Event], None]) -> str:
        for event in events:
            on_event(self, event)
            if isinstance(event, ClosedByPeer):
                return f"peer left ({event.reason})"
            if isinstance(event, PeerReportedError):
                return f"{PEER_ERROR}: {event.message or event.code}"
        return ""

    async def _ping_forever(self) -> None:
        while not self._writer.is_closing():
            await asyncio.sleep(PING_INTERVAL)
            with contextlib.suppress(ProtocolError):
                self.session.ping()
                self._flush()

    async def close(self, reason: str = "bye") -> None:
        """Say goodbye and close; the read loop in ``run`` then ends by itself."""
        self.session.close(reason)
        self._flush()
        await self._shutdown(reason)

    def abort(self, reason: str) -> None:
        """Drop the session at once, nothing more sent: its path is gone (our address
        left the machine), so a goodbye would only wait out a timeout."""
        if not self.finished.done():
            self.finished.set_result(reason)
        self._writer.transport.abort()

    async def _shutdown(self, reason: str) -> None:
        _PARTIAL.update(self, 0)
        if self._drain is not None:
            self._drain.cancel()
        if not self.finished.done():
            self.finished.set_result(reason)
        if self._writer.is_closing():
            return
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            await asyncio.wait_for(self._writer.wait_closed(), CLOSE_TIMEOUT)
        self._writer.transport.abort()  # a no-op once closed; else the peer never answered


def _host(address: tuple[object, ...] | None) -> str:
    """A socket address's host as the rest of Chatty writes it: IPv4 peers of the
    dual-stack listener without ``::ffff:``, link-local IPv6 with its ``%interface``."""
    if not address:
        return ""
    host = str(address[0]).removeprefix("::ffff:")
    if len(address) == 4 and host.lower().startswith("fe80:") and "%" not in host:
        host = f"{host}%{address[3]}"
    return scoped(host) or host


def scoped(host: str) -> str | None:
    """One spelling per address, so a peer's list holds each once: a link-local IPv6
    address with its interface's name (``fe80::1%eth0``; mDNS gives ``%2``, the
    index), an address needing none without one; ``None`` for a link-local address
    with no interface, which cannot be dialled."""
    address, _, scope = host.partition("%")
    if not address.lower().startswith("fe80:"):
        return address if ":" in address else host
    if not scope or scope == "0":
        return None
    if scope.isdigit():
        with contextlib.suppress(OSError, OverflowError):
            scope = socket.if_indextoname(int(scope))
    return f"{address}%{scope}"
