"""Chatty's benchmark suite: ``sudo python -m bench [--quick] [--out DIR] [--only NAME ...]``.

Runs, in this order (``--only`` picks some): ``bulk-path`` (the transfer loops
alone against raw TCP, see ``bench.bulkpath``), ``throughput`` (loopback and
across two network-lab hosts; one large file and many small ones; Chatty, raw
TCP, scp, magic-wormhole, in interleaved rounds), ``lanes`` (one large file
over 1, 2 and 4 bulk connections: the CPU each costs per GB), ``shaped`` (raw TCP and
Chatty on a lab link shaped to 1 Gbit/s, with both ends' sockets half-way),
``first-byte`` (a small ``chatty send``: its first byte at the receiver, and
the stall from its last byte to both sides' end), ``latency``, ``presence``
(discovery, leaving, startup), ``scale``, ``resilience`` (a transfer whose
sender changes networks mid-way, beside the same transfer undisturbed),
``startup`` (one-shot commands beside the bare interpreter; needs neither root
nor test data). Writes ``results.json``, ``results.md`` and PNG plots to
``--out`` (default ``docs/benchmarks``) and prints each figure as it comes.
``--quick`` uses small sizes so the whole suite runs in CI in about a minute:
its figures prove the code paths work, not how fast they are.

Needs root (network namespaces), ``openssh-server``, ``tc`` and ``ss``
(iproute2) and the ``bench`` extra (``pip install -e '.[bench]'``: matplotlib,
magic-wormhole and its servers).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import contextlib
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from bench import bulkpath, lanes, latency, presence, resilience, startup, throughput
from bench.common import ROOT, Place, Result, fast_folder, make_file, make_small_files
from bench.report import write_report
from tests.support.netlab import Host, Lab


@dataclass(frozen=True)
class Sizes:
    """What one mode (full or quick) moves and counts; ``--rounds`` and ``--big-mib``
    replace a field."""

    big: int
    """Bytes of the large file (throughput, shaped link, latency under load)."""
    small: tuple[int, int]
    """Many small files: how many, bytes each."""
    rounds: int
    """Interleaved rounds of every throughput tool (same-run ratios per round)."""
    first_byte: tuple[int, int]
    """The first-byte file's bytes, and how many sends of it."""
    messages: int
    trials: int
    hosts: int
    senders: int
    fan_in: int
    move: tuple[int, int]
    startup_runs: int


SIZES = {
    "full": Sizes(
        big=2 << 30,
        small=(10_000, 10 * 1024),
        rounds=3,
        first_byte=(1 << 20, 20),
        messages=1000,
        trials=10,
        hosts=20,
        senders=10,
        fan_in=100 << 20,
        move=(60_000_000, 5),
        startup_runs=20,
    ),
    "quick": Sizes(
        big=16 << 20,
        small=(300, 10 * 1024),
        rounds=2,
        first_byte=(1 << 20, 3),
        messages=50,
        trials=2,
        hosts=4,
        senders=3,
        fan_in=4 << 20,
        move=(20_000_000, 1),
        startup_runs=3,
    ),
}
NAMES = (
    "bulk-path",
    "throughput",
    "lanes",
    "shaped",
    "first-byte",
    "latency",
    "presence",
    "scale",
    "resilience",
    "startup",
)
LOOPBACK = Place("loopback", "127.0.0.1")


@contextlib.contextmanager
def new_lab() -> Iterator[Lab]:
    """A network lab, deleted afterwards."""
    lab = presence.new_lab()
    try:
        yield lab
    finally:
        lab.close()


@contextlib.contextmanager
def two_hosts() -> Iterator[tuple[Host, Host]]:
    """Two hosts of a new network lab: alpha sends, bravo receives."""
    with new_lab() as lab:
        yield lab.host("alpha"), lab.host("bravo")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (CI smoke run)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    parser.add_argument("--only", nargs="+", choices=NAMES, default=list(NAMES))
    parser.add_argument("--work", type=Path, help="work folder (default: one under /var/tmp)")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of the throughput and shaped-link runs (default 3, quick 2)",
    )
    parser.add_argument("--big-mib", type=int, help="the large file's size in MiB")
    args = parser.parse_args()
    sizes = SIZES["quick" if args.quick else "full"]
    if args.rounds:
        sizes = replace(sizes, rounds=args.rounds)
    if args.big_mib:
        sizes = replace(sizes, big=args.big_mib << 20)
    work = args.work or Path(tempfile.mkdtemp(prefix="chatty-bench-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)
    results: list[Result] = []

    def report(found: list[Result]) -> None:
        for result in found:
            print(result.line(), flush=True)
        results.extend(found)

    started = time.monotonic()
    # An installed Chatty has its bytecode compiled (pip does it); a checkout run with
    # PYTHONDONTWRITEBYTECODE would compile every module at every start, and start-up
    # and first-byte figures would measure the compiler.
    compileall.compile_dir(ROOT / "chatty_p2p", quiet=1)
    count, each = sizes.small
    # The large file and a copy of it, the small files and a copy, the first-byte file.
    need = 2 * (sizes.big + count * each) + sizes.first_byte[0] + (64 << 20)
    with contextlib.ExitStack() as stack:
        if not args.work:
            stack.callback(shutil.rmtree, work, ignore_errors=True)
        fast = stack.enter_context(fast_folder(need, work))
        if "bulk-path" in args.only:
            report(bulkpath.measure(sizes.big, sizes.rounds, fast))
        if {"throughput", "shaped", "latency", "lanes"} & set(args.only):
            big = make_file(fast / "data" / "big.bin", sizes.big)
        if "throughput" in args.only:
            small = make_small_files(fast / "data" / "small-files", *sizes.small)
            data = ((big, "large file"), (small, "small files"))
            for src, what in data:
                report(
                    throughput.measure(
                        f"{what}, loopback", src, LOOPBACK, LOOPBACK, fast / "lo", sizes.rounds
                    )
                )
            with two_hosts() as (a, b):
                sender, receiver = Place.of(a), Place.of(b)
                for src, what in data:
                    label = f"{what}, two lab hosts"
                    folder = fast / "lab"
                    report(throughput.measure(label, src, sender, receiver, folder, sizes.rounds))
        if "lanes" in args.only:
            report(
                lanes.measure("large file, loopback", big, LOOPBACK, fast / "lanes", sizes.rounds)
            )
        if "shaped" in args.only:
            with two_hosts() as hosts:
                label = "large file, lab link shaped to 1 Gbit/s"
                report(throughput.shaped(label, big, hosts, fast / "shaped", sizes.rounds))
        if "first-byte" in args.only:
            size, sends = sizes.first_byte
            report(throughput.first_byte("loopback", LOOPBACK, LOOPBACK, fast / "fb", size, sends))
            with two_hosts() as (a, b):
                where = fast / "fb-lab"
                report(
                    throughput.first_byte(
                        "two lab hosts", Place.of(a), Place.of(b), where, size, sends
                    )
                )
        if "latency" in args.only:
            # This process is one end (as the window's node would be), so: loopback.
            report(asyncio.run(latency.run(LOOPBACK, work, sizes.messages, big)))
        if "presence" in args.only:
            with new_lab() as lab:
                report(presence.discovery(lab, sizes.trials))
            report([presence.gui_startup(work)])
        if "scale" in args.only:
            with new_lab() as lab:
                report(presence.scale(lab, sizes.hosts, sizes.senders, sizes.fan_in, work))
        if "resilience" in args.only:
            size, trials = sizes.move
            moving = make_file(work / "data" / "move.bin", size)
            with new_lab() as lab:
                report(resilience.path_switch(lab, moving, trials, work))
        if "startup" in args.only:
            report(startup.run(work, sizes.startup_runs))
        storage = "RAM (/dev/shm)" if fast != work else f"disk ({work})"
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "quick": args.quick,
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
        "cores": len(os.sched_getaffinity(0)),
        "python": sys.version.split()[0],
        "seconds": round(time.monotonic() - started, 1),
        "rounds": sizes.rounds,
        "large_file_bytes": sizes.big,
        "transfer_data": storage,
    }
    write_report(args.out, meta, results)
    print(f"wrote {args.out}/results.json, results.md and plots in {meta['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
