"""A network lab: hosts as Linux network namespaces on one bridge.

Every namespace is created by the lab and deleted afterwards: a "switch"
namespace holds the bridge, each host namespace holds one end of a veth pair
(the other end is a bridge port in the switch). Nothing is added to the
machine's own namespace, so no test traffic (mDNS included) can reach a real
interface. Addresses come from 198.18.0.0/15 (RFC 2544, set aside for test
labs) and a ULA IPv6 prefix.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

IPV4_NET = "198.18.{lab}.{host}"
IPV6_NET = "fd63:6861:7474:{lab:x}::{host:x}"
ROUTED_IPV4_NET = "198.19.{lab}.{host}"
ROUTED_IPV6_NET = "fd63:6861:7475:{lab:x}::{host:x}"
"""The second network of a routed lab (``Lab.router``), on bridge ``br1``."""
ROUTER = 254
"""The router's host number on both networks."""


def ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *(["-n", ns] if ns else []), *args]
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


def lab_unavailable_reason() -> str | None:
    """Why a lab cannot be built here, or ``None`` if it can."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network-lab tests need root (ip netns); run the README's test command"
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        return "iproute2 and util-linux (ip, unshare) are not installed"
    probe = f"chprobe{secrets.token_hex(3)}"
    try:
        result = ip("netns", "add", probe, check=False)
        if result.returncode != 0:
            return f"cannot create a network namespace: {result.stderr.strip()}"
    finally:
        ip("netns", "del", probe, check=False)
    return None


def sha256(path: Path) -> str:
    """What the lab compares files by: a copy is right when this matches the source's."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class Daemon:
    """A ``chatty daemon --json`` process whose events a test can wait for."""

    def __init__(self, proc: subprocess.Popen[str], log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path
        self.events: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.info = self.wait_for(lambda e: e["type"] == "ready", timeout=20)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            event["_seen"] = time.monotonic()
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, since: int = 0
    ) -> dict[str, Any]:
        """The first event from index ``since`` on that matches, waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[since:]:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    kinds = [
                        (e["type"], (e.get("peer") or {}).get("name")) for e in self.events[since:]
                    ]
                    raise AssertionError(
                        f"no matching event within {timeout} s; saw {kinds}\n"
                        f"daemon log:\n{self.log_path.read_text()[-3000:]}"
                    )
                self._cond.wait(min(left, 0.2))

    def mark(self) -> int:
        """An index to pass as ``since`` to wait only for events from now on."""
        with self._cond:
            return len(self.events)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout)
        self._reader.join(5)


class Host:
    def __init__(
        self, lab: Lab, index: int, name: str, ipv4: bool = True, network: int = 0
    ) -> None:
        self.lab = lab
        self.index = index
        self.name = name
        self.ns = f"ch{lab.tag}h{index}"
        self.network = network
        """0: ``br0``; 1: ``br1``, the routed lab's other side (see ``Lab.router``)."""
        v4, v6 = (IPV4_NET, IPV6_NET) if network == 0 else (ROUTED_IPV4_NET, ROUTED_IPV6_NET)
        self.ipv4 = v4.format(lab=lab.number, host=index) if ipv4 else None
        self.ipv6 = v6.format(lab=lab.number, host=index)
        self.data_dir = lab.root / name
        self.daemon: Daemon | None = None

    def _create(self) -> None:
        ip("netns", "add", self.ns)
        self.exec_sysctl("net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
        ip("link", "set", "lo", "up", ns=self.ns)
        self.plug("eth0", f"br{self.network}", self.ipv4, self.ipv6)
        if self.lab.routed:
            self.route_through_router()

    def route_through_router(self) -> None:
        """Default routes through the router's address on this host's network."""
        v4, v6 = (IPV4_NET, IPV6_NET) if self.network == 0 else (ROUTED_IPV4_NET, ROUTED_IPV6_NET)
        if self.ipv4:
            gateway = v4.format(lab=self.lab.number, host=ROUTER)
            ip("route", "add", "default", "via", gateway, ns=self.ns)
        gateway6 = v6.format(lab=self.lab.number, host=ROUTER)
        ip("-6", "route", "add", "default", "via", gateway6, ns=self.ns)

    def plug(self, ifname: str, bridge: str, ipv4: str | None, ipv6: str | None) -> None:
        """Give this host another network card, cabled to ``bridge`` (a Wi-Fi coming up,
        a second NIC); addresses without a prefix length get /24 and /64."""
        port = f"p{self.index}" if ifname == "eth0" else f"p{self.index}{ifname}"
        ip("link", "add", ifname, "netns", self.ns, "type", "veth", "peer", "name", port,
           "netns", self.lab.switch)  # fmt: skip
        ip("link", "set", port, "master", bridge, "up", ns=self.lab.switch)
        if ipv4:
            ip("addr", "add", ipv4 if "/" in ipv4 else f"{ipv4}/24", "dev", ifname, ns=self.ns)
        if ipv6:
            v6 = ipv6 if "/" in ipv6 else f"{ipv6}/64"
            ip("addr", "add", v6, "dev", ifname, "nodad", ns=self.ns)
        ip("link", "set", ifname, "up", ns=self.ns)

    def resolver(self, nameserver: str, search: str = "") -> None:
        """This host's ``/etc/resolv.conf``: ``ip netns exec`` mounts
        ``/etc/netns/NS/resolv.conf`` over the machine's for what runs in the host
        (the machine's own file is untouched; ``Lab.close`` removes this one)."""
        folder = Path("/etc/netns") / self.ns
        folder.mkdir(parents=True, exist_ok=True)
        lines = [f"nameserver {nameserver}", *([f"search {search}"] if search else [])]
        (folder / "resolv.conf").write_text("\n".join(lines) + "\n")

    def unplug(self, ifname: str) -> None:
        """Pull the cable out for good: the interface and its addresses vanish."""
        ip("link", "del", ifname, ns=self.ns)

    def exec_sysctl(self, *settings: str) -> None:
        subprocess.run(
            ["ip", "netns", "exec", self.ns, "sysctl", "-q", "-w", *settings],
            check=True,
            capture_output=True,
        )

    def command(self, *args: str) -> list[str]:
        """A command line that runs ``python -m chatty_p2p ARGS`` on this host."""
        return [
            "ip",
            "netns",
            "exec",
            self.ns,
            sys.executable,
            "-m",
            "chatty_p2p",
            *args,
            "--data-dir",
            str(self.data_dir),
        ]

    def start(self, *extra: str) -> Daemon:
        """Start ``chatty daemon`` here, with this host's name as the machine's host name."""
        log_path = self.lab.root / f"{self.name}.log"
        inner = shlex.join(
            [
                sys.executable,
                "-m",
                "chatty_p2p",
                "daemon",
                "--json",
                "--data-dir",
                str(self.data_dir),
                "-v",  # the log goes into failure messages
                *extra,
            ]
        )
        with log_path.open("a") as log:  # the child keeps its own copy
            proc = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.ns,
                    "unshare",
                    "--uts",
                    "sh",
                    "-c",
                    f"hostname {self.name} && exec {inner}",
                ],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self.daemon = Daemon(proc, log_path)
        return self.daemon

    def chatty(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run a one-shot ``chatty`` command on this host (it reaches the daemon if running)."""
        return subprocess.run(self.command(*args), capture_output=True, text=True, timeout=timeout)

    def link(self, up: bool) -> None:
        ip("link", "set", "eth0", "up" if up else "down", ns=self.ns)

    def shape(self, mbit: int, ifname: str = "eth0") -> None:
        """Limit what this host sends, like a slower network, so a transfer lasts long
        enough to be interrupted mid-way on purpose."""
        tbf = ["tbf", "rate", f"{mbit}mbit", "burst", "256kb", "latency", "100ms"]
        subprocess.run(
            ["ip", "netns", "exec", self.ns, "tc", "qdisc", "replace", "dev", ifname, "root", *tbf],
            check=True,
            capture_output=True,
        )

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Start a one-shot ``chatty`` command here without waiting for it."""
        return subprocess.Popen(
            self.command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def python(self, module: str, *args: str) -> subprocess.Popen[str]:
        """Run ``python -m MODULE ARGS`` here (a test tool such as ``tests.support.mitm``), its
        stdout a pipe of JSON lines, its stderr in the lab's log folder."""
        with (self.lab.root / f"{self.name}-{module}.log").open("a") as log:
            return subprocess.Popen(
                ["ip", "netns", "exec", self.ns, sys.executable, "-m", module, *args],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=Path(__file__).resolve().parents[2],
            )

    @property
    def id(self) -> str:
        assert self.daemon is not None
        return str(self.daemon.info["id"])


class Lab:
    _count = 0

    def __init__(self, root: Path) -> None:
        Lab._count += 1
        self.number = (os.getpid() + Lab._count) % 200 + 1
        self.tag = secrets.token_hex(2)
        self.switch = f"ch{self.tag}sw"
        self.root = root
        self.hosts: list[Host] = []
        self.routed = False
        """Whether ``router`` joined ``br0`` and ``br1``: new hosts route through it."""
        ip("netns", "add", self.switch)
        self.bridge("br0")

    def bridge(self, name: str) -> None:
        """Another switch, not connected to ``br0``: a second network."""
        ip("link", "add", name, "type", "bridge", "mcast_snooping", "0", ns=self.switch)
        ip("link", "set", name, "up", ns=self.switch)

    def host(self, name: str, ipv4: bool = True, network: int = 0) -> Host:
        """A new host on ``br0`` (``network=1``: on ``br1``, behind the router);
        ``ipv4=False`` makes it an IPv6-only host."""
        host = Host(self, len(self.hosts) + 1, name, ipv4, network)
        host._create()
        self.hosts.append(host)
        return host

    def router(self, name: str = "router") -> Host:
        """A second network, ``br1`` (198.19.L.0/24 and its own IPv6 prefix), joined to
        ``br0``'s by a router host that forwards between them, as a home router or a
        VLAN's gateway does: unicast crosses, multicast (mDNS) does not. It has host
        number 254 on both; hosts made afterwards route through it. Call it first."""
        assert not self.hosts, "the router comes before the hosts"
        self.bridge("br1")
        router = Host(self, ROUTER, name)
        ip("netns", "add", router.ns)
        self.hosts.append(router)
        router.exec_sysctl(
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
        )
        ip("link", "set", "lo", "up", ns=router.ns)
        router.plug("eth0", "br0", router.ipv4, router.ipv6)
        routed4 = ROUTED_IPV4_NET.format(lab=self.number, host=ROUTER)
        routed6 = ROUTED_IPV6_NET.format(lab=self.number, host=ROUTER)
        router.plug("eth1", "br1", routed4, routed6)
        self.routed = True
        return router

    def close(self) -> None:
        for host in self.hosts:
            if host.daemon is not None:
                try:
                    host.daemon.stop(timeout=5)
                except subprocess.TimeoutExpired:
                    host.daemon.stop(signal.SIGKILL)
        for host in self.hosts:
            ip("netns", "del", host.ns, check=False)
            shutil.rmtree(Path("/etc/netns") / host.ns, ignore_errors=True)
        ip("netns", "del", self.switch, check=False)
