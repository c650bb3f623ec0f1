"""The Transfers panel (View → Transfers, Ctrl+T, or the tray's Transfers): every
transfer in and out, newest first, in one list rather than scattered through the
conversations.

A row per transfer says with whom and which way, its state in words, its progress
and rate; under it a row per file of the batch, with its size and state, and the name
it was really saved under ("report (1).pdf" when "report.pdf" was taken). Below the
list, where the selected transfer or file is (elided in the middle, the whole path in
its tooltip) and the buttons that fit its state: Accept / Decline an offer, Open and
Show in folder what landed, Retry (resume) what stopped, Cancel what still goes.

The panel is a view: what it shows comes from the node's transfer events and from
``Node.transfers`` / ``Node.transfer_files`` through the bridge, fetched when a
transfer changes state or its row is opened; what its buttons do goes out as
``action_requested`` to the window's ``TransferActions``, which asks the node.
"""

from __future__ import annotations

import dataclasses
import os
from functools import partial

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from chatty_p2p.events import (
    FileInfo,
    TransferChanged,
    TransferInfo,
    TransferOffered,
    TransferProgress,
    human_size,
)
from chatty_p2p.gui import transfer_words as words
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.transfers import folder_of

Key = tuple[str, str, bool]
"""A transfer's key: (peer id, transfer id, outgoing), as the store has it."""
COLUMNS = ("Files", "With", "State", "Progress", "Rate")
KeyRole = Qt.ItemDataRole.UserRole
FileRole = Qt.ItemDataRole.UserRole + 1
REFRESH_MS = 1000
"""While files land, their rows are read again at most this often."""


def key_of(t: TransferInfo) -> Key:
    return (t.peer_id, t.id, t.outgoing)


def _child(item: QTreeWidgetItem, index: int) -> QTreeWidgetItem:
    child = item.child(index)
    assert child is not None
    return child


class ElidedLabel(QLabel):
    """One line that always fits its width: elided in the middle ("/home/…/report.pdf"),
    the whole text in its tooltip. A long path never widens the panel."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(1)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def set_full_text(self, text: str) -> None:
        self.full = text
        self.setToolTip(text)
        self.setAccessibleDescription(text)
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = self.contentsRect().width()
        self.setText(self.fontMetrics().elidedText(self.full, Qt.TextElideMode.ElideMiddle, width))


class TransfersPanel(QDockWidget):
    action_requested = Signal(object, str)
    """(a ``TransferInfo`` whose ``saved`` lists what the action is about, a label of
    ``transfer_words.ACTIONS``) for the window's ``TransferActions``."""

    def __init__(self, bridge: NodeBridge, parent: QWidget | None = None) -> None:
        super().__init__("Transfers", parent)
        self.setObjectName("transfers-panel")
        self.bridge = bridge
        self.infos: dict[Key, TransferInfo] = {}
        self.files: dict[Key, list[FileInfo]] = {}
        self.items: dict[Key, QTreeWidgetItem] = {}
        self._stale: set[Key] = set()
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(REFRESH_MS)
        self._refresh.timeout.connect(self._refresh_stale)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setAccessibleName("Transfers, newest first")
        # The files take what is left; the other columns are as wide as their words
        # ("saved, renamed: report.pdf was taken", "30% (2.5 GB of 8.0 GB)"), never cut.
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemExpanded.connect(lambda item: self.load_files(item.data(0, KeyRole)))
        self.tree.currentItemChanged.connect(lambda *_: self._show_selected())
        self.where_caption = QLabel("")
        self.where = ElidedLabel()
        self.where.setAccessibleName("Where the files are")
        self.buttons = {label: QPushButton(label) for label in words.ACTIONS}
        self.setWidget(self._lay_out())
        self._show_selected()

    def _lay_out(self) -> QWidget:
        """The list; under it the path on a line of its own, then the buttons: the path
        is never under a button."""
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tree)
        where = QHBoxLayout()
        where.addWidget(self.where_caption)
        where.addWidget(self.where, 1)
        layout.addLayout(where)
        row = QHBoxLayout()
        row.addStretch(1)
        for label, button in self.buttons.items():
            button.clicked.connect(partial(self._act, label))
            row.addWidget(button)
        layout.addLayout(row)
        return body

    # ----- what the node says ---------------------------------------------------

    def load(self) -> None:
        """Every transfer the node has (newest first), replacing what is shown."""
        self.bridge.call(lambda n: n.transfers(), self.reset)

    def reset(self, transfers: list[TransferInfo]) -> None:
        self.tree.clear()
        self.infos.clear()
        self.items.clear()
        self.files.clear()
        for t in transfers:
            self.upsert(t, at_top=False)
        first = self.tree.topLevelItem(0)
        if first is not None and self.tree.currentItem() is None:
            self.tree.setCurrentItem(first)

    def on_event(self, event: TransferChanged | TransferOffered | TransferProgress) -> None:
        t = event.transfer
        key = key_of(t)
        before = self.infos.get(key)
        self.upsert(t)
        if not isinstance(event, TransferProgress) or before is None:
            self.load_files(key)
        else:
            self._show_file_on_its_way(key)
        if len(t.saved) > len(before.saved if before else []):  # a file landed: its row, soon
            self._stale.add(key)
            if not self._refresh.isActive():
                self._refresh.start()

    def upsert(self, t: TransferInfo, at_top: bool = True) -> None:
        """Show ``t`` in its row, made at the top (newest first) if it is new."""
        key = key_of(t)
        self.infos[key] = t
        item = self.items.get(key)
        if item is None:
            item = self.items[key] = QTreeWidgetItem()
            item.setData(0, KeyRole, key)
            item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
            if at_top:
                self.tree.insertTopLevelItem(0, item)
            else:
                self.tree.addTopLevelItem(item)
        texts = (t.summary, words.direction(t), words.state_words(t))
        for column, text in enumerate((*texts, words.progress_words(t), words.rate_words(t))):
            item.setText(column, text)
        item.setToolTip(2, words.state_tooltip(t))
        if item is self.tree.currentItem() or self._selected_key() == key:
            self._show_selected()

    def load_files(self, key: Key | None) -> None:
        """Ask the node for ``key``'s files (plain values to its thread)."""
        if key is None or key not in self.infos:
            return
        transfer_id = key[1]
        self.bridge.call(
            lambda n: n.transfer_files(transfer_id),
            partial(self._files_loaded, key),
            lambda _: None,  # a transfer gone from the store: no rows, no alarm
        )

    def _files_loaded(self, key: Key, files: list[FileInfo]) -> None:
        if key in self.infos:
            self.files[key] = files
            self._fill_files(key)
            self._show_selected()

    def _refresh_stale(self) -> None:
        stale, self._stale = self._stale, set()
        for key in stale:
            self.load_files(key)

    def _fill_files(self, key: Key) -> None:
        """One row per file under its transfer: name (the saved one), state, size."""
        item, t, files = self.items[key], self.infos[key], self.files.get(key)
        if files is None:
            return
        rows = len(files) + (len(files) < t.count)  # and a last "… and 9,000 more"
        while item.childCount() > rows:
            item.takeChild(item.childCount() - 1)
        while item.childCount() < rows:
            QTreeWidgetItem(item)
        for index, f in enumerate(files):
            child = _child(item, index)
            child.setData(0, KeyRole, key)
            child.setData(0, FileRole, index)
            child.setText(0, f.name + ("/" if f.kind == "dir" else ""))
            child.setToolTip(0, f.local or f.path)
            child.setText(2, words.file_state_words(f, t))
            child.setToolTip(2, child.text(2))
            child.setText(3, human_size(f.size) if f.kind == "file" else "")
        if rows > len(files):
            _child(item, len(files)).setText(0, f"… and {t.count - len(files)} more")

    def _show_file_on_its_way(self, key: Key) -> None:
        """Only the row of the file moving now changes with progress: not every row."""
        t, files, item = self.infos[key], self.files.get(key, []), self.items[key]
        for index, f in enumerate(files):
            if f.path == t.file and index < item.childCount():
                _child(item, index).setText(2, words.file_state_words(f, t))

    # ----- the selection, the path, the buttons ----------------------------------

    def _selected_key(self) -> Key | None:
        item = self.tree.currentItem()
        return None if item is None else item.data(0, KeyRole)

    def _selected_file(self) -> FileInfo | None:
        item = self.tree.currentItem()
        if item is None:
            return None
        key, index = item.data(0, KeyRole), item.data(0, FileRole)
        files = self.files.get(key, []) if key is not None else []
        return files[index] if isinstance(index, int) and index < len(files) else None

    def selected(self) -> TransferInfo | None:
        key = self._selected_key()
        return None if key is None else self.infos.get(key)

    def _show_selected(self) -> None:
        """The path of what is selected, and only the buttons its state allows."""
        t = self.selected()
        fit = set() if t is None else words.actions_for(t, self.files.get(key_of(t), []))
        for label, button in self.buttons.items():
            button.setVisible(label in fit)
        caption, path = self._where(t)
        self.where_caption.setText(caption)
        self.where.set_full_text(path)

    def _where(self, t: TransferInfo | None) -> tuple[str, str]:
        f = self._selected_file()
        if t is None:
            return "", ""
        if f is not None and f.local:
            return ("Read from" if t.outgoing else "Saved as"), f.local
        files = self.files.get(key_of(t), [])
        if t.outgoing:
            sources = [os.path.dirname(x.local) for x in files if x.local]
            return ("Sent from", os.path.commonpath(sources)) if sources else ("", "")
        paths = words.saved_paths(t, files)
        folder = folder_of(dataclasses.replace(t, saved=paths)) if paths or t.folder else ""
        return ("Saved in" if folder else ""), folder

    def _act(self, label: str) -> None:
        t = self.selected()
        if t is None:
            return
        f = self._selected_file()
        only = [f.local] if f is not None and f.local and f.kind == "file" else None
        chosen = only or words.saved_paths(t, self.files.get(key_of(t), []))
        self.action_requested.emit(dataclasses.replace(t, saved=chosen), label)

    def open_and_focus(self) -> None:
        """Show the panel, raised, with the list focused."""
        self.show()
        self.raise_()
        self.tree.setFocus(Qt.FocusReason.ShortcutFocusReason)
