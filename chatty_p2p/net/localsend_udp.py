"""LocalSend's multicast beacon: a UDP socket on ``224.0.0.167:53317``, joined on each
chosen interface, that hears announcements and sends Chatty's own.

Only bytes and addresses here; what a datagram means is ``protocol.localsend``'s and
``localsend/``'s. A datagram longer than ``MAX_DATAGRAM`` is dropped unread (the
socket's buffer holds one more byte than that, to tell); one from this host's own
socket (the loop back of our announcement) is told apart by the fingerprint inside,
not here. The group is link-local (``224.0.0.0/24`` is never routed), so the TTL is 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable, Sequence

from chatty_p2p.errors import ChattyError
from chatty_p2p.protocol.localsend import GROUP, MAX_DATAGRAM, PORT

log = logging.getLogger(__name__)

Heard = Callable[[bytes, str], None]
"""``heard(datagram, source_ip)``."""


class PortTaken(ChattyError):
    """Port 53317 is held by another program (the LocalSend app on this machine)."""


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, heard: Heard) -> None:
        self._heard = heard

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if len(data) <= MAX_DATAGRAM:
            self._heard(data, str(addr[0]))

    def error_received(self, exc: Exception) -> None:
        log.debug("localsend: multicast error: %s", exc)


class Beacon:
    """The multicast socket; ``announce`` sends a datagram out of every joined interface."""

    def __init__(self, heard: Heard, port: int = PORT, group: str = GROUP) -> None:
        self._heard = heard
        self.port = port
        self.group = group
        self._transport: asyncio.DatagramTransport | None = None
        self._sock: socket.socket | None = None
        self._interfaces: list[str] = []

    async def start(self, addresses: Sequence[str]) -> None:
        """Listen on the port and join the group on the interfaces with these IPv4
        ``addresses``. Raises ``PortTaken`` when another program holds the port
        without sharing it."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", self.port))
        except OSError as exc:
            sock.close()
            raise PortTaken(f"UDP port {self.port} is in use ({exc.strerror})") from None
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setblocking(False)
        self._sock = sock
        self.join(addresses)
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self._heard), sock=sock
        )

    def join(self, addresses: Sequence[str]) -> None:
        """Join the group on each interface not joined yet (the network changed)."""
        if self._sock is None:
            return
        for address in addresses:
            if address in self._interfaces:
                continue
            request = struct.pack("4s4s", socket.inet_aton(self.group), socket.inet_aton(address))
            try:
                self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, request)
            except OSError as exc:
                log.debug("localsend: cannot join %s on %s: %s", self.group, address, exc)
                continue
            self._interfaces.append(address)

    def announce(self, datagram: bytes) -> None:
        """``datagram`` to the group, out of each joined interface."""
        if self._sock is None or self._transport is None:
            return
        for address in self._interfaces:
            with contextlib.suppress(OSError):
                self._sock.setsockopt(
                    socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address)
                )
                self._transport.sendto(datagram, (self.group, self.port))

    def send_to(self, datagram: bytes, host: str) -> None:
        """``datagram`` to one device (the fallback answer to an announcement)."""
        if self._transport is not None:
            with contextlib.suppress(OSError):
                self._transport.sendto(datagram, (host, self.port))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        self._sock = None
