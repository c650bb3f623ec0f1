"""Message round trips: send a message, wait for the peer's receipt, again and again.

One node runs in this process (as the window's node would, with its event
loop), the other is a ``chatty daemon`` in another place. Measured idle, then
while a large file moves between the same two nodes: chat has its own
connection, so its latency should barely move. The baseline is a raw TCP echo
(one byte there and back) on the same path, in the same run.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Daemon, Place, Result, percentile
from chatty_p2p.node import EventType, Node

ECHO = r"""
import socket
listener = socket.create_server(("0.0.0.0", 0))
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
while data := conn.recv(1):
    conn.sendall(data)
"""


def tcp_echo(receiver: Place, count: int) -> list[float]:
    proc = receiver.popen(sys.executable, "-c", ECHO, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    times = []
    with socket.create_connection((receiver.address, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(b"x")
            sock.recv(1)
            times.append(time.perf_counter() - start)
    proc.wait(10)
    return times


async def round_trips(
    node: Node, peer_id: str, count: int, until: Callable[[], bool] = lambda: False
) -> list[float]:
    """Up to ``count`` round trips, fewer if ``until()`` turns true first."""
    events = node.subscribe()
    times = []
    for i in range(count):
        if until():
            break
        start = time.perf_counter()
        sent = await node.send_text(peer_id, f"ping {i}")
        while True:
            event = await events.get()
            message = event.message
            if (
                event.type is EventType.MESSAGE_STATUS
                and message is not None
                and message.id == sent.id
                and message.status == "delivered"
            ):
                break
        times.append(time.perf_counter() - start)
    node.unsubscribe(events)
    return times


async def small_transfers(node: Node, peer_id: str, path: Path, count: int) -> list[float]:
    """Seconds from offering a 1 KiB file (the peer accepts unasked) to its verified
    end here, which comes after the receiver's: the fixed costs of a transfer (offer,
    consent, a TLS connection, verification, the close), with nothing to move."""
    path.write_bytes(b"x" * 1024)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        transfer = await node.send_files(peer_id, [path])
        while (state := next(t for t in node.transfers() if t.id == transfer.id).state) not in (
            "done",
            "failed",
        ):
            await asyncio.sleep(0.001)
        if state != "done":
            raise RuntimeError(f"a 1 KiB transfer ended {state}")
        times.append(time.perf_counter() - start)
    return times


async def run(receiver: Place, work: Path, count: int, big: Path) -> list[Result]:
    daemon = Daemon(receiver, work / "latency-peer", "--no-discovery", "--accept-from", "*")
    daemon.vouch(work / "latency-me")  # before the node holds its data dir
    node = Node(work / "latency-me", name="me", discovery=False, download_dir=work / "dl")
    await node.start()
    try:
        peer = await node.add_peer(receiver.address, int(daemon.info["port"]))
        await round_trips(node, peer.id, 20)  # warm up
        idle = await round_trips(node, peer.id, count)
        tiny = await small_transfers(node, peer.id, work / "tiny.txt", max(3, count // 50))
        transfer = await node.send_files(peer.id, [big])
        while next(t for t in node.transfers() if t.id == transfer.id).state != "running":
            await asyncio.sleep(0.01)

        def ended() -> bool:
            return next(t for t in node.transfers() if t.id == transfer.id).state != "running"

        busy = await round_trips(node, peer.id, count, until=ended)
        if not ended():
            node.cancel(transfer.id)
    finally:
        await node.stop()
        daemon.stop()
    echo = tcp_echo(receiver, count)
    results = []
    for label, times in (("idle", idle), ("during a transfer", busy)):
        for q in (50, 99):
            value = percentile(times, q) * 1000
            results.append(
                Result(
                    group="message latency",
                    name=f"p{q} {label}",
                    value=value,
                    unit="ms",
                    baseline="raw TCP echo",
                    baseline_value=percentile(echo, q) * 1000,
                    target="p99 < 50 ms" if q == 99 else "",
                    met=value < 50 if q == 99 else None,
                    note=f"{len(times)} messages" if label != "idle" else "",
                    extra={"messages": len(times)},
                )
            )
    results.append(
        Result(
            group="message latency",
            name="1 KiB file, offer to verified (median)",
            value=percentile(tiny, 50) * 1000,
            unit="ms",
            baseline="message round trip, idle (median)",
            baseline_value=percentile(idle, 50) * 1000,
            note=f"{len(tiny)} transfers; each ended with a 1 s stall at the close before "
            "2026-11-30",
            extra={"transfers": len(tiny)},
        )
    )
    return results
