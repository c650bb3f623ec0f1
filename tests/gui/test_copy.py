"""Text of messages can be selected and copied (issue 16, eighth point): there was no
context menu, and Ctrl+C after clicking a message copied the chosen peer's name (the
conversation never took the focus, so the peer list heard the keys)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from chatty_p2p.gui.window import MainWindow
from chatty_p2p.store import StoredMessage

pytestmark = pytest.mark.gui

ASKED = "Are the holiday photos ready?"


def bubble_centre(win: MainWindow, body: str) -> QPoint:
    """Where the message with ``body`` is painted, in the view's viewport."""
    model = win.conversation
    for row in range(model.rowCount()):
        item = model.item(row)
        if isinstance(item, StoredMessage) and item.body == body:
            layout, _ = win.view.delegate._layout(item, win.view.visualRect(model.index(row)))
            return layout.bubble.center()
    raise AssertionError(f"no message {body!r} in the conversation")


def test_ctrl_c_after_clicking_messages_copies_their_text(
    qtbot: Any, made_up_window: MainWindow
) -> None:
    win = made_up_window
    win.activateWindow()
    qtbot.waitUntil(lambda: win.isActiveWindow())
    QGuiApplication.clipboard().setText("before")
    peer_row = win.peer_view.visualRect(win.peers.index(0)).center()
    qtbot.mouseClick(win.peer_view.viewport(), Qt.MouseButton.LeftButton, pos=peer_row)
    viewport = win.view.viewport()
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=bubble_centre(win, ASKED))
    focus = QApplication.focusWidget()
    assert focus is not None
    qtbot.keyClick(focus, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == ASKED
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, ctrl, bubble_centre(win, "Yes"))
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_C, ctrl)
    assert QGuiApplication.clipboard().text() == f"{ASKED}\nYes"


def test_the_context_menu_copies_the_message_under_the_pointer(
    made_up_window: MainWindow,
) -> None:
    win = made_up_window
    QGuiApplication.clipboard().setText("before")
    menu = win.view.context_menu(bubble_centre(win, "Yes"))
    copy = next(a for a in menu.actions() if a.text() == "Copy")
    assert copy.isEnabled()
    copy.trigger()
    assert QGuiApplication.clipboard().text() == "Yes"
