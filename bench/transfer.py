"""File transfer throughput: Chatty over TLS against raw TCP on the same path, same run.

    python bench/transfer.py                 # 2 GiB over loopback
    python bench/transfer.py --size 4096     # MiB; files over 4 GiB work the same

Two real processes each way: a receiving ``chatty daemon`` and a ``chatty send``
(the same commands a user runs), then a raw baseline: ``socket.sendfile`` to a
receiver that writes the same disk and fsyncs, as Chatty does before it names a
file. Prints MB/s for both, the ratio, and each Chatty process's peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHATTY = [sys.executable, "-m", "chatty_p2p"]
RAW_RECEIVER = """
import os, socket, sys
listener = socket.create_server(("127.0.0.1", 0))
print(listener.getsockname()[1], flush=True)
conn, _ = listener.accept()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
buf = bytearray(1 << 20)
view = memoryview(buf)
while n := conn.recv_into(buf):
    os.write(fd, view[:n])
os.fsync(fd)
os.close(fd)
conn.sendall(b"k")
"""


def make_file(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    block = os.urandom(1 << 20)
    with path.open("wb") as f:
        left = size
        while left:
            f.write(block[: min(len(block), left)])
            left -= min(len(block), left)


def raw_tcp(source: Path, target: Path) -> float:
    receiver = subprocess.Popen(
        [sys.executable, "-c", RAW_RECEIVER, str(target)], stdout=subprocess.PIPE, text=True
    )
    assert receiver.stdout is not None
    port = int(receiver.stdout.readline())
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock, source.open("rb") as f:
        sock.sendfile(f)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1) == b"k"
    elapsed = time.monotonic() - start
    receiver.wait()
    return elapsed


def wait4(proc: subprocess.Popen[str]) -> int:
    """Exit and peak RSS (bytes) of a child."""
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return usage.ru_maxrss * 1024


def chatty(source: Path, work: Path) -> tuple[float, float, int, int]:
    """(transfer seconds, whole-command seconds, sender RSS, receiver RSS)."""
    downloads = work / "downloads"
    daemon = subprocess.Popen(
        [
            *CHATTY,
            "daemon",
            "--json",
            "--no-discovery",
            "--data-dir",
            str(work / "receiver"),
            "--download-dir",
            str(downloads),
            "--accept-from",
            "*",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert daemon.stdout is not None
    ready = json.loads(daemon.stdout.readline())
    receiver = work / "receiver"
    # The receiver's user vouches for the sender's key, so "--accept-from *" applies to it.
    sender_id = json.loads(
        subprocess.run(
            [*CHATTY, "id", "--json", "--data-dir", str(work / "sender")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["id"]
    subprocess.run(
        [*CHATTY, "pair", sender_id, "--fingerprint", sender_id, "--data-dir", str(receiver)],
        check=True,
        capture_output=True,
    )
    start = time.monotonic()
    sender = subprocess.Popen(
        [
            *CHATTY,
            "send",
            "--json",
            "--no-discovery",
            "--data-dir",
            str(work / "sender"),
            f"127.0.0.1:{ready['port']}",
            str(source),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    running = done = 0.0
    for line in daemon.stdout:
        event = json.loads(line)
        state = (event.get("transfer") or {}).get("state")
        if event["type"] == "transfer" and state == "running" and not running:
            running = time.monotonic()
        if event["type"] == "transfer" and state in ("done", "failed"):
            done = time.monotonic()
            if state != "done":
                raise SystemExit(f"transfer failed: {event['transfer']['error']}")
            break
    sender_rss = wait4(sender)
    whole = time.monotonic() - start
    daemon.send_signal(signal.SIGTERM)
    receiver_rss = wait4(daemon)
    received = downloads / source.name
    if received.stat().st_size != source.stat().st_size:
        raise SystemExit("received file has the wrong size")
    return done - running, whole, sender_rss, receiver_rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="file size in MiB (default 2048)")
    parser.add_argument("--dir", help="work folder (default: a temporary one under /var/tmp)")
    args = parser.parse_args()
    work = Path(args.dir or tempfile.mkdtemp(prefix="chatty-bench-", dir="/var/tmp"))
    try:
        source = work / "payload.bin"
        size = args.size << 20
        make_file(source, size)
        # The raw baseline varies run to run (page cache, writeback): take the faster
        # of two, so the ratio errs against Chatty.
        raw = min(raw_tcp(source, work / "raw-copy.bin") for _ in range(2))
        (work / "raw-copy.bin").unlink()
        moved, whole, tx_rss, rx_rss = chatty(source, work)
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)
    mb = size / 1e6
    print(f"file: {size / (1 << 30):.2f} GiB over loopback, written and fsynced in {work}")
    print(f"raw TCP sendfile:       {mb / raw:8.0f} MB/s  ({raw:.2f} s, faster of two)")
    print(f"chatty (TLS, verified): {mb / moved:8.0f} MB/s  ({moved:.2f} s of transfer)")
    print(f"ratio chatty/raw:       {raw / moved:8.2f}")
    print(f"whole `chatty send` command, start to verified: {whole:.2f} s")
    print(f"peak RSS: sender {tx_rss / 1e6:.0f} MB, receiver {rx_rss / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
