"""Lanes: one large file over 1, 2 and 4 bulk connections at once (``CHATTY_LANES`` on
both sides), ``chatty send`` to a receiving daemon, in interleaved rounds; the rate
and the CPU each side spends per GB.

What it can show on a small machine is the cost, not the gain: with two cores
shared by both sides, one connection already keeps them busy, so more lanes cannot
be faster here. What a lane costs per GB (its own TLS session, its range's hash,
its thread) is what decides how far lanes scale on machines with cores to spare.
Ranges start at ``transfer.RANGE_FROM`` (256 MiB): a smaller file goes whole.
"""

from __future__ import annotations

import contextlib
import os
import statistics
from pathlib import Path

from bench.common import Place, Result
from bench.throughput import ChattyPeer, Run, Send, interleave

COUNTS = (1, 2, 4)


def measure(label: str, src: Path, place: Place, work: Path, rounds: int) -> list[Result]:
    """Each lane count as a tool of its own (a daemon started with it), interleaved."""
    before = os.environ.get("CHATTY_LANES")
    peers: dict[int, ChattyPeer] = {}
    try:
        with contextlib.ExitStack() as running:
            for count in COUNTS:
                os.environ["CHATTY_LANES"] = str(count)  # the daemon started now keeps it
                peers[count] = ChattyPeer(place, place, work / f"lanes-{count}")
                running.callback(peers[count].stop)
            tools = {_name(count): _sending(peers[count], count) for count in COUNTS}
            runs = interleave(tools, src, work, rounds)
    finally:
        if before is None:
            os.environ.pop("CHATTY_LANES", None)
        else:
            os.environ["CHATTY_LANES"] = before
    size = src.stat().st_size
    group = f"lanes, {label}"
    one = runs[_name(1)]
    results = []
    for count in COUNTS:
        mine = runs[_name(count)]
        result = Result(
            group,
            _name(count),
            statistics.median(size / r.seconds / 1e6 for r in mine),
            "MB/s",
            extra={
                "sender_cpu": statistics.median(r.sender_cpu for r in mine) / (size / 1e9),
                "receiver_cpu": statistics.median(r.receiver_cpu for r in mine) / (size / 1e9),
                "cpu_unit": "CPU s/GB",
            },
        )
        if count > 1:
            result.baseline = _name(1)
            result.baseline_value = statistics.median(size / r.seconds / 1e6 for r in one)
            result.ratios = [o.seconds / m.seconds for o, m in zip(one, mine, strict=True)]
        results.append(result)
    for result in results:
        extra = result.extra
        result.note = (
            f"CPU s/GB sender {extra['sender_cpu']:.2f}, receiver {extra['receiver_cpu']:.2f}"
        )
    return results


def _name(count: int) -> str:
    return "1 lane" if count == 1 else f"{count} lanes"


def _sending(peer: ChattyPeer, count: int) -> Send:
    """``peer.send`` from a ``chatty send`` started with ``count`` lanes too."""

    def send(src: Path, dest: Path) -> Run:
        os.environ["CHATTY_LANES"] = str(count)
        return peer.send(src, dest)

    return send
