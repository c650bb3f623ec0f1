"""The listening socket and its accept loop: what comes in, as plain sockets, with the
address it came from. What each connection is (a session, a bulk connection) and
whether its address may come in at all (``admission``) is the node's to decide."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import TypeAlias

from chatty_p2p.errors import ChattyError

log = logging.getLogger(__name__)

Raw: TypeAlias = socket.socket
"""A connection as accepted: a plain non-blocking socket, before its preamble and TLS."""


def listening_socket(port: int) -> Raw:
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


async def accept_loop(
    listener: Raw, on_accept: Callable[[Raw, str], None], stopping: Callable[[], bool]
) -> None:
    """Accept for ever, handing each connection and its host to ``on_accept``; ends when
    the listener is closed under it while ``stopping``."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            sock, address = await loop.sock_accept(listener)
        except OSError as exc:  # out of descriptors, say: wait rather than spin
            if stopping():  # ``stop`` closed the listener under us
                return
            log.warning("cannot accept a connection: %s", exc)
            await asyncio.sleep(0.5)
            continue
        on_accept(sock, str(address[0]).removeprefix("::ffff:"))
