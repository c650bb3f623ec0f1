"""Chatty and LocalSend, across two lab hosts: Chatty (a daemon with discovery on) in
one, ``localsendd`` (an independent implementation, from PyPI) in the other. Each
finds the other by LocalSend's multicast, and files go both ways, byte for byte,
over HTTPS and over HTTP."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.localsendd import LocalSendd
from tests.support.netlab import Host, Lab, sha256

pytestmark = [pytest.mark.netlab]


def until(done: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


def incoming(state: str) -> Callable[[dict[str, Any]], bool]:
    """A daemon event: a transfer to this host, now in ``state``."""
    kinds = ("transfer-offered",) if state == "offered" else ("transfer",)
    return lambda e: (
        e["type"] in kinds and not e["transfer"]["outgoing"] and e["transfer"]["state"] == state
    )


def chatty_peers(host: Host) -> list[dict[str, object]]:
    done = host.chatty("peers", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    return list(found)


@pytest.mark.parametrize("encryption", ["--encryption", "--no-encryption"])
def test_chatty_and_localsendd_find_each_other_and_exchange_files(
    lab: Lab, tmp_path: Path, encryption: str
) -> None:
    a, b = lab.host("alpha"), lab.host("bravo")
    downloads = tmp_path / "alpha-downloads"
    a.start("--download-dir", str(downloads))
    phone = LocalSendd(b, tmp_path, "phone", encryption, "--unattended")
    try:
        until(lambda: any(p["name"] == "phone" for p in chatty_peers(a)), "Chatty lists phone")
        [listed] = [p for p in chatty_peers(a) if p["name"] == "phone"]
        assert listed["via"] == "localsend" and listed["trust"] == "unverified"
        said = a.chatty("peers")
        assert said.returncode == 0 and "LocalSend" in said.stdout, said.stdout
        assert "chatty pair" not in said.stdout  # a LocalSend device cannot be paired
        until(lambda: any(d.get("alias") == "alpha" for d in phone.devices()), "phone lists alpha")

        # Chatty to the phone.
        photo = tmp_path / "beach photo.jpg"
        photo.write_bytes(os.urandom(700_000))
        sent = a.chatty("send", "phone", str(photo), timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        until(lambda: (phone.downloads / photo.name).exists(), "the photo on the phone")
        until(lambda: (phone.downloads / photo.name).stat().st_size == 700_000, "all of it")
        assert sha256(phone.downloads / photo.name) == sha256(photo)

        # The phone to Chatty: an offer there, accepted as any other.
        notes = tmp_path / "notes.txt"
        notes.write_bytes(os.urandom(50_000))
        sending = phone.spawn("send", "--to", "alpha", "--wait", "--quiet", str(notes))
        assert a.daemon is not None
        offered = a.daemon.wait_for(incoming("offered"), timeout=20)
        assert offered["transfer"]["peer_name"] == "phone"
        listed = a.chatty("transfers", "--json")
        assert any(t["state"] == "offered" and not t["outgoing"] for t in json.loads(listed.stdout))
        accepted = a.chatty("accept", offered["transfer"]["id"])
        assert accepted.returncode == 0, accepted.stderr
        a.daemon.wait_for(incoming("done"), timeout=30)
        assert sha256(downloads / notes.name) == sha256(notes)
        said, _ = sending.communicate(timeout=30)
        assert sending.returncode == 0, said
    finally:
        phone.stop()


def test_declines_end_cleanly_on_both_sides_and_a_folder_arrives_whole(
    lab: Lab, tmp_path: Path
) -> None:
    """A phone that takes nothing unasked (no one at its control socket) declines
    Chatty's offer, and Chatty says so; Chatty declining the phone's offer ends the
    phone's send too. A folder's files all reach a phone that accepts."""
    a, b = lab.host("alpha"), lab.host("bravo")
    a.start("--download-dir", str(tmp_path / "alpha-downloads"))
    strict = LocalSendd(b, tmp_path, "strict")  # --no-unattended: refuses with no one to ask
    try:
        until(lambda: any(p["name"] == "strict" for p in chatty_peers(a)), "Chatty lists it")
        note = tmp_path / "note.txt"
        note.write_text("hello")
        sent = a.chatty("send", "strict", str(note), timeout=60)
        assert sent.returncode == 1 and "strict: declined" in sent.stdout + sent.stderr

        sending = strict.spawn("send", "--to", "alpha", "--wait", "--quiet", str(note))
        assert a.daemon is not None
        offered = a.daemon.wait_for(incoming("offered"), timeout=20)
        declined = a.chatty("decline", offered["transfer"]["id"])
        assert declined.returncode == 0, declined.stderr
        said, _ = sending.communicate(timeout=30)
        assert sending.returncode != 0, said
        assert not (tmp_path / "alpha-downloads" / "note.txt").exists()
    finally:
        strict.stop()

    c = lab.host("charlie")
    phone = LocalSendd(c, tmp_path, "phone", "--unattended")
    try:
        until(lambda: any(p["name"] == "phone" for p in chatty_peers(a)), "Chatty lists phone")
        tree = tmp_path / "album"
        (tree / "day 1").mkdir(parents=True)
        (tree / "day 1" / "a.jpg").write_bytes(os.urandom(100_000))
        (tree / "b.txt").write_text("notes")
        sent = a.chatty("send", "phone", str(tree), timeout=60)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        # Sent with their paths ("album/day 1/a.jpg"), as LocalSend sends a folder;
        # localsendd keeps only each file's own name (its choice, like other receivers).
        until(lambda: (phone.downloads / "b.txt").exists(), "the folder's files on the phone")
        assert sha256(phone.downloads / "a.jpg") == sha256(tree / "day 1" / "a.jpg")
        assert (phone.downloads / "b.txt").read_text() == "notes"
    finally:
        phone.stop()


def test_a_send_cancelled_midway_ends_on_both_sides(lab: Lab, tmp_path: Path) -> None:
    """Chatty cancels a file on its way to the phone: cancelled here, and the phone,
    told by /cancel, keeps no file."""
    a, b = lab.host("alpha"), lab.host("bravo")
    a.start()
    a.shape(80)  # 80 Mbit/s: 30 MB takes three seconds, so "midway" can be hit
    phone = LocalSendd(b, tmp_path, "phone", "--unattended")
    try:
        until(lambda: any(p["name"] == "phone" for p in chatty_peers(a)), "Chatty lists phone")
        big = tmp_path / "big.bin"
        big.write_bytes(os.urandom(30_000_000))
        sending = a.spawn("send", "phone", str(big))
        assert a.daemon is not None
        progress = a.daemon.wait_for(lambda e: e["type"] == "transfer-progress", timeout=20)
        cancelled = a.chatty("cancel", progress["transfer"]["id"])
        assert cancelled.returncode == 0, cancelled.stderr
        a.daemon.wait_for(
            lambda e: e["type"] == "transfer" and e["transfer"]["state"] == "cancelled", timeout=20
        )
        sending.communicate(timeout=30)
        assert sending.returncode == 1
        until(
            lambda: (
                not (phone.downloads / "big.bin").exists()
                or (phone.downloads / "big.bin").stat().st_size < 30_000_000
            ),
            "no whole file on the phone",
        )
        time.sleep(1)
        whole = phone.downloads / "big.bin"
        assert not whole.exists() or whole.stat().st_size < 30_000_000
    finally:
        phone.stop()


def test_another_chatty_is_listed_once_as_a_chatty_peer(lab: Lab) -> None:
    """Two Chatty daemons hear each other on LocalSend's group too: each lists the other
    once, as a Chatty peer (pinned), not again as an unverified LocalSend device (the
    name then matched two peers, and `chatty send bravo` refused to choose)."""
    a, b = lab.host("alpha"), lab.host("bravo")
    a.start(), b.start()
    assert a.daemon is not None
    a.daemon.wait_for(lambda e: e["type"] == "peer-online", timeout=10)
    time.sleep(2)  # LocalSend's announcements and registers, both ways
    assert [(p["name"], p["via"]) for p in chatty_peers(a)] == [("bravo", "chatty")]
    assert [(p["name"], p["via"]) for p in chatty_peers(b)] == [("alpha", "chatty")]
