"""``chatty clip`` and the daemon's auto-copy against a real X clipboard.

An Xvfb server (no TCP listener) stands in for the desktop and ``xclip`` for
the user's copy and paste; the two Chatty processes talk over loopback with
discovery off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import chatty


@pytest.fixture
def display(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if shutil.which("Xvfb") is None or shutil.which("xclip") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must test the clipboard, but Xvfb or xclip is missing")
        pytest.skip("Xvfb and xclip are needed (the README's test command installs them)")
    number = next(n for n in range(90, 190) if not Path(f"/tmp/.X{n}-lock").exists())
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    name = f":{number}"
    monkeypatch.setenv("DISPLAY", name)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    deadline = time.monotonic() + 10
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert time.monotonic() < deadline, "Xvfb did not start"
        time.sleep(0.05)
    yield name
    server.terminate()
    server.wait(10)


def copy(text: str) -> None:
    subprocess.run(["xclip", "-selection", "clipboard", "-i"], input=text, text=True, check=True)


def paste() -> str:
    out = subprocess.run(
        ["xclip", "-selection", "clipboard", "-o"], capture_output=True, text=True, timeout=5
    )
    return out.stdout


class Receiver:
    """``chatty daemon --json`` on loopback, its events read line by line."""

    def __init__(self, data_dir: Path) -> None:
        command = [sys.executable, "-m", "chatty_p2p", "daemon", "--json", "--no-discovery"]
        self.proc = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.ready = json.loads(self.proc.stdout.readline())
        self.address = f"127.0.0.1:{self.ready['port']}"

    def next_event(self, kind: str) -> dict[str, object]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event: dict[str, object] = json.loads(line)
            if event["type"] == kind:
                return event
        raise AssertionError(f"the daemon ended before a {kind} event")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def test_clip_sends_the_clipboard_text(display: str, tmp_path: Path) -> None:
    bravo = Receiver(tmp_path / "bravo")
    try:
        copy("copied on alpha ✂")
        sent = chatty("clip", bravo.address, data_dir=tmp_path / "alpha")
        assert sent.returncode == 0 and "delivered" in sent.stdout, sent.stdout + sent.stderr
        message = bravo.next_event("message")["message"]
        assert message["body"] == "copied on alpha ✂"  # type: ignore[index]
    finally:
        bravo.stop()


def test_clip_with_no_clipboard_is_a_plain_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = chatty("clip", "127.0.0.1:9", data_dir=tmp_path)
    assert result.returncode == 1
    assert "cannot read the clipboard here" in result.stderr and "xclip" in result.stderr
    assert "Traceback" not in result.stderr


def test_daemon_copies_text_only_from_a_paired_peer_when_asked(
    display: str, tmp_path: Path
) -> None:
    alpha_dir = tmp_path / "alpha"
    alpha_id = json.loads(chatty("id", "--json", data_dir=alpha_dir).stdout)["id"]
    bravo = Receiver(tmp_path / "bravo")
    bravo_dir = tmp_path / "bravo"
    try:
        copy("mine")
        assert chatty("auto-copy", "on", data_dir=bravo_dir).returncode == 0
        assert chatty("say", bravo.address, "from a stranger", data_dir=alpha_dir).returncode == 0
        bravo.next_event("message")
        assert paste() == "mine"
        # bravo's user checks alpha's fingerprint: alpha is now trusted there.
        paired = chatty("pair", alpha_id, "--fingerprint", alpha_id, data_dir=bravo_dir)
        assert paired.returncode == 0, paired.stderr
        assert chatty("say", bravo.address, "paste me", data_dir=alpha_dir).returncode == 0
        copied = bravo.next_event("clipboard")
        assert copied["text"] == "paste me"
        assert paste() == "paste me"
    finally:
        bravo.stop()
