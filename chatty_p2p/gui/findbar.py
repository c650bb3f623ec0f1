"""Find in the conversation (Ctrl+F): a small bar above it with a field, the count of
matches, older and newer, and close.

The bar only says what to look for and which way to go (signals); the conversation
view finds the rows, moves to them and marks the words. Escape in the field closes
the bar, before any window-wide use of the key: the field asks for it first.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractItemModel, QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QToolButton, QWidget


def matching_rows(model: QAbstractItemModel, text: str) -> list[int]:
    """The rows whose text (a message's body, a card's file names) holds ``text``,
    whatever its case; none for an empty ``text``."""
    needle = text.casefold()
    if not needle:
        return []
    rows = range(model.rowCount())
    return [r for r in rows if needle in str(model.index(r, 0).data() or "").casefold()]


class FindBar(QWidget):
    searched = Signal(str)
    """The text to find changed (empty: nothing to mark)."""
    stepped = Signal(int)
    """-1: the older match, +1: the newer one (Enter, Shift+Enter, or the buttons)."""
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = QLineEdit()
        self.field.setPlaceholderText("Find in the conversation")
        self.field.setAccessibleName("Find in the conversation")
        self.field.setClearButtonEnabled(True)
        self.field.textChanged.connect(self.searched)
        self.field.installEventFilter(self)
        self.count = QLabel()
        older = self._button("↑", "Older match (Enter)", lambda: self.stepped.emit(-1))
        newer = self._button("↓", "Newer match (Shift+Enter)", lambda: self.stepped.emit(1))
        close = self._button("✕", "Close the find bar (Escape)", self.close_bar)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 2, 0, 2)
        row.addWidget(self.field, 1)
        row.addWidget(self.count)
        for button in (older, newer, close):
            row.addWidget(button)
        self.hide()

    def _button(self, text: str, name: str, action: Callable[[], object]) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(name)
        button.setAccessibleName(name)
        button.clicked.connect(action)
        return button

    def open_bar(self) -> None:
        self.show()
        self.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.field.selectAll()
        self.searched.emit(self.field.text())

    def close_bar(self) -> None:
        self.hide()
        self.closed.emit()

    def show_count(self, at: int | None, total: int) -> None:
        if not self.field.text():
            self.count.clear()
        elif at is None:
            self.count.setText("No match")
        else:
            self.count.setText(f"{at + 1} of {total}")
        self.count.setAccessibleName(self.count.text())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.field and isinstance(event, QKeyEvent):
            key = event.key()
            escape = key == Qt.Key.Key_Escape
            enter = key in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            if event.type() == QEvent.Type.ShortcutOverride and escape:
                event.accept()  # Escape is ours while the field has the focus
                return True
            if event.type() == QEvent.Type.KeyPress and escape:
                self.close_bar()
                return True
            if event.type() == QEvent.Type.KeyPress and enter:
                shift = event.modifiers() & Qt.KeyboardModifier.ShiftModifier
                self.stepped.emit(1 if shift else -1)
                return True
        return super().eventFilter(watched, event)
