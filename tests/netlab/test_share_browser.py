"""``chatty share`` as a phone meets it: a real Chromium on another host of the lab.

Host alpha runs ``chatty share``; host phone runs headless Chromium
(``tests/browser.py``) in its own network namespace, so every byte crosses the
lab's bridge as it would cross a Wi-Fi, and the browser is the one that parses
the page, runs its script and sends the upload.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.support.netlab import Host, Lab, sha256
from tests.support.processes import ShareProcess, files_in

pytestmark = pytest.mark.netlab


def share_on(host: Host, *args: str) -> ShareProcess:
    """``chatty share`` on a host, its stdin not a terminal."""
    return ShareProcess(host.command("share", *args))


def browse(host: Host, url: str, *args: str) -> dict[str, dict[str, Any]]:
    """Run the browser on a host; its steps by type."""
    proc = host.python("tests.support.browser", url, *args)
    out, _ = proc.communicate(timeout=50)
    log = (host.lab.root / f"{host.name}-tests.support.browser.log").read_text()
    assert proc.returncode == 0, f"the browser failed:\n{log[-3000:]}"
    steps = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {step["type"]: step for step in steps}


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def hosts(lab: Lab) -> tuple[Host, Host]:
    return lab.host("alpha"), lab.host("phone")


def test_a_browser_downloads_and_uploads_through_the_page(lab: Lab, tmp_path: Path) -> None:
    alpha, phone = hosts(lab)
    shared = random_file(tmp_path / "holiday.bin", 5_000_000)
    photo = random_file(tmp_path / "from phone ü.jpg", 2_000_000)
    inbox = tmp_path / "inbox"
    share = share_on(
        alpha, str(shared), "--receive-to", str(inbox), "--accept-uploads", "--timeout", "120"
    )
    try:
        url = share.url(alpha.ipv4)
        assert share.url(f"[{alpha.ipv6}]")  # IPv6 too: the phone may have only that
        steps = browse(phone, url, "--download", "holiday.bin", "--upload", str(photo))
        share.wait_for("received from phone ü.jpg")
        share.proc.send_signal(signal.SIGTERM)
        code, out, err = share.finish()
    finally:
        share.kill()
    assert steps["page"]["status"] == 200
    assert "holiday.bin" in steps["page"]["text"] and "not encrypted" in steps["page"]["text"]
    assert steps["download"]["name"] == "holiday.bin"
    assert steps["download"]["sha256"] == sha256(shared)
    assert steps["upload"]["state"] == "done"
    assert files_in(inbox) == ["from phone ü.jpg"]
    assert sha256(inbox / "from phone ü.jpg") == sha256(photo)
    assert code == 0, err
    assert f"{phone.ipv4} downloaded holiday.bin (5.0 MB)" in out
    assert "stopped sharing" in out


def test_a_wrong_token_and_an_expired_share_show_nothing(lab: Lab, tmp_path: Path) -> None:
    alpha, phone = hosts(lab)
    shared = random_file(tmp_path / "holiday.bin", 100_000)
    share = share_on(alpha, str(shared), "--no-upload", "--timeout", "4")
    try:
        url = share.url(alpha.ipv4)
        token = url.rstrip("/").rsplit("/", 1)[1]
        wrong = browse(phone, url.replace(token, token[::-1]))["page"]
        code, out, _ = share.finish()
        expired = browse(phone, url)["page"]
    finally:
        share.kill()
    assert wrong["status"] == 404 and "holiday" not in wrong["text"]
    assert code == 0 and "time is up" in out
    assert expired["status"] is None and "ERR_CONNECTION_REFUSED" in expired["error"]
    assert "holiday" not in expired["text"]


def test_a_declined_upload_writes_nothing_and_the_page_says_so(lab: Lab, tmp_path: Path) -> None:
    alpha, phone = hosts(lab)
    shared = random_file(tmp_path / "holiday.bin", 100_000)
    photo = random_file(tmp_path / "photo.jpg", 300_000)
    inbox = tmp_path / "inbox"
    share = share_on(alpha, str(shared), "--receive-to", str(inbox), "--timeout", "60")
    try:
        steps = browse(phone, share.url(alpha.ipv4), "--upload", str(photo))
        share.proc.send_signal(signal.SIGTERM)
        code, out, _ = share.finish()
    finally:
        share.kill()
    assert steps["upload"]["state"].startswith("declined")
    assert files_in(inbox) == []
    assert code == 0
    assert f"declined photo.jpg (300.0 KB) from {phone.ipv4}" in out
