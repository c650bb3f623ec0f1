"""A receiver whose disk is full: what both users see, between two real nodes (and
two daemons) on loopback, the receiver's data dir on a real 2 MB tmpfs (so this
needs root)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatty_p2p.node import EventType, Node, NodeEvent
from chatty_p2p.node import outbox as outbox_mod
from chatty_p2p.store import DELIVERED, SENT
from tests.support.daemons import Daemon, daemons
from tests.support.events import next_event


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs, unmounted afterwards."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write zeros until the disk has no room left, as ``head -c 3M /dev/zero`` does."""
    filler = disk / "fill"
    with contextlib.suppress(OSError), filler.open("wb") as out:
        for _ in range(4 * 1024):
            out.write(b"\0" * 1024)
            out.flush()
    return filler


def drain(queue: asyncio.Queue[NodeEvent]) -> list[NodeEvent]:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


async def test_a_full_disk_refuses_messages_with_a_reason_keeps_the_session_and_retries(
    tmp_path: Path,
    small_disk: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(outbox_mod, "RESEND_FIRST", 0.5)
    caplog.set_level(logging.INFO)
    a = Node(tmp_path / "a", name="alpha", discovery=False)
    b = Node(small_disk / "b", name="bravo", discovery=False)
    await a.start()
    await b.start()
    try:
        await a.add_peer("127.0.0.1", b.port)
        await asyncio.sleep(0.2)
        a_events, b_events = a.subscribe(), b.subscribe()
        filler = fill(small_disk)
        sent = [await a.send_text(b.device_id, f"msg {i}") for i in range(3)]

        # The sender is told why, and the message is not acknowledged.
        warned = await next_event(a_events, EventType.WARNING)
        assert "bravo cannot store messages: its disk is full" in warned.text
        refused = await next_event(a_events, EventType.MESSAGE_STATUS, check=lambda e: bool(e.text))
        assert refused.text == "bravo cannot store messages: its disk is full"
        await asyncio.sleep(1.5)  # some retries, all refused
        assert [a.store.message(b.device_id, m.id).status for m in sent] == [SENT] * 3  # type: ignore[union-attr]

        # The receiver's user is told once, in words, whatever the number of messages.
        b_warnings = [e.text for e in drain(b_events) if e.type is EventType.WARNING]
        assert len(b_warnings) == 1
        assert f"the disk holding {small_disk / 'b'} is full" in b_warnings[0]
        # The session stayed up on both sides.
        a_seen = drain(a_events)
        assert not [e for e in a_seen if e.type is EventType.PEER_OFFLINE]
        assert a.peer(b.device_id).online and b.peer(a.device_id).online
        assert len([e for e in a_seen if e.type is EventType.WARNING]) == 0  # said once

        # Room again: the next retry delivers everything, once and in order.
        filler.unlink()
        for message in sent:
            await next_event(
                a_events,
                EventType.MESSAGE_STATUS,
                timeout=10,
                check=lambda e, m=message: (
                    e.message is not None  # type: ignore[misc]
                    and e.message.id == m.id
                    and e.message.status == DELIVERED
                ),
            )
        got = [m.body for m in b.history(a.device_id) if not m.outgoing]
        assert got == ["msg 0", "msg 1", "msg 2"]
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
        assert "Traceback" not in caplog.text
    finally:
        await a.stop()
        await b.stop()


def test_what_both_users_see_when_the_receivers_disk_is_full(
    tmp_path: Path, small_disk: Path
) -> None:
    """The report: 10 tracebacks on the receiver, a session dropped every 7 s, and each
    ``say`` "queued … as soon as that peer is back" while the peer showed online."""
    desk = Daemon(small_disk / "desk", "desk")
    me = Daemon(tmp_path / "me", "me", "--peer", desk.address)
    with daemons(desk, me):
        me.proc.wait_for("desk .*online")
        filler = fill(small_disk)
        for i in range(3):
            said = me.chatty("say", "desk", f"msg {i}", "--wait", "3")
            assert said.returncode == 0 and "Traceback" not in said.stderr
            assert said.stdout.strip() == (
                "not delivered yet: desk cannot store messages: its disk is full; "
                "it is sent again until it gets through"
            )
        peers = json.loads(me.chatty("peers", "--json").stdout)
        assert [p["state"] for p in peers if p["name"] == "desk"] == ["online"]
        filler.unlink()
        said = me.chatty("say", "desk", "msg 3", "--wait", "5")  # the next one brings all
        assert said.stdout.startswith("delivered to desk")
        for i in range(4):
            desk.proc.wait_for(rf"me \(\w+\): msg {i}$")
        desk.proc.proc.terminate()
        me.proc.proc.terminate()
        _, desk_out, desk_err = desk.proc.finish(20)
        _, me_out, me_err = me.proc.finish(20)
    assert desk_out.count("disk holding") == 1
    assert "Traceback" not in desk_err + me_err
    offline = [line for line in me_out.splitlines() if "is offline" in line]
    assert all("quit" in line for line in offline)  # only when the test stopped them
    got = [line.split("): ", 1)[1] for line in desk_out.splitlines() if "): msg" in line]
    assert got == ["msg 0", "msg 1", "msg 2", "msg 3"]  # once each, in order


async def test_a_flood_of_refusals_reaches_the_user_once(
    nodes: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    """NACK is cheap to send: a hostile peer repeating it, or naming messages never
    sent to it, must not fill the faces' event queues (which drops them)."""
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    await asyncio.sleep(0.2)
    b_conn = b._peers[a.device_id].conn
    assert b_conn is not None
    monkeypatch.setattr(b_conn, "send_receipt", lambda message_id: None)  # never acknowledges
    sent = await a.send_text(b.device_id, "hello")
    await asyncio.sleep(0.2)
    a_events = a.subscribe()
    for _ in range(300):
        b_conn.send(lambda s: s.send_nack(sent.id, "bravo cannot store messages: no"))
        b_conn.send(lambda s: s.send_nack("f" * 32, "never sent"))
    await asyncio.sleep(0.5)
    seen = drain(a_events)
    assert len([e for e in seen if e.type is EventType.MESSAGE_STATUS]) == 1
    assert len([e for e in seen if e.type is EventType.WARNING]) == 1
    assert a.peer(b.device_id).online
