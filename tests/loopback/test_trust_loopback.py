"""Pairing, blocking and the trusted-only policy between two real nodes on loopback."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from chatty_p2p.errors import PeerError
from chatty_p2p.net.discovery import Advert
from chatty_p2p.node import EventType, Node, NodeEvent
from chatty_p2p.trust import PairingInfo
from tests.support.events import next_event


async def pairing_event(queue: asyncio.Queue[NodeEvent], state: str) -> PairingInfo:
    event = await next_event(
        queue, EventType.PAIRING, check=lambda e: e.pairing is not None and e.pairing.state == state
    )
    assert event.pairing is not None
    return event.pairing


async def test_pairing_shows_the_same_code_on_both_and_trusts_both_ways(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    assert a.peer(b.device_id).trust == "unverified"
    a_events, b_events = a.subscribe(), b.subscribe()
    started = await a.pair(b.device_id)
    asked = await pairing_event(b_events, "compare")
    assert started.state == "compare" and started.initiator and not asked.initiator
    assert asked.code == started.code and asked.peer_name == "alpha"
    # The user on b types the code they read on a's screen; the user on a says yes.
    b.confirm_pairing(a.device_id, started.code.replace(" ", ""))
    a.confirm_pairing(b.device_id)
    await pairing_event(a_events, "paired")
    await pairing_event(b_events, "paired")
    assert a.peer(b.device_id).trust == b.peer(a.device_id).trust == "trusted"
    assert a.peer(b.device_id).to_dict()["trust"] == "trusted"


async def test_a_wrong_code_cancels_the_pairing_on_both_sides(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    a_events = a.subscribe()
    started = await a.pair(b.device_id)
    wrong = f"{(int(started.code.replace(' ', '')) + 1) % 10**6:06d}"
    await asyncio.sleep(0.1)  # b has its code by now
    with pytest.raises(PeerError, match="not the one shown here"):
        b.confirm_pairing(a.device_id, wrong)
    failed = await pairing_event(a_events, "failed")
    assert "the codes differ" in failed.error
    assert a.peer(b.device_id).trust == b.peer(a.device_id).trust == "unverified"
    with pytest.raises(Exception, match="no pairing"):
        a.confirm_pairing(b.device_id)  # nothing left to say yes to


async def test_a_blocked_peer_is_refused_before_tls_until_unblocked(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    a_events, b_events = a.subscribe(), b.subscribe()
    b.block(a.device_id)
    assert b.peer(a.device_id).state == "blocked"
    # Every offline event says why: it printed "alpha is offline ()".
    assert (await next_event(b_events, EventType.PEER_OFFLINE)).text == "blocked"
    assert (await next_event(a_events, EventType.PEER_OFFLINE)).text
    with pytest.raises(PeerError, match=r"refused the connection \(refused\)"):
        await a.add_peer("127.0.0.1", b.port)
    with pytest.raises(PeerError, match="blocked"):
        await b.send_text(a.device_id, "hello?")
    b.block(a.device_id, False)
    await a.add_peer("127.0.0.1", b.port)
    await a.send_text(b.device_id, "let me in")
    got = await next_event(b_events, EventType.MESSAGE)
    assert got.message is not None and got.message.body == "let me in"


async def test_trusted_only_refuses_strangers_and_admits_paired_peers(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)  # b now knows a, unverified
    b.set_trusted_only(True)
    await asyncio.sleep(0.2)
    assert not a.peer(b.device_id).online  # the running session was closed
    with pytest.raises(PeerError, match="refused"):
        await a.add_peer("127.0.0.1", b.port)
    b.pair_by_fingerprint(a.device_id, a.device_id[:16])
    peer = await a.add_peer("127.0.0.1", b.port)
    assert peer.online


async def test_pairing_lifts_trusted_only_for_that_peer(nodes: tuple[Node, Node]) -> None:
    """With trusted-only on, the user can still pair a new device: asking to pair
    lets that one session up, for pairing frames only."""
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    a.set_trusted_only(True)
    await asyncio.sleep(0.2)
    assert not a.peer(b.device_id).online
    a_events, b_events = a.subscribe(), b.subscribe()
    started = await a.pair(b.device_id)
    asked = await pairing_event(b_events, "compare")
    await b.send_text(a.device_id, "not yet welcome")  # a drops it: pairing only
    b.confirm_pairing(a.device_id, asked.code)
    a.confirm_pairing(b.device_id, started.code)
    await pairing_event(a_events, "paired")
    got = await next_event(a_events, EventType.MESSAGE)  # b's outbox flushes after pairing
    assert got.message is not None and got.message.body == "not yet welcome"


async def test_key_material_and_database_are_owner_only(nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    for name in ("device-key.pem", "chatty.db", "chatty.db-wal", "chatty.db-shm"):
        path = a.data_dir / name
        assert path.exists(), name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, (name, oct(path.stat().st_mode))
    assert stat.S_IMODE(a.data_dir.stat().st_mode) == 0o700
    key = (a.data_dir / "device-key.pem").read_bytes()
    assert b"PRIVATE KEY" in key
    assert os.stat(a.data_dir / "device-cert.pem").st_size > 0


async def test_a_key_can_be_trusted_before_its_first_visit(
    nodes: tuple[Node, Node], tmp_path: Path
) -> None:
    """A headless server told a laptop's whole fingerprint takes its files unasked on
    the very first connection; a prefix is not enough for a device never seen."""
    a, b = nodes
    with pytest.raises(PeerError, match="whole fingerprint"):
        b.pair_by_fingerprint(a.device_id, a.device_id[:16])
    b.pair_by_fingerprint(a.device_id, a.device_id)
    b._guard.accept_from = ["*"]
    b.files.set_download_dir(tmp_path / "b-dl")
    await a.add_peer("127.0.0.1", b.port)
    note = tmp_path / "note.txt"
    note.write_text("first visit")
    b_events = b.subscribe()
    sent = await a.send_files(b.device_id, [note])
    done = await next_event(
        b_events,
        EventType.TRANSFER,
        timeout=10,
        check=lambda e: (
            e.transfer is not None
            and e.transfer.id == sent.id
            and e.transfer.state in ("done", "failed")
        ),
    )
    assert done.transfer is not None and done.transfer.state == "done"
    assert (tmp_path / "b-dl" / "note.txt").read_text() == "first visit"
    assert b.peer(a.device_id).name == "alpha" and b.peer(a.device_id).trust == "trusted"


async def test_look_alike_names_and_renames_cannot_take_a_paired_name(
    nodes: tuple[Node, Node], tmp_path: Path
) -> None:
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    a.pair_by_fingerprint(b.device_id, b.device_id)
    lookalike = Node(tmp_path / "c", name="Bravo\u200b", discovery=False)
    renamer = Node(tmp_path / "d", name="dora", discovery=False)
    await lookalike.start()
    await renamer.start()
    try:
        with pytest.raises(PeerError, match="was refused"):
            await a.add_peer("127.0.0.1", lookalike.port)
        a_events = a.subscribe()
        await a.add_peer("127.0.0.1", renamer.port)  # a stranger, fine so far
        await renamer.set_name("BRAVO")  # then it takes the paired device's name
        warned = await next_event(a_events, EventType.WARNING)
        assert "KEY CHANGED" in warned.text
        await next_event(a_events, EventType.PEER_OFFLINE)
        assert a.peer(renamer.device_id).conflict == b.device_id
    finally:
        await lookalike.stop()
        await renamer.stop()


async def test_unasked_pairing_requests_are_capped(nodes: tuple[Node, Node]) -> None:
    """Answering a pairing request reveals a nonce before any user sees it: a man in
    the middle retrying until the code matches gets five tries per ten minutes."""
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    for _ in range(5):
        await a.pair(b.device_id)
        a.reject_pairing(b.device_id)
    with pytest.raises(PeerError, match="too many pairing requests"):
        await a.pair(b.device_id)


async def test_a_failed_pairing_ends_the_pairing_only_session(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    a.set_trusted_only(True)
    await asyncio.sleep(0.2)
    b_events = b.subscribe()
    await a.pair(b.device_id)
    await pairing_event(b_events, "compare")
    b.reject_pairing(a.device_id)  # the other side says no
    async with asyncio.timeout(5):
        while a.peer(b.device_id).online:
            await asyncio.sleep(0.05)
    await asyncio.sleep(1)
    assert not a.peer(b.device_id).online  # and it is not let back in


@pytest.mark.parametrize("heard_by", ["profile", "mdns"])
async def test_a_paired_name_taken_ends_the_session_and_a_rename_clears_it(
    nodes: tuple[Node, Node], tmp_path: Path, heard_by: str
) -> None:
    """An unverified device renamed to a paired device's name is refused: its session
    ends with the reason on its side (whether the rename came in its PROFILE or its
    mDNS record, which may come first). Once it calls itself something else it is an
    ordinary peer again: the conflict belongs to the name, not to the device."""
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    a.pair_by_fingerprint(b.device_id, b.device_id)
    c = Node(tmp_path / "c", name="charlie", discovery=False)
    await c.start()
    try:
        await c.add_peer("127.0.0.1", a.port)
        a_events, c_events = a.subscribe(), c.subscribe()
        if heard_by == "mdns":
            advert = Advert(c.device_id, "Bravo", ("127.0.0.1",), c.port)
            a._adverts.on_advert(c.device_id, advert)  # heard before its PROFILE
        await c.set_name("Bravo")
        assert "KEY CHANGED" in (await next_event(a_events, EventType.WARNING)).text
        offline = await next_event(a_events, EventType.PEER_OFFLINE)
        assert "that name belongs to another device" in offline.text
        told = await next_event(c_events, EventType.WARNING)
        assert "alpha reported an error (key-changed): your key differs" in told.text
        assert "your name 'Bravo' here: that name belongs to another device" in told.text
        await next_event(c_events, EventType.PEER_OFFLINE)
        assert not c.peer(a.device_id).online and c.peer(a.device_id).state == "refuses us"
        assert a.peer(c.device_id).state == "refused: key changed"
        # By name, the paired device wins.
        assert (await a.resolve("bravo")).id == b.device_id
        # A message written meanwhile waits, and its writer is told why, not "queued".
        await c.send_text(a.device_id, "while refused")
        status = await next_event(c_events, EventType.MESSAGE_STATUS)
        assert "key-changed" in status.text

        await c.set_name("charlie3")
        await next_event(c_events, EventType.PEER_ONLINE)
        assert a.peer(c.device_id).conflict is None and a.peer(c.device_id).online
        await c.send_text(a.device_id, "hello again")
        for body in ("while refused", "hello again"):
            got = await next_event(a_events, EventType.MESSAGE)
            assert got.message is not None and got.message.body == body
    finally:
        await c.stop()


async def _coalescing_proxy(target_port: int, hold: float) -> asyncio.Server:
    """A loopback hop that passes what the dialler says at once but hands on what the
    server answers only once it has been quiet for ``hold`` seconds, in one piece: a
    busy machine, where the server's HELLO and the ERROR right behind it land in one
    read."""

    async def relay(src: asyncio.StreamReader, dst: asyncio.StreamWriter, hold: float) -> None:
        try:
            while chunk := await src.read(1 << 16):
                while hold:  # gather until the server has been quiet for ``hold``
                    try:
                        more = await asyncio.wait_for(src.read(1 << 16), hold)
                    except TimeoutError:
                        break
                    if not more:
                        break
                    chunk += more
                dst.write(chunk)
                await dst.drain()
        except OSError:
            pass
        finally:
            dst.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(relay(reader, up_writer, 0), relay(up_reader, writer, hold))

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def test_a_refusal_heard_in_the_handshake_is_a_warning_too(
    nodes: tuple[Node, Node], tmp_path: Path
) -> None:
    """However the refusal arrives, behind the HELLO in one read or in the session
    after it, the refused side is told why, once, not at each redial."""
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    a.pair_by_fingerprint(b.device_id, b.device_id)
    proxy = await _coalescing_proxy(a.port, hold=0.3)
    c = Node(tmp_path / "c", name="bravo", discovery=False)  # a paired name, another key
    await c.start()
    try:
        c_events = c.subscribe()
        port = proxy.sockets[0].getsockname()[1]
        c._adverts.on_advert(a.device_id, Advert(a.device_id, "alpha", ("127.0.0.1",), port))
        told = await next_event(c_events, EventType.WARNING, timeout=10)
        assert "alpha reported an error (key-changed): your key differs" in told.text
        assert not c.peer(a.device_id).online
    finally:
        await c.stop()
        proxy.close()
