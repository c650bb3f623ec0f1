"""The tray: closing the window hides it and Chatty keeps receiving; the tray's menu,
its notifications while the window is hidden, and ``chatty --minimized``.

Qt's offscreen platform has no tray, so these tests say there is one
(``QSystemTrayIcon.isSystemTrayAvailable``) and record what the icon would show
(``showMessage``); ``test_x11_tray`` does it all again with a real tray on X11.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QInputDialog,
    QLabel,
    QSystemTrayIcon,
    QWidget,
)

from chatty_p2p.cli.parser import parse
from chatty_p2p.gui.dialogs import OfferDialog, PairDialog
from chatty_p2p.gui.window import MainWindow
from tests.gui import test_gui
from tests.support.headless import Headless

pytestmark = pytest.mark.gui

Shown = list[tuple[str, str]]

desk = test_gui.desk
window = test_gui.window
"""The window of test_gui, with its peer the desk on loopback (made with a tray here)."""


@pytest.fixture(autouse=True)
def shown(monkeypatch: pytest.MonkeyPatch) -> Iterator[Shown]:
    """A tray there is (autouse: before the window is made), and what it showed."""
    seen: Shown = []
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: True))
    monkeypatch.setattr(
        QSystemTrayIcon, "showMessage", lambda _icon, title, text, *_: seen.append((title, text))
    )
    yield seen


def titles(shown: Shown) -> list[str]:
    return [title for title, _ in shown]


def trust_desk(qtbot: Any, win: MainWindow, desk_id: str) -> None:
    """The window's node takes the desk's files without asking."""
    done: list[object] = []

    def trust(n: Any) -> None:
        n.pair_by_fingerprint(desk_id, desk_id)
        n.set_auto_accept_trusted(True)

    win.bridge.call(trust, done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=5000)


def test_closing_hides_to_the_tray_says_so_once_and_the_node_keeps_receiving(
    qtbot: Any, window: MainWindow, desk: Headless, tmp_path: Path, shown: Shown
) -> None:
    trust_desk(qtbot, window, desk.node.device_id)
    close = QCloseEvent()
    QApplication.sendEvent(window, close)
    assert not close.isAccepted(), "closing with a tray must not quit"
    assert window.isHidden()
    qtbot.waitUntil(lambda: "Chatty is still running" in titles(shown), timeout=5000)
    window.show()
    window.close()  # said once: the node remembers it
    assert window.isHidden()
    remembered: list[bool] = []
    window.bridge.call(lambda n: n.told_about_tray, remembered.append)
    qtbot.waitUntil(lambda: bool(remembered), timeout=5000)
    assert remembered == [True] and titles(shown).count("Chatty is still running") == 1

    photo = tmp_path / "photo.jpg"
    photo.write_bytes(os.urandom(256 * 1024))
    desk.run(desk.node.send_files(window.bridge.info["id"], [photo]))
    arrived = tmp_path / "laptop-downloads" / "photo.jpg"
    qtbot.waitUntil(lambda: arrived.exists() and arrived.stat().st_size == 256 << 10, timeout=9000)
    assert arrived.read_bytes() == photo.read_bytes()
    qtbot.waitUntil(lambda: "Received from desk" in titles(shown), timeout=5000)
    assert window.isHidden()
    # Clicking the notification opens the window on the desk's conversation.
    assert window.tray is not None
    window.tray.icon.messageClicked.emit()
    assert window.isVisible() and window.current == desk.node.device_id


def test_an_offer_and_a_message_while_hidden_are_notified(
    qtbot: Any, window: MainWindow, desk: Headless, tmp_path: Path, shown: Shown
) -> None:
    window.close()
    offered = tmp_path / "notes.txt"
    offered.write_text("minutes\n")
    laptop = window.bridge.info["id"]
    desk.run(desk.node.send_files(laptop, [offered]))
    qtbot.waitUntil(lambda: "Files from desk" in titles(shown), timeout=5000)
    assert any(title == "Files from desk" and "notes.txt" in text for title, text in shown), shown
    assert offer_dialogs() == [], "an offer popped up a window while Chatty sat in the tray"
    desk.run(desk.node.send_text(laptop, "are you there?"))
    qtbot.waitUntil(lambda: ("desk", "are you there?") in shown, timeout=5000)
    assert window.tray is not None
    window.tray.icon.messageClicked.emit()
    qtbot.waitUntil(lambda: window.conversation.peer_id == desk.node.device_id, timeout=5000)
    assert window.isVisible()
    qtbot.waitUntil(lambda: len(offer_dialogs()) == 1, timeout=5000)  # waiting for an answer
    assert "notes.txt" in offer_dialogs()[0].findChild(QLabel).text()


def test_a_request_to_pair_while_hidden_is_notified_and_asked_once_the_window_is_back(
    qtbot: Any, window: MainWindow, desk: Headless, shown: Shown
) -> None:
    window.close()
    desk.run(desk.node.pair(window.bridge.info["id"]))
    qtbot.waitUntil(lambda: "desk asks to pair" in titles(shown), timeout=5000)
    assert on_screen(PairDialog) == [], "a pairing popped up a window while in the tray"
    window.show_on()
    qtbot.waitUntil(lambda: len(on_screen(PairDialog)) == 1, timeout=5000)
    desks = desk.call(lambda n: n.active_pairings())
    assert desks[0].code and desks[0].code in on_screen(PairDialog)[0].code.text()


def on_screen(kind: type[QWidget]) -> list[Any]:
    """The top-level widgets of that kind shown now."""
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, kind) and w.isVisible()]


def offer_dialogs() -> list[OfferDialog]:
    """The offer dialogs on screen."""
    return on_screen(OfferDialog)


def test_the_tray_menu_opens_sends_pauses_and_quits(
    qtbot: Any,
    window: MainWindow,
    desk: Headless,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    tray = window.tray
    assert tray is not None
    items = [a for a in tray.menu.actions() if not a.isSeparator()]
    assert [a.text() for a in items] == [
        "Open",
        "Send files…",
        "Transfers",
        "Pause receiving",
        "Quit",
    ]
    assert tray.icon.contextMenu() is tray.menu

    # Transfers: the window, with its panel open.
    window.hide()
    tray.transfers_action.trigger()
    assert window.isVisible() and window.transfers_panel.isVisible()

    # Open, and a click on the icon shows or hides the window.
    window.hide()
    tray.open_action.trigger()
    assert window.isVisible()
    tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert window.isHidden()
    tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert window.isVisible()
    # On X11, a click on the icon while a notification shows is a click on both: the
    # window the notification opens stays open.
    window.hide()
    tray.icon.messageClicked.emit()
    tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert window.isVisible()

    # Send files…: the files, then the peer.
    recipe = tmp_path / "recipe.txt"
    recipe.write_text("two eggs\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(recipe)], ""))
    asked: list[list[str]] = []

    def pick(_parent: Any, _title: str, _label: str, names: list[str], *_: Any) -> Any:
        asked.append(names)
        return "desk", True

    monkeypatch.setattr(QInputDialog, "getItem", pick)
    tray.send_action.trigger()
    assert asked == [["desk"]]
    got = tmp_path / "desk-downloads" / "recipe.txt"
    qtbot.waitUntil(got.exists, timeout=10000)

    # Pause receiving: the node declines new offers until it is unticked.
    tray.pause_action.trigger()
    qtbot.waitUntil(lambda: tray.icon.toolTip() == "Chatty (receiving paused)", timeout=5000)
    assert tray.pause_action.text() == "Resume receiving"  # its state in words
    laptop = window.bridge.info["id"]
    refused = desk.run(desk.node.send_files(laptop, [recipe]))
    qtbot.waitUntil(
        lambda: any(
            e.transfer is not None
            and e.transfer.id == refused.id
            and e.transfer.state == "declined"
            for e in list(desk.events)
        ),
        timeout=5000,
    )
    assert refused.id not in window.transfers.offers
    tray.pause_action.trigger()
    qtbot.waitUntil(lambda: tray.icon.toolTip() == "Chatty", timeout=5000)
    assert tray.pause_action.text() == "Pause receiving"
    welcome = desk.run(desk.node.send_files(laptop, [recipe]))
    qtbot.waitUntil(lambda: welcome.id in window.transfers.offers, timeout=5000)

    # Quit.
    quits: list[bool] = []
    monkeypatch.setattr(QApplication, "quit", staticmethod(lambda: quits.append(True)))
    tray.quit_action.trigger()
    assert quits == [True] and window.isHidden()


def test_ctrl_w_and_esc_hide_to_the_tray_and_ctrl_q_quits(
    qtbot: Any, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, modifier in (
        (Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier),
        (Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier),
    ):
        window.show()
        window.activateWindow()
        qtbot.waitActive(window)
        window.input.setFocus()
        qtbot.keyClick(window.input, key, modifier)
        assert window.isHidden(), f"{key.name} did not hide the window"
    quits: list[bool] = []
    monkeypatch.setattr(QApplication, "quit", staticmethod(lambda: quits.append(True)))
    window.show()
    window.activateWindow()
    qtbot.waitActive(window)
    qtbot.keyClick(window.input, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert quits == [True]


def test_minimized_starts_hidden_in_the_tray(
    qtbot: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatty_p2p.gui.app import open_window

    common = ["--no-discovery", "--data-dir", str(tmp_path / "gui")]
    for argv, hidden in ((["--minimized", *common], True), (common, False)):
        win = open_window(parse(argv))
        qtbot.addWidget(win)
        try:
            assert win.tray is not None and win.tray.icon.isVisible()
            assert win.isHidden() is hidden, argv
        finally:
            win.bridge.stop()
    # With no tray, --minimized starts minimised, and closing the window quits.
    monkeypatch.setattr(QSystemTrayIcon, "isSystemTrayAvailable", staticmethod(lambda: False))
    win = open_window(parse(["--minimized", *common]))
    qtbot.addWidget(win)
    try:
        assert win.tray is None and win.isVisible() and win.isMinimized()
        close = QCloseEvent()
        QApplication.sendEvent(win, close)
        assert close.isAccepted()
    finally:
        win.bridge.stop()
