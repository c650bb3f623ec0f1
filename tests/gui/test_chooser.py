"""The chooser of ``chatty send --choose`` over the window's own node: it lists the
desk as the peer list does, Send stays off until a device is picked, and picking the
desk sends it the file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from chatty_p2p.gui.chooser import Chooser, through_bridge, what_is_sent
from chatty_p2p.gui.window import MainWindow
from tests.gui import test_gui
from tests.support.headless import Headless

pytestmark = pytest.mark.gui

desk = test_gui.desk
window = test_gui.window
"""The window of test_gui, with its peer the desk on loopback, which takes its files."""


def test_picking_the_desk_sends_it_the_file(
    qtbot: Any, window: MainWindow, desk: Headless, tmp_path: Path
) -> None:
    photo = tmp_path / "beach.jpg"
    photo.write_bytes(os.urandom(200_000))
    chooser = Chooser([photo], *through_bridge(window.bridge), parent=window)
    chooser.show()
    qtbot.waitExposed(chooser)
    assert chooser.heading.text() == "Send beach.jpg to:"
    qtbot.waitUntil(lambda: chooser.model.rowCount() == 1, timeout=5000)
    assert chooser.model.peer(0).name == "desk"
    assert not chooser.send_button.isEnabled()  # nothing picked yet
    spot = chooser.view.visualRect(chooser.model.index(0)).center()
    qtbot.mouseClick(chooser.view.viewport(), Qt.MouseButton.LeftButton, pos=spot)
    assert chooser.send_button.isEnabled()
    qtbot.mouseClick(chooser.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: chooser.result() == Chooser.DialogCode.Accepted, timeout=5000)
    arrived = tmp_path / "desk-downloads" / "beach.jpg"
    qtbot.waitUntil(lambda: arrived.exists() and arrived.stat().st_size == 200_000, timeout=9000)
    assert arrived.read_bytes() == photo.read_bytes()


def test_an_empty_list_says_it_is_looking(qtbot: Any, tmp_path: Path) -> None:
    paths = [tmp_path / "a.txt", tmp_path / "b.txt"]
    for path in paths:
        path.write_text("x" * 1000)
    chooser = Chooser(paths, lambda done: done([]), lambda *_: None)
    qtbot.addWidget(chooser)
    assert chooser.status.text() == "Looking for devices…"
    assert what_is_sent(paths) == "2 items (2.0 KB)"
