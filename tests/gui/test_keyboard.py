"""The window by keyboard alone (issue 16, ninth point): Tab leaves the message box,
the conversation takes the focus and its cards' buttons are pressed with the keys,
Ctrl+O attaches files and Ctrl+F finds; a file is sent and an offer accepted with no
mouse at all. Only key events are sent (``qtbot.keyClick``), to whatever has the focus."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget

from chatty_p2p.gui.window import MainWindow
from tests.gui import test_gui
from tests.gui.samples import card
from tests.support.headless import Headless

pytestmark = pytest.mark.gui

desk = test_gui.desk  # the fixtures of a window and a headless desk on loopback
window = test_gui.window


def focused() -> QWidget:
    widget = QApplication.focusWidget()
    assert widget is not None, "nothing has the focus"
    return widget


def press(qtbot: Any, key: Qt.Key, modifier: Qt.KeyboardModifier | None = None) -> None:
    qtbot.keyClick(focused(), key, modifier or Qt.KeyboardModifier.NoModifier)


def tab_to(qtbot: Any, target: QWidget, limit: int = 12) -> None:
    """Tab until ``target`` has the focus, as a person would (at most ``limit`` times)."""
    for _ in range(limit):
        if target.hasFocus():
            return
        press(qtbot, Qt.Key.Key_Tab)
    assert target.hasFocus(), f"Tab never reached {target!r}; at {focused()!r}"


def texts(win: MainWindow, row: int) -> str:
    return str(win.conversation.index(row).data())


def activate(qtbot: Any, win: MainWindow) -> None:
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)


def test_tab_leaves_the_message_box(qtbot: Any, made_up_window: MainWindow) -> None:
    win = made_up_window
    activate(qtbot, win)
    win.input.setFocus()
    qtbot.keyClicks(win.input, "hi")
    press(qtbot, Qt.Key.Key_Tab)
    assert win.input.toPlainText() == "hi"  # no tab typed
    assert not win.input.hasFocus()


def test_cards_buttons_are_reached_and_pressed_by_keys(
    qtbot: Any, made_up_window: MainWindow
) -> None:
    win = made_up_window
    offer = dataclasses.replace(card(0.0, "offered"), id="t2")
    win.conversation.add(offer)  # the newest row: an offer, Accept and Decline
    pressed: list[tuple[str, str]] = []
    win.view.card_action.disconnect()
    win.view.card_action.connect(lambda t, label: pressed.append((t.id, label)))
    activate(qtbot, win)
    tab_to(qtbot, win.view)
    assert win.view.currentIndex().row() == win.conversation.rowCount() - 1
    before = win.view.viewport().grab().toImage()
    press(qtbot, Qt.Key.Key_Right)  # from Accept to Decline: the ring moves
    assert win.view.viewport().grab().toImage() != before
    assert "Decline holiday.mov from desk" in win.view.accessibleDescription()
    press(qtbot, Qt.Key.Key_Left)
    press(qtbot, Qt.Key.Key_Return)
    assert pressed == [("t2", "Accept")]
    done = next(r for r in range(win.conversation.rowCount()) if "done" in texts(win, r))
    while win.view.currentIndex().row() > done:  # up to the done card
        press(qtbot, Qt.Key.Key_Up)
    press(qtbot, Qt.Key.Key_Right)  # Open first, then Show in folder
    press(qtbot, Qt.Key.Key_Space)
    assert pressed[-1] == ("t1", "Show in folder")
    press(qtbot, Qt.Key.Key_Tab)  # and Tab goes on out of the conversation
    assert not win.view.hasFocus()


def test_ctrl_f_finds_and_marks_in_the_conversation(qtbot: Any, made_up_window: MainWindow) -> None:
    win = made_up_window
    activate(qtbot, win)
    win.input.setFocus()
    plain = win.view.viewport().grab().toImage()
    press(qtbot, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    bar = win.view.find_bar
    assert bar.isVisible() and bar.field.hasFocus()
    qtbot.keyClicks(bar.field, "HOLIDAY")  # in a message and a card's file name
    texts = [str(win.conversation.index(r).data()) for r in range(win.conversation.rowCount())]
    found = [r for r, text in enumerate(texts) if "holiday" in text.lower()]
    assert len(found) == 2 and bar.count.text() == "2 of 2"
    assert win.view.currentIndex().row() == found[1]  # the newer first
    press(qtbot, Qt.Key.Key_Return)  # then the older
    assert bar.count.text() == "1 of 2" and win.view.currentIndex().row() == found[0]
    assert win.view.viewport().grab().toImage() != plain  # the words are marked
    qtbot.keyClicks(bar.field, "zzz")
    assert bar.count.text() == "No match"
    press(qtbot, Qt.Key.Key_Escape)
    assert not bar.isVisible() and win.view.hasFocus() and win.isVisible()


def test_keyboard_only_send_a_file_and_accept_an_offer(
    qtbot: Any,
    window: MainWindow,
    desk: Headless,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    win = window
    activate(qtbot, win)
    tab_to(qtbot, win.peer_view)
    press(qtbot, Qt.Key.Key_Down)  # the desk: its conversation opens
    qtbot.waitUntil(lambda: win.conversation.peer_id == desk.node.device_id, timeout=5000)
    tab_to(qtbot, win.input)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"jpeg" * 1000)
    # The system's file picker is not Chatty's: it stands in for the person's choice.
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a: ([str(photo)], ""))
    press(qtbot, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    landed = tmp_path / "desk-downloads" / "photo.jpg"
    qtbot.waitUntil(landed.exists, timeout=10000)
    note = tmp_path / "note.txt"
    note.write_text("from the desk")
    sent = desk.run(desk.node.send_files(win.bridge.info["id"], [note]))
    qtbot.waitUntil(lambda: sent.id in win.transfers.offers, timeout=5000)
    dialog = win.transfers.offers[sent.id]
    qtbot.waitUntil(lambda: dialog.isAncestorOf(focused()), timeout=5000)
    tab_to(qtbot, dialog.accept_button)
    press(qtbot, Qt.Key.Key_Space)
    arrived = tmp_path / "laptop-downloads" / "note.txt"
    qtbot.waitUntil(arrived.exists, timeout=10000)
    assert arrived.read_text() == "from the desk"
