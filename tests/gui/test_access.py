"""Screen readers and the rest of issue 16's ninth and tenth points: every control
has an accessible name, a peer's row says its state and trust, the browser share's
QR code is whole at the dialog's first size, Open opens every file of a batch and
says when nothing opens one, and Block and Forget ask first."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QImage
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

from chatty_p2p.gui.dialogs import OfferDialog, Settings, SettingsDialog
from chatty_p2p.gui.share import ShareDialog
from chatty_p2p.gui.window import MainWindow
from tests.gui.samples import card, peer

pytestmark = pytest.mark.gui

CONTROLS = (QAbstractButton, QLineEdit, QTextEdit, QPlainTextEdit, QAbstractItemView)


def unnamed(root: QWidget) -> list[str]:
    """Every visible control under ``root`` that a screen reader could not name."""
    return [
        f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}"
        for w in root.findChildren(QWidget)
        if isinstance(w, CONTROLS) and w.isVisibleTo(root) and not w.accessibleName().strip()
    ]


def test_every_control_of_the_window_and_its_dialogs_has_a_name(
    qtbot: Any, made_up_window: MainWindow, tmp_path: Path
) -> None:
    win = made_up_window
    win.header.show_peer(peer("desk", online=True))  # Pair… shows
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow)
    qtbot.keyClick(win.input, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)  # the find bar
    assert unnamed(win) == []
    settings = SettingsDialog(Settings("laptop", str(tmp_path), False, False, False, False), win)
    offer = OfferDialog(dataclasses.replace(card(0.0, "offered")), False, win)
    for dialog in (settings, offer):
        qtbot.addWidget(dialog)
        dialog.show()
        assert unnamed(dialog) == [], type(dialog).__name__
    assert "holiday.mov" in offer.accept_button.accessibleName()


def test_a_peer_row_says_its_name_state_and_trust(made_up_window: MainWindow) -> None:
    win = made_up_window
    win.peers.reset([peer("bravo", online=True, trust="trusted"), peer("phone", online=False)])
    win.peers.set_unread("phone-id", unread=2)
    spoken = [
        win.peers.index(r).data(Qt.ItemDataRole.AccessibleTextRole)
        for r in range(win.peers.rowCount())
    ]
    assert spoken[0] == "bravo, online, paired"
    assert spoken[1].startswith("phone, ") and "not paired" in spoken[1]
    assert spoken[1].endswith("2 unread") and "on the network" in spoken[1]  # not "seen"


def test_the_share_dialog_shows_its_whole_qr_code(
    qtbot: Any, made_up_window: MainWindow, tmp_path: Path
) -> None:
    shared = tmp_path / "report.pdf"
    shared.write_bytes(b"%PDF")
    dialog = ShareDialog(made_up_window.bridge, [shared], "127.0.0.1", made_up_window)
    qtbot.addWidget(dialog)
    dialog.show()  # at its default size: nobody enlarges it
    qtbot.waitUntil(lambda: dialog.share is not None, timeout=5000)
    qtbot.waitUntil(lambda: not dialog.qr.pixmap().isNull())
    code = dialog.qr.pixmap().toImage().convertToFormat(QImage.Format.Format_RGB32)
    label = dialog.qr.geometry()
    assert dialog.rect().contains(label)
    # Where the label centres its pixmap, in the dialog: it must be all there.
    left = label.left() + (label.width() - code.width()) // 2
    top = label.top() + (label.height() - code.height()) // 2
    shown = dialog.grab().toImage().convertToFormat(QImage.Format.Format_RGB32)
    assert left >= label.left() and top >= label.top(), "the label is smaller than the code"
    assert shown.copy(left, top, code.width(), code.height()) == code
    dialog.reject()


def test_open_opens_every_file_of_a_batch_and_says_what_did_not_open(
    made_up_window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    win = made_up_window
    files = [tmp_path / "a.jpg", tmp_path / "b.odt", tmp_path / "c.xyz"]
    for f in files:
        f.write_bytes(b"x")
    opened: list[str] = []

    def open_url(url: QUrl) -> bool:
        opened.append(url.toLocalFile())
        return not url.toLocalFile().endswith(".xyz")  # no application for .xyz

    monkeypatch.setattr(QDesktopServices, "openUrl", open_url)
    batch = dataclasses.replace(
        card(1.0, "done"), count=3, names=[f.name for f in files], saved=[str(f) for f in files]
    )
    win.transfers.card_action(batch, "Open")
    assert opened == [str(f) for f in files]
    said = win.statusBar().currentMessage()
    assert "no application opens c.xyz" in said and "a.jpg" not in said


def test_block_and_forget_ask_first(
    made_up_window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    pane = made_up_window.peer_pane
    calls: list[object] = []
    monkeypatch.setattr(pane.bridge, "call", lambda *a, **k: calls.append(a))
    asked: list[str] = []
    answer = QMessageBox.StandardButton.No

    def question(parent: QWidget, title: str, text: str, *rest: object) -> object:
        asked.append(title)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    desk = made_up_window.peers.peer(0)
    pane.block(desk)
    pane.forget(desk)
    assert asked == ["Block desk", "Forget desk"] and calls == []
    answer = QMessageBox.StandardButton.Yes
    pane.forget(desk)
    assert len(calls) == 1
