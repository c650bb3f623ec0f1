"""Two real nodes over real TLS on loopback (no mDNS: that is the network lab's job)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from pathlib import Path

import pytest

from chatty_p2p.errors import (
    AmbiguousPeer,
    ChattyError,
    IdentityMismatch,
    NodeAlreadyRunning,
    PeerError,
    UnknownPeer,
)
from chatty_p2p.net import dialling, tls
from chatty_p2p.net.connection import Connection
from chatty_p2p.net.discovery import Advert
from chatty_p2p.node import EventType, Node, acquire_lock, clean_addresses
from chatty_p2p.protocol import preamble
from chatty_p2p.protocol.frames import FrameType, encode_json
from chatty_p2p.protocol.messages import Hello
from chatty_p2p.protocol.session import Session
from tests.support.events import next_event


async def test_add_by_address_authenticates_both_ways_and_delivers(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    b_events = b.subscribe()
    peer = await a.add_peer("127.0.0.1", b.port)
    assert (peer.id, peer.name, peer.online) == (b.device_id, "bravo", True)
    online = await next_event(b_events, EventType.PEER_ONLINE)
    assert online.peer is not None and online.peer.id == a.device_id  # b learned a's id from TLS
    a_events = a.subscribe()
    sent = await a.send_text(b.device_id, "hello over TLS")
    got = await next_event(b_events, EventType.MESSAGE)
    assert got.message is not None and got.message.body == "hello over TLS"
    status = await next_event(a_events, EventType.MESSAGE_STATUS)
    while status.message is not None and status.message.status != "delivered":
        status = await next_event(a_events, EventType.MESSAGE_STATUS)
    assert status.message is not None and status.message.id == sent.id
    # b can answer although only a knew an address: it learned the way back.
    await b.send_text(a.device_id, "and back")
    got = await next_event(a_events, EventType.MESSAGE)
    assert got.message is not None and got.message.body == "and back"


async def test_simultaneous_dials_end_in_one_session(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    await asyncio.gather(a.add_peer("127.0.0.1", b.port), b.add_peer("127.0.0.1", a.port))
    await asyncio.sleep(0.5)
    a_conn = a._peers[b.device_id].conn
    b_conn = b._peers[a.device_id].conn
    assert a_conn is not None and b_conn is not None

    # The survivor on both sides is the same TCP connection, seen from its two ends.
    def ports(c: Connection) -> tuple[int, int]:
        return c._writer.get_extra_info("sockname")[1], c._writer.get_extra_info("peername")[1]

    assert ports(a_conn) == ports(b_conn)[::-1]
    b_events = b.subscribe()
    await a.send_text(b.device_id, "once")
    got = await next_event(b_events, EventType.MESSAGE)
    assert got.message is not None and got.message.body == "once"
    assert [m.body for m in b.history(a.device_id)] == ["once"]


async def test_messages_right_behind_the_hello_are_not_lost(nodes: tuple[Node, Node]) -> None:
    """A dialer may pipeline: HELLO and its queued messages in one write, before it has
    read anything. The listener then reads them all in one chunk and must keep them."""
    a, b = nodes
    b_events = b.subscribe()
    reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
    writer.write(preamble.encode_request(preamble.ChannelKind.CONTROL, a.identity.cert_der))
    assert preamble.parse_reply(await reader.readexactly(preamble.REPLY.size)) is (
        preamble.Status.OK
    )
    await writer.start_tls(tls.client_context(a.identity), server_hostname="chatty")
    session = Session(a._sessions.hello())
    session.start()
    bodies = ["right behind the hello", "and one more"]
    messages = [
        encode_json(FrameType.MESSAGE, {"id": f"{i:032x}", "ts": 1.0, "kind": "text", "body": t})
        for i, t in enumerate(bodies)
    ]
    writer.write(session.data_to_send() + b"".join(messages))
    for expected in bodies:
        got = await next_event(b_events, EventType.MESSAGE)
        assert got.message is not None and got.message.body == expected
    writer.close()


async def test_wrong_expected_key_is_refused(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    with pytest.raises(IdentityMismatch, match="not the one it advertised"):
        await dialling.dial("127.0.0.1", b.port, a.identity, a._sessions.hello(), "0" * 64)


async def test_garbage_and_stalled_clients_do_not_stop_the_node(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    loop = asyncio.get_running_loop()
    garbage = socket.create_connection(("127.0.0.1", b.port))
    garbage.sendall(b"GET / HTTP/1.1\r\n\r\n")
    stalled = socket.create_connection(("127.0.0.1", b.port))  # sends nothing at all
    # A TLS client that skips the preamble gets nowhere either.
    raw = socket.create_connection(("127.0.0.1", b.port))
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, OSError)):
        await loop.run_in_executor(None, lambda: tls.wrap_socket(raw).do_handshake())
    reply = await loop.run_in_executor(None, garbage.recv, 100)
    assert reply.startswith(b"CHATTY")  # a refusal, then the close
    peer = await a.add_peer("127.0.0.1", b.port)
    assert peer.online
    for s in (garbage, stalled, raw):
        s.close()


async def test_one_node_per_data_dir(tmp_path: Path, nodes: tuple[Node, Node]) -> None:
    a, _ = nodes
    with pytest.raises(NodeAlreadyRunning):
        await Node(a.data_dir, discovery=False).start()


async def test_a_node_starting_while_a_command_holds_the_lock_waits_for_it(
    tmp_path: Path,
) -> None:
    """`chatty id` run while the window starts holds the data dir for a moment; the
    window's node must start once it is free, not fail (seen once in CI)."""
    data = tmp_path / "d"
    data.mkdir()
    held = acquire_lock(data)
    asyncio.get_running_loop().call_later(0.5, held.close)  # the command is done
    node = Node(data, discovery=False)
    await node.start()
    try:
        assert node.port > 0
    finally:
        await node.stop()


async def test_peer_names_resolve_or_explain(nodes: tuple[Node, Node], tmp_path: Path) -> None:
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    assert (await a.resolve("bravo")).id == b.device_id
    assert (await a.resolve(b.device_id[:6])).id == b.device_id
    with pytest.raises(UnknownPeer, match="known peers: bravo"):
        await a.resolve("charlie")
    a.pair_by_fingerprint(b.device_id, b.device_id)
    c = Node(tmp_path / "c", name="bravo", discovery=False)
    await c.start()
    with pytest.raises(PeerError, match="was refused"):  # a second key under a trusted name
        await a.add_peer("127.0.0.1", c.port)
    b2 = Node(tmp_path / "d", name="brav0", discovery=False)
    await b2.start()
    try:
        await a.add_peer("127.0.0.1", b2.port)
        with pytest.raises(AmbiguousPeer, match="matches several"):
            await a.resolve("brav")
    finally:
        await c.stop()
        await b2.stop()


async def test_rename_reaches_connected_peers(nodes: tuple[Node, Node]) -> None:
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    a_events = a.subscribe()
    await b.set_name("bravo desk")
    updated = await next_event(a_events, EventType.PEER_UPDATED)
    assert updated.peer is not None and updated.peer.name == "bravo desk"
    assert a.store.peer(b.device_id).name == "bravo desk"  # type: ignore[union-attr]


async def test_a_peer_clock_hours_off_is_named_once(nodes: tuple[Node, Node]) -> None:
    """alpha's HELLO says its clock is three hours ahead: bravo warns in plain words and
    shows the difference, since every message time from alpha will look wrong."""
    a, b = nodes
    events = b.subscribe()
    ahead = Hello(a.device_id, "alpha", a._boot, a.port, time=time.time() + 3 * 3600)
    conn = await dialling.dial("127.0.0.1", b.port, a.identity, ahead, b.device_id)
    try:
        warning = await next_event(events, EventType.WARNING)
        assert "alpha's clock is 3.0 hours ahead of this one" in warning.text
        assert 3 * 3600 - 60 < (b.peer(a.device_id).clock_skew or 0) < 3 * 3600 + 60
    finally:
        await conn.close()


def test_a_link_local_address_is_listed_once_and_only_where_it_can_be_dialled() -> None:
    """mDNS gives ``%2``, a socket ``%eth0``, an old record none: one address, once."""
    index = socket.if_nametoindex("lo")
    given = [
        ("fe80::1%lo", 4000),
        (f"fe80::1%{index}", 4000),
        ("fe80::1", 4000),  # no interface: cannot be dialled
        ("FE80::2", 4000),
        ("10.0.0.1", 4000),
        ("10.0.0.1", 4000),
        ("fd00::1%0", 4000),
    ]
    assert clean_addresses(given) == [("fe80::1%lo", 4000), ("10.0.0.1", 4000), ("fd00::1", 4000)]


async def test_a_peer_announcing_a_new_port_loses_its_old_one(nodes: tuple[Node, Node]) -> None:
    """A peer restarted on another port: the old port's addresses would only be refused."""
    a, _ = nodes
    peer_id = "c" * 64
    a._adverts.on_advert(peer_id, Advert(peer_id, "charlie", ("127.0.0.9", "fe80::1%lo"), 4000))
    a._adverts.on_advert(peer_id, Advert(peer_id, "charlie", ("127.0.0.9", "127.0.0.10"), 5000))
    assert a.peer(peer_id).addresses == ("127.0.0.9:5000", "127.0.0.10:5000")


async def test_a_name_with_nothing_visible_is_refused_by_the_core(
    nodes: tuple[Node, Node],
) -> None:
    """Every face (the window's /nick, the control socket, the CLI) renames through
    ``set_name``: an empty or invisible name is refused there, not renamed 'unnamed'."""
    alpha, _ = nodes
    before = alpha.name
    for invisible in ("", "   ", "\u202e\u200f", "\x1b"):
        with pytest.raises(ChattyError, match="a name is needed"):
            await alpha.set_name(invisible)
    assert alpha.name == before
