"""Resilience in the network lab: a transfer whose sender changes networks mid-way.

The sender's link is shaped to 80 Mbit/s so the file takes a few seconds. Once a
quarter of it has arrived, the sender's only interface is deleted and another one
comes up on the same LAN with new addresses (Wi-Fi giving way to Ethernet). Two
figures: how long the transfer stood still (from the interface going away to the
receiver running it again), and the whole transfer's time beside the same
transfer, same path, undisturbed: the ratio is the cost of the move.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import Result, percentile, sha256
from tests.support.netlab import Host, Lab

RATE_MBIT = 80


def _pair(lab: Lab, n: int, downloads: Path) -> tuple[Host, Host]:
    a, b = lab.host(f"tx{n}"), lab.host(f"rx{n}")
    a.start()
    b.start("--download-dir", str(downloads), "--accept-from", a.name)
    assert a.daemon is not None
    a.daemon.wait_for(lambda e: e["type"] == "peer-online", 15)
    vouched = b.chatty("pair", a.id, "--fingerprint", a.id)
    assert vouched.returncode == 0, vouched.stderr
    a.shape(RATE_MBIT)
    return a, b


def _transfer(lab: Lab, n: int, source: Path, work: Path, move: bool) -> tuple[float, float]:
    """Seconds for the whole transfer, and (if ``move``) seconds it stood still."""
    downloads = work / f"move-{n}"
    a, b = _pair(lab, n, downloads)
    assert b.daemon is not None
    size = source.stat().st_size
    start = time.monotonic()
    send = a.spawn("send", b.name, str(source), "--json")
    paused = 0.0
    if move:
        mark = b.daemon.mark()
        b.daemon.wait_for(
            lambda e: e["type"] == "transfer-progress" and e["transfer"]["done_bytes"] > size // 4,
            60,
            mark,
        )
        mark = b.daemon.mark()
        moved_at = time.monotonic()
        a.unplug("eth0")
        a.plug("eth1", "br0", f"198.18.{lab.number}.{100 + a.index}", None)
        a.shape(RATE_MBIT, "eth1")
        b.daemon.wait_for(
            lambda e: e["type"] == "transfer" and e["transfer"]["state"] == "interrupted",
            60,
            mark,
        )
        running = b.daemon.wait_for(
            lambda e: e["type"] == "transfer" and e["transfer"]["state"] == "running", 60, mark
        )
        paused = running["_seen"] - moved_at
    b.daemon.wait_for(
        lambda e: e["type"] == "transfer" and e["transfer"]["state"] == "done", 300, 0
    )
    elapsed = time.monotonic() - start
    send.communicate(timeout=60)
    assert send.returncode == 0, "the send failed"
    assert sha256(downloads / source.name) == sha256(source), "the copy differs"
    return elapsed, paused


def path_switch(lab: Lab, source: Path, trials: int, work: Path) -> list[Result]:
    calm, moved, paused = [], [], []
    for i in range(trials):
        calm.append(_transfer(lab, 2 * i, source, work, move=False)[0])
        total, still = _transfer(lab, 2 * i + 1, source, work, move=True)
        moved.append(total)
        paused.append(still)
    mb = source.stat().st_size / 1e6
    return [
        Result(
            "resilience",
            "transfer standing still after the sender's interface is replaced",
            percentile(paused, 50),
            "s",
            target="< 5 s",
            met=max(paused) < 5,
            extra={"trials": paused},
        ),
        Result(
            "resilience",
            f"{mb:.0f} MB at {RATE_MBIT} Mbit/s, sender changes networks mid-way",
            percentile(moved, 50),
            "s",
            baseline="same transfer undisturbed",
            baseline_value=percentile(calm, 50),
            extra={"trials": moved, "undisturbed": calm},
        ),
    ]
