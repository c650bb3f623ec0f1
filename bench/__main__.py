"""Chatty's benchmark suite: ``sudo python -m bench [--quick] [--out DIR] [--only NAME ...]``.

Runs, in this order (``--only`` picks some): ``throughput`` (loopback and
across two network-lab hosts; one large file and many small ones; Chatty, raw
TCP, scp, magic-wormhole), ``latency``, ``presence`` (discovery, leaving,
startup), ``scale``, ``resilience`` (a transfer whose sender changes networks
mid-way, beside the same transfer undisturbed), ``startup`` (one-shot commands
beside the bare interpreter; needs neither root nor test data). Writes ``results.json``,
``results.md`` and PNG plots to ``--out`` (default ``docs/benchmarks``) and
prints each figure as it comes.
``--quick`` uses small sizes so the whole suite runs in CI in about a minute:
its figures prove the code paths work, not how fast they are.

Needs root (network namespaces), ``openssh-server`` and the ``bench`` extra
(``pip install -e '.[bench]'``: matplotlib, magic-wormhole and its servers).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import latency, presence, resilience, startup, throughput
from bench.common import ROOT, Place, Result, make_file, make_small_files
from bench.report import write_report

SIZES = {
    # big file, small files (count, bytes each), messages, discovery trials, scale
    "full": {
        "big": 2 << 30,
        "small": (10_000, 10 * 1024),
        "messages": 1000,
        "trials": 10,
        "hosts": 20,
        "senders": 10,
        "fan_in": 100 << 20,
        "move": (60_000_000, 5),
        "startup_runs": 20,
    },
    "quick": {
        "big": 16 << 20,
        "small": (300, 10 * 1024),
        "messages": 50,
        "trials": 2,
        "hosts": 4,
        "senders": 3,
        "fan_in": 4 << 20,
        "move": (20_000_000, 1),
        "startup_runs": 3,
    },
}
NAMES = ("throughput", "latency", "presence", "scale", "resilience", "startup")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES))
    parser.add_argument("--work", type=Path, help="work folder (default: one under /var/tmp)")
    args = parser.parse_args()
    sizes = SIZES["quick" if args.quick else "full"]
    work = args.work or Path(tempfile.mkdtemp(prefix="chatty-bench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    results: list[Result] = []

    def report(found: list[Result]) -> None:
        for result in found:
            print(result.line(), flush=True)
        results.extend(found)

    started = time.monotonic()
    try:
        if {"throughput", "latency"} & set(args.only):
            big = make_file(work / "data" / "big.bin", sizes["big"])
            small = make_small_files(work / "data" / "small-files", *sizes["small"])
        if "throughput" in args.only:
            here = Place("loopback", "127.0.0.1")
            for src, what in ((big, "large file"), (small, "small files")):
                report(throughput.measure(f"{what}, loopback", src, here, here, work / "lo"))
            lab = presence.new_lab()
            try:
                a, b = lab.host("alpha"), lab.host("bravo")
                sender, receiver = Place(a.name, a.ipv4, a.ns), Place(b.name, b.ipv4, b.ns)
                for src, what in ((big, "large file"), (small, "small files")):
                    label = f"{what}, two lab hosts"
                    report(throughput.measure(label, src, sender, receiver, work / "lab"))
            finally:
                lab.close()
        if "latency" in args.only:
            # This process is one end (as the window's node would be), so: loopback.
            here = Place("loopback", "127.0.0.1")
            report(asyncio.run(latency.run(here, work, sizes["messages"], big)))
        if "presence" in args.only:
            lab = presence.new_lab()
            try:
                report(presence.discovery(lab, sizes["trials"]))
            finally:
                lab.close()
            report([presence.gui_startup(work)])
        if "scale" in args.only:
            lab = presence.new_lab()
            try:
                report(presence.scale(lab, sizes["hosts"], sizes["senders"], sizes["fan_in"], work))
            finally:
                lab.close()
        if "resilience" in args.only:
            size, trials = sizes["move"]
            moving = make_file(work / "data" / "move.bin", size)
            lab = presence.new_lab()
            try:
                report(resilience.path_switch(lab, moving, trials, work))
            finally:
                lab.close()
        if "startup" in args.only:
            report(startup.run(work, sizes["startup_runs"]))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "quick": args.quick,
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "cores": len(__import__("os").sched_getaffinity(0)),
        "python": sys.version.split()[0],
        "seconds": round(time.monotonic() - started, 1),
    }
    write_report(args.out, meta, results)
    print(f"wrote {args.out}/results.json, results.md and plots in {meta['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
