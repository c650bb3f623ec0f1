"""File transfers between two real nodes over real TLS on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chatty_p2p.errors import ChattyError, PeerError
from chatty_p2p.files import landing, sending
from chatty_p2p.files.landing import PARTIAL_DIR
from chatty_p2p.files.model import TransferInfo
from chatty_p2p.node import EventType, Node
from chatty_p2p.protocol.bulk.wire import Entry
from chatty_p2p.store import Store, TransferRecord
from tests.support.transfers import ended, grows_to, vouch, wait_transfer


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (or "dir") for everything under root, partials excluded."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(PARTIAL_DIR):
            continue
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def make_tree(root: Path) -> Path:
    top = root / "album"
    (top / "nested" / "deeper").mkdir(parents=True)
    (top / "empty").mkdir()
    (top / "zero.bin").write_bytes(b"")
    (top / "nested" / "naïve café 🎉.txt").write_text("unicode names survive\n")
    (top / "nested" / "deeper" / "big.bin").write_bytes(os.urandom(24 * 1024 * 1024 + 17))
    for i in range(300):  # many small files, without a round trip each
        (top / "nested" / f"small-{i:03}.txt").write_text(f"file {i}\n" * (i % 7))
    return top


async def big_transfer_under_way(
    pair: tuple[Node, Node], big: Path, landed: int
) -> tuple[TransferInfo, Path]:
    """256 MiB from a to b, who accepts unasked, until ``landed`` bytes are on b's
    disk; returns the transfer and its partial file there."""
    a, b = pair
    b._guard.accept_from = ["*"]
    vouch(b, a)
    big.write_bytes(os.urandom(256 * 1024 * 1024))
    sent = await a.send_files(b.device_id, [big])
    partial = b.files.download_dir / PARTIAL_DIR / sent.id / "0"
    await grows_to(partial, landed)
    return sent, partial


async def test_folder_tree_arrives_identical_after_consent(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    a, b = pair
    source = make_tree(tmp_path / "src")
    a_events, b_events = a.subscribe(), b.subscribe()
    sent = await a.send_files(b.device_id, [source])
    offer = await wait_transfer(b_events, lambda t: True, (EventType.TRANSFER_OFFERED,))
    assert (offer.id, offer.peer_name, offer.names) == (sent.id, "alpha", ["album"])
    assert offer.count == 304 and offer.size == sent.size  # 302 files, 2 folders w/o files
    b.accept(offer.id[:8])
    done = await wait_transfer(b_events, ended)
    assert done.state == "done", done.error
    assert (await wait_transfer(a_events, ended)).state == "done"
    assert tree_digest(tmp_path / "b-dl" / "album") == tree_digest(source)
    assert not (tmp_path / "b-dl" / PARTIAL_DIR).exists()
    # Sending the same folder again lands beside it, never over it.
    again = await a.send_files(b.device_id, [source / "zero.bin", source])
    await wait_transfer(b_events, lambda t: t.id == again.id, (EventType.TRANSFER_OFFERED,))
    b.accept(again.id)
    assert (await wait_transfer(b_events, ended)).state == "done"
    assert tree_digest(tmp_path / "b-dl" / "album (1)") == tree_digest(source)
    assert (tmp_path / "b-dl" / "zero.bin").stat().st_size == 0


async def test_declined_offer_leaves_nothing(pair: tuple[Node, Node], tmp_path: Path) -> None:
    a, b = pair
    source = tmp_path / "secret.txt"
    source.write_text("no thanks")
    a_events, b_events = a.subscribe(), b.subscribe()
    sent = await a.send_files(b.device_id, [source])
    await wait_transfer(b_events, lambda t: True, (EventType.TRANSFER_OFFERED,))
    b.decline(sent.id)
    refused = await wait_transfer(a_events, ended)
    assert refused.state == "declined" and "bravo declined" in refused.error
    assert not any((tmp_path / "b-dl").rglob("*"))


async def test_not_enough_space_is_refused_with_a_reason(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    a, b = pair
    big = tmp_path / "huge.img"
    with big.open("wb") as f:  # sparse: claims far more than any disk here has free
        f.truncate(1 << 40)
    a_events = a.subscribe()
    await a.send_files(b.device_id, [big])
    refused = await wait_transfer(a_events, ended)
    assert refused.state == "declined" and "not enough free space" in refused.error


async def test_hostile_names_never_leave_the_download_folder(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    """A sender whose manifest is crafted: the receiver must keep every file inside."""
    a, b = pair
    dl = tmp_path / "b-dl"
    outside = tmp_path / "outside"
    outside.mkdir()
    dl.mkdir()
    (dl / "trap").symlink_to(outside, target_is_directory=True)
    (dl / "trapfile").symlink_to(outside / "victim")
    hostile = [
        "../escape",
        "../../escape2",
        "/etc/passwd-copy",
        "a/../../b",
        "C:\\Windows\\x.txt",
        "C:/x2",
        "\\\\server\\share",
        "nul\x00byte",
        "CON",
        "aux.txt",
        "x" * 300,
        "trap/inside",
        "trapfile",
        "..",
        ".",
        "dir/./../..",
        "ctrl\x1b[31mred",
        "bidi\u202etxt.exe",
        "trailing. . ",
        "com1",
        "LPT9.log",
        "a/" * 70 + "deep",
    ]
    payload = tmp_path / "payload"
    payload.write_bytes(b"hostile payload")
    entries = [Entry(name, "file", payload.stat().st_size, 0.0) for name in hostile[:-1]]
    record = TransferRecord(
        id="f" * 32,
        peer_id=b.device_id,
        outgoing=True,
        state="offered",
        count=len(entries),
        size=sum(e.size for e in entries),
        names=["crafted"],
    )
    a.store.add_transfer(record)
    a.store.add_entries(record.key, entries, [str(payload)] * len(entries))
    b_events = b.subscribe()
    a.files._ledger.live_for(record)
    conn = a._peers.connection(b.device_id)
    assert conn is not None
    a.files._offer(conn, record)
    offer = await wait_transfer(b_events, lambda t: True, (EventType.TRANSFER_OFFERED,))
    b.accept(offer.id)
    done = await wait_transfer(b_events, ended)
    assert done.state == "done", done.error
    assert not any(outside.iterdir())  # nothing through the planted symlinks
    landed = [p for p in dl.rglob("*") if p.is_file() and not p.is_symlink()]
    assert len(landed) == len(entries)
    for path in landed:
        assert path.resolve().is_relative_to(dl.resolve())
        assert path.read_bytes() == b"hostile payload"
        assert len(path.name.encode()) <= 255
    assert {p.name for p in dl.iterdir()} >= {"trap", "trapfile", "_CON", "_aux.txt"}


async def test_resume_after_receiver_restart_and_tampered_partial(tmp_path: Path) -> None:
    """Stop the receiver mid-file: it resumes from what is on disk; a corrupted
    partial is caught by the hash and nothing lands under the final name."""
    a = Node(tmp_path / "a", name="alpha", discovery=False, download_dir=tmp_path / "a-dl")
    b_dl = tmp_path / "b-dl"
    b = Node(
        tmp_path / "b", name="bravo", discovery=False, accept_from=["alpha"], download_dir=b_dl
    )
    await a.start()
    await b.start()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(256 * 1024 * 1024))
    try:
        for tamper in (False, True):
            await a.add_peer("127.0.0.1", b.port)
            vouch(b, a)
            a_events, b_events = a.subscribe(), b.subscribe()
            sent = await a.send_files(b.device_id, [big])
            partial = b_dl / PARTIAL_DIR / sent.id / "0"
            await grows_to(partial, 8 << 20)
            await b.stop()  # mid-file: the partial stays
            on_disk = partial.stat().st_size
            assert 0 < on_disk < big.stat().st_size
            if tamper:
                with partial.open("r+b") as f:
                    f.seek(1000)
                    byte = f.read(1)
                    f.seek(1000)
                    f.write(bytes([byte[0] ^ 0xFF]))
            b = Node(tmp_path / "b", discovery=False, accept_from=["alpha"], download_dir=b_dl)
            await b.start()
            b_events = b.subscribe()
            await a.add_peer("127.0.0.1", b.port)
            result = await wait_transfer(b_events, lambda t, s=sent.id: t.id == s and ended(t))
            if tamper:
                assert result.state == "failed" and "hash mismatch" in result.error
                assert not (b_dl / "big (1).bin").exists()
                told = await wait_transfer(a_events, lambda t, s=sent.id: t.id == s and ended(t))
                assert told.state == "failed" and "hash mismatch" in told.error  # both agree
            else:
                assert result.state == "done", result.error
                assert 0 < result.resumed_from <= on_disk  # only the rest was sent
                assert (b_dl / "big.bin").read_bytes() == big.read_bytes()
    finally:
        await a.stop()
        await b.stop()


async def test_transfers_run_both_ways_at_once(pair: tuple[Node, Node], tmp_path: Path) -> None:
    a, b = pair
    b._guard.accept_from = ["*"]
    a._guard.accept_from = ["*"]
    vouch(a, b), vouch(b, a)
    files = {}
    for name in ("one", "two", "back"):
        files[name] = tmp_path / f"{name}.bin"
        files[name].write_bytes(os.urandom(16 * 1024 * 1024))
    a_events, b_events = a.subscribe(), b.subscribe()
    sent = await asyncio.gather(
        a.send_files(b.device_id, [files["one"]]),
        a.send_files(b.device_id, [files["two"]]),
        b.send_files(a.device_id, [files["back"]]),
    )
    ids = {t.id for t in sent}
    finished: dict[str, TransferInfo] = {}
    async with asyncio.timeout(60):
        while len(finished) < 6:  # each transfer ends on both sides
            for queue in (a_events, b_events):
                while not queue.empty():
                    event = queue.get_nowait()
                    t = event.transfer
                    if event.type is EventType.TRANSFER and t is not None and ended(t):
                        finished[f"{t.id}{t.outgoing}"] = t
            await asyncio.sleep(0.05)
    assert {t.id for t in finished.values()} == ids
    assert all(t.state == "done" for t in finished.values())
    for name, where in (("one", "b-dl"), ("two", "b-dl"), ("back", "a-dl")):
        assert (tmp_path / where / f"{name}.bin").read_bytes() == files[name].read_bytes()


@pytest.mark.parametrize("side", ["receiver", "sender"])
async def test_cancel_from_either_side_tells_the_other_and_keeps_nothing(
    pair: tuple[Node, Node], tmp_path: Path, side: str
) -> None:
    a, b = pair
    a_events, b_events = a.subscribe(), b.subscribe()
    sent, partial = await big_transfer_under_way(pair, tmp_path / "big.bin", 1 << 20)
    canceller, other = (b, a_events) if side == "receiver" else (a, b_events)
    canceller.cancel(sent.id[:6])
    told = await wait_transfer(other, ended)
    assert told.state == "cancelled" and "cancelled by" in told.error
    await asyncio.sleep(0.2)
    assert not (tmp_path / "b-dl" / "big.bin").exists()
    assert not partial.exists()


async def test_sender_restart_resumes_the_transfer(tmp_path: Path) -> None:
    b_dl = tmp_path / "b-dl"
    a = Node(tmp_path / "a", name="alpha", discovery=False)
    b = Node(tmp_path / "b", name="bravo", discovery=False, accept_from=["*"], download_dir=b_dl)
    await a.start()
    await b.start()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(256 * 1024 * 1024))
    await a.add_peer("127.0.0.1", b.port)
    vouch(b, a)
    b_events = b.subscribe()
    sent = await a.send_files(b.device_id, [big])
    partial = b_dl / PARTIAL_DIR / sent.id / "0"
    await grows_to(partial, 8 << 20)
    await a.stop()
    a = Node(tmp_path / "a", discovery=False)
    await a.start()
    try:
        await a.add_peer("127.0.0.1", b.port)  # the sender is back: the receiver resumes
        done = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t))
        assert done.state == "done" and done.resumed_from > 0
        assert (b_dl / "big.bin").read_bytes() == big.read_bytes()
    finally:
        await a.stop()
        await b.stop()


async def test_unanswered_offer_expires(
    pair: tuple[Node, Node], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chatty_p2p.files.offers.OFFER_TTL", 0.5)
    a, b = pair
    note = tmp_path / "note.txt"
    note.write_text("anyone?")
    a_events = a.subscribe()
    await a.send_files(b.device_id, [note])
    expired = await wait_transfer(a_events, ended)
    assert expired.state == "expired" and "expired" in expired.error
    assert not any((tmp_path / "b-dl").rglob("*"))


async def test_only_trusted_peers_are_auto_accepted(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    a, b = pair
    b._guard.accept_from = ["*"]  # "anyone" still means any *trusted* peer
    note = tmp_path / "note.txt"
    note.write_text("from a friend")
    b_events = b.subscribe()

    async def offer_is(expected: str) -> None:
        sent = await a.send_files(b.device_id, [note])
        if expected == "asked":
            asked = await wait_transfer(b_events, lambda t: True, (EventType.TRANSFER_OFFERED,))
            assert asked.id == sent.id and asked.state == "offered"
            b.decline(sent.id)
        else:
            done = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t))
            assert done.state == "done"

    await offer_is("asked")  # unverified: always asked
    with pytest.raises(PeerError, match="not alpha's key"):
        b.pair_by_fingerprint(a.device_id, b.device_id[:16])  # a wrong fingerprint
    vouch(b, a)
    assert b.peer(a.device_id).trust == "trusted"
    await offer_is("accepted")
    assert (tmp_path / "b-dl" / "note.txt").read_text() == "from a friend"
    b.unpair(a.device_id)
    await offer_is("asked")
    b._guard.accept_from = []
    vouch(b, a)
    await offer_is("asked")  # trusted, but auto-accept is off by default
    b.set_auto_accept_trusted(True)
    await offer_is("accepted")


async def test_a_folder_of_many_empty_files_ends_done_on_both_sides(
    pair: tuple[Node, Node], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver lands the files long after the sender's last byte (100,000 empty
    files took more than the 15 s a link may stay silent): it must say it is still
    landing, or the sender gives up. Shown here with 3,000 files, each landed a
    little slower than a disk would, and the allowed silence cut to 1 s."""
    monkeypatch.setattr("chatty_p2p.net.bulk.BULK_TIMEOUT", 1.0)
    monkeypatch.setattr("chatty_p2p.files.sending.ALIVE_EVERY", 0.2)
    monkeypatch.setattr("chatty_p2p.files.receiving.ALIVE_EVERY", 0.2)
    land = landing.Landing.finish

    def slowly(self: landing.Landing, index: int, dest: str, mtime: float) -> Path:
        time.sleep(0.001)
        return land(self, index, dest, mtime)

    monkeypatch.setattr(landing.Landing, "finish", slowly)
    a, b = pair
    b._guard.accept_from = ["*"]
    vouch(b, a)
    folder = tmp_path / "empties"
    folder.mkdir()
    for i in range(3000):
        (folder / f"{i:05}").touch()
    a_events, b_events = a.subscribe(), b.subscribe()
    sent = await a.send_files(b.device_id, [folder])
    received = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t), timeout=60)
    assert received.state == "done", received.error
    sender = await wait_transfer(a_events, lambda t: t.id == sent.id and ended(t), timeout=60)
    assert sender.state == "done", sender.error
    assert len(list((tmp_path / "b-dl" / "empties").iterdir())) == 3000
    assert a.transfers()[0].state == "done"  # and so it stays, interrupted by nothing


@pytest.mark.parametrize("inside", [False, True], ids=["file", "in-a-folder"])
async def test_a_name_that_is_not_utf8_is_sent_readable(
    pair: tuple[Node, Node], tmp_path: Path, inside: bool
) -> None:
    """Linux names are bytes; one from an old Latin-1 disk is not UTF-8. It goes out
    with U+FFFD for the byte that is not text, and its real bytes are read."""
    a, b = pair
    b._guard.accept_from = ["*"]
    vouch(b, a)
    root = tmp_path / "old disk"
    root.mkdir()
    name = os.fsdecode(b"caf\xe9.txt")
    (root / name).write_bytes(b"latin-1 name\n")
    target = root if inside else root / name
    a_events, b_events = a.subscribe(), b.subscribe()
    sent = await a.send_files(b.device_id, [target])
    assert sent.names == (["old disk"] if inside else ["caf\ufffd.txt"])
    received = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t))
    assert received.state == "done", received.error
    assert (await wait_transfer(a_events, lambda t: t.id == sent.id and ended(t))).state == "done"
    landed = tmp_path / "b-dl" / ("old disk" if inside else "") / "caf\ufffd.txt"
    assert landed.read_bytes() == b"latin-1 name\n"
    assert [t.state for t in a.transfers()] == ["done"]  # no ghost offer left behind


async def test_partials_of_ended_transfers_go_and_resumable_ones_stay(tmp_path: Path) -> None:
    """At start-up: leftovers of a transfer that ended (or that the store does not
    know) are removed; those of one that can resume are kept."""
    dl = tmp_path / "dl"
    node = Node(tmp_path / "n", name="n", discovery=False, download_dir=dl)
    await node.start()
    ids = {state: f"{n:x}" * 32 for n, state in enumerate(["failed", "interrupted", "paused"])}
    for state, tid in ids.items():
        node.store.add_transfer(
            TransferRecord(tid, "e" * 64, False, state, 1, 5, ["x"], folder=str(dl))
        )
    await node.stop()
    stray, upload = "f" * 32, "browser-1"  # an upload of `chatty share` is not ours
    for tid in [*ids.values(), stray, upload]:
        (dl / PARTIAL_DIR / tid).mkdir(parents=True)
        (dl / PARTIAL_DIR / tid / "0").write_bytes(b"part")
    node = Node(tmp_path / "n", discovery=False, download_dir=dl)
    await node.start()
    try:
        async with asyncio.timeout(10):
            while (dl / PARTIAL_DIR / stray).exists():
                await asyncio.sleep(0.02)
        left = sorted(p.name for p in (dl / PARTIAL_DIR).iterdir())
        assert left == sorted([ids["interrupted"], ids["paused"], upload])
    finally:
        await node.stop()


async def test_an_offer_a_peer_would_refuse_fails_at_once_naming_the_files(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    """Each byte of a name that is not UTF-8 takes three on the wire: a deep enough
    folder of such names is longer than a receiver takes. The sender says so up
    front, naming the files, and keeps no offer."""
    a, b = pair
    deep = tmp_path / "deep"
    part = os.fsdecode(b"\xe9" * 200)
    leaf = deep.joinpath(*[part] * 7)
    leaf.mkdir(parents=True)
    (leaf / "x.txt").write_text("too deep")
    with pytest.raises(ChattyError, match=r"1 path\(s\) longer than a peer takes .*deep/"):
        await a.send_files(b.device_id, [deep])
    assert a.transfers() == []


@pytest.mark.parametrize("case", ["declined", "cancelled-by-sender", "cancelled-by-receiver"])
async def test_an_end_the_peer_missed_reaches_it_when_it_is_back(tmp_path: Path, case: str) -> None:
    """One side declines or cancels while the other is away: once both run again,
    both say the same, instead of an offer or a transfer waiting on for ever."""
    dirs = {"alpha": tmp_path / "a", "bravo": tmp_path / "b"}
    b_dl = tmp_path / "b-dl"

    def node(name: str) -> Node:
        auto = ["alpha"] if name == "bravo" and case != "declined" else []
        return Node(dirs[name], name=name, discovery=False, download_dir=b_dl, accept_from=auto)

    a, b = node("alpha"), node("bravo")
    await a.start()
    await b.start()
    try:
        await a.add_peer("127.0.0.1", b.port)
        vouch(b, a)
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(256 * 1024 * 1024 if case != "declined" else 10))
        b_events = b.subscribe()
        sent = await a.send_files(b.device_id, [big])
        if case == "declined":
            await wait_transfer(b_events, lambda t: True, (EventType.TRANSFER_OFFERED,))
        else:
            await grows_to(b_dl / PARTIAL_DIR / sent.id / "0", 8 << 20)
        acting, away = (a, b) if case == "cancelled-by-sender" else (b, a)
        await away.stop()
        if case == "declined":
            b.decline(sent.id)
        else:
            acting.cancel(sent.id)
        away = node("alpha" if away is a else "bravo")
        await away.start()
        a, b = (away, b) if acting is b else (a, away)
        a_events, b_events = a.subscribe(), b.subscribe()
        await a.add_peer("127.0.0.1", b.port)
        events = a_events if acting is b else b_events
        told = await wait_transfer(events, lambda t: t.id == sent.id and ended(t))
        assert told.state == ("declined" if case == "declined" else "cancelled"), told
        assert told.error == ("bravo declined" if case == "declined" else told.error)
        assert [t.state for t in a.transfers()] == [t.state for t in b.transfers()]
        async with asyncio.timeout(10):  # the receiver keeps no partial bytes
            while (b_dl / PARTIAL_DIR / sent.id).exists():
                await asyncio.sleep(0.02)
    finally:
        await a.stop()
        await b.stop()


async def test_a_transfer_that_fails_leaves_no_partial_bytes(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    """The source shrinks mid-way: both sides end failed with the sender's reason, and
    the receiver's partial bytes, which can never be resumed, are gone."""
    a, b = pair
    a_events, b_events = a.subscribe(), b.subscribe()
    big = tmp_path / "growing.log"
    sent, partial = await big_transfer_under_way(pair, big, 8 << 20)
    os.truncate(big, 1 << 20)
    received = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t))
    assert received.state == "failed" and "shrank while being sent" in received.error
    told = await wait_transfer(a_events, lambda t: t.id == sent.id and ended(t))
    assert told.state == "failed" and "shrank while being sent" in told.error
    assert not partial.exists() and not (tmp_path / "b-dl" / "growing.log").exists()


async def test_an_accepted_transfer_the_receiver_never_fetches_is_not_running_for_ever(
    pair: tuple[Node, Node], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver accepts and then never connects for the bytes (it went away in
    between): the sender shows the transfer interrupted, saying so, not "running"."""
    monkeypatch.setattr("chatty_p2p.files.pump.BULK_WAIT", 0.5)
    a, b = pair
    b._guard.accept_from = ["*"]
    vouch(b, a)

    async def never(live: object) -> None:
        pass

    monkeypatch.setattr(b.files._pump, "_receive", never)
    note = tmp_path / "note.txt"
    note.write_text("anyone?")
    a_events = a.subscribe()
    sent = await a.send_files(b.device_id, [note])
    await wait_transfer(a_events, lambda t: t.id == sent.id and t.state == "running")
    stuck = await wait_transfer(a_events, lambda t: t.id == sent.id and t.state != "running")
    assert stuck.state == "interrupted"
    assert stuck.error == "bravo accepted but has not connected for the bytes"


def test_a_file_landed_again_after_a_kill_is_not_copied(tmp_path: Path) -> None:
    """A receiver killed after a file got its name but before the store recorded it
    lands it again on resume: it must find it there, not add "f (1).txt"."""
    place = landing.Landing(tmp_path, "a" * 32)
    place.prepare()
    place.partial(0).write_bytes(b"landed once")
    first = place.finish(0, "dir/f.txt", 0.0)
    again = place.finish(0, "dir/f.txt", 0.0)  # the next run, before ``forget``
    assert again == first and os.listdir(tmp_path / "dir") == ["f.txt"]
    place.forget([0])
    assert not place.partial(0).exists() and first.read_bytes() == b"landed once"


async def test_a_download_folder_whose_name_is_not_utf8(tmp_path: Path) -> None:
    """The folder is stored as its bytes and shown readable; the file lands in it."""
    dl = tmp_path / os.fsdecode(b"t\xe9l\xe9chargements")
    a = Node(tmp_path / "a", name="alpha", discovery=False)
    b = Node(tmp_path / "b", name="bravo", discovery=False, download_dir=dl, accept_from=["*"])
    await a.start()
    await b.start()
    try:
        await a.add_peer("127.0.0.1", b.port)
        vouch(b, a)
        note = tmp_path / "note.txt"
        note.write_text("hello")
        b_events = b.subscribe()
        sent = await a.send_files(b.device_id, [note])
        done = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t))
        assert done.state == "done", done.error
        assert done.folder == str(tmp_path / "t\ufffdl\ufffdchargements")
        assert (dl / "note.txt").read_text() == "hello"
        assert b.transfers()[0].folder == done.folder
        a_events = a.subscribe()
        big = tmp_path / "big.img"
        with big.open("wb") as f:  # sparse: more than any disk here has free
            f.truncate(1 << 40)
        offered = await a.send_files(b.device_id, [big])
        # (the first transfer's end may still come to alpha: wait for this one's)
        refused = await wait_transfer(a_events, lambda t: t.id == offered.id and ended(t))
        assert refused.state == "declined" and "t\ufffdl\ufffdchargements" in refused.error
    finally:
        await a.stop()
        await b.stop()


async def test_a_resume_survives_slow_hashing_of_what_is_already_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both sides hash the bytes a resume already has before new ones flow: tens of
    gigabytes, or a slow disk, take longer than the silence a link is allowed. Here
    reading them takes 3 s on each side and the allowed silence is cut to 1 s."""
    monkeypatch.setattr("chatty_p2p.net.bulk.BULK_TIMEOUT", 1.0)
    monkeypatch.setattr("chatty_p2p.files.sending.ALIVE_EVERY", 0.2)
    monkeypatch.setattr("chatty_p2p.files.receiving.ALIVE_EVERY", 0.2)
    real = landing.hashed_prefix

    def slow_disk(fd: int, start: int, end: int, tick: Callable[[], None]) -> object:
        for _ in range(15):
            time.sleep(0.2)
            tick()
        return real(fd, start, end, tick)

    monkeypatch.setattr(landing, "hashed_prefix", slow_disk)  # the receiver's
    monkeypatch.setattr(sending, "hashed_prefix", slow_disk)  # and the sender's
    b_dl = tmp_path / "b-dl"
    a = Node(tmp_path / "a", name="alpha", discovery=False)
    b = Node(tmp_path / "b", name="bravo", discovery=False, accept_from=["*"], download_dir=b_dl)
    await a.start()
    await b.start()
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(256 * 1024 * 1024))
    try:
        await a.add_peer("127.0.0.1", b.port)
        vouch(b, a)
        b_events = b.subscribe()
        sent = await a.send_files(b.device_id, [big])
        await grows_to(b_dl / PARTIAL_DIR / sent.id / "0", 8 << 20)
        await a.stop()
        a = Node(tmp_path / "a", discovery=False)
        await a.start()
        a_events = a.subscribe()
        await a.add_peer("127.0.0.1", b.port)
        done = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t), timeout=60)
        assert done.state == "done" and done.resumed_from > 0, done
        assert (await wait_transfer(a_events, lambda t: t.id == sent.id and ended(t))).state == (
            "done"
        )
        assert (b_dl / "big.bin").read_bytes() == big.read_bytes()
    finally:
        await a.stop()
        await b.stop()


async def test_a_source_that_vanishes_mid_way_pauses_both_sides_until_it_is_back(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    """A file of the folder is moved away (a drive unplugged) while the one before it
    is on its way: both sides pause with the sender's reason; once it is back,
    `chatty resume` on the sender finishes the folder from where it stopped."""
    a, b = pair
    b._guard.accept_from = ["*"]
    vouch(b, a)
    folder = tmp_path / "src" / "album"
    folder.mkdir(parents=True)
    (folder / "a-big.bin").write_bytes(os.urandom(256 * 1024 * 1024))
    (folder / "b-small.txt").write_text("back again")
    a_events, b_events = a.subscribe(), b.subscribe()
    sent = await a.send_files(b.device_id, [folder])
    await grows_to(tmp_path / "b-dl" / PARTIAL_DIR / sent.id / "0", 8 << 20)
    (folder / "b-small.txt").rename(tmp_path / "away.txt")
    paused = await wait_transfer(b_events, lambda t: t.id == sent.id and t.state != "running")
    assert paused.state == "paused" and paused.error.startswith("alpha: cannot read "), paused
    assert "b-small.txt" in paused.error and "chatty resume" in paused.error
    mine = await wait_transfer(
        a_events, lambda t: t.id == sent.id and t.state not in ("offered", "running")
    )
    assert mine.state == "paused" and mine.error.startswith("cannot read "), mine
    (tmp_path / "away.txt").rename(folder / "b-small.txt")
    a.resume(sent.id[:8])
    done = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t))
    assert done.state == "done", done.error
    assert (await wait_transfer(a_events, lambda t: t.id == sent.id and ended(t))).state == "done"
    assert tree_digest(tmp_path / "b-dl" / "album") == tree_digest(folder)


def test_a_download_folder_setting_whose_name_is_not_utf8(tmp_path: Path) -> None:
    """`chatty download-dir` with such a folder: stored, and read back the same."""
    store = Store(tmp_path / "db")
    folder = str(tmp_path / os.fsdecode(b"t\xe9l\xe9chargements"))
    store.set_setting("download_dir", folder)
    assert store.setting("download_dir") == folder
