"""Loopback-only `chatty daemon`s and one-shot commands, as the CLI failure tests run them."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import ShareProcess as Running

CHATTY = [sys.executable, "-m", "chatty_p2p"]


def run(*args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
    """``chatty ARGS`` to its end; the caller gives ``--data-dir`` and ``--no-discovery``."""
    return subprocess.run(
        [*CHATTY, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


def spawn(*args: str, stdin: int = subprocess.DEVNULL) -> Running:
    return Running([*CHATTY, *args], stdin)


class Daemon:
    """A loopback-only ``chatty daemon`` printing its events as text."""

    def __init__(self, data_dir: Path, name: str, *extra: str) -> None:
        self.data_dir = data_dir
        self.proc = spawn(
            "daemon", "--no-discovery", "--name", name, "--data-dir", str(data_dir), *extra
        )
        self.port = int(self.proc.wait_for(r"on port (\d+)").group(1))
        self.address = f"127.0.0.1:{self.port}"

    def chatty(self, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return run(*args, "--data-dir", str(self.data_dir), **kw)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.proc.poll() is None:
            self.proc.proc.send_signal(sig)
        self.proc.finish(20)


@contextlib.contextmanager
def daemons(*started: Daemon) -> Iterator[None]:
    try:
        yield
    finally:
        for daemon in started:
            daemon.proc.kill()


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single line a failed command printed, checked to be just that."""
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def two_daemons(tmp_path: Path) -> tuple[Daemon, Daemon]:
    """``desk`` and ``me``, connected on loopback; desk's downloads go to ``in``."""
    desk = Daemon(tmp_path / "desk", "desk", "--download-dir", str(tmp_path / "in"))
    me = Daemon(tmp_path / "me", "me", "--peer", desk.address)
    me.proc.wait_for("desk .*online")
    desk.proc.wait_for("me .*online")
    return desk, me


def control_exchange(data_dir: Path, lines: list[bytes]) -> list[dict[str, object]]:
    """Send raw lines to a daemon's control socket; one decoded reply per line. Over TCP,
    token first, where the daemon wrote ``control.port`` (``CHATTY_PORTABLE=1``)."""
    replies = []
    port_file = data_dir / "control.port"
    tcp = port_file.exists()
    if tcp:
        found = json.loads(port_file.read_text())
        sock = socket.create_connection(("127.0.0.1", found["port"]), timeout=20)
        sock.sendall(found["token"].encode("ascii") + b"\n")
    else:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(data_dir / "control.sock"))
    with sock:
        sock.settimeout(20)
        stream = sock.makefile("rb")
        if tcp:
            assert json.loads(stream.readline()) == {"ok": True}
        for line in lines:
            sock.sendall(line)
            replies.append(json.loads(stream.readline()))
    return replies


def running_pairings(daemon: Daemon) -> list[dict[str, object]]:
    reply = control_exchange(daemon.data_dir, [b'{"id": 1, "op": "pairings"}\n'])[0]
    return reply["result"]["pairings"]  # type: ignore[index,return-value]
