"""Forged mDNS records: the rules of ``AdvertTable`` driven directly, then a node
fed thousands of records in-process (nothing is multicast) that point at a
blackhole on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatty_p2p.net.connection import CONNECT_TIMEOUT
from chatty_p2p.net.discovery import Advert, AdvertTable
from chatty_p2p.node import MAX_STRANGER_DIALS, Node
from chatty_p2p.node import adverts as adverts_mod


def ids(n: int, prefix: str = "f") -> list[str]:
    return [f"{prefix}{i:063x}" for i in range(n)]


def test_a_full_table_drops_the_oldest_stranger_that_never_answered() -> None:
    table = AdvertTable(cap=4, ttl=60)
    first, second, third, fourth = ids(4)
    assert table.add(first, known=False, now=0) == []
    table.add(second, known=False, now=1)
    table.add(third, known=True, now=2)  # paired: never dropped
    table.add(fourth, known=False, now=3)
    table.answered(first)  # it answered: real
    newcomer, another = ids(2, "e")
    assert table.add(newcomer, known=False, now=4) == [second]  # not refused
    assert table.add(another, known=False, now=5) == [fourth]
    assert table.add("d" * 64, known=False, now=6) == [newcomer]
    table.answered(another)
    table.answered("d" * 64)
    assert table.add("c" * 64, known=False, now=7) is None  # all real: ignored
    assert table.add("b" * 64, known=True, now=8) == []  # a known peer always fits
    assert len(table) == 5


def test_records_that_never_answer_age_out_and_re_announcing_does_not_renew_them() -> None:
    table = AdvertTable(cap=100, ttl=60)
    fake, real, paired = ids(3)
    for peer in (fake, real):
        table.add(peer, known=False, now=0)
    table.add(paired, known=True, now=0)
    table.answered(real)
    assert table.add(fake, known=False, now=50) == []  # the same record again
    assert table.expired(now=59) == []
    assert table.expired(now=61) == [fake]
    assert fake not in table and real in table and paired in table


def test_strangers_not_dialled_keep_their_records_until_dialling_resumes() -> None:
    """While only paired peers are accepted, strangers are not dialled: their silence
    proves nothing, and the user must still find a new device to pair with."""
    table = AdvertTable(cap=100, ttl=60)
    (newcomer,) = ids(1)
    table.add(newcomer, known=False, now=0)
    table.hold(now=3600)
    assert table.expired(now=3650) == []
    assert table.expired(now=3661) == [newcomer]


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A port on 127.0.3.1 whose backlog is full, so a connect hangs as to a machine
    that drops packets: the worst a forged record can point at."""
    listener = socket.socket()
    listener.bind(("127.0.3.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    for _ in range(3):
        sock = socket.socket()
        sock.setblocking(False)
        sock.connect_ex(("127.0.3.1", port))
        fillers.append(sock)
    yield port
    for sock in fillers:
        sock.close()
    listener.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> int:
    status = Path("/proc/self/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmRSS"))
    return int(line.split()[1]) // 1024


async def test_forged_records_cost_a_few_dials_and_age_out_while_friends_get_through(
    tmp_path: Path, blackhole: int
) -> None:
    node = Node(tmp_path / "node", name="node", discovery=False)
    friend = Node(tmp_path / "friend", name="friend", discovery=False)
    newcomer = Node(tmp_path / "newcomer", name="newcomer", discovery=False)
    for each in (node, friend, newcomer):
        await each.start()
    node._adverts.table = AdvertTable(ttl=3)  # a minute in real life
    node.pair_by_fingerprint(friend.device_id, friend.device_id)
    try:
        fds, memory = open_fds(), rss_mb()
        forged = ids(5000)
        for n, peer_id in enumerate(forged):
            node._adverts.on_advert(peer_id, Advert(peer_id, f"fake{n}", ("127.0.3.1",), blackhole))
        await asyncio.sleep(0.5)
        dialling = open_fds() - fds
        assert dialling <= 4 * MAX_STRANGER_DIALS, dialling  # a few dials, not 1,024
        listed = [p for p in node.peers() if p.id in set(forged)]
        assert len(listed) <= 1024
        # A newcomer's record still counts; it reaches us, and the paired friend,
        # announced last, is dialled at once rather than behind the fakes.
        advert = Advert(newcomer.device_id, "newcomer", ("127.0.0.1",), newcomer.port)
        node._adverts.on_advert(newcomer.device_id, advert)
        assert newcomer.device_id in {p.id for p in node.peers()}
        await newcomer.add_peer("127.0.0.1", node.port)
        node._adverts.on_advert(
            friend.device_id, Advert(friend.device_id, "friend", ("127.0.0.1",), friend.port)
        )
        async with asyncio.timeout(5):
            while not node.peer(friend.device_id).online:
                await asyncio.sleep(0.05)
        during = rss_mb()
        # The fakes never answer: within the TTL and a sweep they are gone.
        async with asyncio.timeout(3 + 5 + 5):
            while any(p.id in set(forged) for p in node.peers()):
                await asyncio.sleep(0.5)
        assert node.peer(friend.device_id).online and node.peer(newcomer.device_id).online
        await asyncio.sleep(CONNECT_TIMEOUT + 0.5)  # dials running when their records went
        after = open_fds() - fds
        print(f"forged records: fds +{dialling} during, +{after} after")
        print(f"memory (MB, this process): before {memory}, during {during}, after {rss_mb()}")
        assert after <= 8, after  # two sessions, their listeners' ends
        assert rss_mb() <= memory + 20
    finally:
        for each in (node, friend, newcomer):
            await each.stop()


async def test_a_stranger_stays_listed_while_only_paired_peers_are_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trusted-only: a new device's record outlives the TTL, so it can be paired with."""
    monkeypatch.setattr(adverts_mod, "ADVERT_SWEEP", 0.2)
    node = Node(tmp_path / "node", name="node", discovery=False)
    await node.start()
    node._adverts.table = AdvertTable(ttl=0.5)
    node.set_trusted_only(True)
    try:
        (stranger,) = ids(1)
        node._adverts.on_advert(stranger, Advert(stranger, "new phone", ("127.0.3.1",), 9))
        await asyncio.sleep(1.5)
        assert stranger in {p.id for p in node.peers()}
        node.set_trusted_only(False)  # now it is dialled, fails, and ages out
        async with asyncio.timeout(10):
            while stranger in {p.id for p in node.peers()}:
                await asyncio.sleep(0.1)
    finally:
        await node.stop()
