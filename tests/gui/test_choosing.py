"""Which peers the window is about: the row of the open conversation is shown chosen,
and with several peers selected the header names them all (a line typed then goes to
each)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.window import MainWindow
from chatty_p2p.node import Node
from tests.gui import test_gui
from tests.gui.samples import peer
from tests.support.headless import Headless

pytestmark = pytest.mark.gui

desk = test_gui.desk
window = test_gui.window
"""The window of test_gui, with its peer the desk on loopback."""


@pytest.fixture
def fresh_window(qtbot: Any, tmp_path: Path) -> Iterator[MainWindow]:
    """A window just started, whose node knows three peers: nothing chosen by hand."""
    bridge = NodeBridge(lambda: Node(tmp_path / "laptop", name="laptop", discovery=False))
    win = MainWindow(bridge)
    qtbot.addWidget(win)
    bridge.start()
    bridge.wait_started()
    qtbot.waitUntil(lambda: bool(win.me), timeout=5000)
    win.peers.reset(
        [
            peer("desk", online=True, trust="trusted"),
            peer("phone", online=True),
            peer("sofa laptop", online=False),
        ]
    )
    win.resize(980, 640)
    win.show()
    qtbot.waitExposed(win)
    # Focus comes only to the active window: on a busy X server the window manager
    # activates it late, and a setFocus before that changes nothing.
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    yield win
    bridge.stop()


def _click(win: MainWindow, qtbot: Any, row: int, ctrl: bool = False) -> None:
    """A click on row ``row`` of the peer list, with Ctrl held to add it."""
    view = win.peer_view
    at = view.visualRect(view.model().index(row, 0)).center()
    held = Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, held, at)


def _row_colour(win: MainWindow, row: int) -> str:
    """The colour a row is drawn in near its right end, away from its text."""
    view = win.peer_view
    rect = view.visualRect(view.model().index(row, 0))
    image = view.viewport().grab().toImage()
    return str(image.pixelColor(rect.right() - 3, rect.center().y()).name())


def test_the_open_conversation_s_row_is_shown_chosen(fresh_window: MainWindow, qtbot: Any) -> None:
    """Qt makes a row current when the list takes the focus, and the window opens its
    conversation; the row was left plain, so nothing said whose conversation it was."""
    win = fresh_window
    win.peer_view.setFocus(Qt.FocusReason.OtherFocusReason)
    qtbot.waitUntil(lambda: win.current is not None)
    current = win.peer_view.currentIndex()
    assert win.peers.peer(current.row()).id == win.current
    assert win.peer_view.selectionModel().isSelected(current)
    other = 1 if current.row() == 0 else 0
    assert _row_colour(win, current.row()) != _row_colour(win, other)


def test_with_several_peers_selected_the_header_names_them_all(
    fresh_window: MainWindow, qtbot: Any
) -> None:
    win = fresh_window
    _click(win, qtbot, 1)  # phone: unverified, so Pair… shows
    qtbot.waitUntil(lambda: win.current == "phone-id")
    assert "phone" in win.header.title.text() and win.header.pair_button.isVisible()
    _click(win, qtbot, 0, ctrl=True)
    title = win.header.title.text()
    assert "desk and phone" in title and "go to all 2" in title
    assert not win.header.pair_button.isVisible()  # pairing is with one peer
    _click(win, qtbot, 2, ctrl=True)
    assert "desk, phone and sofa laptop" in win.header.title.text()
    assert win.header.title.accessibleName() == ("Writing to 3 peers: desk, phone and sofa laptop")
    assert sorted(win.targets()) == ["desk-id", "phone-id", "sofa laptop-id"]
    _click(win, qtbot, 1)  # a plain click: phone alone again
    assert "go to all" not in win.header.title.text()
    assert "phone" in win.header.title.text() and win.header.pair_button.isVisible()


def test_as_the_window_starts_the_open_conversation_s_row_is_chosen(
    qtbot: Any, window: MainWindow, desk: Headless
) -> None:
    """As the first peer comes online the list often gets a current row, and the
    window opens that peer's conversation; the node's peer list, arriving about then,
    reset the list and dropped the row's current and chosen state, and the
    conversation stayed open under no chosen row. Either none is open, or its row is
    current and chosen."""
    qtbot.wait(500)  # the first peer online, the node's list arrived
    current = window.peer_view.currentIndex()
    if window.current is None:
        assert not window.peer_view.selectionModel().hasSelection()
        return
    assert current.isValid(), "a conversation is open, but no row is current"
    assert window.peers.peer(current.row()).id == window.current == desk.node.device_id
    assert window.peer_view.selectionModel().isSelected(current)
