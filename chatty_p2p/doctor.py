"""``chatty doctor``: why can't I see my peer?

Each check names a cause in plain words and the fix for it, because "no peers
found" has a dozen causes and the user can see none of them: only a VPN is up;
the kernel cannot send mDNS on the interface; the local firewall drops mDNS or
Chatty's port; the other machine answers mDNS but its port is unreachable (its
firewall, or a Wi-Fi that keeps devices apart); a version too old to talk to;
a clock far off.

The doctor never starts a node and never advertises itself: it only browses and
resolves ``_chatty._tcp.local.`` with a zeroconf instance of its own (the
kernel shares UDP 5353 between it and a running daemon), and opens a bare TCP
connection to each advertised address, closed at once, no TLS. So it can run
beside a daemon or the window, and a face that already runs a node (the GUI)
can call :func:`diagnose` too.

What it knows about the multicast path comes from the Linux kernel, found by
experiment: Chatty sends mDNS with ``IP_MULTICAST_IF`` set, and for 224.0.0.x
that bypasses the routing table, so a missing route alone does not stop IPv4
mDNS. What does stop it is an interface that is down, a missing IPv6
``ff00::/8`` route, or no route back to the LAN while reverse-path filtering is
on (the default on systemd distributions): the other machines' answers are then
dropped on arrival. Those are what the checks look for.

The firewall check is a heuristic *reading* of ``nft list ruleset`` and
``iptables-save`` text, not a simulation of netfilter: it follows the input and
prerouting chains (jumps and gotos included) for one mDNS packet and one TCP
connection to Chatty's port, and reports the first rule that would drop them.
Rules that depend on things it cannot know (source addresses, marks, rates)
are reported as "may block" rather than guessed at. The parsers are pure
functions, so they are tested on sample rule text.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fnmatch
import ipaddress
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import ifaddr
from zeroconf import InterfaceChoice, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from chatty_p2p import __version__, netif
from chatty_p2p.discovery import SERVICE_TYPE, instance_name
from chatty_p2p.node import CLOCK_WARN, clock_advice, format_address
from chatty_p2p.protocol.session import MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, clean_name

Level = Literal["ok", "warn", "problem"]

MDNS_PORT = 5353
MDNS_V4 = "224.0.0.251"
MDNS_V6 = "ff02::fb"
CONNECT_TIMEOUT = 1.5
"""Seconds a TCP connect to a peer may take before its port counts as unreachable:
a LAN answers in milliseconds, and a firewall that drops never answers at all."""
RESOLVE_TIMEOUT_MS = 1500
COMMAND_TIMEOUT = 5.0

TOPICS: tuple[tuple[str, str], ...] = (
    ("chatty", "This Chatty"),
    ("interfaces", "Network interfaces"),
    ("multicast", "Multicast (mDNS)"),
    ("firewall", "Firewall on this machine"),
    ("peers", "Other Chatty devices"),
    ("clock", "Clocks"),
)
"""The order a face shows findings in, with a heading for each topic."""


@dataclass(frozen=True)
class Finding:
    """One thing the doctor found: ``fix`` may hold several alternatives, one a line."""

    level: Level
    title: str
    detail: str = ""
    fix: str = ""
    topic: str = "chatty"

    def to_dict(self) -> dict[str, str]:
        return {
            "level": self.level,
            "topic": self.topic,
            "title": self.title,
            "detail": self.detail,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class SeenPeer:
    """A Chatty that answered mDNS during the live look, and what its port did."""

    name: str
    device_id: str
    addresses: tuple[str, ...]
    port: int
    protocol: str
    app: str
    outcome: str
    """``reachable``, ``refused``, ``timeout`` or ``unreachable``."""
    reached: str | None = None
    """The ``host:port`` a TCP connection succeeded to, if any."""
    attempts: tuple[tuple[str, str], ...] = ()
    """``(address, outcome)`` for every address tried."""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.device_id[:8]})" if self.name else self.device_id[:8]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id": self.device_id,
            "addresses": list(self.addresses),
            "port": self.port,
            "protocol": self.protocol,
            "app": self.app,
            "outcome": self.outcome,
            "reached": self.reached,
            "attempts": {address: outcome for address, outcome in self.attempts},
        }


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    peers: list[SeenPeer] = field(default_factory=list)
    port: int | None = None

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "problem"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warn"]

    def by_topic(self) -> list[tuple[str, list[Finding]]]:
        """``(heading, findings)`` in :data:`TOPICS` order, empty topics left out."""
        groups = []
        for topic, heading in TOPICS:
            found = [f for f in self.findings if f.topic == topic]
            if found:
                groups.append((heading, found))
        known = {t for t, _ in TOPICS}
        other = [f for f in self.findings if f.topic not in known]
        if other:
            groups.append(("Other", other))
        return groups

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.problems,
            "port": self.port,
            "findings": [f.to_dict() for f in self.findings],
            "peers": [p.to_dict() for p in self.peers],
        }


# ----- a. interfaces -----------------------------------------------------------------


def link_down(name: str) -> bool:
    """Whether the kernel says the link is down (switched off or no carrier).

    An interface keeps its IPv4 address when the cable is pulled or the radio
    switched off, so "has an address" alone is not "connected".
    """
    base = Path("/sys/class/net") / name
    try:
        flags = int((base / "flags").read_text(), 16)
        if not flags & netif.IFF_UP:
            return True
    except (OSError, ValueError):
        return False
    try:
        state = (base / "operstate").read_text().strip()
    except OSError:
        return False
    return state in ("down", "lowerlayerdown", "notpresent")


def _describe(interface: netif.Interface) -> str:
    shown = ", ".join(a.split("%")[0] for a in interface.addresses[:3])
    more = f" (+{len(interface.addresses) - 3})" if len(interface.addresses) > 3 else ""
    return f"{interface.name} ({interface.kind}) {shown}{more}"


def interface_findings(
    interfaces: list[netif.Interface], down: Iterable[str] = ()
) -> list[Finding]:
    """What the interfaces with addresses say: is there a LAN to find peers on?

    ``down`` names the interfaces whose link is down (see :func:`link_down`); a
    pure function of its arguments so it can be tested on made-up interfaces.
    """
    off = set(down)
    up = [i for i in interfaces if i.name not in off]
    by_kind = {kind: [i for i in up if i.kind == kind] for kind in (netif.LAN, netif.VPN)}
    virtual = [i for i in up if i.kind in (netif.VPN, netif.CONTAINER)]
    dead = [i for i in interfaces if i.name in off and i.kind != netif.LOOPBACK]
    note = f" Down: {', '.join(i.name for i in dead)}." if dead else ""
    if by_kind[netif.LAN]:
        others = [i for i in up if i.kind in (netif.VPN, netif.CONTAINER)]
        extra = f" Also up: {'; '.join(_describe(i) for i in others)}." if others else ""
        return [
            Finding(
                "ok",
                f"Connected to a local network: {', '.join(i.name for i in by_kind[netif.LAN])}",
                "; ".join(_describe(i) for i in by_kind[netif.LAN]) + "." + extra + note,
                topic="interfaces",
            )
        ]
    if virtual:
        vpn_words = (
            " A VPN carries traffic to its own network; peers on the desk next to you "
            "are not on it, and mDNS rarely crosses one."
            if by_kind[netif.VPN]
            else ""
        )
        return [
            Finding(
                "problem",
                "Only a VPN/virtual interface is up",
                f"No Wi-Fi or Ethernet interface has an address, only: "
                f"{'; '.join(_describe(i) for i in virtual)}.{vpn_words}{note}",
                "Connect to Wi-Fi/Ethernet, or add the peer by address: chatty add HOST:PORT",
                topic="interfaces",
            )
        ]
    return [
        Finding(
            "problem",
            "No network interface is up with an address",
            "Only loopback is up: Chatty can reach another Chatty on this machine, "
            f"nothing else.{note}",
            "Connect to Wi-Fi or Ethernet (and check it got an address).",
            topic="interfaces",
        )
    ]


# ----- b. the multicast path ------------------------------------------------------------


def _v4_prefixes() -> dict[str, list[ipaddress.IPv4Interface]]:
    """IPv4 address/prefix per interface name; netif keeps no prefixes."""
    found: dict[str, list[ipaddress.IPv4Interface]] = {}
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                with contextlib.suppress(ValueError):
                    iface = ipaddress.IPv4Interface(f"{ip.ip}/{ip.network_prefix}")
                    found.setdefault(str(adapter.nice_name), []).append(iface)
    return found


def _connect_error(
    family: int, setup: Callable[[socket.socket], None], target: tuple[Any, ...]
) -> str | None:
    """Whether the kernel has a route for ``target``: a UDP connect sends nothing."""
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            setup(s)
            s.connect(target)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def multicast_error(interface: netif.Interface, version: int) -> str | None:
    """Why mDNS cannot leave ``interface`` the way zeroconf sends it, or ``None``."""
    if version == 4:
        address = next((a for a in interface.addresses if ":" not in a), None)
        if address is None:
            return None
        packed = socket.inet_aton(address)
        return _connect_error(
            socket.AF_INET,
            lambda s: s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, packed),
            (MDNS_V4, MDNS_PORT),
        )
    if not any(":" in a for a in interface.addresses) or not interface.index:
        return None
    index = interface.index
    return _connect_error(
        socket.AF_INET6,
        lambda s: s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index),
        (MDNS_V6, MDNS_PORT, 0, index),
    )


def _rp_filter(name: str) -> int:
    """The reverse-path filter mode for ``name``: the kernel uses max(all, name)."""
    modes = []
    for where in ("all", name):
        try:
            modes.append(int(Path(f"/proc/sys/net/ipv4/conf/{where}/rp_filter").read_text()))
        except (OSError, ValueError):
            modes.append(0)
    return max(modes)


def _neighbour(net: ipaddress.IPv4Interface) -> str | None:
    """Another address on the interface's own network, to ask the kernel for a route."""
    if net.network.prefixlen >= 31:
        return None
    for candidate in (net.network.network_address + 1, net.network.network_address + 2):
        if candidate != net.ip:
            return str(candidate)
    return None


def multicast_findings(chosen: list[netif.Interface]) -> list[Finding]:
    """Can mDNS leave on each chosen interface, and can answers come back?"""
    findings: list[Finding] = []
    checked = [i for i in chosen if i.kind != netif.LOOPBACK]
    if not checked:
        return findings
    failures: dict[tuple[str, int], str] = {}
    tried = 0
    for interface in checked:
        for version in (4, 6):
            if not any((":" in a) == (version == 6) for a in interface.addresses):
                continue
            tried += 1
            error = multicast_error(interface, version)
            if error is not None:
                failures[(interface.name, version)] = error
    for (name, version), error in failures.items():
        group = MDNS_V4 if version == 4 else MDNS_V6
        route = (
            f"ip route add 224.0.0.0/4 dev {name}"
            if version == 4
            else f"ip -6 route add multicast ff00::/8 dev {name} table local"
        )
        whole = len(failures) == tried
        down = link_down(name)
        other = "IPv6" if version == 4 else "IPv4"
        findings.append(
            Finding(
                "problem" if whole else "warn",
                "No multicast route: mDNS cannot leave this machine"
                if whole
                else f"No IPv{version} multicast route on {name}: mDNS works over {other} only",
                f"Sending to {group} port {MDNS_PORT} on {name} fails: {error}."
                + (" The link is down." if down else ""),
                (
                    f"Bring {name} up (ip link set {name} up) or reconnect to the network;\n"
                    if down
                    else f"Reconnect to the network, or add the route: {route};\n"
                )
                + "or add peers by address: chatty add HOST:PORT",
                topic="multicast",
            )
        )
    findings += _route_back_findings(checked)
    for interface in checked:
        if not interface.multicast and not link_down(interface.name):
            findings.append(
                Finding(
                    "problem",
                    f"Multicast is switched off on {interface.name}",
                    f"The kernel marks {interface.name} as unable to multicast (flag MULTICAST "
                    "off): its network card may drop the mDNS packets other machines send.",
                    f"ip link set {interface.name} multicast on",
                    topic="multicast",
                )
            )
    if not findings:
        names = ", ".join(i.name for i in checked)
        findings.append(
            Finding("ok", f"mDNS can be sent and answered on {names}", topic="multicast")
        )
    return findings


def _route_back_findings(checked: list[netif.Interface]) -> list[Finding]:
    """A LAN without a route back: TCP to peers fails, and with reverse-path filtering
    on the peers' mDNS answers are dropped on arrival (found in the lab: deleting the
    subnet route hides every peer when rp_filter is 1 or 2, not when it is 0)."""
    findings: list[Finding] = []
    prefixes = _v4_prefixes()
    global_error = _connect_error(socket.AF_INET, lambda s: None, (MDNS_V4, MDNS_PORT))
    for interface in checked:
        if link_down(interface.name):  # its routes went with the link: said already
            continue
        for net in prefixes.get(interface.name, []):
            other = _neighbour(net)
            if other is None or str(net.ip) not in interface.addresses:
                continue
            error = _connect_error(socket.AF_INET, lambda s: None, (other, 9))
            if error is None:
                continue
            mode = _rp_filter(interface.name)
            nor = " (nor a default route or one for 224.0.0.0/4)" if global_error else ""
            multicast = (
                "No multicast route, and no route to the local network"
                if global_error is not None
                else "No route to the local network"
            )
            dropped = (
                f" Reverse-path filtering is on (rp_filter={mode}), so the kernel drops "
                "packets from addresses it has no route back to: the other machines' mDNS "
                "answers never arrive, and no peer is found."
                if mode
                else ""
            )
            findings.append(
                Finding(
                    "problem",
                    f"{multicast} on {interface.name} ({net.network})",
                    f"The routing table has no route to {net.network}, {interface.name}'s own "
                    f"network{nor}: "
                    f"connections to peers there cannot leave.{dropped}",
                    "Reconnect to the network (that restores its routes), or add the route: "
                    f"ip route add {net.network} dev {interface.name}",
                    topic="multicast",
                )
            )
            break
    return findings


# ----- c. the local firewall -------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """A packet the firewall is asked about: one for mDNS, one for Chatty's port."""

    proto: str
    port: int
    family: int

    @property
    def mdns(self) -> bool:
        return self.proto == "udp" and self.port == MDNS_PORT

    @property
    def label(self) -> str:
        return (
            f"mDNS (UDP {self.port})"
            if self.mdns
            else f"Chatty's port ({self.proto.upper()} {self.port})"
        )


@dataclass
class Rule:
    text: str
    protos: set[str] | None = None
    families: set[int] | None = None
    dports: list[tuple[int, int]] | None = None
    dport_negated: bool = False
    ifaces: tuple[list[str], bool] | None = None
    limits: list[str] = field(default_factory=list)
    never: bool = False
    """Matches no new packet from the network (``ct state established``, ``iif lo``)."""
    verdict: str | None = None
    target: str | None = None
    handle: int | None = None


@dataclass
class Chain:
    tool: str
    """``nft``, ``iptables`` or ``ip6tables``."""
    family: str
    table: str
    name: str
    hook: str | None = None
    policy: str | None = None
    rules: list[Rule] = field(default_factory=list)

    @property
    def families(self) -> set[int]:
        return {"ip": {4}, "ip6": {6}, "inet": {4, 6}}.get(self.family, set())

    @property
    def where(self) -> str:
        if self.tool == "nft":
            return f"nftables table {self.family} {self.table}, chain {self.name}"
        return f"{self.tool} table {self.table}, chain {self.name}"


_SERVICES = {"mdns": 5353, "ssh": 22, "http": 80, "https": 443, "domain": 53}
_PROTOCOLS = {"6": "tcp", "17": "udp", "tcp": "tcp", "udp": "udp"}
_HEADS = {
    "tcp", "udp", "th", "meta", "ip", "ip6", "ct", "iif", "iifname", "oif", "oifname",
    "counter", "log", "limit", "comment", "accept", "drop", "reject", "jump", "goto",
    "return", "continue", "queue", "icmp", "icmpv6", "fib", "ether", "sctp", "dccp",
    "udplite", "mark", "notrack", "meter", "quota",
}  # fmt: skip
_OLD_STATES = {"established", "related", "invalid"}


def _ports(values: list[str]) -> list[tuple[int, int]] | None:
    """``4000``, ``5000-6000`` (nft), ``5000:6000`` (iptables), ``mdns``; ``None`` if any
    part is unknown (a named set we could not find, a service name)."""
    spans = []
    for value in values:
        text = value.strip()
        if text.startswith(("<", ">")):
            op = text[:2] if text[1:2] == "=" else text[:1]
            bound = _port(text[len(op) :])
            if bound is None:
                return None
            spans.append(
                {"<": (0, bound - 1), "<=": (0, bound), ">": (bound + 1, 65535)}.get(
                    op, (bound, 65535)
                )
            )
            continue
        low, sep, high = text.replace(":", "-").partition("-")
        a, b = _port(low), _port(high) if sep else _port(low)
        if a is None or b is None:
            return None
        spans.append((a, b))
    return spans


def _port(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text in _SERVICES:
        return _SERVICES[text]
    try:
        return socket.getservbyname(text)
    except OSError:
        return None


def _restrict(current: set[str] | None, values: list[str], negated: bool) -> set[str]:
    wanted = {_PROTOCOLS.get(v, "other") for v in values}
    if negated:
        wanted = {"tcp", "udp", "other"} - wanted
    return wanted if current is None else current & wanted


def _states(rule: Rule, values: list[str], negated: bool) -> None:
    """``ct state`` / ``--ctstate``: a rule for established or invalid packets says
    nothing about a new connection, so it is left out of the walk."""
    states = {v.lower() for v in values}
    if negated:
        rule.never = rule.never or "new" in states
    elif states <= _OLD_STATES:
        rule.never = True


# nft ---------------------------------------------------------------------------------------

_NFT_TOKEN = r'"[^"]*"|[{},]|[^\s{},]+'


def _nft_tokens(text: str) -> list[str]:
    return re.findall(_NFT_TOKEN, text)


def _nft_value(tokens: list[str], i: int) -> tuple[list[str], bool, int]:
    """The value after a match's field: ``!= x``, ``{ a, b }``, ``a,b`` or ``< 1024``."""
    negated = False
    if i < len(tokens) and tokens[i] in ("!=", "ne"):
        negated, i = True, i + 1
    elif i < len(tokens) and tokens[i] in ("==", "eq"):
        i += 1
    prefix = ""
    if i < len(tokens) and tokens[i] in ("<", ">", "<=", ">=", "lt", "gt", "le", "ge"):
        prefix = {"lt": "<", "gt": ">", "le": "<=", "ge": ">="}.get(tokens[i], tokens[i])
        i += 1
    values: list[str] = []
    if i < len(tokens) and tokens[i] == "{":
        i += 1
        while i < len(tokens) and tokens[i] != "}":
            if tokens[i] != ",":
                values.append(tokens[i].strip('"'))
            i += 1
        return values, negated, i + 1
    if i < len(tokens):
        values.append(prefix + tokens[i].strip('"'))
        i += 1
        while i + 1 < len(tokens) and tokens[i] == ",":
            values.append(tokens[i + 1].strip('"'))
            i += 2
    return values, negated, i


def _past_set(tokens: list[str], i: int) -> int:
    """Past the ``{ … }`` at ``i`` (a verdict map's elements hold verdict words)."""
    if i < len(tokens) and tokens[i] == "{":
        while i < len(tokens) and tokens[i] != "}":
            i += 1
        return i + 1
    return i


def _skip_to_head(tokens: list[str], i: int) -> int:
    while i < len(tokens) and tokens[i] not in _HEADS:
        i += 1
    return i


def parse_nft_rule(text: str, sets: dict[str, list[str]] | None = None) -> Rule:
    """One rule line of ``nft list ruleset`` (with or without ``# handle N``)."""
    body, _, handle = text.partition("# handle ")
    rule = Rule(text=body.strip())
    if handle.strip().isdigit():
        rule.handle = int(handle.strip())
    tokens = _nft_tokens(body)
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if i + 2 < len(tokens) and tokens[i + 2] == "set":  # a statement: meta mark set 1
            i += 4
            continue
        if tok in ("tcp", "udp", "th") and nxt in ("dport", "sport"):
            rule.protos = _restrict(rule.protos, ["tcp", "udp"] if tok == "th" else [tok], False)
            values, negated, i = _nft_value(tokens, i + 2)
            if nxt == "sport":
                rule.limits.append(f"{tok} sport {' '.join(values)}")
                continue
            if values and values[0] == "vmap":  # a verdict map: too rich for this reading
                rule.limits.append(f"{tok} dport vmap")
                i = _past_set(tokens, i)
                continue
            if len(values) == 1 and values[0].startswith("@") and sets is not None:
                values = sets.get(values[0][1:], [values[0]])
            ports = _ports(values)
            if ports is None:
                rule.limits.append(f"{tok} dport {' '.join(values)}")
            else:
                rule.dports, rule.dport_negated = ports, negated
        elif tok in ("tcp", "udp", "th", "sctp", "dccp", "udplite", "icmp", "icmpv6"):
            proto = {"th": "tcp", "tcp": "tcp", "udp": "udp"}.get(tok, "other")
            rule.protos = _restrict(rule.protos, [proto] if tok != "th" else ["tcp", "udp"], False)
            i = _skip_to_head(tokens, i + 1)
        elif tok == "meta" and nxt in ("l4proto", "protocol", "nfproto", "iifname", "iif"):
            values, negated, i = _nft_value(tokens, i + 2)
            _nft_match(rule, nxt, values, negated)
        elif tok in ("ip", "ip6") and nxt in ("protocol", "nexthdr"):
            values, negated, i = _nft_value(tokens, i + 2)
            rule.families = {4 if tok == "ip" else 6}
            rule.protos = _restrict(rule.protos, values, negated)
        elif tok in ("ip", "ip6") and nxt == "daddr":
            values, negated, i = _nft_value(tokens, i + 2)
            rule.families = {4 if tok == "ip" else 6}
        elif tok in ("ip", "ip6", "ether"):
            values, negated, i = _nft_value(tokens, i + 2)
            if tok != "ether":
                rule.families = {4 if tok == "ip" else 6}
            rule.limits.append(f"{tok} {nxt} {'!= ' if negated else ''}{' '.join(values)}")
        elif tok == "ct" and nxt == "state":
            values, negated, i = _nft_value(tokens, i + 2)
            if values and values[0] == "vmap":
                rule.never = True  # ct state vmap { established : accept, invalid : drop }
                i = _past_set(tokens, i)
            else:
                _states(rule, values, negated)
        elif tok == "ct" and nxt == "status":
            _, _, i = _nft_value(tokens, i + 2)
            rule.never = True  # dnat/snat: NATed flows, not a new packet to this machine
        elif tok in ("iifname", "iif"):
            values, negated, i = _nft_value(tokens, i + 1)
            _nft_match(rule, tok, values, negated)
        elif tok in ("oifname", "oif"):
            _, _, i = _nft_value(tokens, i + 1)
        elif tok == "meta" and nxt == "pkttype":
            _, _, i = _nft_value(tokens, i + 2)
        elif tok in ("counter", "log", "comment", "notrack"):
            i = _skip_to_head(tokens, i + 1) if tok != "comment" else i + 2
        elif tok in ("accept", "drop", "return", "continue"):
            rule.verdict, i = tok, i + 1
        elif tok == "reject":  # reject [with icmp type port-unreachable | with tcp reset]
            rule.verdict, i = "reject", i + 1
            while i < len(tokens) and tokens[i] != "comment":
                i += 1
        elif tok in ("jump", "goto"):
            rule.verdict, rule.target, i = tok, nxt, i + 2
        else:  # limit rate, fib, meta mark, ct mark, queue, …: a condition we do not judge
            end = _skip_to_head(tokens, i + 1)
            rule.limits.append(" ".join(tokens[i:end]) or tok)
            i = max(end, i + 1)
    return rule


def _nft_match(rule: Rule, key: str, values: list[str], negated: bool) -> None:
    if key in ("l4proto", "protocol"):
        rule.protos = _restrict(rule.protos, values, negated)
    elif key == "nfproto":
        wanted = {4 if v == "ipv4" else 6 for v in values if v in ("ipv4", "ipv6")}
        rule.families = ({4, 6} - wanted) if negated else wanted
    else:
        _iface(rule, values, negated)


def _iface(rule: Rule, values: list[str], negated: bool) -> None:
    if not negated and values and all(v in ("lo", "lo0") for v in values):
        rule.never = True  # loopback traffic: not a packet from another machine
    else:
        rule.ifaces = (values, negated)


def parse_nft(text: str) -> list[Chain]:
    """The filter chains of ``nft list ruleset`` (``-a`` output too).

    Tables that ``iptables-nft`` manages (nft prints a warning about each) are
    marked with tool ``iptables-nft`` so a caller that also reads
    ``iptables-save`` can skip them.
    """
    managed = set(re.findall(r"table (\w+ \S+) is managed by iptables-nft", text))
    chains: list[Chain] = []
    family = table = ""
    chain: Chain | None = None
    set_name: str | None = None
    set_text: list[str] = []
    sets: dict[str, list[str]] = {}
    pending: list[tuple[Chain, str]] = []
    for raw in text.splitlines():
        line = re.sub(r"\s*# handle \d+\s*$", "", raw).strip()
        if not line or line.startswith("#"):
            continue
        if set_name is not None:
            if line == "}":
                joined = " ".join(set_text)
                found = re.search(r"elements\s*=\s*\{(.*)\}", joined)
                sets[f"{family} {table} {set_name}"] = (
                    [v.strip() for v in found.group(1).split(",") if v.strip()] if found else []
                )
                set_name = None
            else:
                set_text.append(line)
            continue
        head = line.split()
        if head[0] == "table" and len(head) >= 3:
            family, table = head[1], head[2]
            continue
        if head[0] in ("set", "map") and line.endswith("{") and chain is None:
            set_name, set_text = head[1], []
            continue
        if head[0] == "chain" and line.endswith("{"):
            tool = "iptables-nft" if f"{family} {table}" in managed else "nft"
            chain = Chain(tool, family, table, head[1])
            chains.append(chain)
            continue
        if line == "}":
            chain = None
            continue
        if chain is None:
            continue
        if line.startswith("type "):
            found = re.search(r"type (\w+) hook (\w+)", line)
            policy = re.search(r"policy (\w+)", line)
            if found and found.group(1) == "filter":
                chain.hook = found.group(2)
            chain.policy = policy.group(1) if policy else "accept"
            continue
        pending.append((chain, raw.strip()))
    for owner, line in pending:  # after every set is known: a rule may name one (@set)
        prefix = f"{owner.family} {owner.table} "
        scoped = {k[len(prefix) :]: v for k, v in sets.items() if k.startswith(prefix)}
        owner.rules.append(parse_nft_rule(line, scoped))
    return chains


# iptables ------------------------------------------------------------------------------

_NON_TERMINAL = {
    "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT", "NOTRACK",
    "TCPMSS", "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "SET", "CHECKSUM", "CONNSECMARK",
    "SECMARK", "NFQUEUE", "QUEUE",
}  # fmt: skip
_BASE = {"filter": ("INPUT",), "raw": ("PREROUTING",), "mangle": ("PREROUTING", "INPUT")}


def parse_iptables_rule(text: str) -> tuple[str, Rule]:
    """One ``-A CHAIN ...`` line of ``iptables-save``: the chain's name and the rule."""
    args = shlex.split(text)
    if args and args[0].startswith("["):  # iptables-save -c: [packets:bytes]
        args = args[1:]
    name = args[1] if len(args) > 1 else ""
    rule = Rule(text=" ".join(shlex.quote(a) for a in args))
    i, negated = 2, False
    while i < len(args):
        opt = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        if opt == "!":
            negated, i = True, i + 1
            continue
        if opt in ("-p", "--protocol"):
            if value not in ("all", "0"):
                rule.protos = _restrict(rule.protos, [value.lower()], negated)
            i += 2
        elif opt in ("-m", "--match", "--comment", "-o", "--out-interface"):
            i += 2
        elif opt in ("--dport", "--destination-port", "--dports", "--destination-ports", "--ports"):
            ports = _ports(value.split(","))
            if ports is None:
                rule.limits.append(f"{opt} {value}")
            else:
                rule.dports, rule.dport_negated = ports, negated
            i += 2
        elif opt in ("--ctstate", "--state"):
            _states(rule, value.split(","), negated)
            i += 2
        elif opt in ("-i", "--in-interface"):
            _iface(rule, [value.replace("+", "*")], negated)
            i += 2
        elif opt in ("-d", "--destination", "--dst-type", "--pkt-type", "--dst-range"):
            i += 2
        elif opt in ("-j", "--jump", "-g", "--goto"):
            target = value
            i = len(args)  # what follows the target are its own options
            if target in ("ACCEPT", "DROP", "REJECT", "RETURN"):
                rule.verdict = {"RETURN": "return"}.get(target, target.lower())
            elif target not in _NON_TERMINAL:
                rule.verdict = "goto" if opt in ("-g", "--goto") else "jump"
                rule.target = target
        else:  # -s, --sport, -m set, -m limit, -m recent, …
            end = i + 1
            while end < len(args) and not args[end].startswith("-") and args[end] != "!":
                end += 1
            rule.limits.append(("! " if negated else "") + " ".join(args[i:end]))
            i = end
        negated = False
    return name, rule


def parse_iptables(text: str, tool: str = "iptables") -> list[Chain]:
    """The chains of ``iptables-save`` (or ``ip6tables-save`` with ``tool="ip6tables"``)."""
    chains: dict[tuple[str, str], Chain] = {}
    table = ""
    family = "ip6" if tool == "ip6tables" else "ip"
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            parts = line[1:].split()
            base = parts[0] in _BASE.get(table, ())
            chains[(table, parts[0])] = Chain(
                tool,
                family,
                table,
                parts[0],
                hook=parts[0].lower() if base else None,
                policy=parts[1].lower() if base and len(parts) > 1 else None,
            )
        elif line.startswith(("-A", "[")):
            name, rule = parse_iptables_rule(line)
            chain = chains.setdefault((table, name), Chain(tool, family, table, name))
            chain.rules.append(rule)
    return list(chains.values())


# the walk -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A rule (or a chain's policy, ``rule is None``) that drops a probe."""

    chain: Chain
    rule: Rule | None
    probe: Probe
    certain: bool
    unless: Rule | None = None
    """An earlier accept whose conditions we cannot judge; it may let the probe in."""


def _match(rule: Rule, probe: Probe, interfaces: list[str] | None) -> str:
    """``yes``, ``no`` or ``maybe`` (conditions this reading cannot judge)."""
    if rule.never:
        return "no"
    if rule.families is not None and probe.family not in rule.families:
        return "no"
    if rule.protos is not None and probe.proto not in rule.protos:
        return "no"
    if rule.dports is not None:
        inside = any(low <= probe.port <= high for low, high in rule.dports)
        if inside == rule.dport_negated:
            return "no"
    maybe = bool(rule.limits)
    if rule.ifaces is not None:
        values, negated = rule.ifaces
        if interfaces is None:
            maybe = True
        else:
            hit = any(fnmatch.fnmatchcase(n, v) for n in interfaces for v in values)
            if hit == negated:
                return "no"
    return "maybe" if maybe else "yes"


def _specific(rule: Rule) -> bool:
    """Whether a rule names this probe's port (not a ban on some address)."""
    return rule.dports is not None and not rule.dport_negated


def _walk(
    chain: Chain,
    probe: Probe,
    table: dict[str, Chain],
    interfaces: list[str] | None,
    found: list[Block],
    certain: bool,
    unless: list[Rule],
    depth: int = 0,
) -> str | None:
    """Follow ``chain`` for ``probe``: ``accept``, ``block`` or ``None`` (fell through)."""
    for rule in chain.rules:
        hit = _match(rule, probe, interfaces)
        if hit == "no":
            continue
        sure = certain and hit == "yes"
        if rule.verdict in ("jump", "goto") and rule.target in table and depth < 16:
            result = _walk(
                table[rule.target], probe, table, interfaces, found, sure, unless, depth + 1
            )
            if result is not None and sure:
                return result
            if rule.verdict == "goto" and sure:
                return None
        elif rule.verdict == "return" and sure:
            return None
        elif rule.verdict == "accept":
            if sure:
                return "accept"
            unless.append(rule)
        elif rule.verdict in ("drop", "reject"):
            if sure:
                first = unless[0] if unless else None
                found.append(Block(chain, rule, probe, certain=first is None, unless=first))
                return "block"
            if _specific(rule):
                found.append(Block(chain, rule, probe, certain=False))
    return None


def firewall_blocks(
    chains: list[Chain], probes: list[Probe], interfaces: list[str] | None = None
) -> list[Block]:
    """Every base chain's first rule (or policy) that would drop each probe."""
    found: list[Block] = []
    for base in chains:
        if base.hook not in ("input", "prerouting"):
            continue
        families = base.families
        table = {
            c.name: c
            for c in chains
            if (c.tool, c.family, c.table) == (base.tool, base.family, base.table)
        }
        for probe in probes:
            if probe.family not in families:
                continue
            unless: list[Rule] = []
            result = _walk(base, probe, table, interfaces, found, True, unless)
            if result is None and base.policy == "drop":
                first = unless[0] if unless else None
                found.append(Block(base, None, probe, certain=first is None, unless=first))
    return found


def _fix(block: Block, probes: list[Probe]) -> str:
    chain = block.chain
    lines = []
    if chain.tool == "nft":
        where = f"{chain.family} {chain.table} {chain.name}"
        if block.rule is not None:
            handle = block.rule.handle
            lines.append(
                f"nft delete rule {where} handle {handle}"
                if handle is not None
                else f"nft -a list chain {where} shows its handle N; then: "
                f"nft delete rule {where} handle N"
            )
        allow = [f"nft insert rule {where} {p.proto} dport {p.port} accept" for p in probes]
    else:
        t = "" if chain.table == "filter" else f" -t {chain.table}"
        if block.rule is not None:
            spec = block.rule.text.split(" ", 2)[2] if block.rule.text.count(" ") >= 2 else ""
            lines.append(f"{chain.tool}{t} -D {chain.name} {spec}")
        allow = [
            f"{chain.tool}{t} -I {chain.name} -p {p.proto} --dport {p.port} -j ACCEPT"
            for p in probes
        ]
    lines.append(
        ("or allow Chatty ahead of it: " if lines else "allow Chatty: ") + "; ".join(allow)
    )
    return "\n".join(lines)


def firewall_findings(
    chains: list[Chain], port: int | None, interfaces: list[str] | None = None
) -> list[Finding]:
    """Findings for the rules that drop mDNS or Chatty's port, grouped by rule."""
    probes = [Probe("udp", MDNS_PORT, f) for f in (4, 6)]
    if port:
        probes += [Probe("tcp", port, f) for f in (4, 6)]
    grouped: dict[tuple[int, int], list[Block]] = {}
    for block in firewall_blocks(chains, probes, interfaces):
        grouped.setdefault((id(block.chain), id(block.rule)), []).append(block)
    findings = []
    managers = _managers(chains)
    for blocks in grouped.values():
        first = blocks[0]
        kinds: list[Probe] = []
        for b in blocks:
            if all((k.proto, k.port) != (b.probe.proto, b.probe.port) for k in kinds):
                kinds.append(b.probe)
        families = sorted({b.probe.family for b in blocks})
        what = " and ".join(k.label for k in kinds)
        certain = all(b.certain for b in blocks)
        verb = "rejects" if first.rule is not None and first.rule.verdict == "reject" else "drops"
        if first.rule is None:
            title = f"The firewall here {verb} {what} by default (policy drop)"
            rule = f"{first.chain.where}: policy drop, and no rule accepts them"
        else:
            title = f"The firewall here {verb} {what}"
            rule = f'{first.chain.where}: "{first.rule.text}"'
        if not certain:
            title = title.replace(f"here {verb}", f"here may {verb[:-1]}")
        effects = []
        if any(k.mdns for k in kinds):
            effects.append(
                "this machine does not hear the other machines' mDNS answers, so it finds "
                "no one (and may not be found)"
            )
        if any(not k.mdns for k in kinds):
            effects.append("other machines see this one on mDNS but cannot connect to its port")
        unless = next((b.unless for b in blocks if b.unless is not None), None)
        condition = f' Unless an earlier rule lets them in: "{unless.text}".' if unless else ""
        if first.rule is not None and first.rule.limits and not certain:
            condition += f" The rule applies only when: {'; '.join(first.rule.limits)}."
        fix = _fix(first, kinds)
        if managers:
            fix += "\n" + managers(kinds)
        if port and first.rule is None:
            fix += f"\nChatty picks a new port each start unless fixed: chatty daemon --port {port}"
        findings.append(
            Finding(
                "problem" if certain else "warn",
                title,
                f"{rule} ({' and '.join(f'IPv{f}' for f in families)}): "
                + "; ".join(effects)
                + "."
                + condition,
                fix,
                topic="firewall",
            )
        )
    return findings


def _managers(chains: list[Chain]) -> Callable[[list[Probe]], str] | None:
    """A tool's own words when ufw or firewalld writes the rules (they rewrite them)."""
    names = {c.name for c in chains} | {c.table for c in chains}
    if any(n.startswith("ufw") for n in names):
        return lambda probes: (
            "with ufw: " + " && ".join(f"ufw allow {p.port}/{p.proto}" for p in probes)
        )
    if "firewalld" in names:
        return lambda probes: (
            "with firewalld: firewall-cmd "
            + " ".join(
                "--add-service=mdns" if p.mdns else f"--add-port={p.port}/{p.proto}" for p in probes
            )
        )
    return None


def check_firewall(
    nft: str | None,
    iptables: str | None,
    ip6tables: str | None,
    port: int | None,
    interfaces: list[str] | None = None,
) -> list[Finding]:
    """Findings from the text of ``nft -a list ruleset``, ``iptables-save`` and
    ``ip6tables-save`` (``None`` for what could not be read). Pure: text in, findings out.

    Tables that iptables-nft made show up in both nft's and iptables' output; they
    are read once, from iptables' (whose commands then fix them).
    """
    chains: list[Chain] = []
    save_tables: set[str] = set()
    for text, tool in ((iptables, "iptables"), (ip6tables, "ip6tables")):
        if text:
            parsed = parse_iptables(text, tool)
            chains += parsed
            if "nf_tables" in text:
                save_tables |= {f"{c.family} {c.table}" for c in parsed}
    if nft:
        for chain in parse_nft(nft):
            both = chain.tool == "iptables-nft" or f"{chain.family} {chain.table}" in save_tables
            if both and (iptables or ip6tables):
                continue
            chain.tool = "nft"
            chains.append(chain)
    found = firewall_findings(chains, port, interfaces)
    if not found:
        bases = sum(1 for c in chains if c.hook in ("input", "prerouting"))
        what = "mDNS (UDP 5353)" + (f" or Chatty's port (TCP {port})" if port else "")
        found.append(
            Finding(
                "ok",
                f"No firewall rule here blocks {what}",
                (
                    f"Read from the rules ({bases} input/prerouting chain"
                    f"{'' if bases == 1 else 's'}): a reading of the rule text, not a test, so "
                    "an unusual setup may still block."
                )
                if bases
                else "There are no firewall rules here.",
                topic="firewall",
            )
        )
    return found


def _run(command: list[str]) -> tuple[str | None, str | None]:
    """``(output, None)`` or ``(None, why not)``; ``(None, None)`` if not installed."""
    if shutil.which(command[0]) is None:
        return None, None
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{command[0]}: {exc}"
    if done.returncode != 0:
        return None, f"{command[0]}: {(done.stderr or done.stdout).strip()[:200]}"
    return done.stdout + done.stderr, None  # nft warns about iptables-nft tables on stderr


def read_firewall(port: int | None, interfaces: list[str] | None) -> list[Finding]:
    """Run the rule listings (only those installed; unprivileged, they just fail)."""
    if not sys.platform.startswith("linux"):
        return []
    nft, nft_error = _run(["nft", "-a", "list", "ruleset"])
    ipt, ipt_error = _run(["iptables-save"])
    ip6t, ip6t_error = _run(["ip6tables-save"])
    errors = [e for e in (nft_error, ipt_error, ip6t_error) if e]
    if nft is None and ipt is None and ip6t is None:
        if not errors:
            return [Finding("ok", "No firewall tools (nft, iptables) found", topic="firewall")]
        return [
            Finding(
                "warn",
                "Could not read the firewall rules",
                "; ".join(errors),
                "Run it as root to include them: sudo chatty doctor",
                topic="firewall",
            )
        ]
    return check_firewall(nft, ipt, ip6t, port, interfaces)


# ----- d. the live look --------------------------------------------------------------------


@dataclass
class _Advert:
    name: str
    device_id: str
    addresses: list[str]
    port: int
    protocol: str
    app: str


def _socket_picks(chosen: list[netif.Interface]) -> list[str]:
    """One address per family and interface, as discovery joins the group."""
    picks = []
    for interface in chosen:
        for version in (4, 6):
            first = next((a for a in interface.addresses if (":" in a) == (version == 6)), None)
            if first is not None:
                picks.append(first)
    return picks


async def browse(
    chosen: list[netif.Interface], seconds: float, own_id: str | None = None
) -> list[_Advert]:
    """Every Chatty that answers mDNS within ``seconds``; registers nothing."""
    aiozc = AsyncZeroconf(interfaces=_socket_picks(chosen) or InterfaceChoice.All)
    names: set[str] = set()
    tasks: list[asyncio.Task[_Advert | None]] = []

    async def resolve(name: str) -> _Advert | None:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        if not await info.async_request(aiozc.zeroconf, RESOLVE_TIMEOUT_MS):
            return None
        props = {
            k.decode(errors="replace"): (v or b"").decode(errors="replace")
            for k, v in info.properties.items()
        }
        device_id = props.get("id", "")
        if name != instance_name(device_id) or not info.port or device_id == own_id:
            return None
        return _Advert(
            clean_name(props.get("name", "")),
            device_id,
            list(info.parsed_scoped_addresses()),
            info.port,
            props.get("v", ""),
            props.get("app", ""),
        )

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is not ServiceStateChange.Removed and name not in names:
            names.add(name)
            tasks.append(asyncio.get_running_loop().create_task(resolve(name)))

    browser = AsyncServiceBrowser(aiozc.zeroconf, SERVICE_TYPE, handlers=[on_change])
    try:
        await asyncio.sleep(seconds)
        await browser.async_cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for task in tasks:
            task.cancel()
        await aiozc.async_close()
    return [r for r in results if isinstance(r, _Advert)]


async def _connect(host: str, port: int) -> str:
    """``reachable``, ``refused``, ``timeout`` or ``unreachable`` for one address."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
    except TimeoutError:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as exc:
        return "timeout" if exc.errno == errno.ETIMEDOUT else "unreachable"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return "reachable"


def _dialable(addresses: list[str], chosen: list[netif.Interface]) -> list[str]:
    """Addresses a connect can use: an unscoped link-local one gets a chosen interface."""
    out = []
    scopes = [i.name for i in chosen if any(a.startswith("fe80:") for a in i.addresses)]
    for address in addresses:
        if address.startswith("fe80:") and "%" not in address:
            if not scopes:
                continue
            address = f"{address}%{scopes[0]}"
        out.append(address)
    return out


async def reach(advert: _Advert, chosen: list[netif.Interface]) -> SeenPeer:
    hosts = _dialable(advert.addresses, chosen)
    outcomes = await asyncio.gather(*(_connect(h, advert.port) for h in hosts))
    reached = next((h for h, o in zip(hosts, outcomes, strict=True) if o == "reachable"), None)
    outcome = next((v for v in ("reachable", "refused", "timeout") if v in outcomes), "unreachable")
    return SeenPeer(
        advert.name,
        advert.device_id,
        tuple(advert.addresses),
        advert.port,
        advert.protocol,
        advert.app,
        outcome,
        format_address(reached.split("%")[0], advert.port) if reached else None,
        tuple(zip(hosts, outcomes, strict=True)),
    )


_WORDS = {"refused": "refused", "timeout": "no answer", "unreachable": "no route"}


def peer_findings(peer: SeenPeer, connected: bool = False) -> list[Finding]:
    """Version and reachability of one peer that answered mDNS; ``connected`` says the
    running Chatty has a session with it anyway (one the peer opened)."""
    findings = []
    who = peer.label
    try:
        version: int | None = int(peer.protocol)
    except ValueError:
        version = None
    app = f" (Chatty {peer.app})" if peer.app else ""
    if version is None:
        findings.append(
            Finding(
                "warn",
                f"{who} does not say which protocol it speaks",
                f"Its mDNS record has no protocol version{app}: a very old or broken Chatty.",
                f"Update Chatty on {peer.name or who}.",
                topic="peers",
            )
        )
    elif version < MIN_PROTOCOL_VERSION:
        findings.append(
            Finding(
                "problem",
                f"Version mismatch: update Chatty on {peer.name or who}",
                f"{who} speaks protocol {version}{app}; this Chatty ({__version__}) needs "
                f"{MIN_PROTOCOL_VERSION} to {PROTOCOL_VERSION}.",
                f"Update Chatty on {peer.name or who}.",
                topic="peers",
            )
        )
    elif version > PROTOCOL_VERSION:
        findings.append(
            Finding(
                "warn",
                f"Version mismatch: {who} runs a newer Chatty",
                f"{who} speaks protocol {version}{app}; this one ({__version__}) speaks up to "
                f"{PROTOCOL_VERSION}. They talk only if {who} still accepts the older one.",
                "Update Chatty here if they cannot talk.",
                topic="peers",
            )
        )
    shown = ", ".join(peer.addresses[:3]) or "no address"
    if peer.outcome == "reachable":
        failed = [f"{a} ({_WORDS[o]})" for a, o in peer.attempts if o != "reachable"]
        findings.append(
            Finding(
                "ok",
                f"{who} is reachable at {peer.reached}",
                f"Not at: {', '.join(failed)}." if failed else "",
                topic="peers",
            )
        )
    elif peer.outcome == "refused":
        findings.append(
            Finding(
                "problem",
                f"{who} answers mDNS but nothing listens on its port {peer.port}",
                f"Connections to {shown} port {peer.port} are refused: Chatty there has "
                f"stopped or is restarting, or a firewall on {peer.name or who} rejects them.",
                f"Restart Chatty on {peer.name or who}; if it runs, run chatty doctor there.",
                topic="peers",
            )
        )
    elif peer.outcome == "timeout":
        findings.append(
            Finding(
                "problem",
                f"{who} answers mDNS but its port {peer.port} is unreachable from here",
                f"Connections to {shown} port {peer.port} get no answer at all: a firewall on "
                f"{peer.name or who} drops them, or the Wi-Fi isolates devices from each other "
                "(AP/client isolation, common on guest and office networks) while letting "
                "multicast through.",
                f"Run chatty doctor on {peer.name or who} to check its firewall;\n"
                "turn off AP/client isolation on the router, or use a network without it;\n"
                "if only one direction is blocked, add this machine from there by address "
                "(chatty add HOST:PORT)",
                topic="peers",
            )
        )
    else:
        findings.append(
            Finding(
                "problem",
                f"{who} answers mDNS but none of its addresses can be reached",
                f"No route from here to {shown}: it advertises addresses of another network "
                "(a VPN or a container, say).",
                f"Connect both to the same network, or add it by an address that works: "
                f"chatty add HOST:{peer.port}",
                topic="peers",
            )
        )
    if connected and peer.outcome != "reachable":
        last = findings[-1]
        findings[-1] = replace(
            last,
            detail=f"{last.detail} Chatty here is connected to it anyway, over a connection "
            f"{peer.name or who} opened: that works while it lasts, but this side cannot "
            "reconnect.",
        )
    return findings


def _nobody(explained: int, chosen: list[netif.Interface], seconds: float) -> Finding:
    """No peer answered; ``explained`` counts the problems found that would explain it."""
    where = ", ".join(i.name for i in chosen) or "any interface"
    if explained:
        return Finding(
            "warn",
            "No other Chatty answered mDNS",
            f"Nothing answered on {where} within {seconds:g} s, most likely because of the "
            f"problem{'s' if explained > 1 else ''} named above.",
            "Fix that first; meanwhile peers can be added by address: chatty add HOST:PORT",
            topic="peers",
        )
    return Finding(
        "warn",
        "No other Chatty answered mDNS",
        f"Nothing answered on {where} within {seconds:g} s, and nothing here explains it. "
        "Either Chatty is not running on the other machine, it is on another network (a "
        "guest Wi-Fi keeps devices apart), or this network does not pass multicast between "
        "devices (some routers and office Wi-Fi filter it).",
        "Start Chatty on the other machine and run chatty doctor there too;\n"
        "if it runs, add it by address: chatty add HOST:PORT (its doctor prints both)",
        topic="peers",
    )


# ----- e. clocks and this Chatty ------------------------------------------------------------


def clock_findings(daemon_peers: list[dict[str, Any]]) -> list[Finding]:
    """Peers whose clock, as they reported it when connecting, is far from ours."""
    findings = []
    for peer in daemon_peers:
        skew = peer.get("clock_skew")
        if isinstance(skew, int | float) and abs(skew) > CLOCK_WARN:
            name = str(peer.get("name") or str(peer.get("id", ""))[:8])
            findings.append(
                Finding(
                    "warn",
                    f"{name}'s clock is off by {abs(skew) / 60:.0f} minutes",
                    clock_advice(name, float(skew)),
                    "Turn on automatic time (NTP) on both machines.",
                    topic="clock",
                )
            )
    return findings


def this_chatty(
    port: int | None, device: dict[str, Any] | None, chosen: list[netif.Interface]
) -> list[Finding]:
    if not port:
        return [
            Finding(
                "warn",
                "Chatty is not running here",
                "Other machines cannot see this one until it runs, and its port could not be "
                "checked: only mDNS was.",
                "Start it (chatty daemon, or the window) and run chatty doctor again.",
            )
        ]
    who = f" as {device['name']} ({str(device.get('id', ''))[:8]})" if device else ""
    lan_first = sorted(chosen, key=lambda i: i.kind != netif.LAN)
    first = next(
        (a for i in lan_first if i.kind != netif.LOOPBACK for a in i.addresses if "%" not in a),
        None,
    )
    add = (
        f" Other devices can add it by address: chatty add {format_address(first, port)}"
        if first
        else ""
    )
    return [Finding("ok", f"Chatty runs here{who}, on TCP port {port}", add.strip())]


def _connected(daemon_peers: list[dict[str, Any]]) -> list[Finding]:
    online = [str(p.get("name", "")) for p in daemon_peers if p.get("online")]
    if not online:
        return []
    return [Finding("ok", f"Connected now to: {', '.join(online)}", topic="peers")]


# ----- all of it ---------------------------------------------------------------------------


async def diagnose(
    port: int | None,
    *,
    listen_seconds: float = 3.0,
    interfaces: list[str] | None = None,
    daemon_peers: list[dict[str, Any]] | None = None,
    device: dict[str, Any] | None = None,
) -> Report:
    """Run every check; never starts a node, never advertises.

    ``port`` is the running Chatty's TCP port (``None`` if none runs here),
    ``interfaces`` what ``--interface`` named, ``daemon_peers`` the running
    node's peer dicts (``Peer.to_dict``) for the clock check, and ``device``
    its ``describe()`` (name and id: its own mDNS record is not a peer).
    ``listen_seconds=0`` skips the live look.
    """
    every = netif.interfaces()
    chosen = netif.chosen(interfaces)
    down = {i.name for i in every if link_down(i.name)}
    report = Report(port=port)
    report.findings += this_chatty(port, device, chosen)
    if interfaces and not chosen:
        report.findings.append(
            Finding(
                "problem",
                f"No interface matches --interface {' '.join(interfaces)}",
                "Known: " + "; ".join(_describe(i) for i in every),
                "Name an interface or address that exists, or leave --interface out.",
                topic="interfaces",
            )
        )
    else:
        report.findings += interface_findings(
            [i for i in every if not interfaces or i in chosen], down
        )
    multicast = multicast_findings(chosen)
    names = [i.name for i in chosen]
    firewall_task = asyncio.ensure_future(asyncio.to_thread(read_firewall, port, names or None))
    seen: list[SeenPeer] = []
    browse_error: Finding | None = None
    try:
        if listen_seconds > 0 and chosen:
            adverts = await browse(chosen, listen_seconds, (device or {}).get("id"))
            seen = list(await asyncio.gather(*(reach(a, chosen) for a in adverts)))
    except OSError as exc:
        browse_error = Finding(
            "problem",
            "Cannot listen for mDNS here",
            f"Opening UDP {MDNS_PORT} failed: {exc}. Another program may hold it alone.",
            "Close the program holding UDP 5353, or add peers by address: chatty add HOST:PORT",
            topic="multicast",
        )
    finally:
        firewall = await firewall_task
    if seen:  # peers answered: a flag that looked fatal evidently was not
        multicast = [
            Finding("warn", f.title, f.detail, f.fix, f.topic)
            if f.title.startswith("Multicast is switched off")
            else f
            for f in multicast
        ]
    report.findings += multicast
    if browse_error is not None:
        report.findings.append(browse_error)
    report.findings += firewall
    report.peers = sorted(seen, key=lambda p: (p.name, p.device_id))
    for peer in report.peers:
        online = any(p.get("id") == peer.device_id and p.get("online") for p in daemon_peers or [])
        report.findings += peer_findings(peer, online)
    if listen_seconds > 0 and chosen and not seen and browse_error is None:
        explained = sum(
            f.level == "problem" and f.topic in ("interfaces", "multicast", "firewall")
            for f in report.findings
        )
        report.findings.append(_nobody(explained, chosen, listen_seconds))
    if daemon_peers:
        report.findings += _connected(daemon_peers)
        report.findings += clock_findings(daemon_peers)
    return report
