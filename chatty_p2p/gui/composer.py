"""The send bar under the conversation: Attach (files, a folder, the clipboard's
text), the message box and Send.

From the keyboard: Tab leaves the message box (it inserts no tab), Ctrl+O attaches
files from anywhere in the window, and each control has a name a screen reader says.

It only collects what the user wants to send and hands it on as signals. To whom it
goes (the selected peers) and how (a ``bridge.call``) is the window's business, so
the bar knows nothing of peers or of the node and can be read on its own.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)


class MessageInput(QPlainTextEdit):
    """Enter sends, Shift+Enter adds a line, Tab moves on to the next control."""

    submitted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTabChangesFocus(True)
        self.setAccessibleName("Message")
        self.setAccessibleDescription("Enter sends it, Shift+Enter starts a new line")

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            text = self.toPlainText()
            if text.strip():
                self.submitted.emit(text)  # emptied by whoever takes it (``Composer.clear``)
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    """Attach, the message box and Send, in one row."""

    submitted = Signal(str)
    """The text typed, on Enter or Send (a message or a slash command); the box keeps
    it until ``clear`` says it was taken."""
    paths_chosen = Signal(list)
    """Files, or one folder, picked through Attach (a ``list[Path]``)."""
    clipboard_chosen = Signal()
    """Attach → Clipboard text: send what the clipboard holds."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.input = MessageInput()
        self.input.setPlaceholderText("Message, or /help")
        self.input.setFixedHeight(64)
        self.input.submitted.connect(self.submitted)
        attach = QToolButton()
        attach.setText("Attach")
        attach.setAccessibleName("Attach files, a folder or the clipboard's text")
        attach.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.attach_action = QAction("Send files…", self)
        """Ctrl+O from anywhere in the window (also in the menu bar and Attach's menu)."""
        self.attach_action.setShortcut(QKeySequence.StandardKey.Open)
        self.attach_action.triggered.connect(self.attach_files)
        self.addAction(self.attach_action)
        menu = QMenu(attach)
        menu.addAction(self.attach_action)
        menu.addAction("Folder…", self.attach_folder)
        menu.addAction("Clipboard text", self.clipboard_chosen.emit)
        attach.setMenu(menu)
        send = QPushButton("Send")
        send.setAccessibleName("Send the message")
        send.clicked.connect(lambda: self.input.submitted.emit(self.input.toPlainText()))
        # As tall as its contents: the conversation above (or below) takes the rest.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(attach)
        row.addWidget(self.input)
        row.addWidget(send)

    def clear(self) -> None:
        """The line was taken (sent, or a command run): the box is empty again."""
        self.input.clear()

    def attach_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Send files")
        if files:
            self.paths_chosen.emit([Path(f) for f in files])

    def attach_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Send a folder")
        if folder:
            self.paths_chosen.emit([Path(folder)])
