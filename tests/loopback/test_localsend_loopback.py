"""Chatty's LocalSend client against Chatty's LocalSend server, two nodes on loopback
(no multicast: the REST API only, devices added by address, LocalSend's "HTTP legacy
mode"): files and text both ways, a declined offer, a cancel from either side, and
hostile requests, each ending cleanly on both sides."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatty_p2p.events import EventType, NodeEvent, Peer
from chatty_p2p.localsend import client
from chatty_p2p.localsend.face import PinGuard
from chatty_p2p.node import Node
from chatty_p2p.protocol import localsend as ls
from chatty_p2p.share.server import MAX_PER_ADDRESS
from tests.support.events import next_event
from tests.support.ports import free_port, listening


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Node, Node, Peer]]:
    """Nodes "laptop" and "phone" speaking LocalSend only (no mDNS, no Chatty session
    between them); the laptop has added the phone by address. The third item is the
    phone as the laptop lists it."""
    laptop = Node(
        tmp_path / "laptop",
        name="laptop",
        discovery=False,
        localsend=True,
        localsend_port=0,  # a free port, found when it listens
        download_dir=tmp_path / "laptop-dl",
    )
    phone = Node(
        tmp_path / "phone",
        name="phone",
        discovery=False,
        localsend=True,
        localsend_port=0,
        download_dir=tmp_path / "phone-dl",
    )
    await laptop.start()
    await phone.start()
    try:
        assert laptop.localsend.face is not None and phone.localsend.face is not None
        listed = await laptop.localsend.running().add("127.0.0.1", phone.localsend.running().port)
        yield laptop, phone, listed
    finally:
        await laptop.stop()
        await phone.stop()


async def test_a_device_added_by_address_is_listed_on_both_sides(
    pair: tuple[Node, Node, Peer],
) -> None:
    laptop, phone, listed = pair
    assert (listed.name, listed.via, listed.trust, listed.online) == (
        "phone",
        "localsend",
        "unverified",
        True,
    )
    assert [p.name for p in laptop.peers() if p.via == "localsend"] == ["phone"]
    assert [p.name for p in phone.peers() if p.via == "localsend"] == ["laptop"]  # it registered


async def test_a_file_and_a_folder_go_and_arrive_whole(
    pair: tuple[Node, Node, Peer], tmp_path: Path
) -> None:
    laptop, phone, listed = pair
    tree = tmp_path / "album"
    (tree / "day 1").mkdir(parents=True)
    (tree / "day 1" / "a.jpg").write_bytes(os.urandom(300_000))
    (tree / "b.txt").write_text("notes")
    events = phone.subscribe()
    sent = await laptop.send_files(listed.id, [tree])
    offered = await next_event(events, EventType.TRANSFER_OFFERED)
    assert offered.transfer is not None and offered.transfer.peer_name == "laptop"
    phone.accept(offered.transfer.id)
    await next_event(events, EventType.TRANSFER, 10, lambda e: _state(e) == "done")
    landed = tmp_path / "phone-dl" / "album"
    assert (landed / "day 1" / "a.jpg").read_bytes() == (tree / "day 1" / "a.jpg").read_bytes()
    assert (landed / "b.txt").read_text() == "notes"
    out = [t for t in laptop.transfers() if t.id == sent.id]
    for _ in range(50):
        out = [t for t in laptop.transfers() if t.id == sent.id]
        if out and out[0].state == "done":
            break
        await asyncio.sleep(0.1)
    assert out[0].state == "done" and out[0].done_bytes == 300_005


async def test_a_declined_offer_ends_declined_on_both_sides(
    pair: tuple[Node, Node, Peer], tmp_path: Path
) -> None:
    laptop, phone, listed = pair
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"x" * 1000)
    events, mine = phone.subscribe(), laptop.subscribe()
    sent = await laptop.send_files(listed.id, [photo])
    offered = await next_event(events, EventType.TRANSFER_OFFERED)
    assert offered.transfer is not None
    phone.decline(offered.transfer.id)
    ended = await next_event(mine, EventType.TRANSFER, 10, lambda e: _state(e) == "declined")
    assert ended.transfer is not None and ended.transfer.id == sent.id
    assert "phone: declined" in ended.transfer.error
    assert not (tmp_path / "phone-dl" / "photo.jpg").exists()


async def test_a_text_message_arrives_in_the_conversation(pair: tuple[Node, Node, Peer]) -> None:
    laptop, phone, listed = pair
    events = phone.subscribe()
    stored = await laptop.send_text(listed.id, "dinner at 8? 🍝")
    assert stored.status == "delivered"
    got = await next_event(events, EventType.MESSAGE)
    assert got.message is not None and got.message.body == "dinner at 8? 🍝"
    assert got.peer is not None and got.peer.via == "localsend"


async def test_the_sender_cancelling_ends_it_cancelled_here(
    pair: tuple[Node, Node, Peer], tmp_path: Path
) -> None:
    laptop, phone, listed = pair
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(40_000_000))
    events, mine = phone.subscribe(), laptop.subscribe()
    sent = await laptop.send_files(listed.id, [big])
    offered = await next_event(events, EventType.TRANSFER_OFFERED)
    assert offered.transfer is not None
    phone.accept(offered.transfer.id)
    await next_event(mine, EventType.TRANSFER_PROGRESS, 10)
    laptop.cancel(sent.id)
    await next_event(events, EventType.TRANSFER, 10, lambda e: _state(e) == "cancelled")
    assert not (tmp_path / "phone-dl" / "big.bin").exists()
    partials = tmp_path / "phone-dl" / ".chatty-partial"
    assert not partials.exists() or not any(partials.rglob("*?"))


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "prepare-upload", b"{" * 100_000, 400),
        ("POST", "prepare-upload", b'{"info": {"alias": "\\ud800"}, "files": {}}', 400),
        ("POST", "upload?sessionId=nope&fileId=0&token=x", b"bytes", 403),
        ("POST", "register", b"[]", 400),
        ("GET", "nothing-here", None, 404),
    ],
)
async def test_hostile_requests_get_their_refusal(
    pair: tuple[Node, Node, Peer], method: str, path: str, body: bytes | None, status: int
) -> None:
    _, phone, _ = pair
    assert phone.localsend.face is not None
    reply = await client.request(
        "127.0.0.1", phone.localsend.running().port, "https", method, f"{ls.API}{path}", body
    )
    assert reply.status == status
    assert reply.fingerprint == phone.device_id  # its own certificate


async def test_a_body_over_the_cap_is_refused_unread(pair: tuple[Node, Node, Peer]) -> None:
    """4 MiB and a byte of "JSON": refused (400) from its Content-Length, and the
    connection closed rather than the rest read; the sender sees one or the other."""
    _, phone, _ = pair
    assert phone.localsend.face is not None
    try:
        reply = await client.request(
            "127.0.0.1",
            phone.localsend.running().port,
            "https",
            "POST",
            f"{ls.API}prepare-upload",
            b"x" * (ls.MAX_BODY + 1),
        )
    except client.Unreachable:
        return
    assert reply.status == 400


async def test_a_slow_request_head_is_cut(pair: tuple[Node, Node, Peer]) -> None:
    """A slowloris, a byte every half second, is cut when its head is not whole within
    the server's head timeout (10 s), long before the 22 s its head would take."""
    _, phone, _ = pair
    assert phone.localsend.face is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", phone.localsend.running().port, ssl=client.tls_context()
    )
    sent = 0
    try:
        async with asyncio.timeout(20):
            for byte in b"POST /api/localsend/v2/register HTTP/1.1\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                sent += 1
                await asyncio.sleep(0.5)
                if reader.at_eof():
                    break
            else:
                await reader.read()
    except (ConnectionError, OSError):
        pass  # cut
    finally:
        writer.close()
    assert sent < 44, "the whole slow head was taken"


async def test_connections_that_never_greet_are_capped_and_cut_at_once_when_it_stops(
    pair: tuple[Node, Node, Peer],
) -> None:
    """Connections that never begin their TLS handshake count against the server's
    caps like any other: more of them than the cap from one address leave only the
    cap open; a real request still gets through (it displaces one); and turning
    LocalSend off closes the rest then, not at the handshake's timeout."""
    laptop, phone, listed = pair
    port = phone.localsend.running().port
    silent = [await asyncio.open_connection("127.0.0.1", port) for _ in range(MAX_PER_ADDRESS + 4)]
    try:
        stored = await laptop.send_text(listed.id, "still served")
        assert stored.status == "delivered"
        ended = await asyncio.gather(*(_ended_within(reader, 1.0) for reader, _ in silent))
        assert sum(ended) >= 4, "the silent connections were not capped"
        await phone.localsend.turn(False)
        ended = await asyncio.gather(*(_ended_within(reader, 2.0) for reader, _ in silent))
        assert all(ended), "a silent connection outlived the server"
    finally:
        for _, writer in silent:
            writer.close()


async def _ended_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closed this connection within ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            return await reader.read(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True


def _state(event: NodeEvent) -> str:
    return event.transfer.state if event.transfer is not None else ""


async def test_a_port_taken_is_said_and_the_node_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The LocalSend app on the same machine holds 53317: Chatty says so once and runs
    without its LocalSend face."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        node = Node(tmp_path / "n", discovery=False, localsend=True, localsend_port=port)
        await node.start()
        try:
            assert node.localsend.face is not None
            assert f"port {port} is taken" in node.localsend.face.problem
            assert "is the LocalSend app running on this machine?" in caplog.text
            assert node.port > 0 and node.peers() == []  # the node itself runs
        finally:
            await node.stop()


async def test_the_setting_turns_it_off_now_and_at_the_next_start(tmp_path: Path) -> None:
    port = free_port()
    node = Node(tmp_path / "n", discovery=False, localsend=True, localsend_port=port)
    await node.start()
    try:
        assert node.localsend.face is not None and listening(port)
        await node.localsend.turn(False)
        assert node.localsend.face is None and not listening(port) and not node.localsend.on
    finally:
        await node.stop()
    again = Node(tmp_path / "n", discovery=False, localsend=True, localsend_port=port)
    await again.start()
    try:
        assert again.localsend.face is None and not listening(port)
        await again.localsend.turn(True)
        assert again.localsend.face is not None and listening(port)
    finally:
        await again.stop()


async def test_a_pin_is_asked_for_and_guessing_is_cut_short(
    pair: tuple[Node, Node, Peer], tmp_path: Path
) -> None:
    """With a PIN set, the right PIN gets the offer asked as usual; an offer without
    it fails saying so; wrong PINs are refused, and after three the address is
    refused for a while, the right PIN too."""
    laptop, phone, listed = pair
    phone.localsend.set_pin("482913")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"x" * 1000)
    mine, events = laptop.subscribe(), phone.subscribe()
    await laptop.send_files(listed.id, [photo], "482913")
    offered = await next_event(events, EventType.TRANSFER_OFFERED)
    assert offered.transfer is not None and offered.transfer.peer_name == "laptop"
    phone.decline(offered.transfer.id)

    async def ended(pin: str) -> str:
        sent = await laptop.send_files(listed.id, [photo], pin)
        event = await next_event(
            mine,
            EventType.TRANSFER,
            10,
            lambda e: e.transfer is not None and e.transfer.id == sent.id and _state(e) == "failed",
        )
        assert event.transfer is not None
        return event.transfer.error

    assert "asks for a PIN" in await ended("")
    for _ in range(3):
        assert "asks for a PIN" in await ended("000000")
    assert "too many tries with a wrong PIN" in await ended("482913")


def test_the_pin_lockout_ends() -> None:
    guard = PinGuard()
    for t in range(3):
        assert guard.check("1234", "9999", "10.0.0.9", float(t)) == (401, "Wrong PIN")
    assert guard.check("1234", "1234", "10.0.0.9", 10.0) == (429, "Too many wrong PINs")
    assert guard.check("1234", "1234", "10.0.0.8", 10.0) is None  # another address
    assert guard.check("1234", "1234", "10.0.0.9", 2.0 + PinGuard.LOCKOUT) is None
    assert guard.check("", "", "10.0.0.9", 0.0) is None  # no PIN set
