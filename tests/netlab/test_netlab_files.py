"""File transfers between real daemons in network namespaces: trees, link loss,
a killed receiver, a full disk (paused, then resumed), and chat flowing during a transfer.

The sender's link is shaped to 400 Mbit/s (``tc tbf``), so a 200 MB file takes
about four seconds and "mid-way" is a moment a test can hit on purpose.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.lab import is_type
from tests.support.labfiles import BIG, big_file, progress_over, transfer_state
from tests.support.netlab import Host, Lab, sha256

pytestmark = [pytest.mark.netlab, pytest.mark.slow]


def digest(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not rel.startswith(".chatty-partial"):
            out[rel] = "dir" if path.is_dir() else sha256(path)
    return out


def sender_and_receiver(lab: Lab, downloads: Path) -> tuple[Host, Host]:
    a, b = lab.host("alpha"), lab.host("bravo")
    a.start()
    b.start("--download-dir", str(downloads), "--accept-from", "alpha")
    a.daemon.wait_for(is_type("peer-online", b.id), timeout=5)  # type: ignore[union-attr]
    # bravo's user read alpha's fingerprint off its screen: only then does --accept-from apply.
    vouched = b.chatty("pair", "alpha", "--fingerprint", a.id)
    assert vouched.returncode == 0, vouched.stderr
    a.shape(400)
    return a, b


def test_folder_tree_arrives_identical_while_chat_flows(lab: Lab, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    a, b = sender_and_receiver(lab, downloads)
    tree = tmp_path / "Holiday ☀"
    (tree / "day 1" / "raw").mkdir(parents=True)
    (tree / "empty").mkdir()
    (tree / "zero").write_bytes(b"")
    (tree / "day 1" / "Ünïcödé 日本.txt").write_text("こんにちは\n")
    big_file(tree / "day 1" / "raw" / "video.bin")
    send = a.spawn("send", "bravo", str(tree))
    assert b.daemon is not None
    b.daemon.wait_for(progress_over(10_000_000), timeout=20)
    said = a.chatty("say", "bravo", "this overtakes the file")
    assert said.returncode == 0 and "delivered" in said.stdout, said.stderr
    done = b.daemon.wait_for(transfer_state("done"), timeout=60)
    out, err = send.communicate(timeout=30)
    assert send.returncode == 0, err
    assert "verified" in out and "to bravo" in out
    assert digest(downloads / tree.name) == digest(tree)
    # The message arrived while the file was still on its way.
    events = b.daemon.events
    message_at = next(i for i, e in enumerate(events) if e["type"] == "message")
    assert message_at < events.index(done)
    assert any(
        e["type"] == "transfer-progress" and e["transfer"]["done_bytes"] < BIG
        for e in events[message_at:]
    )
    # Progress per file too, with a rate and an estimate of the time left.
    ticks = [e["transfer"] for e in events if e["type"] == "transfer-progress"]
    video = [t for t in ticks if t["file"].endswith("raw/video.bin")]
    assert video and all(t["file_size"] == BIG and t["file_done"] <= BIG for t in video)
    assert any(t["rate"] > 0 and t["eta"] is not None for t in video)


def test_transfer_survives_the_link_going_down_for_five_seconds(lab: Lab, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    a, b = sender_and_receiver(lab, downloads)
    source = big_file(tmp_path / "movie.bin")
    send = a.spawn("send", "bravo", str(source))
    assert b.daemon is not None
    b.daemon.wait_for(progress_over(30_000_000), timeout=20)
    b.link(up=False)
    time.sleep(5)
    b.link(up=True)
    b.daemon.wait_for(transfer_state("done"), timeout=90)
    _, err = send.communicate(timeout=30)
    assert send.returncode == 0, err
    assert sha256(downloads / "movie.bin") == sha256(source)


def test_killed_receiver_resumes_without_resending_what_it_had(lab: Lab, tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    a, b = sender_and_receiver(lab, downloads)
    source = big_file(tmp_path / "disk.img")
    send = a.spawn("send", "bravo", str(source))
    assert b.daemon is not None
    b.daemon.wait_for(progress_over(50_000_000), timeout=20)
    b.daemon.stop(signal.SIGKILL)
    partials = list((downloads / ".chatty-partial").rglob("0"))
    assert len(partials) == 1 and 0 < partials[0].stat().st_size < BIG
    had = partials[0].stat().st_size
    b.start("--download-dir", str(downloads), "--accept-from", "alpha")
    done = b.daemon.wait_for(transfer_state("done"), timeout=60)
    _, err = send.communicate(timeout=30)
    assert send.returncode == 0, err
    assert sha256(downloads / "disk.img") == sha256(source)
    resumed = done["transfer"]["resumed_from"]
    assert 0 < resumed <= had  # only BIG - resumed bytes crossed the link again
    assert not (downloads / ".chatty-partial").exists()


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_full_disk_pauses_both_sides_until_resumed(
    lab: Lab, tmp_path: Path, small_disk: Path
) -> None:
    a, b = sender_and_receiver(lab, small_disk)
    a.shape(100)  # 40 MB then takes about 3 s: time to fill the disk under it
    assert b.daemon is not None
    # Too big from the start: refused before a byte moves.
    too_big = big_file(tmp_path / "too-big.bin", 100 * 1000 * 1000)
    refused = a.chatty("send", "bravo", str(too_big))
    assert refused.returncode == 1
    assert "declined" in refused.stdout and "not enough free space" in refused.stdout
    warning = b.daemon.wait_for(is_type("warning"), timeout=5)
    assert "not enough free space" in warning["text"]
    # Fits when offered, then something else fills the disk mid-way.
    fits = big_file(tmp_path / "fits.bin", 40 * 1000 * 1000)
    send = a.spawn("send", "bravo", str(fits))
    b.daemon.wait_for(progress_over(5_000_000), timeout=20)
    with (small_disk / "someone else's.bin").open("wb") as filler:
        try:
            while True:
                filler.write(b"\0" * (1 << 20))
        except OSError:
            pass
    paused = b.daemon.wait_for(transfer_state("paused"), timeout=30)
    assert "is full" in paused["transfer"]["error"]
    out, _ = send.communicate(timeout=30)
    assert send.returncode == 1 and "is full" in out and "chatty resume" in out
    assert not (small_disk / "fits.bin").exists()
    # Space freed: the receiver resumes from the bytes it kept.
    (small_disk / "someone else's.bin").unlink()
    resumed = b.chatty("resume", paused["transfer"]["id"][:8])
    assert resumed.returncode == 0, resumed.stderr
    done = b.daemon.wait_for(transfer_state("done"), timeout=60)
    assert done["transfer"]["resumed_from"] > 0
    assert sha256(small_disk / "fits.bin") == sha256(fits)
    assert not (small_disk / ".chatty-partial").exists()
