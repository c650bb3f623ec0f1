"""Presence in the network lab: discovery, leaving, startup, and a 20-host mesh.

* Discovery: from starting ``chatty daemon`` on one host to it being listed at
  another; leaving: from a graceful quit to it being gone there. Over several
  trials, with the same path's ICMP-free baseline being none: these are
  protocol timings (mDNS announcements), so the figure stands alone.
* Startup: from spawning ``chatty daemon`` to its ``ready`` line (listening and
  announced), and from spawning the window (offscreen) to it being shown.
* Scale: N hosts started together, until every one lists all the others; then
  one host receiving from ten senders at once (aggregate rate, every copy
  verified), beside raw TCP from one sender on the same path.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import ROOT, Place, Result, make_file, percentile, tree_digest
from bench.throughput import raw_tcp
from tests.support.netlab import Host, Lab


def _discovered(host: Host, peer_id: str, since: int, timeout: float) -> float:
    assert host.daemon is not None
    event = host.daemon.wait_for(
        lambda e: e["type"] == "peer-discovered" and e["peer"]["id"] == peer_id, timeout, since
    )
    return float(event["_seen"])


def discovery(lab: Lab, trials: int) -> list[Result]:
    a, b = lab.host("alpha"), lab.host("bravo")
    a.start()
    found, gone, ready = [], [], []
    for _ in range(trials):
        assert a.daemon is not None
        mark = a.daemon.mark()
        started = time.monotonic()
        b.start()
        assert b.daemon is not None
        ready.append(b.daemon.events[0]["_seen"] - started)
        found.append(_discovered(a, b.id, mark, 10) - started)
        mark = a.daemon.mark()
        quit_at = time.monotonic()
        b.daemon.stop()
        lost = a.daemon.wait_for(lambda e: e["type"] == "peer-lost", 10, mark)
        gone.append(lost["_seen"] - quit_at)
        time.sleep(0.3)
    return [
        _trials("start to listed", found, 1.5),
        _trials("graceful quit to gone", gone, 1.0),
        Result(
            "startup",
            "chatty daemon: spawn to ready (listening, announced)",
            percentile(ready, 50),
            "s",
            extra={"trials": ready},
        ),
    ]


def _trials(what: str, seconds: list[float], limit: float) -> Result:
    """The median of several trials; the target holds only if the slowest meets it."""
    return Result(
        "discovery",
        f"{what}, median of {len(seconds)}",
        percentile(seconds, 50),
        "s",
        target=f"< {limit:g} s",
        met=max(seconds) < limit,
        extra={"trials": seconds, "max": max(seconds)},
    )


GUI_PROBE = """
import os, sys, time
from chatty_p2p.gui import window
shown = window.MainWindow.showEvent
def report(self, event):
    shown(self, event)
    print(time.monotonic(), flush=True)
    os._exit(0)
window.MainWindow.showEvent = report
from chatty_p2p.cli import main
sys.exit(main(["--no-discovery", "--data-dir", sys.argv[1]]))
"""


def gui_startup(work: Path) -> Result:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", GUI_PROBE, str(work / "gui")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    shown = float(out.stdout.split()[0])
    return Result("startup", "window: spawn to shown (offscreen)", shown - start, "s")


def scale(lab: Lab, hosts: int, senders: int, size: int, work: Path) -> list[Result]:
    group = [lab.host(f"h{i:02}") for i in range(hosts)]
    started = time.monotonic()
    threads = [threading.Thread(target=h.start) for h in group]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    all_ready = max(h.daemon.events[0]["_seen"] for h in group if h.daemon)
    ids = {h.name: h.id for h in group}
    complete = 0.0
    for h in group:
        for other in group:
            if other is not h:
                complete = max(complete, _discovered(h, ids[other.name], 0, 30))
    results = [
        Result(
            "scale",
            f"{hosts} hosts started together: every one lists all {hosts - 1} others",
            complete - started,
            "s",
            target="< 5 s",
            met=complete - started < 5,
            extra={"from_all_ready_s": complete - all_ready},
        )
    ]
    # One host receives from several at once.
    receiver, sources = group[0], group[1 : senders + 1]
    downloads = work / "fan-in"
    receiver.daemon.stop()  # type: ignore[union-attr]
    receiver.start("--download-dir", str(downloads), "--accept-from", "*")
    for s in sources:
        vouched = receiver.chatty("pair", s.id, "--fingerprint", s.id)
        assert vouched.returncode == 0, vouched.stderr
    payload = make_file(work / "fan-in.bin", size)
    start = time.monotonic()
    procs = [s.spawn("send", receiver.name, str(payload), "--json") for s in sources]
    for p in procs:
        p.communicate(timeout=600)
        assert p.returncode == 0
    elapsed = time.monotonic() - start
    landed = sorted(downloads.glob("fan-in*.bin"))
    expected = tree_digest(payload)["fan-in.bin"]
    assert len(landed) == senders and all(tree_digest(p)[p.name] == expected for p in landed), (
        "a copy differs"
    )
    place_rx = Place(receiver.name, receiver.ipv4, receiver.ns)
    place_tx = Place(sources[0].name, sources[0].ipv4, sources[0].ns)
    raw_dest = Path(tempfile.mkdtemp(dir=work))
    raw_dest.chmod(0o755)
    raw = raw_tcp(payload, place_tx, place_rx, raw_dest)
    results.append(
        Result(
            "scale",
            f"one host receiving from {senders} senders at once",
            senders * size / 1e6 / elapsed,
            "MB/s",
            baseline="raw TCP, one sender",
            baseline_value=size / 1e6 / raw,
            extra={"seconds": elapsed, "bytes_each": size},
        )
    )
    return results


def new_lab() -> Lab:
    root = Path(tempfile.mkdtemp(prefix="chatty-lab-"))
    root.chmod(0o755)
    return Lab(root)
