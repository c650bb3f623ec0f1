"""The listening end of a connection: answer an accepted socket's preamble, then run
TLS and HELLO on it for a control session (``accept``), or TLS alone for a bulk
connection, handed on blocking to a worker thread (``server_pipe``).

A module of its own because only the node's listener accepts, while a
``Connection`` is also what a dial makes (``dialling``): the two ends share the
class and the HELLO exchange (``handshake``) and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable
from typing import cast

from chatty_p2p.errors import PeerError, RemoteProtocolError
from chatty_p2p.identity import fingerprint
from chatty_p2p.net import ktls, tls
from chatty_p2p.net.connection import CLOSE_TIMEOUT, HANDSHAKE_TIMEOUT, READ_SIZE, Connection
from chatty_p2p.net.handshake import Budgets, exchange_hellos, fresh_budgets
from chatty_p2p.net.tlspipe import KernelTls, TlsPipe
from chatty_p2p.protocol import preamble
from chatty_p2p.protocol.messages import Hello

_HANDSHAKE_READ = 64 * 1024


async def read_preamble(
    sock: socket.socket, contexts: tls.ServerContexts, admit: Callable[[str], str]
) -> tuple[preamble.ChannelKind, ssl.SSLContext]:
    """Answer a dialer's preamble on a freshly accepted socket.

    Returns what the connection will carry and a server context trusting exactly
    the dialer's certificate; TLS itself is the caller's, on the event loop for
    a control session, in a thread for bulk data. ``admit`` sees the device id the
    certificate claims and returns why to refuse it (a blocked peer, say), or
    ``""``: refusing here costs no TLS handshake. The caller closes on error.
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(HANDSHAKE_TIMEOUT):
        head = await _recv_exactly(loop, sock, preamble.REQUEST_HEAD.size)
        try:
            kind, cert_len = preamble.parse_request_head(head)
        except RemoteProtocolError as exc:
            version = exc.code == "version"
            status = preamble.Status.BAD_VERSION if version else preamble.Status.REFUSED
            await loop.sock_sendall(sock, preamble.encode_reply(status))
            raise
        cert_der = await _recv_exactly(loop, sock, cert_len)
        try:  # OpenSSL parses it here, and refuses what it could not use
            ctx = contexts.trusting(cert_der)
        except (ValueError, ssl.SSLError) as exc:
            await loop.sock_sendall(sock, preamble.encode_reply(preamble.Status.REFUSED))
            raise RemoteProtocolError(f"unusable certificate: {exc}", "malformed") from exc
        refusal = admit(fingerprint(cert_der))
        if refusal:
            await loop.sock_sendall(sock, preamble.encode_reply(preamble.Status.REFUSED))
            raise PeerError(refusal)
        await loop.sock_sendall(sock, preamble.encode_reply(preamble.Status.OK))
        return kind, ctx


def looks_forged(exc: BaseException) -> bool:
    """Whether a handshake that failed after its preamble was answered looks replayed or
    forged: TLS refused the key proof (not a mere end of stream, as from a dialer that
    gave up), or the dialer fell silent."""
    return isinstance(exc, TimeoutError) or (
        isinstance(exc, ssl.SSLError)
        and not isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError)
    )


async def server_pipe(raw: socket.socket, ctx: ssl.SSLContext) -> TlsPipe | KernelTls:
    """The server side of TLS on a plain socket, done on the event loop under one
    deadline for the whole handshake, and returned blocking for a bulk worker
    thread. Done in a thread instead, a peer dribbling a byte every few seconds
    would hold a worker for as long as it liked; here it holds nothing.

    The server is the side that sends files. Where the kernel can encrypt for it
    (``ktls``), the handshake is an ``SSLSocket``'s, which OpenSSL can hand to the
    kernel; whether it did is asked once it is done (``KernelTls``)."""
    loop = asyncio.get_running_loop()
    raw.setblocking(False)
    if ktls.enable(ctx):
        sock = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                while True:
                    try:
                        sock.do_handshake()
                        break
                    except ssl.SSLWantReadError:
                        await _ready(loop, sock, writing=False)
                    except ssl.SSLWantWriteError:
                        await _ready(loop, sock, writing=True)
        except BaseException:
            sock.close()
            raise
        sock.setblocking(True)
        return KernelTls(sock, ktls.sending_in_kernel(sock))
    pipe = TlsPipe.wrap(raw, ctx, server=True)
    async with asyncio.timeout(HANDSHAKE_TIMEOUT):
        while (out := pipe.step()) is not None:
            if out:
                await loop.sock_sendall(raw, out)
            pipe.feed(await loop.sock_recv(raw, _HANDSHAKE_READ))
        if tail := pipe.pending_output():
            await loop.sock_sendall(raw, tail)
    raw.setblocking(True)
    return pipe


async def _ready(loop: asyncio.AbstractEventLoop, sock: socket.socket, writing: bool) -> None:
    waiter: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    fd = sock.fileno()
    if writing:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await waiter
    finally:
        if writing:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)


async def _recv_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = await loop.sock_recv(sock, n - len(data))
        if not chunk:
            raise PeerError("the dialer closed the connection during the preamble")
        data += chunk
    return data


async def accept(
    sock: socket.socket, ctx: ssl.SSLContext, local: Hello, budgets: Budgets = fresh_budgets
) -> Connection:
    """TLS and HELLO on an accepted control socket whose preamble was answered; on
    failure the socket is closed here."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=READ_SIZE)
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.connect_accepted_socket(
        lambda: protocol,
        sock=sock,
        ssl=ctx,
        ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
        ssl_shutdown_timeout=CLOSE_TIMEOUT,
    )
    writer = asyncio.StreamWriter(transport, protocol, reader, loop)
    try:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            ssl_object = cast(ssl.SSLObject, writer.get_extra_info("ssl_object"))
            cert_id = tls.peer_id(ssl_object)
            return await exchange_hellos(reader, writer, local, cert_id, False, budgets)
    except BaseException as exc:
        # The transport owns the socket now: close through it (never sock.close(), whose
        # descriptor number the next connection may get while this transport still
        # watches it), politely so an ERROR frame gets out, but not for long.
        writer.close()
        if not isinstance(exc, asyncio.CancelledError):
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 1)
        transport.abort()
        raise
