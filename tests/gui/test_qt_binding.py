"""The Qt binding the window runs on keeps Python's own objects alive.

PySide6 6.12.0 drops one reference to ``None`` at every Qt call that returns nothing,
and one to ``True`` at every signal ``emit()``: on Python 3.11, where those objects
are counted like any other, the app aborts ("none_dealloc") after a few thousand
calls, minutes into a session. ``pyproject.toml`` keeps that release out; this test
catches it, or a later one like it, in the environment the tests really run in."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLineEdit
from pytestqt.qtbot import QtBot

CALLS = 200


class _Ticker(QObject):
    ticked = Signal(int)


def test_qt_calls_and_emits_keep_none_and_true_alive(qtbot: QtBot) -> None:
    edit = QLineEdit()
    qtbot.addWidget(edit)
    ticker = _Ticker()
    heard: list[int] = []
    ticker.ticked.connect(heard.append)
    nones, trues = sys.getrefcount(None), sys.getrefcount(True)
    for n in range(CALLS):
        edit.setText(str(n))
        ticker.ticked.emit(n)
    lost_none = nones - sys.getrefcount(None)
    lost_true = trues - sys.getrefcount(True)
    assert len(heard) == CALLS and edit.text() == str(CALLS - 1)
    assert lost_none < CALLS // 4, f"{lost_none} references to None lost in {CALLS} calls"
    assert lost_true < CALLS // 4, f"{lost_true} references to True lost in {CALLS} emits"
