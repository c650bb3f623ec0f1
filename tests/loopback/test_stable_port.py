"""The listening port stays the same from one run to the next when it is free, so a
peer that added this one by address (across a router, where mDNS cannot reach) finds
it again after a restart; ``--port`` still wins, and a port taken meanwhile gives
way to a free one, remembered from then on."""

from __future__ import annotations

import socket
from pathlib import Path

from chatty_p2p.node import Node


async def started_port(data_dir: Path, port: int = 0) -> int:
    node = Node(data_dir, discovery=False, port=port)
    await node.start()
    try:
        return node.port
    finally:
        await node.stop()


async def test_a_restart_listens_on_the_same_port(tmp_path: Path) -> None:
    first = await started_port(tmp_path / "n")
    assert await started_port(tmp_path / "n") == first
    assert await started_port(tmp_path / "other") != first  # each data dir its own


async def test_a_port_taken_meanwhile_gives_way_and_the_new_one_is_kept(tmp_path: Path) -> None:
    first = await started_port(tmp_path / "n")
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as squatter:
        squatter.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        squatter.bind(("::", first))
        squatter.listen()
        second = await started_port(tmp_path / "n")
    assert second != first
    assert await started_port(tmp_path / "n") == second


async def test_port_given_wins_and_is_remembered(tmp_path: Path) -> None:
    await started_port(tmp_path / "n")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        wanted = probe.getsockname()[1]
    assert await started_port(tmp_path / "n", wanted) == wanted
    assert await started_port(tmp_path / "n") == wanted
