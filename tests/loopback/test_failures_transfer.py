"""The failure matrix of file transfers: each long-running command under each fault.

Real ``chatty daemon`` processes on loopback (no mDNS), driven by the ``chatty``
command as a user would. For each of ``send FILE`` and ``send FOLDER`` and each
fault (the peer offline, the peer killed mid-way, the sender's own daemon killed
mid-way, the receiver's disk full, its download folder unwritable) a case checks
what both sides' ``chatty transfers`` say, what the sending command printed and
its exit code, that no output holds a traceback, and, once the fault is fixed,
that the transfer finishes (``chatty resume`` where the user has to ask) with the
same bytes as the source.

A disk that fills mid-way is a small tmpfs (root only). "Mid-way" is made
deterministic by freezing the sender's daemon (SIGSTOP) while the receiver
accepts and the test fills the disk; an unwritable folder is a read-only mount
for root (who ignores permission bits) and a ``chmod`` otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.netlab import Daemon
from tests.support.ports import free_port

PARTIAL_DIR = ".chatty-partial"
MIB = 1 << 20
CHATTY = [sys.executable, "-m", "chatty_p2p"]


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text[-3000:]


@dataclass
class Side:
    """One machine: a data dir, a fixed port (so a restarted daemon is found again)
    and, while it runs, its daemon."""

    root: Path
    name: str
    port: int = field(default_factory=free_port)
    daemon: Daemon | None = None
    extra: tuple[str, ...] = ()

    @property
    def data_dir(self) -> Path:
        return self.root / self.name

    @property
    def log(self) -> Path:
        return self.root / f"{self.name}.log"

    def start(self, *extra: str) -> Daemon:
        self.extra = extra or self.extra
        command = ["daemon", "--json", "-v", "--no-discovery", "--name", self.name]
        command += ["--port", str(self.port), "--data-dir", str(self.data_dir), *self.extra]
        with self.log.open("a") as log:
            proc = subprocess.Popen(
                [*CHATTY, *command], stdout=subprocess.PIPE, stderr=log, text=True
            )
        self.daemon = Daemon(proc, self.log)
        return self.daemon

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.daemon is not None
        self.daemon.stop(sig)

    def signal(self, sig: int) -> None:
        assert self.daemon is not None
        self.daemon.proc.send_signal(sig)

    def args(self, *args: str) -> list[str]:
        """A one-shot command here; common options after the command."""
        return [*CHATTY, *args, "--data-dir", str(self.data_dir), "--no-discovery"]

    def chatty(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.args(*args), capture_output=True, text=True, timeout=timeout)
        no_traceback(result.stdout, result.stderr)
        return result

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.args(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def transfer(self, transfer_id: str) -> dict[str, Any] | None:
        """The transfer as ``chatty transfers --json`` shows it here, if it is listed."""
        listed = self.chatty("transfers", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = [t for t in json.loads(listed.stdout) if t["id"] == transfer_id]
        return rows[0] if rows else None

    def wait_state(self, transfer_id: str, *states: str, timeout: float = 60) -> dict[str, Any]:
        """Poll ``chatty transfers`` (what a user sees) until the transfer is in a state."""
        deadline = time.monotonic() + timeout
        while True:
            t = self.transfer(transfer_id)
            if (t is not None and t["state"] in states) or time.monotonic() > deadline:
                assert t is not None and t["state"] in states, (
                    self.name,
                    t,
                    self.log.read_text()[-3000:],
                )
                return t
            time.sleep(0.2)


@dataclass
class Pair:
    alpha: Side
    bravo: Side
    downloads: Path

    def close(self) -> None:
        for side in (self.alpha, self.bravo):
            if side.daemon is not None:
                with contextlib.suppress(Exception):
                    side.signal(signal.SIGCONT)  # a test may have frozen it
                side.kill(signal.SIGTERM)
        no_traceback(self.alpha.log.read_text(), self.bravo.log.read_text())


def start_pair(root: Path, downloads: Path) -> Pair:
    """alpha (the sender) and bravo (the receiver, which knows alpha's fingerprint and
    accepts its offers unasked, like a user's own two machines)."""
    alpha, bravo = Side(root, "alpha"), Side(root, "bravo")
    alpha.start()
    bravo.start(
        "--download-dir",
        str(downloads),
        "--accept-from",
        "alpha",
        "--peer",
        f"127.0.0.1:{alpha.port}",
    )
    assert alpha.daemon is not None
    alpha.daemon.wait_for(lambda e: e["type"] == "peer-online", timeout=20)
    vouched = bravo.chatty("pair", "alpha", "--fingerprint", str(alpha.daemon.info["id"]))
    assert vouched.returncode == 0, vouched.stderr
    return Pair(alpha, bravo, downloads)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    built = start_pair(tmp_path, tmp_path / "downloads")
    try:
        yield built
    finally:
        built.close()


def fill(path: Path, size: int) -> Path:
    """``size`` bytes of varied data, written fast: a 1 MiB random block repeated with
    a counter, so no two blocks are equal (a resume that skipped one would show)."""
    block = os.urandom(MIB)
    with path.open("wb") as f:
        for n, offset in enumerate(range(0, size, MIB)):
            chunk = n.to_bytes(8, "big") + block[8:]
            f.write(chunk[: min(MIB, size - offset)])
    return path


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(MIB):
            h.update(chunk)
    return h.hexdigest()


def digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (or "dir"), partials left out."""
    if root.is_file():
        return {root.name: sha(root)}
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(PARTIAL_DIR):
            out[rel] = "dir" if path.is_dir() else sha(path)
    return out


def source(kind: str, root: Path, size: int) -> Path:
    """What ``send`` sends: one file, or a folder with small files and one big one."""
    if kind == "file":
        return fill(root / "movie.bin", size)
    folder = root / "album"
    (folder / "small").mkdir(parents=True)
    (folder / "empty").mkdir()
    for i in range(20):
        (folder / "small" / f"note-{i:02}.txt").write_text(f"note {i}\n" * 50)
    fill(folder / "video.bin", size)
    return folder


def landed(downloads: Path, src: Path) -> dict[str, str]:
    return digest(downloads / src.name)


def offered_id(side: Side, since: int = 0) -> str:
    """The id of the transfer the sending daemon just reported."""
    assert side.daemon is not None
    event = side.daemon.wait_for(
        lambda e: e["type"] == "transfer" and e["transfer"]["outgoing"], timeout=30, since=since
    )
    return str(event["transfer"]["id"])


def grows_to(folder: Path, size: int, timeout: float = 60) -> None:
    """Wait until the partials under ``folder`` hold ``size`` bytes: mid-way."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) >= size:
                return
        time.sleep(0.002)
    raise AssertionError(f"nothing reached {size} bytes under {folder}")


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The sending command's end: it must return on its own, with no traceback."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"`chatty send` did not return; it printed:\n{out}\n{err}") from None
    no_traceback(out, err)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def done_both_sides(pair: Pair, transfer_id: str, src: Path) -> None:
    """The fault is fixed: both sides say done, the bytes match, no partial is left."""
    pair.bravo.wait_state(transfer_id, "done")
    pair.alpha.wait_state(transfer_id, "done")
    assert landed(pair.downloads, src) == digest(src)
    assert not any((pair.downloads / PARTIAL_DIR).glob("*"))


KINDS = ["file", "folder"]


@pytest.mark.parametrize("kind", KINDS)
def test_peer_killed_mid_transfer_resumes_when_it_is_back(
    pair: Pair, tmp_path: Path, kind: str
) -> None:
    src = source(kind, tmp_path, 256 * MIB)
    send = pair.alpha.spawn("send", "bravo", str(src), "--wait", "60")
    transfer_id = offered_id(pair.alpha)
    grows_to(pair.downloads / PARTIAL_DIR, 8 * MIB)
    pair.bravo.kill()
    interrupted = pair.alpha.wait_state(transfer_id, "interrupted", timeout=30)
    assert interrupted["error"].startswith("connection lost"), interrupted
    assert "Error" not in interrupted["error"]  # words, not an exception's name
    pair.bravo.start()
    result = finish(send)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified by the receiver" in result.stdout
    done_both_sides(pair, transfer_id, src)


@pytest.mark.parametrize("kind", KINDS)
def test_own_daemon_killed_mid_transfer(pair: Pair, tmp_path: Path, kind: str) -> None:
    src = source(kind, tmp_path, 256 * MIB)
    send = pair.alpha.spawn("send", "bravo", str(src))
    transfer_id = offered_id(pair.alpha)
    grows_to(pair.downloads / PARTIAL_DIR, 8 * MIB)
    pair.alpha.kill()
    pair.bravo.wait_state(transfer_id, "interrupted", timeout=30)
    try:
        result = finish(send, timeout=30)
        assert result.returncode != 0 and "daemon" in result.stderr, result
    finally:
        pair.alpha.start()
        done_both_sides(pair, transfer_id, src)


@pytest.mark.parametrize("kind", KINDS)
def test_peer_offline_gets_the_offer_when_it_is_back(pair: Pair, tmp_path: Path, kind: str) -> None:
    src = source(kind, tmp_path, 4 * MIB)
    pair.bravo.kill(signal.SIGTERM)
    try:
        result = finish(pair.alpha.spawn("send", "bravo", str(src), "--wait", "2"), timeout=30)
        # The offer is kept and made when bravo is back: not a failure (see `send --help`).
        assert result.returncode == 0, result
        assert "bravo is offline" in result.stdout and "kept" in result.stdout, result
    finally:
        transfer_id = offered_id(pair.alpha)
        assert pair.alpha.wait_state(transfer_id, "offered", timeout=0)
        pair.bravo.start()
        done_both_sides(pair, transfer_id, src)


@contextlib.contextmanager
def small_disk(where: Path, size: str = "8m") -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("a small tmpfs needs root (mount)")
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def disk_pair(tmp_path: Path) -> Iterator[Pair]:
    with small_disk(tmp_path / "small-disk", "32m") as disk:
        built = start_pair(tmp_path, disk)
        try:
            yield built
        finally:
            built.close()


def leave_free(disk: Path, free: int) -> Path:
    """Fill the disk with someone else's file until only ``free`` bytes are left."""
    filler = disk / "someone else's.bin"
    with filler.open("wb") as f:
        while shutil.disk_usage(disk).free > free:
            f.write(b"\0" * min(MIB, shutil.disk_usage(disk).free - free))
            f.flush()
    return filler


def offered_to_asking_bravo(pair: Pair, src: Path) -> tuple[str, subprocess.Popen[str]]:
    """Restart bravo so that it asks its user, send; the offer's id and the sender."""
    assert pair.bravo.daemon is not None and pair.alpha.daemon is not None
    pair.bravo.kill(signal.SIGTERM)
    mark = pair.alpha.daemon.mark()
    pair.bravo.start(
        "--download-dir", str(pair.downloads), "--peer", f"127.0.0.1:{pair.alpha.port}"
    )
    pair.alpha.daemon.wait_for(lambda e: e["type"] == "peer-online", timeout=20, since=mark)
    mark = pair.bravo.daemon.mark()
    send = pair.alpha.spawn("send", "bravo", str(src))
    offer = pair.bravo.daemon.wait_for(
        lambda e: e["type"] == "transfer-offered", timeout=30, since=mark
    )
    return str(offer["transfer"]["id"]), send


def frozen_sender_accept(pair: Pair, src: Path, fault: Callable[[], None]) -> tuple[str, Any]:
    """Send; while the sender's daemon is frozen (after the receiver accepted, before
    a byte moved) cause ``fault`` on the receiver; then let the bytes go."""
    transfer_id, send = offered_to_asking_bravo(pair, src)
    pair.alpha.signal(signal.SIGSTOP)
    try:
        accepted = pair.bravo.chatty("accept", transfer_id[:8])
        assert accepted.returncode == 0, accepted.stderr
        fault()
    finally:
        pair.alpha.signal(signal.SIGCONT)
    return transfer_id, send


@pytest.mark.parametrize("kind", KINDS)
def test_disk_full_mid_transfer_pauses_both_sides_and_resumes(
    disk_pair: Pair, tmp_path: Path, kind: str
) -> None:
    pair = disk_pair
    src = source(kind, tmp_path, 12 * MIB)
    filler: list[Path] = []
    transfer_id, send = frozen_sender_accept(
        pair, src, lambda: filler.append(leave_free(pair.downloads, 4 * MIB))
    )
    result = finish(send)
    bravo = pair.bravo.wait_state(transfer_id, "paused")
    alpha = pair.alpha.wait_state(transfer_id, "paused")
    assert "is full" in bravo["error"] and "chatty resume" in bravo["error"]
    assert bravo["done_bytes"] >= 3 * MIB  # what is on disk counts (4 MiB were free)
    assert "bravo" in alpha["error"] and "is full" in alpha["error"]
    assert result.returncode == 1 and "is full" in result.stdout, result
    assert "SSLEOFError" not in result.stdout + alpha["error"]
    # Space is freed: `chatty resume` (on the receiver for a file, on the sender for a
    # folder) continues from the bytes already there.
    filler[0].unlink()
    resumer = pair.bravo if kind == "file" else pair.alpha
    resumed = resumer.chatty("resume", transfer_id[:8])
    assert resumed.returncode == 0, resumed.stderr
    done_both_sides(pair, transfer_id, src)
    assert pair.bravo.daemon is not None
    done = pair.bravo.daemon.wait_for(
        lambda e: e["type"] == "transfer" and e["transfer"]["state"] == "done", timeout=5
    )
    assert done["transfer"]["resumed_from"] > 0  # only what was missing crossed again


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[Callable[[], None]]:
    """Make ``folder`` unwritable; yields the fix. Root ignores permission bits, so for
    root it is a read-only mount."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        mount = ["mount", "-t", "tmpfs", "-o", "ro,size=64m", "tmpfs", str(folder)]
        subprocess.run(mount, check=True)

        def fix() -> None:
            subprocess.run(["mount", "-o", "remount,rw", str(folder)], check=True)

        try:
            yield fix
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
    else:
        folder.chmod(0o500)
        try:
            yield lambda: folder.chmod(0o755)
        finally:
            folder.chmod(0o755)


@pytest.mark.parametrize("kind", KINDS)
def test_unwritable_download_folder_pauses_both_sides_and_resumes(
    pair: Pair, tmp_path: Path, kind: str
) -> None:
    src = source(kind, tmp_path, 4 * MIB)
    with unwritable(pair.downloads) as fix:
        result = finish(pair.alpha.spawn("send", "bravo", str(src)))
        transfer_id = offered_id(pair.alpha)
        bravo = pair.bravo.wait_state(transfer_id, "paused")
        alpha = pair.alpha.wait_state(transfer_id, "paused")
        assert "cannot write" in bravo["error"] and "chatty resume" in bravo["error"]
        assert "bravo" in alpha["error"] and "cannot write" in alpha["error"]
        assert result.returncode == 1 and "cannot write" in result.stdout, result
        fix()
        resumer = pair.bravo if kind == "file" else pair.alpha
        resumed = resumer.chatty("resume", transfer_id[:8])
        assert resumed.returncode == 0, resumed.stderr
        done_both_sides(pair, transfer_id, src)


@pytest.mark.parametrize("kind", KINDS)
def test_a_name_that_is_not_utf8_is_sent_with_the_cli(
    pair: Pair, tmp_path: Path, kind: str
) -> None:
    """A file from an old Latin-1 disk, alone or in a folder: it arrives with U+FFFD
    where the byte that is not text was; no traceback, no offer left waiting."""
    old = tmp_path / "old"
    old.mkdir()
    name = os.fsdecode(b"caf\xe9.txt")
    (old / name).write_bytes(b"du caf\xe9\n")
    target = old / name if kind == "file" else old
    sent = subprocess.run(
        pair.alpha.args("send", "bravo", os.fsdecode(os.fsencode(target))),
        capture_output=True,
        timeout=60,
    )
    out = sent.stdout.decode(errors="replace") + sent.stderr.decode(errors="replace")
    no_traceback(out)
    assert sent.returncode == 0, out
    landed = pair.downloads / ("old" if kind == "folder" else "") / "caf\ufffd.txt"
    assert landed.read_bytes() == b"du caf\xe9\n"
    pair.alpha.wait_state(offered_id(pair.alpha), "done", timeout=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("who", ["receiver declines", "receiver cancels", "sender cancels"])
def test_a_decline_or_cancel_ends_both_sides_the_same(
    pair: Pair, tmp_path: Path, kind: str, who: str
) -> None:
    src = source(kind, tmp_path, 256 * MIB)
    if who == "receiver declines":
        transfer_id, send = offered_to_asking_bravo(pair, src)
        acted = pair.bravo.chatty("decline", transfer_id[:8])
        state, told = "declined", "bravo declined"
    else:
        send = pair.alpha.spawn("send", "bravo", str(src))
        transfer_id = offered_id(pair.alpha)
        grows_to(pair.downloads / PARTIAL_DIR, 8 * MIB)
        side = pair.bravo if who == "receiver cancels" else pair.alpha
        acted = side.chatty("cancel", transfer_id[:8])
        state, told = "cancelled", "cancelled by bravo" if side is pair.bravo else "cancelled"
    assert acted.returncode == 0, acted.stderr
    result = finish(send)
    assert result.returncode == 1 and told in result.stdout, result
    assert f"{state}: {state}" not in result.stdout and "bravo: cancelled" not in result.stdout
    assert pair.alpha.wait_state(transfer_id, state)["state"] == state
    assert pair.bravo.wait_state(transfer_id, state)["state"] == state
    time.sleep(0.5)  # a worker still writing when cancelled would show up here
    assert not any((pair.downloads / PARTIAL_DIR).glob("*"))
    if kind == "file":  # (in a folder, the files that landed before it ended stay)
        assert not (pair.downloads / src.name).exists()
