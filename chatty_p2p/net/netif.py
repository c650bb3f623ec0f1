"""This machine's network interfaces, sorted by whether a peer can reach them.

A laptop with Docker, a VPN and Wi-Fi has a dozen addresses; only some of them
lead to the other machine on the desk. Advertising a container bridge's
172.17.0.1 makes peers waste a connect timeout on it (or, worse, reach some
other host's container), and listening for mDNS only on a VPN makes the LAN
look empty. The kinds below decide what discovery announces and joins, and give
``chatty doctor`` words for "you are only on a VPN".

Interfaces are recognised by their names because that is what works across
distributions without privileges; a user can always name interfaces
explicitly (``--interface``) to override.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ifaddr

from chatty_p2p import portable

LOOPBACK = "loopback"
LAN = "lan"
VPN = "vpn"
CONTAINER = "container"

_CONTAINER = re.compile(
    r"^(docker\d*|br-[0-9a-f]{6,}|veth[0-9a-f]+|virbr\d+|vnet\d+|cni\d*|flannel\.\d+|cali.*"
    r"|podman\d+|lxcbr\d+|lxdbr\d+|vboxnet\d+|vmnet\d+|kube-.*|weave|tunl0|cilium.*)$"
)
_VPN = re.compile(r"^(tun\d+|tap\d+|wg\d+|tailscale\d*|utun\d+|ppp\d+|zt.*|nordlynx|ipsec.*)$")

IFF_UP = 0x1
IFF_MULTICAST = 0x1000
_RTMGRP_LINK, _RTMGRP_IPV4_IFADDR, _RTMGRP_IPV6_IFADDR = 0x1, 0x10, 0x100


@dataclass(frozen=True)
class Interface:
    name: str
    index: int
    kind: str
    addresses: tuple[str, ...]
    """IPv4 and IPv6 addresses; link-local IPv6 ones carry ``%name``."""

    @property
    def reachable(self) -> bool:
        """Whether a peer elsewhere could use these addresses (LAN or VPN)."""
        return self.kind in (LAN, VPN)

    @property
    def multicast(self) -> bool:
        """Whether the kernel marks the interface up and able to multicast.

        Unknown (not Linux, or ``CHATTY_PORTABLE=1``) counts as yes: the check is for
        naming a cause, and a guess of "broken" would send users after the wrong fix.
        """
        flags = _flags(self.name)
        return flags is None or (flags & IFF_UP != 0 and flags & IFF_MULTICAST != 0)


def _flags(name: str) -> int | None:
    if not portable.linux_sources():
        return None
    try:
        return int(Path(f"/sys/class/net/{name}/flags").read_text(), 16)
    except (OSError, ValueError):
        return None


def kind_of(name: str, addresses: list[str]) -> str:
    if name == "lo" or (addresses and all(_ip(a).is_loopback for a in addresses)):
        return LOOPBACK
    if _CONTAINER.match(name):
        return CONTAINER
    if _VPN.match(name):
        return VPN
    return LAN


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text.split("%")[0])


def interfaces() -> list[Interface]:
    """Every interface with at least one address, in the kernel's order."""
    found = []
    for adapter in ifaddr.get_adapters():
        addresses = []
        for ip in adapter.ips:
            text = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            addr = _ip(text)
            if addr.is_multicast or addr.is_unspecified:
                continue
            if addr.version == 6 and addr.is_link_local:
                text = f"{text}%{adapter.nice_name}"
            addresses.append(text)
        if addresses:
            name = str(adapter.nice_name)
            found.append(
                Interface(name, int(adapter.index or 0), kind_of(name, addresses), tuple(addresses))
            )
    return found


def chosen(names: list[str] | None = None) -> list[Interface]:
    """The interfaces Chatty announces itself on and listens for peers on.

    ``names`` (interface names or addresses, from ``--interface``) picks exactly
    those, container bridges included; otherwise every LAN and VPN interface,
    and loopback only on a machine with nothing else (a laptop on a plane still
    talks to a second Chatty on itself).
    """
    every = interfaces()
    if names:
        return [i for i in every if i.name in names or set(i.addresses) & set(names)]
    usable = [i for i in every if i.reachable]
    return usable or [i for i in every if i.kind == LOOPBACK]


def advertised(names: list[str] | None = None) -> list[str]:
    """The addresses to announce: every address of every chosen interface."""
    return [a for i in chosen(names) for a in i.addresses]


def change_socket() -> socket.socket | None:
    """A non-blocking socket that becomes readable whenever a link or an address
    changes (Linux rtnetlink), or ``None`` where there is none (or with
    ``CHATTY_PORTABLE=1``): then polling is all there is. Only "something changed" is
    read from it; what changed is found by looking at the interfaces again."""
    if sys.platform != "linux" or not portable.linux_sources():
        return None
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    except OSError:
        return None
    try:
        sock.bind((0, _RTMGRP_LINK | _RTMGRP_IPV4_IFADDR | _RTMGRP_IPV6_IFADDR))
        sock.setblocking(False)
    except OSError:
        sock.close()
        return None
    return sock


def hostname() -> str:
    """This machine's name, as its owner set it (the default name of a node)."""
    return socket.gethostname()


def _drain(sock: socket.socket, changed: asyncio.Event) -> None:
    with contextlib.suppress(OSError):  # BlockingIOError once empty; ENOBUFS after a burst
        while sock.recv(65536):
            pass
    changed.set()


@contextlib.contextmanager
def signalling_changes(changed: asyncio.Event) -> Iterator[bool]:
    """While inside, ``changed`` is set whenever the kernel says a link or an address
    changed (``change_socket``), on the running loop; yields whether it can tell at
    all (where it cannot, the caller polls)."""
    events = change_socket()
    if events is None:
        yield False
        return
    loop = asyncio.get_running_loop()
    loop.add_reader(events.fileno(), _drain, events, changed)
    try:
        yield True
    finally:
        loop.remove_reader(events.fileno())
        events.close()
