"""The bulk path alone: Chatty's transfer loops against raw TCP, on loopback.

``python -m bench.bulkpath [--size BYTES] [--rounds N] [--dir DIR] [--files COUNT]``

No node, no store, no events: one process serves a file the way a node does
(``accepting.read_preamble``, ``accepting.server_pipe``, ``files.sending.serve``)
and another fetches it (``net.bulk.dial_bulk``, ``files.receiving.receive``), each
timing itself and counting its own CPU. The baseline is raw TCP in the same
run: ``sendfile`` into a receiver that writes each read into the file, the
least any transfer must do. Rounds are interleaved (raw, Chatty, raw, Chatty
…) and each ratio is taken within its round, so a machine busy with something
else slows both sides of a ratio alike.

``--files COUNT`` sends a folder of COUNT files of ``--size`` bytes instead,
and reports files per second.

What it cannot show: on a 2-core machine the sender and the receiver share the
cores, so the sum of both sides' CPU per byte bounds the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, Result, make_file, make_small_files

RAW_RECEIVER = r"""
import json, os, socket, sys, time
dest = sys.argv[1]
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
t0, c0 = time.monotonic(), os.times()
buf = bytearray(1 << 20)
view = memoryview(buf)
fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
while n := conn.recv_into(view):
    os.write(fd, view[:n])
os.fsync(fd)
os.close(fd)
c1 = os.times()
cpu = c1.user + c1.system - c0.user - c0.system
print(json.dumps({"seconds": time.monotonic() - t0, "cpu": cpu}))
"""

RAW_SENDER = r"""
import json, os, socket, sys, time
c0 = os.times()
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as sock:
    with open(sys.argv[2], "rb") as f:
        sock.sendfile(f)
c1 = os.times()
print(json.dumps({"cpu": c1.user + c1.system - c0.user - c0.system}))
"""


class _Quiet:
    """A ``transfer.Reporter`` that keeps nothing: the loops alone are measured."""

    def manifest(self, entries: Any, dests: Any) -> None:
        pass

    def progress(self, done: int, file: str = "", file_done: int = 0, file_size: int = 0) -> None:
        pass

    def file_done(self, index: int, saved: str) -> None:
        pass

    def file_failed(self, index: int, reason: str) -> None:
        raise SystemExit(f"file {index} failed: {reason}")


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def serve(home: Path, source: Path) -> None:
    """The sender's side: accept one bulk connection and stream ``source`` over it."""
    from chatty_p2p.files.manifest import build_manifest
    from chatty_p2p.files.sending import serve as serve_bulk
    from chatty_p2p.identity import Identity
    from chatty_p2p.net import accepting, tls
    from chatty_p2p.net.bulk import accept_bulk

    identity = Identity.load_or_create(home)
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    raw, _ = listener.accept()
    cpu = _cpu()

    async def accept() -> Any:
        _, ctx = await accepting.read_preamble(raw, tls.ServerContexts(identity), lambda _: "")
        return await accepting.server_pipe(raw, ctx)

    pipe = asyncio.run(accept())
    channel, proto, opened = accept_bulk(pipe, threading.Event())
    entries, sources = build_manifest([source])
    serve_bulk(channel, proto, opened, entries, sources, _Quiet())
    print(json.dumps({"cpu": _cpu() - cpu}), flush=True)


def fetch(home: Path, sender_home: Path, port: int, dest: Path, count: int, size: int) -> None:
    """The receiver's side: dial, ask for the whole manifest, land it in ``dest``."""
    from chatty_p2p.files.landing import Landing
    from chatty_p2p.files.receiving import Incoming, receive
    from chatty_p2p.identity import Identity
    from chatty_p2p.net.bulk import dial_bulk

    identity = Identity.load_or_create(home)
    peer = Identity.load_or_create(sender_home).device_id
    start, cpu = time.monotonic(), _cpu()
    channel = dial_bulk([("127.0.0.1", port)], identity, peer, threading.Event())
    incoming = Incoming("0" * 32, count, size, dest, None, None, [])
    failed = receive(channel, incoming, Landing(dest, "0" * 32), _Quiet())
    if failed:
        raise SystemExit(f"failed: {failed}")
    seconds, cpu = time.monotonic() - start, _cpu() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu}), flush=True)


def _python(*args: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=stdout, text=True)


def _last_json(proc: subprocess.Popen[str]) -> dict[str, float]:
    out, _ = proc.communicate(timeout=1800)
    if proc.returncode:
        raise RuntimeError(f"{proc.args} exited {proc.returncode}")
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def run_raw(source: Path, dest: Path) -> dict[str, float]:
    receiver = _python("-c", RAW_RECEIVER, str(dest))
    assert receiver.stdout is not None
    port = receiver.stdout.readline().strip()
    sent = _last_json(_python("-c", RAW_SENDER, port, str(source)))
    got = _last_json(receiver)
    return {"seconds": got["seconds"], "send_cpu": sent["cpu"], "receive_cpu": got["cpu"]}


def run_chatty(
    homes: tuple[Path, Path], source: Path, dest: Path, count: int, size: int
) -> dict[str, float]:
    me = "bench.bulkpath"
    sender = _python("-m", me, "serve", str(homes[0]), str(source))
    assert sender.stdout is not None
    port = sender.stdout.readline().strip()
    got = _last_json(
        _python(
            "-m", me, "fetch", str(homes[1]), str(homes[0]), port, str(dest), str(count), str(size)
        )
    )
    sent = _last_json(sender)
    return {"seconds": got["seconds"], "send_cpu": sent["cpu"], "receive_cpu": got["cpu"]}


def _spread(values: list[float]) -> str:
    return f"{min(values):,.2f} / {statistics.median(values):,.2f} / {max(values):,.2f}"


def rounds(size: int, count: int, folder: Path, files: int) -> list[dict[str, float]]:
    """Interleaved rounds (raw TCP, then Chatty's loops; raw only for one file), each
    row with MB/s, CPU s/GB of both sides and, for one file, the round's ratio."""
    work = Path(tempfile.mkdtemp(prefix="bulkpath-", dir=folder))
    try:
        homes = (work / "sender-home", work / "receiver-home")
        if files:
            source = make_small_files(work / "src", files, size)
            total = files * size
        else:
            source = make_file(work / "src.bin", size)
            total = size
        rows: list[dict[str, float]] = []
        for n in range(count):
            row: dict[str, float] = {}
            if not files:
                raw = run_raw(source, work / "raw.bin")
                (work / "raw.bin").unlink()
                row["raw_mb_s"] = total / raw["seconds"] / 1e6
                row["raw_cpu_send"] = raw["send_cpu"] / total * 1e9
                row["raw_cpu_receive"] = raw["receive_cpu"] / total * 1e9
            dest = work / "dest"
            got = run_chatty(homes, source, dest, files or 1, total)
            shutil.rmtree(dest)
            row["chatty_mb_s"] = total / got["seconds"] / 1e6
            row["chatty_cpu_send"] = got["send_cpu"] / total * 1e9
            row["chatty_cpu_receive"] = got["receive_cpu"] / total * 1e9
            if files:
                row["files_s"] = files / got["seconds"]
            else:
                row["ratio"] = row["chatty_mb_s"] / row["raw_mb_s"]
            print(f"round {n + 1}: " + ", ".join(f"{k} {v:,.3g}" for k, v in row.items()))
            rows.append(row)
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(size: int, count: int, folder: Path) -> list[Result]:
    """The bulk path alone against raw TCP, as results: rate (median of the rounds,
    the ratio's min-max beside it) and CPU per GB on each side, with their targets."""
    rows = rounds(size, count, folder, 0)
    median = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
    group = f"bulk path alone, loopback, {size >> 20} MiB"
    rate = Result(
        group,
        "transfer.send/receive",
        median["chatty_mb_s"],
        "MB/s",
        "raw TCP",
        median["raw_mb_s"],
        target=">= 0.65x raw TCP",
        ratios=[row["ratio"] for row in rows],
        extra={"rounds": rows},
    )
    rate.met = (rate.ratio or 0.0) >= 0.65
    sides = [
        Result(
            group,
            f"CPU per GB, {side}",
            median[f"chatty_cpu_{side}"],
            "CPU s/GB",
            "raw TCP",
            median[f"raw_cpu_{side}"],
        )
        for side in ("send", "receive")
    ]
    sides[1].target, sides[1].met = "<= 1.7 s/GB", median["chatty_cpu_receive"] <= 1.7
    return [rate, *sides]


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "fetch":
        home, sender_home, port, dest, count, size = sys.argv[2:8]
        fetch(Path(home), Path(sender_home), int(port), Path(dest), int(count), int(size))
        return
    parser = argparse.ArgumentParser(prog="python -m bench.bulkpath")
    parser.add_argument("--size", type=int, default=1 << 30, help="bytes (per file with --files)")
    parser.add_argument("--files", type=int, default=0, help="a folder of this many files")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm"), help="where the files go")
    parser.add_argument("--json", type=Path, help="write the rounds here")
    args = parser.parse_args()
    rows = rounds(args.size, args.rounds, args.dir, args.files)
    for key in rows[0]:
        print(f"{key:>20}: {_spread([row[key] for row in rows])}  (min / median / max)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
