"""Handshake slots under a flood: the fair-share and known-peer rules of
``admission`` driven directly, then a node's warnings about forged preambles."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import Counter
from pathlib import Path

import pytest

from chatty_p2p.identity import Identity
from chatty_p2p.net import tls
from chatty_p2p.net.admission import (
    MAX_HANDSHAKES,
    MAX_HANDSHAKES_PER_ADDRESS,
    MAX_KNOWN_HANDSHAKES,
    WARN_EVERY,
    Admission,
    Hush,
    Refused,
    Ticket,
)
from chatty_p2p.net.bulk import recv_exactly
from chatty_p2p.node import Node
from chatty_p2p.protocol import preamble
from tests.support.hostile import RawPeer


def fill(admission: Admission, addresses: int, each: int) -> list[Ticket]:
    """``each`` handshakes from each of ``addresses`` addresses, taken in turns, as a
    flood from many machines arrives; those refused are left out."""
    tickets = []
    for _ in range(each):
        for a in range(addresses):
            with contextlib.suppress(Refused):
                tickets.append(admission.enter(f"10.0.0.{a}"))
    return tickets


def held(tickets: list[Ticket]) -> Counter[str]:
    return Counter(t.host for t in tickets if not t.evicted)


def test_a_newcomer_displaces_the_oldest_handshake_of_the_greediest_address() -> None:
    admission = Admission()
    tickets = fill(admission, 40, MAX_HANDSHAKES_PER_ADDRESS)  # 320 wanted
    assert held(tickets).total() == MAX_HANDSHAKES
    assert max(held(tickets).values()) <= 7  # an even share is 6.4: nobody kept eight
    called: list[Ticket] = []
    for t in tickets:
        t.on_evict = lambda t=t: called.append(t)
    before = held(tickets)
    oldest = {t.host: t for t in reversed(tickets) if not t.evicted}
    newcomer = admission.enter("192.168.1.5")
    (victim,) = called
    assert victim.evicted and not newcomer.evicted
    assert before[victim.host] == max(before.values()) and victim is oldest[victim.host]


def test_an_address_at_its_share_is_refused_rather_than_displacing() -> None:
    admission = Admission()
    for a in range(MAX_HANDSHAKES // 4):
        for _ in range(4):
            admission.enter(f"10.0.0.{a}")
    with pytest.raises(Refused, match="handshakes in progress"):
        admission.enter("10.0.0.0")  # holds 4, as much as anyone
    admission.enter("10.0.9.9")  # holds none: room is made


def test_a_known_peer_leaves_the_strangers_pool_within_its_places() -> None:
    """Eight handshakes claim a paired id from one address: four get its places and
    cannot be displaced, the other four stay strangers and go first."""
    admission = Admission()
    claims = [admission.enter("10.1.0.1") for _ in range(MAX_HANDSHAKES_PER_ADDRESS)]
    for ticket in claims:
        ticket.known("f" * 64)
    strangers = MAX_HANDSHAKES_PER_ADDRESS - MAX_KNOWN_HANDSHAKES  # 4, more than others
    others = fill(admission, (MAX_HANDSHAKES - strangers) // 2, 2)
    assert not any(t.evicted for t in others)
    for i in range(2):
        admission.enter(f"192.168.7.{i}")  # newcomers: the greediest address gives way
    evicted = [t.evicted for t in claims]
    assert evicted == [False] * MAX_KNOWN_HANDSHAKES + [True, True, False, False]
    with claims[0]:
        pass  # its handshake ended: the place is free for the next claim
    late = admission.enter("10.1.0.2")
    late.known("f" * 64)
    fill(admission, 64, MAX_HANDSHAKES_PER_ADDRESS)
    assert not late.evicted


def test_slots_come_back_when_tickets_close() -> None:
    admission = Admission()
    tickets = fill(admission, 40, MAX_HANDSHAKES_PER_ADDRESS)
    for ticket in tickets:
        with ticket:
            pass
    assert fill(admission, 32, MAX_HANDSHAKES_PER_ADDRESS)[-1].evicted is False


def test_hush_says_once_a_minute_per_address() -> None:
    hush = Hush()
    assert hush("a", 0.0) and not hush("a", 1.0) and hush("b", 1.0)
    assert not hush("a", WARN_EVERY - 1) and hush("a", WARN_EVERY + 0.5)


async def test_a_forged_preamble_is_a_warning_with_the_address_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A preamble carrying a paired friend's certificate (recorded, or simply read off
    mDNS) from someone without its key: TLS refuses it, and the log says so at
    warning level, naming the address, once however often it is tried."""
    node = Node(tmp_path / "node", name="node", discovery=False)
    await node.start()
    friend = Identity.load_or_create(tmp_path / "friend")
    node.pair_by_fingerprint(friend.device_id, friend.device_id)
    mallory = RawPeer(tmp_path / "mallory", source="127.0.0.6")

    def forge() -> None:
        sock = mallory.tcp(node.port)
        sock.sendall(preamble.encode_request(preamble.ChannelKind.CONTROL, friend.cert_der))
        assert preamble.parse_reply(recv_exactly(sock, preamble.REPLY.size)) is preamble.Status.OK
        with contextlib.suppress(OSError, ssl.SSLError):
            wrapped = tls.client_context(mallory.identity).wrap_socket(
                sock, server_hostname="chatty"
            )
            wrapped.recv(1)
        sock.close()

    caplog.set_level(logging.INFO, "chatty_p2p")
    try:
        for _ in range(5):
            await asyncio.to_thread(forge)
        await asyncio.sleep(0.2)
    finally:
        await node.stop()
    failed = [r for r in caplog.records if "failed after its preamble" in r.getMessage()]
    assert len(failed) == 5
    assert [r.levelno for r in failed] == [logging.WARNING] + [logging.INFO] * 4
    assert "127.0.0.6" in failed[0].getMessage()
