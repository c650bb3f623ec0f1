"""Throughput: one large file and many small ones, Chatty against what users would pick.

Each tool moves the same files between the same two places, timed from the
sending command's start to the receiver holding every byte; every copy is then
hashed against the source. The baseline is raw TCP on the same path
(``socket.sendfile``, no encryption, no verification), in the same run:

* ``chatty``: ``chatty send`` to a receiving ``chatty daemon`` that trusts the sender;
* ``raw TCP``: a minimal framed stream, ``sendfile`` per file, fsync as Chatty does;
* ``scp``: to an ``sshd`` the benchmark starts (OpenSSH's defaults);
* ``magic-wormhole``: with its mailbox and transit relay started on the receiver's side.

The tools run in rounds (round 1: every tool once, round 2: every tool once, ...)
and each ratio against raw TCP is taken within its own round, then reported as
min / median / max over the rounds. Loopback throughput on a small VM swings by
2x from minute to minute (where the scheduler puts the two ends, what else
runs): a ratio of two figures taken seconds apart is far steadier than either
figure, and the spread says how far to trust it.

Beside that: the same transfer on a link shaped to 1 Gbit/s (``shaped``: on a
link slower than the CPU, Chatty should fill it as raw TCP does), with a
snapshot of both ends' sockets half-way; and the first byte and end stall of a
small ``chatty send`` (``first_byte``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.common import (
    CHATTY,
    VENV_BIN,
    Daemon,
    Place,
    Result,
    cpu_seconds,
    make_file,
    tree_digest,
    wait_usage,
)
from chatty_p2p.cli.files import ENDED
from tests.support.netlab import Host

RAW = "raw TCP"
SEND_TIMEOUT = 1800.0
"""Seconds any one transfer may take (2 GiB over a slow tool)."""
COUNTED = {
    RAW: "each side's Python process",
    "chatty": "sender: the `chatty send` process; receiver: the daemon's threads from the "
    "offer to its own end of the transfer (/proc, 10 ms ticks)",
    "scp": "sender: scp with the ssh it runs; receiver: the connection's sshd processes "
    "and `scp -t`, once reaped (the listening sshd's children)",
    "magic-wormhole": "each side's wormhole process (its mailbox and transit relay, "
    "on the receiver's host, counted apart)",
}
"""What each tool's sender and receiver CPU seconds include."""

RAW_RECEIVER = r"""
import os, socket, struct, sys
dest = sys.argv[1]
listener = socket.create_server(("0.0.0.0", 0))
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
buf = bytearray(1 << 20)
view = memoryview(buf)
def exactly(n):
    got = 0
    while got < n:
        k = conn.recv_into(view[got:n])
        if not k:
            return None
        got += k
    return bytes(view[:n])
while (head := exactly(12)) is not None:
    name_len, size = struct.unpack("!IQ", head)
    path = os.path.join(dest, exactly(name_len).decode())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    left = size
    while left:
        n = conn.recv_into(view[: min(len(buf), left)])
        if not n:
            sys.exit("short file")
        os.write(fd, view[:n])
        left -= n
    if size >= 1 << 20:
        os.fsync(fd)
    os.close(fd)
conn.sendall(b"k")
"""

RAW_SENDER = r"""
import os, socket, struct, sys
host, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
base = os.path.dirname(root.rstrip("/"))
files = [root] if os.path.isfile(root) else sorted(
    os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
with socket.create_connection((host, port)) as sock:
    for path in files:
        name = os.path.relpath(path, base).encode()
        size = os.path.getsize(path)
        sock.sendall(struct.pack("!IQ", len(name), size) + name)
        with open(path, "rb") as f:
            if size:
                sock.sendfile(f)
    sock.shutdown(socket.SHUT_WR)
    assert sock.recv(1) == b"k"
"""


@dataclass
class Run:
    """One transfer: seconds from the sending command's start to the receiver holding
    every byte, CPU seconds each side used (see ``COUNTED``), the sender's peak RSS."""

    seconds: float
    sender_cpu: float
    receiver_cpu: float
    sender_rss: int = 0
    helpers_cpu: float = 0.0
    """CPU of servers on neither side (magic-wormhole's mailbox and transit relay)."""


Send = Callable[[Path, Path], Run]
"""A tool bound to its two places: ``send(src, dest_folder)``, the copy at ``dest/src.name``."""


def finished(
    proc: subprocess.Popen[str], what: str, timeout: float = SEND_TIMEOUT
) -> tuple[float, int]:
    """``wait_usage``, and an error naming ``what`` if the command failed."""
    cpu, rss = wait_usage(proc, timeout)
    if proc.returncode:
        said = proc.stderr.read()[-500:] if proc.stderr else ""
        raise RuntimeError(f"{what} exited with {proc.returncode}: {said}")
    return cpu, rss


def raw_run(sender: Place, receiver: Place, src: Path, dest: Path) -> Run:
    """Raw TCP as a ``Send`` (bound to its places)."""
    rx = receiver.popen(sys.executable, "-c", RAW_RECEIVER, str(dest), stdout=subprocess.PIPE)
    assert rx.stdout is not None
    port = rx.stdout.readline().strip()
    start = time.monotonic()
    tx = sender.popen(sys.executable, "-c", RAW_SENDER, receiver.address, port, str(src))
    tx_cpu, tx_rss = finished(tx, "raw TCP sender")
    elapsed = time.monotonic() - start
    rx_cpu, _ = finished(rx, "raw TCP receiver", 30)
    return Run(elapsed, tx_cpu, rx_cpu, tx_rss)


def raw_tcp(src: Path, sender: Place, receiver: Place, dest: Path) -> float:
    """Seconds raw TCP takes to move ``src`` into ``dest`` (the scale benchmark's baseline)."""
    return raw_run(sender, receiver, src, dest).seconds


@dataclass
class Timeline:
    """One ``chatty send`` as this process saw it, every instant on its
    ``time.monotonic`` clock: events are stamped as their line arrives."""

    run: Run
    start: float
    offered: float
    """The receiving daemon's first line about the transfer."""
    sender_done: float
    """``chatty send --json``'s one line, printed when the receiver has verified."""
    receiver_done: float
    """The daemon's ``transfer`` line with the state ``done``."""
    first_byte: float = 0.0
    last_byte: float = 0.0
    """From a ``LandingWatch``, when one was asked for (else 0)."""


class LandingWatch(threading.Thread):
    """When the receiving daemon's first and last byte of a file land on disk: its
    partial (``<inbox>/.chatty-partial/<transfer>/0``), later its final name, checked
    every ``POLL`` s. Needs no change in Chatty; the cost is that resolution (plus a
    ``stat`` or two, about 0.1 ms) and the poll's CPU, so it runs only for the small
    first-byte transfers, not for the throughput ones."""

    POLL = 0.001

    def __init__(self, inbox: Path, name: str, size: int) -> None:
        super().__init__(daemon=True)
        self.inbox, self.name, self.size = inbox, name, size
        self.first = 0.0
        self.last = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            landed = self._landed()
            now = time.monotonic()
            if landed and not self.first:
                self.first = now
            if landed >= self.size:
                self.last = now
                return
            time.sleep(self.POLL)

    def _landed(self) -> int:
        paths = [self.inbox / self.name, *self.inbox.glob(".chatty-partial/*/0")]
        sizes = [0]
        for path in paths:
            try:
                sizes.append(path.stat().st_size)
            except FileNotFoundError:  # not there yet, or just renamed
                continue
        return max(sizes)


class ChattyPeer:
    """A receiving ``chatty daemon`` that accepts from anyone (``--accept-from '*'``),
    up for every round as a user's would be, and the data folder of a sender it
    trusts. Each transfer is a new ``chatty send`` process: what a user runs."""

    def __init__(self, sender: Place, receiver: Place, work: Path) -> None:
        self.sender = sender
        self.inbox = work / "chatty-inbox"
        self.daemon = Daemon(
            receiver,
            work / "chatty-receiver",
            "--no-discovery",
            "--download-dir",
            str(self.inbox),
            "--accept-from",
            "*",
        )
        self.sender_dir = work / "chatty-sender"
        self.log = work / "chatty-sender.log"
        self.address = f"{receiver.address}:{self.daemon.info['port']}"
        self.receiver_rss = 0
        try:
            self.daemon.vouch(self.sender_dir)
        except BaseException:
            self.stop()
            raise

    def send(self, src: Path, dest: Path) -> Run:
        """A ``Send``: the copy lands in the daemon's folder and is moved to ``dest``."""
        run = self.transfer(src).run
        (self.inbox / src.name).rename(dest / src.name)
        return run

    def transfer(self, src: Path, watch: bool = False) -> Timeline:
        """One ``chatty send`` of ``src``, to both sides' end; ``watch`` polls the
        landing file for the first and last byte (a file, not a folder)."""
        since = self.daemon.events.mark()
        landing = LandingWatch(self.inbox, src.name, src.stat().st_size) if watch else None
        rx_before = self.daemon.cpu()
        if landing:
            landing.start()
        try:
            start = time.monotonic()
            with self.log.open("a") as log:
                proc = self.sender.popen(
                    *CHATTY,
                    "send",
                    "--json",
                    "--no-discovery",
                    "--data-dir",
                    str(self.sender_dir),
                    self.address,
                    str(src),
                    stdout=subprocess.PIPE,
                    stderr=log,
                )
            assert proc.stdout is not None
            # --json prints one line, at the end: its arrival is the sender's "done".
            ready, _, _ = select.select([proc.stdout], [], [], SEND_TIMEOUT)
            line = proc.stdout.readline() if ready else ""
            sender_done = time.monotonic()
            tx_cpu, tx_rss = wait_usage(proc, 30)
            outcome = json.loads(line) if line.strip() else {}
            if proc.returncode or outcome.get("state") != "done":
                raise RuntimeError(f"chatty send failed: {outcome or 'no answer'}; see {self.log}")

            def about(event: dict[str, Any]) -> bool:
                t = event.get("transfer")
                return isinstance(t, dict) and t["id"] == outcome["id"]

            ended = self.daemon.events.wait_for(
                lambda e: about(e) and e["type"] == "transfer" and e["transfer"]["state"] in ENDED,
                60,
                since,
            )
            rx_cpu = self.daemon.cpu() - rx_before
            if ended["transfer"]["state"] != "done":
                raise RuntimeError(f"the receiving daemon ended the transfer {ended['transfer']}")
            # Its first line about the transfer: auto-accepted, it is already running.
            offered = self.daemon.events.wait_for(about, 5, since)
        finally:
            if landing:
                landing.stop.set()
                landing.join()
        timeline = Timeline(
            Run(sender_done - start, tx_cpu, rx_cpu, tx_rss),
            start,
            offered["_seen"],
            sender_done,
            ended["_seen"],
        )
        if landing:
            if not landing.last:
                raise RuntimeError(f"{src.name} was never seen whole in {self.inbox}")
            timeline.first_byte, timeline.last_byte = landing.first, landing.last
        return timeline

    def stop(self) -> None:
        _, self.receiver_rss = self.daemon.stop()


class Sshd:
    """An ``sshd`` on a spare port in a place, accepting one generated key."""

    def __init__(self, place: Place, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.key = work / "client_key"
        for key in (self.key, work / "host_key"):
            if not key.exists():
                subprocess.run(
                    ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True
                )
        shutil.copy(f"{self.key}.pub", work / "authorized_keys")
        self.port = 22000 + (time.monotonic_ns() // 1000) % 20000
        config = work / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress {place.address}\nHostKey {work / 'host_key'}\n"
            f"AuthorizedKeysFile {work / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
            f"StrictModes no\nUsePAM no\nPidFile {work / 'sshd.pid'}\n"
            "Subsystem sftp /usr/lib/openssh/sftp-server\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)
        self.proc = place.popen(
            "/usr/sbin/sshd", "-D", "-e", "-f", str(config), stderr=subprocess.DEVNULL
        )
        self.address = place.address
        time.sleep(0.5)

    def scp(self, sender: Place, src: Path, dest: Path) -> Run:
        before = cpu_seconds(self.proc.pid, children=True)
        start = time.monotonic()
        proc = sender.popen(
            "scp",
            "-q",
            "-r",
            "-P",
            str(self.port),
            "-i",
            str(self.key),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            str(src),
            f"root@{self.address}:{dest}/",
            stderr=subprocess.PIPE,
        )
        tx_cpu, tx_rss = finished(proc, "scp")
        elapsed = time.monotonic() - start
        # The connection's processes count once the listener has reaped them.
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        deadline = time.monotonic() + 10
        while children.read_text().split() and time.monotonic() < deadline:
            time.sleep(0.01)
        rx_cpu = cpu_seconds(self.proc.pid, children=True) - before
        return Run(elapsed, tx_cpu, rx_cpu, tx_rss)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Wormhole:
    """magic-wormhole's mailbox and transit relay, started in a place for this run."""

    def __init__(self, place: Place, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        twist = str(VENV_BIN / "twist")
        self.place = place
        self.mailbox = place.popen(
            twist,
            "wormhole-mailbox",
            "--port",
            "tcp:14000",
            "--channel-db",
            str(work / "relay.sqlite"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.relay = place.popen(
            twist,
            "transitrelay",
            "--port",
            "tcp:14001",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.args = [
            str(VENV_BIN / "wormhole"),
            "--relay-url",
            f"ws://{place.address}:14000/v1",
            "--transit-helper",
            f"tcp:{place.address}:14001",
        ]
        time.sleep(2)  # twist takes a moment to listen

    def servers_cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in (self.mailbox, self.relay))

    def send(self, sender: Place, src: Path, dest: Path) -> Run:
        code = f"7-{time.monotonic_ns() % 10**9}-bench"
        out = dest / src.name
        servers = self.servers_cpu()
        receiver = self.place.popen(
            *self.args,
            "receive",
            "--accept-file",
            "--hide-progress",
            "-o",
            str(out),
            code,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        start = time.monotonic()
        proc = sender.popen(
            *self.args,
            "send",
            "--hide-progress",
            "--code",
            code,
            str(src),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        tx_cpu, tx_rss = finished(proc, "wormhole send")
        rx_cpu, _ = finished(receiver, "wormhole receive")
        elapsed = time.monotonic() - start
        return Run(elapsed, tx_cpu, rx_cpu, tx_rss, self.servers_cpu() - servers)

    def stop(self) -> None:
        for proc in (self.mailbox, self.relay):
            proc.terminate()
            proc.wait(10)


def interleave(tools: dict[str, Send], src: Path, work: Path, rounds: int) -> dict[str, list[Run]]:
    """Every tool once per round, for ``rounds`` rounds, every copy verified. The
    order turns by one each round, so no tool always runs right after the same other
    one (and inherits its dirty pages or a core still busy with it)."""
    expected = tree_digest(src)
    runs: dict[str, list[Run]] = {name: [] for name in tools}
    names = list(tools)
    for turn in range(rounds):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            dest = Path(tempfile.mkdtemp(dir=work, prefix="dest-"))
            dest.chmod(0o755)
            runs[name].append(tools[name](src, dest))
            got = tree_digest(dest / src.name)
            if got != expected:
                missing = len(set(expected) - set(got))
                raise RuntimeError(f"{name}: the copy differs from the source ({missing} missing)")
            shutil.rmtree(dest)
    return runs


def summarise(group: str, src: Path, runs: dict[str, list[Run]]) -> list[Result]:
    """One result per tool: its median rate over the rounds, x raw TCP per round, CPU
    per GB (per 1,000 files for many small files), medians of the rounds."""
    files = sum(1 for p in src.rglob("*") if p.is_file()) if src.is_dir() else 1
    size = sum(p.stat().st_size for p in ([src] if src.is_file() else src.rglob("*")))
    if files > 1:
        unit, amount, per, cpu_unit = "files/s", float(files), files / 1000, "CPU s/1,000 files"
    else:
        unit, amount, per, cpu_unit = "MB/s", size / 1e6, size / 1e9, "CPU s/GB"
    raw = runs[RAW]
    results = []
    for tool, mine in runs.items():
        rates = [amount / r.seconds for r in mine]
        extra: dict[str, object] = {
            "seconds": [r.seconds for r in mine],
            "rates": rates,
            "bytes": size,
            "files": files,
            "sender_cpu": statistics.median(r.sender_cpu for r in mine) / per,
            "receiver_cpu": statistics.median(r.receiver_cpu for r in mine) / per,
            "cpu_unit": cpu_unit,
            "cpu_counted": COUNTED[tool],
        }
        if any(r.helpers_cpu for r in mine):
            extra["helpers_cpu"] = statistics.median(r.helpers_cpu for r in mine) / per
        result = Result(group, tool, statistics.median(rates), unit, extra=extra)
        if tool != RAW:
            result.baseline = RAW
            result.baseline_value = statistics.median(amount / r.seconds for r in raw)
            result.ratios = [r.seconds / m.seconds for r, m in zip(raw, mine, strict=True)]
        if tool == "chatty" and files > 1:
            result.target, result.met = ">= 3,000 files/s", result.value >= 3000
        elif tool == "chatty":
            ratio = result.ratio or 0.0
            result.target, result.met = ">= 0.55x raw TCP", ratio >= 0.55
        results.append(result)
    return results


def measure(
    label: str, src: Path, sender: Place, receiver: Place, work: Path, rounds: int
) -> list[Result]:
    """Every tool on one data set between two places, ``rounds`` interleaved rounds."""
    work.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as running:
        sshd = Sshd(receiver, work / "ssh")
        running.callback(sshd.stop)
        wormhole = Wormhole(receiver, work / "wormhole")
        running.callback(wormhole.stop)
        peer = ChattyPeer(sender, receiver, work / "chatty")
        running.callback(peer.stop)
        tools: dict[str, Send] = {
            RAW: functools.partial(raw_run, sender, receiver),
            "chatty": peer.send,
            "scp": functools.partial(sshd.scp, sender),
            "magic-wormhole": functools.partial(wormhole.send, sender),
        }
        runs = interleave(tools, src, work, rounds)
    group = f"throughput {label}"
    results = summarise(group, src, runs)
    if src.is_file():
        mine = next(r for r in results if r.name == "chatty")
        for other, factor in (("scp", 1.5), ("magic-wormhole", 2.5)):
            theirs = next(r.value for r in results if r.name == other)
            ratios = [
                t.seconds / c.seconds for t, c in zip(runs[other], runs["chatty"], strict=True)
            ]
            results.append(
                Result(
                    group,
                    f"chatty against {other}",
                    mine.value,
                    "MB/s",
                    other,
                    theirs,
                    target=f">= {factor:g}x {other}",
                    met=statistics.median(ratios) >= factor,
                    ratios=ratios,
                )
            )
        peaks = (max(r.sender_rss for r in runs["chatty"]), peer.receiver_rss)
        for side, rss in zip(("sender", "receiver"), peaks, strict=True):
            results.append(
                Result(
                    "memory and CPU",
                    f"chatty {side}, {label}",
                    rss / 1e6,
                    "MB peak RSS",
                    target="< 150 MB",
                    met=rss < 150e6,
                    note=f"peak over {rounds} rounds; CPU per GB: see the rounds table",
                )
            )
    return results


def shape_link(host: Host, mbit: int) -> None:
    """Make ``host``'s cable a ``mbit`` Ethernet link, in both directions.

    ``tbf`` shapes only what leaves an interface (on the way in, a qdisc can drop but
    not queue), so each direction is shaped where it leaves: the host's ``eth0`` for
    what it sends, and the veth's other end, its port on the lab's bridge (in the
    switch namespace; ``tests.support.netlab`` names it ``p<index>``), for what it receives.
    On a veth pair one end's egress is the other's ingress, so no ifb device is
    needed, and the receiving host's own link stays as fast as before: only this
    cable is slow, as a 1 Gbit/s port on a faster LAN would be.

    ``burst 256kb`` (KiB): several of the 64 KB GSO packets a veth passes whole (tbf
    splits a GSO packet larger than its burst, and drops any other), yet only 2 ms
    at line rate, so the cap holds over any interval a TCP sender reacts to.
    ``latency 50ms`` sets the queue (about 6 MB at 1 Gbit/s) deep enough that a
    sender's bursts queue rather than drop: the qdisc counters in the ``SocketWatch``
    snapshot show its drops and backlog."""
    tbf = ["tbf", "rate", f"{mbit}mbit", "burst", "256kb", "latency", "50ms"]
    for ns, dev in ((host.ns, "eth0"), (host.lab.switch, f"p{host.index}")):
        subprocess.run(
            ["ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", dev, "root", *tbf],
            check=True,
            capture_output=True,
        )


class SocketWatch(threading.Thread):
    """Once a connection from ``sender`` to ``receiver`` has ``half`` its bytes
    acknowledged, takes ``ss -tmi`` on both ends (skmem: the socket buffers' sizes and
    use; cwnd, rtt, delivery rate and what limited the sender: rwnd_limited,
    sndbuf_limited) and the sender's qdisc counters (drops, backlog), so a figure
    below the link's can be put down to a window, a buffer or the sender's CPU. The
    sender's ``ss`` is polled every ``POLL`` s, a process each time: kept rare, as
    the machine has two cores."""

    POLL = 0.2

    def __init__(self, sender: Place, receiver: Place, half: int) -> None:
        super().__init__(daemon=True)
        self.sender, self.receiver, self.half = sender, receiver, half
        self.text = ""
        self.done = threading.Event()

    def __enter__(self) -> SocketWatch:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.done.set()
        self.join()

    def run(self) -> None:
        seen: list[str] = []
        while not self.done.wait(self.POLL):
            sockets = _sockets(self.sender, self.receiver.address)
            busy = [s for s in sockets if _moved(s) >= self.half]
            if busy:
                theirs = _sockets(self.receiver, self.sender.address)
                tc = self.sender.run("tc", "-s", "qdisc", "show", "dev", "eth0").stdout
                self.text = "\n".join(
                    [
                        f"sender ({self.sender.name}), half-way:",
                        *busy,
                        f"receiver ({self.receiver.name}):",
                        *[s for s in theirs if _moved(s) >= self.half // 2],
                        "sender's qdisc:",
                        tc.strip(),
                    ]
                )
                return
            seen = sockets or seen
        self.text = "\n".join(
            ["the transfer ended before half of it was acknowledged; last seen:", *seen]
        )


def _sockets(place: Place, peer: str) -> list[str]:
    """``ss -tmi`` of the established TCP connections with ``peer``, one string each."""
    out = place.run("ss", "-tmniH", "state", "established", "dst", peer).stdout
    blocks: list[str] = []
    for line in out.splitlines():
        if line[:1].isspace() and blocks:
            blocks[-1] += "\n" + line.rstrip()
        elif line.strip():
            blocks.append(line.rstrip())
    return blocks


def _moved(socket: str) -> int:
    """Bytes a connection has had acknowledged (sender) or received (receiver)."""
    return max((int(n) for n in re.findall(r"bytes_(?:acked|received):(\d+)", socket)), default=0)


def shaped(
    label: str, src: Path, hosts: tuple[Host, Host], work: Path, rounds: int, mbit: int = 1000
) -> list[Result]:
    """Raw TCP and ``chatty send`` on a link shaped to ``mbit``, interleaved rounds:
    what share of a link slower than the machine Chatty gets, where raw TCP shows
    the link's real cap. The first round of each takes a ``SocketWatch`` snapshot."""
    shape_link(hosts[0], mbit)
    sender, receiver = Place.of(hosts[0]), Place.of(hosts[1])
    work.mkdir(parents=True, exist_ok=True)
    snapshots: dict[str, str] = {}
    half = src.stat().st_size // 2

    def watched(name: str, send: Send) -> Send:
        def run(src: Path, dest: Path) -> Run:
            if name in snapshots:
                return send(src, dest)
            with SocketWatch(sender, receiver, half) as watch:
                done = send(src, dest)
            snapshots[name] = watch.text
            return done

        return run

    peer = ChattyPeer(sender, receiver, work / "chatty")
    try:
        tools = {
            RAW: watched(RAW, functools.partial(raw_run, sender, receiver)),
            "chatty": watched("chatty", peer.send),
        }
        runs = interleave(tools, src, work, rounds)
    finally:
        peer.stop()
    # tbf counts whole frames: of each 1514 bytes, 1448 are TCP payload (with timestamps).
    payload = mbit / 8 * 1448 / 1514
    results = summarise(f"throughput {label}", src, runs)
    for result in results:
        result.extra["ss"] = snapshots[result.name]
    raw, mine = results
    raw.note = f"the link carries {payload:.0f} MB/s of TCP payload; raw TCP gets "
    raw.note += f"{raw.value / payload:.0%} of it"
    mine.note = f"{mine.ratio or 0:.0%} of raw TCP on this link"
    mine.target, mine.met = ">= 0.95x raw TCP", (mine.ratio or 0.0) >= 0.95
    return results


def first_byte(
    label: str, sender: Place, receiver: Place, work: Path, size: int, count: int
) -> list[Result]:
    """``count`` sends of one ``size`` file to a daemon that accepts at once: from
    starting ``chatty send`` to the receiver's first byte on disk, and the end stall,
    from its last byte on disk to both sides saying done (the later of the two). The
    process's start-up is in the first figure: it is what a user waits for."""
    src = make_file(work / "first-byte.bin", size)
    peer = ChattyPeer(sender, receiver, work / "chatty")
    lines = []
    try:
        for _ in range(count):
            lines.append(peer.transfer(src, watch=True))
            (peer.inbox / src.name).unlink()
    finally:
        peer.stop()
    ms = 1000.0
    first = [(t.first_byte - t.start) * ms for t in lines]
    offer = [(t.offered - t.start) * ms for t in lines]
    stall = [(max(t.sender_done, t.receiver_done) - t.last_byte) * ms for t in lines]
    rx_done = [(t.receiver_done - t.last_byte) * ms for t in lines]
    tx_done = [(t.sender_done - t.last_byte) * ms for t in lines]
    group = "first byte and end stall"
    how = f"{count} sends of {size / 2**20:g} MiB; bytes on disk polled every 1 ms"
    median = statistics.median

    def spread(values: list[float]) -> str:
        return f"min {min(values):.0f}, max {max(values):.0f} ms"

    return [
        Result(
            group,
            f"first byte, {label}",
            median(first),
            "ms",
            target="<= 150 ms",
            met=median(first) <= 150,
            note=f"{spread(first)}; the offer reached the receiver at {median(offer):.0f} ms; "
            + how,
            extra={"samples_ms": first, "offer_ms": offer},
        ),
        Result(
            group,
            f"end stall, {label}",
            median(stall),
            "ms",
            target="< 50 ms",
            met=median(stall) < 50,
            note=f"{spread(stall)}; receiver done +{median(rx_done):.0f} ms, sender done "
            f"+{median(tx_done):.0f} ms after the last byte; {how}",
            extra={"samples_ms": stall, "receiver_ms": rx_done, "sender_ms": tx_done},
        ),
    ]
