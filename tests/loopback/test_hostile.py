"""A hostile peer against a real ``chatty daemon``: after every attack the daemon is
still up, still serving a friendly peer, its memory bounded, and its log says why
it hung up.

The daemon runs as its own process on loopback (no mDNS), so its memory can be
read from /proc and a crash cannot hide inside the test process. Attacks come
from 127.0.0.2 and up, the friendly peer from 127.0.0.1, as on a LAN where the
attacker is another machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatty_p2p.errors import ChattyError
from chatty_p2p.files.model import MAX_PENDING_OFFERS
from chatty_p2p.identity import Identity
from chatty_p2p.net.admission import MAX_HANDSHAKES_PER_ADDRESS
from chatty_p2p.node import EventType, Node
from chatty_p2p.protocol import preamble
from chatty_p2p.protocol.bulk.wire import BulkType
from chatty_p2p.protocol.frames import HEADER, FrameType, encode, encode_json
from chatty_p2p.protocol.limits import COSTLY_BURST, COSTLY_RATE
from chatty_p2p.protocol.messages import MAX_FILES
from tests.support.hostile import (
    TARGET,
    BulkServer,
    RawPeer,
    RawSession,
    all_closed_by_peer,
    closed_by_peer,
)
from tests.support.netlab import Daemon

MEMORY_HEADROOM_KB = 100 * 1024
"""How much above its idle size the daemon may ever grow under all attacks together."""
SETTLED_KB = 20 * 1024
"""How close to its size before a flood the daemon must be once it is over…"""
SETTLE_TIME = 60.0
"""…and how soon."""


class Target:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "target"
        self.downloads = root / "downloads"
        self.log_path = root / "target.log"
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "chatty_p2p", "daemon", "--json", "--no-discovery", "-v"),
                *("--name", "target", "--data-dir", str(self.data_dir)),
                *("--download-dir", str(self.downloads)),
            ],
            stdout=subprocess.PIPE,
            stderr=self.log_path.open("w"),
            text=True,
        )
        self.daemon = Daemon(proc, self.log_path)
        self.port = int(self.daemon.info["port"])
        self.pid = proc.pid
        time.sleep(0.5)
        self.idle_kb = self.memory()["VmRSS"]

    def memory(self) -> dict[str, int]:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return {
            line.split(":")[0]: int(line.split()[1])
            for line in status.splitlines()
            if line.startswith(("VmRSS", "VmHWM"))
        }

    def log(self) -> str:
        return self.log_path.read_text()

    def chatty(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chatty_p2p", *args, "--data-dir", str(self.data_dir)],
            capture_output=True,
            text=True,
            timeout=30,
        )

    def wait_log(self, text: str, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert time.monotonic() < deadline, f"{text!r} not in the log:\n{self.log()[-3000:]}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    built = Target(tmp_path_factory.mktemp("hostile"))
    yield built
    built.daemon.stop()


@pytest.fixture
def mallory(tmp_path: Path) -> RawPeer:
    return RawPeer(tmp_path / "mallory", source="127.0.0.2")


async def still_serving(target: Target, tmp_path: Path, friend_dir: Path | None = None) -> None:
    """A friendly peer connects afresh, sends a message and gets its receipt; the
    daemon is alive and its memory within bounds. ``friend_dir`` is a friend's data
    dir to start (again) from, a paired one say; by default a newcomer's."""
    assert target.daemon.proc.poll() is None, "the daemon died:\n" + target.log()[-3000:]
    name = "friend" if friend_dir is None else friend_dir.name  # a paired name is taken
    friend_dir = friend_dir or tmp_path / f"friend-{time.monotonic_ns()}"
    friend = Node(friend_dir, name=name, discovery=False)
    await friend.start()
    try:
        events = friend.subscribe()
        await friend.add_peer("127.0.0.1", target.port)
        peer_id = target.daemon.info["id"]
        sent = await friend.send_text(peer_id, "are you still there?")
        async with asyncio.timeout(10):
            while True:
                event = await events.get()
                if (
                    event.type is EventType.MESSAGE_STATUS
                    and event.message is not None
                    and event.message.id == sent.id
                    and event.message.status == "delivered"
                ):
                    break
    finally:
        await friend.stop()
    memory = target.memory()
    assert memory["VmHWM"] < target.idle_kb + MEMORY_HEADROOM_KB, memory


async def paired_friend(target: Target, tmp_path: Path) -> Path:
    """The data dir of a friend the daemon has paired with (by its fingerprint)."""
    friend_dir = tmp_path / "paired-friend"
    friend_id = Identity.load_or_create(friend_dir).device_id
    paired = target.chatty("pair", friend_id, "--fingerprint", friend_id)
    assert paired.returncode == 0, paired.stdout + paired.stderr
    return friend_dir


async def under_attack(
    target: Target,
    tmp_path: Path,
    name: str,
    attack: Callable[[threading.Event], None],
    paired: Path | None = None,
) -> dict[str, int]:
    """Run ``attack`` in a thread until it returns (it is told to stop once a friendly
    peer, and the ``paired`` friend restarting if given, have had a message delivered
    meanwhile), then wait for the daemon's memory to come back within ``SETTLED_KB``
    of where it was. Returns the figures in MB, and prints them (``pytest -s``)."""
    before = target.memory()["VmRSS"]
    stop, over = threading.Event(), threading.Event()
    peak = before

    def sample() -> None:
        nonlocal peak
        while not over.wait(0.1):
            peak = max(peak, target.memory()["VmRSS"])

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    flood = asyncio.ensure_future(asyncio.to_thread(attack, stop))
    try:
        await asyncio.sleep(0.5)  # the flood is under way
        await still_serving(target, tmp_path)  # a friend's round trip, during the attack
        if paired is not None:
            await still_serving(target, tmp_path, paired)
        during = target.memory()["VmRSS"]
    finally:
        stop.set()
        await flood
        over.set()
    ended = time.monotonic()
    after = target.memory()["VmRSS"]
    while after > before + SETTLED_KB and time.monotonic() - ended < SETTLE_TIME:
        await asyncio.sleep(1)
        after = target.memory()["VmRSS"]
    figures = {
        "before": before // 1024,
        "during": during // 1024,
        "peak": peak // 1024,
        "after": after // 1024,
        "settled_s": round(time.monotonic() - ended),
    }
    print(f"memory (MB) under {name}: {figures}")
    assert after <= before + SETTLED_KB, figures
    await still_serving(target, tmp_path)
    return figures


def strangers(tmp_path: Path, count: int) -> list[RawPeer]:
    """``count`` peers with keys of their own, each from an address of its own
    (127.0.1.2 and up: every 127/8 address is loopback on Linux)."""
    return [
        RawPeer(tmp_path / f"s{i}", source=f"127.0.{1 + i // 250}.{2 + i % 250}", name=f"s{i}")
        for i in range(count)
    ]


SURROGATES = {
    "message": (
        FrameType.MESSAGE,
        rb'{"id":"' + b"0" * 32 + rb'","ts":1,"kind":"text","body":"\ud800"}',
    ),
    "offer": (
        FrameType.OFFER,
        rb'{"id":"' + b"1" * 32 + rb'","count":1,"size":1,"names":["\ud800.txt"]}',
    ),
    "profile": (FrameType.PROFILE, rb'{"name":"\ud800"}'),
    "receipt": (FrameType.RECEIPT, rb'{"id":"\ud800"}'),
    "pair": (FrameType.PAIR, rb'{"op":"cancel","value":"\ud800"}'),
}


async def test_a_lone_surrogate_ends_the_session_and_leaves_no_ghost(
    target: Target, tmp_path: Path
) -> None:
    """Each text a peer sends, carrying a lone surrogate (``"\\ud800"``), from
    strangers one after another: each gets an ERROR and goes offline, and hundreds
    of them leave neither ghosts online nor memory behind."""
    peers = strangers(tmp_path, 300)
    kinds = list(SURROGATES.values())
    errors: list[dict[str, Any]] = []
    mark = target.daemon.mark()

    def attack(stop: threading.Event) -> None:
        for i, peer in enumerate(peers):
            if stop.is_set() and i >= 2 * len(kinds):
                return
            raw = peer.session(target.port)
            frame_type, payload = kinds[i % len(kinds)]
            raw.send(encode(frame_type, payload))
            errors.append(raw.error())
            raw.sock.close()

    await under_attack(target, tmp_path, "lone surrogates", attack)
    assert errors and all(e.get("code") == "malformed" for e in errors), errors[:3]
    assert "surrogate" in errors[0]["message"]
    attackers = {p.id for p in peers[: len(errors)]}
    offline = {
        e["peer"]["id"]
        for e in target.daemon.events[mark:]
        if e["type"] == "peer-offline" and e["peer"]["id"] in attackers
    }
    assert offline == attackers  # no ghost stays online
    listing = json.loads(target.chatty("peers", "--json").stdout)
    assert not [p for p in listing if p["id"] in attackers and p["online"]]


async def test_a_lone_surrogate_in_a_manifest_path_fails_the_transfer(
    target: Target, mallory: RawPeer, tmp_path: Path
) -> None:
    """Not stuck "running": the transfer fails and says why."""
    _, transfer = await _accepted_bulk(target, mallory, [["\ud800.txt", "file", 5, 0]], b"12345")
    assert transfer["state"] == "failed", transfer
    assert not list(target.downloads.rglob("*.txt"))
    await still_serving(target, tmp_path)


async def test_strangers_who_left_leave_no_memory_behind(target: Target, tmp_path: Path) -> None:
    """600 polite strangers (HELLO, BYE), then 256 that each leave a megabyte of
    unfinished frame and hang up: once they are gone, so is what they cost."""
    peers = strangers(tmp_path, 600)

    def attack(stop: threading.Event) -> None:
        for peer in peers:
            raw = peer.session(target.port)
            raw.send(encode_json(FrameType.BYE, {"reason": "bye"}))
            raw.sock.close()

        def unfinished(peer: RawPeer) -> None:
            raw = peer.session(target.port)
            raw.send(HEADER.pack(1, FrameType.MESSAGE, 1 << 20) + b"x" * ((1 << 20) - 100))
            time.sleep(0.5)  # the node has read it all
            raw.sock.close()

        for batch in range(0, 256, 32):  # 32 at a time, as the friend's peak stays in bounds
            workers = [
                threading.Thread(target=unfinished, args=(p,)) for p in peers[batch : batch + 32]
            ]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()

    await under_attack(target, tmp_path, "strangers who left", attack)


async def test_unfinished_frames_held_at_once_are_bounded(target: Target, tmp_path: Path) -> None:
    """128 strangers each hold most of a megabyte frame unfinished, all at once and
    for as long as the friend's round trip takes: past its budget for all of them
    (``MAX_PARTIAL``), the node drops those holding the most, so it stays bounded."""
    peers = strangers(tmp_path, 128)
    busy: list[str] = []

    def hold(peer: RawPeer, stop: threading.Event) -> None:
        raw = peer.session(target.port)
        raw.send(HEADER.pack(1, FrameType.MESSAGE, 1 << 20) + b"x" * ((1 << 20) - 100))
        error = raw.error(timeout=0.5)
        if not error:
            stop.wait(30)  # still holding it
            # A node short of CPU (two suites side by side on two cores) may still be
            # reading the 128 frames when the friend's round trip is done.
            error = raw.error(timeout=2)
        if error:
            busy.append(error["code"])
        raw.sock.close()

    def attack(stop: threading.Event) -> None:
        workers = [threading.Thread(target=hold, args=(p, stop)) for p in peers]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    figures = await under_attack(target, tmp_path, "unfinished frames held at once", attack)
    assert busy and set(busy) == {"busy"}, busy
    assert figures["peak"] - figures["before"] < MEMORY_HEADROOM_KB // 1024


def silent(source: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.bind((source, 0))
    sock.setblocking(False)
    sock.connect_ex((TARGET, port))
    return sock


async def test_a_handshake_flood_from_many_addresses_locks_nobody_out(
    target: Target, tmp_path: Path
) -> None:
    """40 addresses each keep as many silent connections open as the node lets them
    (more than all the handshakes it allows, together), opening a new one whenever
    one is closed. A newcomer and a paired friend who restarts still get through."""
    paired = await paired_friend(target, tmp_path)
    sources = [f"127.0.2.{2 + i}" for i in range(40)]

    def attack(stop: threading.Event) -> None:
        with selectors.DefaultSelector() as selector:
            for source in sources:
                for _ in range(MAX_HANDSHAKES_PER_ADDRESS):
                    selector.register(silent(source, target.port), selectors.EVENT_READ, source)
            while not stop.is_set():
                for key, _ in selector.select(0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    with contextlib.suppress(OSError):
                        if sock.recv(1):
                            continue
                    selector.unregister(sock)
                    sock.close()
                    selector.register(silent(key.data, target.port), selectors.EVENT_READ, key.data)
            for key in list(selector.get_map().values()):
                selector.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]

    await under_attack(target, tmp_path, "a handshake flood", attack, paired=paired)


async def test_garbage_instead_of_a_preamble(target: Target, mallory: RawPeer, tmp_path: Path):
    sock = mallory.tcp(target.port)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: chatty\r\n\r\n" + os.urandom(4000))
    reply = sock.recv(preamble.REPLY.size)
    assert preamble.parse_reply(reply) is preamble.Status.REFUSED
    assert closed_by_peer(sock, 5)
    target.wait_log("not a Chatty peer (bad magic)")
    await still_serving(target, tmp_path)


@pytest.mark.parametrize(
    ("attack", "code", "logged"),
    [
        # frame format 7 does not exist
        (b"\x07" + b"\xa5" * 5000, "version", "unsupported frame format 7"),
        # a 4 GiB length prefix costs six bytes of buffer, never an allocation
        (HEADER.pack(1, FrameType.MESSAGE, 0xFFFFFFFF) + b"x" * 1000, "too-large", "exceeds the"),
    ],
    ids=["garbage-inside-tls", "4-gib-length-prefix"],
)
async def test_bad_frames_get_an_error_frame(
    target: Target, mallory: RawPeer, tmp_path: Path, attack: bytes, code: str, logged: str
) -> None:
    raw = mallory.session(target.port)
    raw.send(attack)
    error = raw.error()
    assert error["code"] == code and logged in error["message"], error
    target.wait_log(f"protocol error from mallory: {error['message'][:40]}")
    await still_serving(target, tmp_path)


async def test_a_truncated_frame_then_silence_is_dropped(
    target: Target, mallory: RawPeer, tmp_path: Path
) -> None:
    raw = mallory.session(target.port)
    mark = target.daemon.mark()
    raw.send(HEADER.pack(1, FrameType.MESSAGE, 1000) + b'{"id":')  # and never the rest
    # The node pings; an unanswered link (a frame never finished) is dead after 6.5 s.
    offline = await asyncio.to_thread(
        target.daemon.wait_for,
        lambda e: e["type"] == "peer-offline" and e["peer"]["id"] == mallory.id,
        20,
        mark,
    )
    assert "no answer" in offline["text"]
    await still_serving(target, tmp_path)


async def test_frames_out_of_order(target: Target, mallory: RawPeer, tmp_path: Path) -> None:
    sock = mallory.tls(target.port)  # TLS up, but a MESSAGE where HELLO must come first
    sock.sendall(
        encode_json(FrameType.MESSAGE, {"id": "0" * 32, "ts": 1, "kind": "text", "body": "hi"})
    )
    data = b""
    sock.settimeout(10)
    while chunk := sock.recv(65536):
        data += chunk
    assert b'"code":"order"' in data and b"MESSAGE not allowed while handshake" in data
    # And a second HELLO on an open session.
    raw = mallory.session(target.port)
    raw.send(encode_json(FrameType.HELLO, {"proto": [2, 2], "id": mallory.id}))
    assert raw.error()["code"] == "order"
    target.wait_log("HELLO not allowed while open")
    await still_serving(target, tmp_path)


async def test_slowloris_handshakes_are_cut_off(target: Target, tmp_path: Path) -> None:
    """Connections that never finish: the preamble a byte at a time, TLS never
    started, HELLO never sent. Each is closed by the handshake deadline."""
    slow = RawPeer(tmp_path / "slow", source="127.0.0.4")
    request = preamble.encode_request(preamble.ChannelKind.CONTROL, slow.identity.cert_der)
    dribblers = [slow.tcp(target.port) for _ in range(4)]
    no_tls, _ = slow.preamble(target.port, preamble.ChannelKind.CONTROL)
    no_hello = slow.tls(target.port)
    stop = threading.Event()

    def dribble() -> None:
        for i in range(len(request)):
            for sock in dribblers:
                with contextlib.suppress(OSError):
                    sock.send(request[i : i + 1])
            if stop.wait(0.5):
                return

    feeder = threading.Thread(target=dribble, daemon=True)
    feeder.start()
    try:
        await still_serving(target, tmp_path)  # meanwhile, others are served
        closed = await asyncio.gather(
            *(asyncio.to_thread(closed_by_peer, s, 15) for s in [*dribblers, no_tls, no_hello])
        )
        assert all(closed), closed
    finally:
        stop.set()
    target.wait_log("refused a connection from 127.0.0.4: timed out")
    await still_serving(target, tmp_path)


async def test_500_connections_at_once(target: Target, tmp_path: Path) -> None:
    socks = []
    for _ in range(500):
        sock = socket.socket()
        sock.bind(("127.0.0.3", 0))
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", target.port))
        socks.append(sock)
    try:
        await still_serving(target, tmp_path)
        target.wait_log(f"{MAX_HANDSHAKES_PER_ADDRESS} handshakes from this address in progress")
        # Each is refused at once or cut off by the handshake deadline.
        assert await asyncio.to_thread(all_closed_by_peer, socks, 30) == 0
    finally:
        for sock in socks:
            sock.close()
    await still_serving(target, tmp_path)


async def test_a_message_flood_is_cut_off_and_bounded(
    target: Target, mallory: RawPeer, tmp_path: Path
) -> None:
    raw = mallory.session(target.port)
    raw.send(b"".join(raw.message(i) for i in range(5000)))
    error = raw.error()
    assert error["code"] == "rate-limit"
    target.wait_log("protocol error from mallory: sending too fast")
    history = target.chatty("history", mallory.id[:16], "--json", "--limit", "10000")
    stored = len(json.loads(history.stdout))
    assert 0 < stored <= COSTLY_BURST + 5 * COSTLY_RATE
    await still_serving(target, tmp_path)


async def test_reconnecting_does_not_refill_the_budget(target: Target, tmp_path: Path) -> None:
    """Most of a burst, hang up, come back as a "new run" and send most of a burst
    again, right behind the HELLO: the second half is over the peer's budget, which
    outlives its sessions from their first byte (a read's worth behind the HELLO
    once slipped through unchecked, a fresh burst on every reconnect)."""
    eve = RawPeer(tmp_path / "eve", source="127.0.0.8", name="eve")
    almost = COSTLY_BURST - 100
    started = time.monotonic()
    first = eve.session(target.port)
    first.send(b"".join(first.message(i) for i in range(almost)))
    first.frames(lambda f: False, timeout=1)  # read what comes back, then hang up
    first.sock.close()
    flood = b"".join(RawSession.message(almost + i) for i in range(almost))
    second = eve.session(target.port, boot="1" * 16, behind=flood)
    assert second.error()["code"] == "rate-limit"
    # A fresh budget would have taken all of the second flood without a word (the
    # error above). What one budget allows in all is its burst plus its refill over
    # the time both floods took, seconds on a loaded machine: not a fixed count.
    allowed = COSTLY_BURST + COSTLY_RATE * (time.monotonic() - started)
    history = target.chatty("history", eve.id[:16], "--json", "--limit", "10000")
    kept = len(json.loads(history.stdout))
    assert kept <= allowed, (kept, allowed)
    await still_serving(target, tmp_path)


async def test_huge_and_too_many_offers(target: Target, mallory: RawPeer, tmp_path: Path) -> None:
    raw = mallory.session(target.port)
    mark = target.daemon.mark()
    raw.send(raw.offer("1" * 32, 100_000, 10**9, ["node_modules"]))
    offered = await asyncio.to_thread(
        target.daemon.wait_for, lambda e: e["type"] == "transfer-offered", 10, mark
    )
    assert offered["transfer"]["count"] == 100_000
    assert offered["transfer"]["state"] == "offered"  # an unverified peer: asked, not taken
    # Twenty more: the first few wait with it, the rest are declined unstored.
    raw.send(b"".join(raw.offer(f"{i + 2:032x}", 1, 1, ["x"]) for i in range(20)))
    answers = raw.frames(
        lambda f: f.type == FrameType.ANSWER and f.json()["id"] == f"{21:032x}", timeout=10
    )
    declined = [f.json() for f in answers if f.type == FrameType.ANSWER]
    assert len(declined) == 21 - MAX_PENDING_OFFERS
    assert all("too many offers" in a["reason"] for a in declined)
    listing = json.loads(target.chatty("transfers", "--json").stdout)
    assert sum(t["peer_id"] == mallory.id for t in listing) == MAX_PENDING_OFFERS
    # Over the protocol's own limit: an error, not an offer.
    raw.send(raw.offer("f" * 32, MAX_FILES + 1, 1, ["x"]))
    assert raw.error()["code"] == "malformed"
    assert not target.downloads.exists() or not any(target.downloads.iterdir())
    await still_serving(target, tmp_path)


async def _accepted_bulk(
    target: Target, mallory: RawPeer, entries: list[list[object]], payload: bytes
) -> tuple[BulkServer, dict[str, Any]]:
    """Offer one file from a raw session, accept it at the daemon, serve the bulk
    side; returns the server and the transfer as the daemon finally reports it."""
    server = BulkServer(mallory, entries, payload)
    raw = mallory.session(target.port, listen_port=server.port)
    transfer_id = os.urandom(16).hex()
    mark = target.daemon.mark()
    size = sum(int(e[2]) for e in entries)  # type: ignore[call-overload]
    raw.send(raw.offer(transfer_id, len(entries), size, ["innocent.txt"]))
    await asyncio.to_thread(
        target.daemon.wait_for, lambda e: e["type"] == "transfer-offered", 10, mark
    )
    accepted = target.chatty("accept", transfer_id[:8])
    assert accepted.returncode == 0, accepted.stderr
    await asyncio.to_thread(server.join)
    ended = await asyncio.to_thread(
        target.daemon.wait_for,
        lambda e: (
            e["type"] == "transfer"
            and e["transfer"]["id"] == transfer_id
            and e["transfer"]["state"] in ("done", "failed", "interrupted")
        ),
        15,
        mark,
    )
    raw.sock.close()
    return server, ended["transfer"]


async def test_paths_that_climb_out_of_the_folder_stay_inside(
    target: Target, mallory: RawPeer, tmp_path: Path
) -> None:
    server, transfer = await _accepted_bulk(
        target, mallory, [["../../escape.txt", "file", 5, 0]], b"pwned"
    )
    assert server.error is None, server.error
    assert transfer["state"] == "done", transfer
    assert not (target.root / "escape.txt").exists()
    assert not (target.downloads.parent / "escape.txt").exists()
    landed = [p for p in target.downloads.rglob("escape.txt")]
    assert len(landed) == 1 and landed[0].read_bytes() == b"pwned"
    assert landed[0].resolve().is_relative_to(target.downloads.resolve())
    target.wait_log("unsafe path '../../escape.txt' from the sender")
    await still_serving(target, tmp_path)


async def test_data_beyond_the_declared_size_is_refused(
    target: Target, mallory: RawPeer, tmp_path: Path
) -> None:
    server, transfer = await _accepted_bulk(
        target, mallory, [["overflow.txt", "file", 5, 0]], b"x" * 4096
    )
    assert transfer["state"] in ("failed", "interrupted"), transfer
    errors = server.bodies(BulkType.ERROR)
    assert errors and "more bytes than the file has" in errors[0]["message"], server.received
    assert not list(target.downloads.rglob("overflow*"))  # nothing under a final name
    await asyncio.sleep(0.5)
    partials = target.downloads / ".chatty-partial"
    assert not partials.exists() or not any(p.is_file() for p in partials.rglob("*"))
    await still_serving(target, tmp_path)


async def test_crafted_json_is_an_error_not_a_crash(
    target: Target, mallory: RawPeer, tmp_path: Path
) -> None:
    """Each of these once got past the checks: a megabyte-deep array, a NaN time
    (SQLite cannot store it), a time too large for a float."""
    for payload, expected in (
        (b"[" * 500_000 + b"]" * 500_000, "nested too deeply"),
        (b'{"id":"' + b"0" * 32 + b'","ts":NaN,"kind":"text","body":"x"}', "not a time"),
        (
            b'{"id":"' + b"1" * 32 + b'","ts":1' + b"0" * 400 + b',"kind":"text","body":"x"}',
            "not a time",
        ),
    ):
        raw = mallory.session(target.port)
        raw.send(encode(FrameType.MESSAGE, payload))
        error = raw.error()
        assert error.get("code") == "malformed" and expected in error["message"], error
    await still_serving(target, tmp_path)


async def test_stalled_bulk_handshakes_hold_no_thread_a_transfer_needs(
    target: Target, tmp_path: Path
) -> None:
    """Three addresses keep opening file connections that stop after the preamble (TLS
    never comes), as many as the node lets them, for as long as the test runs. The
    node's file threads must stay free: a real transfer from it to a friend goes
    through and verifies, and every stalled connection is closed by the node."""
    stallers = [RawPeer(tmp_path / f"stall{i}", source=f"127.0.0.{5 + i}") for i in range(3)]
    held: list[socket.socket] = []
    stop = threading.Event()

    def keep_stalling() -> None:
        while not stop.is_set():
            for peer in stallers:
                with contextlib.suppress(OSError, ChattyError):  # refused: at the cap
                    sock, status = peer.preamble(target.port, preamble.ChannelKind.BULK)
                    if status == preamble.Status.OK:
                        held.append(sock)
                    else:
                        sock.close()
            stop.wait(0.05)

    friend = Node(tmp_path / "friend", name="friend", discovery=False, accept_from=["*"])
    await friend.start()
    feeder = threading.Thread(target=keep_stalling, daemon=True)
    feeder.start()
    try:
        events = friend.subscribe()
        await friend.add_peer("127.0.0.1", target.port)
        target_id = target.daemon.info["id"]
        friend.pair_by_fingerprint(target_id, target_id)  # so the friend takes it unasked
        await asyncio.sleep(1.0)  # the stallers are in place
        payload = tmp_path / "payload.bin"
        payload.write_bytes(os.urandom(20_000_000))
        sent = await asyncio.to_thread(target.chatty, "send", friend.device_id, str(payload))
        assert sent.returncode == 0 and "verified" in sent.stdout, sent.stdout + sent.stderr
        async with asyncio.timeout(10):
            while True:
                event = await events.get()
                if event.transfer is not None and event.transfer.state == "done":
                    break
        landed = Path(event.transfer.saved[0])
        assert landed.read_bytes() == payload.read_bytes()
    finally:
        stop.set()
        feeder.join(5)
        await friend.stop()
    assert held, "no stalled connection got past the preamble: the test tested nothing"
    assert all_closed_by_peer(held, 15) == 0
    target.wait_log("bulk handshake failed: timed out")
