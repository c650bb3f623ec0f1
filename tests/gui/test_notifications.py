"""Notifications through the desktop's notification service, caught on a private D-Bus
session bus by a test service (``tests/support/notification_server.py``): with the
window closed to the tray, an offer, a finished transfer and a message are notified
there, not by the tray, and the offer's Accept button accepts it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QApplication, QSystemTrayIcon

from chatty_p2p.desktop import install
from chatty_p2p.gui.window import MainWindow
from tests.gui import test_gui
from tests.support.headless import Headless

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]

desk = test_gui.desk
window = test_gui.window


@dataclass
class Service:
    """The test notification service: what it was asked to show, and its stdin."""

    proc: subprocess.Popen[str]
    shown: list[dict[str, Any]] = field(default_factory=list)

    def click(self, number: int, key: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{number} {key}\n")
        self.proc.stdin.flush()

    def titled(self, summary: str) -> dict[str, Any] | None:
        return next((n for n in list(self.shown) if n.get("summary") == summary), None)


def _start_bus(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    daemon = shutil.which("dbus-daemon")
    if daemon is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must test notifications, but dbus-daemon is missing")
        pytest.skip("dbus-daemon (Debian: dbus) is not installed")
    bus = subprocess.Popen(
        [
            daemon,
            "--session",
            "--nofork",
            "--print-address=1",
            f"--address=unix:path={tmp_path}/bus",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert bus.stdout is not None
    return bus, bus.stdout.readline().strip()


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """A private session bus with the test service on it, named in this process's
    environment before the window (and its notifier) starts."""
    bus, address = _start_bus(tmp_path)
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.notification_server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    assert json.loads(proc.stdout.readline()) == {"ready": True}
    service = Service(proc)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            service.shown.append(json.loads(line))

    reader = threading.Thread(target=read, name="notification-reader")
    reader.start()
    try:
        yield service
    finally:
        proc.kill()
        proc.wait(10)
        reader.join(10)
        bus.kill()
        bus.wait(10)


@pytest.fixture
def tray_shown(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A tray there is (before the window is made), and the titles it showed itself."""
    seen: list[str] = []
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(QSystemTrayIcon, "showMessage", lambda _i, title, *_: seen.append(title))
    return seen


def test_closed_to_the_tray_an_offer_is_notified_and_accepted_from_its_button(
    service: Service,
    tray_shown: list[str],
    qtbot: Any,
    window: MainWindow,
    desk: Headless,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    install.set_autostart(True)  # started at log-in, in the tray: the case this is for
    qtbot.waitUntil(lambda: window.notifier.available, timeout=5000)
    close = QCloseEvent()
    QApplication.sendEvent(window, close)
    assert window.isHidden()

    report = tmp_path / "report.pdf"
    report.write_bytes(os.urandom(100_000))
    desk.run(desk.node.send_files(window.bridge.info["id"], [report]))
    qtbot.waitUntil(lambda: service.titled("Files from desk") is not None, timeout=5000)
    offer = service.titled("Files from desk")
    assert offer is not None and "report.pdf" in offer["body"]
    assert offer["actions"] == ["default", "Open", "accept", "Accept", "decline", "Decline"]
    assert offer["hints"]["desktop-entry"] == "chatty"
    service.click(offer["id"], "accept")
    arrived = tmp_path / "laptop-downloads" / "report.pdf"
    qtbot.waitUntil(lambda: arrived.exists() and arrived.stat().st_size == 100_000, timeout=9000)
    assert arrived.read_bytes() == report.read_bytes()
    qtbot.waitUntil(lambda: service.titled("Received from desk") is not None, timeout=5000)

    desk.run(desk.node.send_text(window.bridge.info["id"], "got it?"))
    qtbot.waitUntil(lambda: service.titled("desk") is not None, timeout=5000)
    message = service.titled("desk")
    assert message is not None and message["body"] == "got it?"
    assert "accept" not in message["actions"]
    assert [t for t in tray_shown if t != "Chatty is still running"] == []  # all on the bus
    service.click(message["id"], "default")
    qtbot.waitUntil(window.isVisible, timeout=5000)
    assert window.current == desk.node.device_id
    window.notifier.stop()
