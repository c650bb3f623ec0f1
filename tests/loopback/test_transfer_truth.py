"""What both sides show when a transfer stops short, and what ``resume`` answers.

Two real nodes on loopback (no mDNS); the receiver's download folder is a small
tmpfs that fills up mid-way (root only, as in ``test_failures_transfer``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatty_p2p.errors import Interrupted
from chatty_p2p.files import pump, receiving
from chatty_p2p.files.model import TransferInfo
from chatty_p2p.net import bulk
from chatty_p2p.node import EventType, Node
from chatty_p2p.protocol.bulk.wire import ResultReceived
from tests.support.transfers import ended, wait_transfer

MIB = 1 << 20


def shown(node: Node, transfer_id: str) -> TransferInfo:
    """The transfer as ``chatty transfers`` lists it on this node."""
    return next(t for t in node.transfers() if t.id == transfer_id)


@pytest.fixture
async def full_pair(tmp_path: Path) -> AsyncIterator[tuple[Node, Node, Path]]:
    """alpha and bravo, whose download folder is a tmpfs (see ``paused_on_a_full_disk``)."""
    if os.geteuid() != 0:
        pytest.skip("a small tmpfs needs root (mount)")
    disk = tmp_path / "small-disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(disk)], check=True)
    a = Node(tmp_path / "a", name="alpha", discovery=False, download_dir=tmp_path / "a-dl")
    b = Node(tmp_path / "b", name="bravo", discovery=False, download_dir=disk)
    try:
        await a.start()
        await b.start()
        await a.add_peer("127.0.0.1", b.port)
        yield a, b, disk
    finally:
        await a.stop()
        await b.stop()
        subprocess.run(["umount", "-l", str(disk)], check=False)


def resize(disk: Path, size: str) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)


async def paused_on_a_full_disk(a: Node, b: Node, disk: Path, tmp_path: Path) -> str:
    """Send 32 MiB; bravo accepts, and its disk shrinks to 4 MiB before a byte moves
    (in one step of the event loop: nothing runs in between)."""
    big = tmp_path / "movie.bin"
    big.write_bytes(os.urandom(32 * MIB))
    a_events, b_events = a.subscribe(), b.subscribe()
    sent = await a.send_files(b.device_id, [big])
    await wait_transfer(b_events, lambda t: t.id == sent.id, (EventType.TRANSFER_OFFERED,))
    b.accept(sent.id)
    resize(disk, "4m")
    for events in (a_events, b_events):
        paused = await wait_transfer(events, lambda t: t.id == sent.id and t.state == "paused")
        assert "is full" in paused.error, paused
    return sent.id


async def test_a_pause_shows_the_receivers_bytes_on_both_sides(
    full_pair: tuple[Node, Node, Path], tmp_path: Path
) -> None:
    a, b, disk = full_pair
    transfer_id = await paused_on_a_full_disk(a, b, disk, tmp_path)
    await asyncio.sleep(0.5)  # any late progress would have landed by now
    receiver, sender = shown(b, transfer_id), shown(a, transfer_id)
    assert 0 < receiver.done_bytes <= 4 * MIB, receiver
    assert sender.done_bytes == receiver.done_bytes, (sender.done_bytes, receiver.done_bytes)
    # The sender asks to resume once space is freed: it says it is resuming (not
    # "interrupted"), and the transfer finishes.
    resize(disk, "64m")
    a_events = a.subscribe()
    answer = a.resume(transfer_id[:8])
    assert answer.state == "resuming" and "asked bravo" in answer.error, answer
    done = await wait_transfer(a_events, lambda t: t.id == transfer_id and ended(t))
    assert done.state == "done", done


async def test_resume_with_the_sender_away_says_so_and_does_not_claim_running(
    full_pair: tuple[Node, Node, Path], tmp_path: Path
) -> None:
    a, b, disk = full_pair
    transfer_id = await paused_on_a_full_disk(a, b, disk, tmp_path)
    await a.stop()
    resize(disk, "64m")
    b_events = b.subscribe()
    answer = b.resume(transfer_id[:8])
    assert answer.state == "interrupted" and "alpha is offline" in answer.error, answer
    with pytest.raises(TimeoutError):  # nothing claims to run while alpha is away
        await wait_transfer(b_events, lambda t: t.state == "running", timeout=2)
    assert shown(b, transfer_id).state == "interrupted"


@pytest.fixture
def result_lost_once(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sender's link breaks just as the receiver's RESULT reaches it, once: the
    receiver has said everything arrived, the sender never reads it."""
    lost: list[int] = []
    real = bulk.Channel.next

    def next_event(channel: bulk.Channel, proto: Any) -> object:
        event = real(channel, proto)
        if isinstance(event, ResultReceived) and not lost:
            lost.append(1)
            channel.abort()
            raise Interrupted("connection lost (cut by the test)")
        return event

    monkeypatch.setattr(bulk.Channel, "next", next_event)
    return lost


@pytest.mark.parametrize("receiver", ["prompt", "slow to wind up"])
async def test_a_sender_that_missed_the_result_ends_done_like_the_receiver(
    nodes: tuple[Node, Node],
    tmp_path: Path,
    result_lost_once: list[int],
    monkeypatch: pytest.MonkeyPatch,
    receiver: str,
) -> None:
    """Both sides end a transfer in one state even when the sender's link breaks
    after the last byte, before the receiver's word: the sender asks, the receiver
    (done, and not dialling again) says how it ended; if the question comes while
    the receiver is still winding up (a loaded machine), as soon as it has ended."""
    if receiver != "prompt":
        real = receiving.receive

        def slow(*args: Any) -> list[tuple[int, str]]:
            failed = real(*args)
            time.sleep(0.5)  # the sender's question comes in meanwhile
            return failed

        monkeypatch.setattr(pump, "receive", slow)
    a, b = nodes
    await a.add_peer("127.0.0.1", b.port)
    source = tmp_path / "report.bin"
    source.write_bytes(os.urandom(3 * MIB))
    a_events, b_events = a.subscribe(), b.subscribe()
    sent = await a.send_files(b.device_id, [source])
    await wait_transfer(b_events, lambda t: t.id == sent.id, (EventType.TRANSFER_OFFERED,))
    b.accept(sent.id)
    got = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t))
    told = await wait_transfer(a_events, lambda t: t.id == sent.id and ended(t), timeout=10)
    assert result_lost_once  # the cut happened
    assert (got.state, told.state) == ("done", "done"), (got.error, told.error)
    assert shown(a, sent.id).state == "done" and told.done_bytes == 3 * MIB
