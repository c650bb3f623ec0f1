"""The conversation view: the rows ``delegate`` paints (message bubbles with live
links, transfer cards), and what the mouse and the keyboard do with them.

Clicks on links and card buttons become signals for the window. By keyboard: Tab
brings the focus here (to the newest row), Up and Down move between rows, Left and
Right between a card's buttons or a message's links, and Enter or Space presses the
one ringed. Ctrl+F opens the find bar above the rows (``findbar``): the rows that
hold the words are visited newest first, and the words are marked.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QContextMenuEvent,
    QFocusEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import QAbstractItemView, QListView, QMenu, QWidget

from chatty_p2p.events import StoredMessage, TransferInfo
from chatty_p2p.gui.delegate import PAD as PAD
from chatty_p2p.gui.delegate import ConversationDelegate, Part, parts
from chatty_p2p.gui.findbar import FindBar, matching_rows
from chatty_p2p.gui.models import ItemRole, button_spoken

Index = QModelIndex | QPersistentModelIndex
ACTIVATE = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space)


class ConversationView(QListView):
    """Clicks on links open them; clicks on card buttons become ``card_action``.

    Messages can be selected (a click, Ctrl or Shift for more) and copied: Ctrl+C or
    the context menu's Copy puts their text on the clipboard. The view takes the
    focus on a click for that, so Ctrl+C no longer reaches the peer list (which copied
    a peer's name), and on Tab, for the keys above."""

    link_clicked = Signal(str)
    card_action = Signal(object, str)
    """(TransferInfo, button label)"""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.delegate = ConversationDelegate(self)
        self.setItemDelegate(self.delegate)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName("Conversation")
        self.find_bar = FindBar(self)
        self.find_bar.searched.connect(self._search)
        self.find_bar.stepped.connect(self._step_match)
        self.find_bar.closed.connect(self._end_search)
        self.match: int | None = None
        """Which of the rows found is shown (an index into ``matching_rows``)."""
        self.find_action = QAction("Find in the conversation…", self)
        """Ctrl+F from anywhere in the window (also in the menu bar)."""
        self.find_action.setShortcut(QKeySequence.StandardKey.Find)
        self.find_action.triggered.connect(self.open_find)
        self.addAction(self.find_action)

    # ----- copying ---------------------------------------------------------------

    def selected_text(self) -> str:
        """The selected rows' text, oldest first, a line each (a message's body)."""
        rows = sorted(self.selectionModel().selectedRows(), key=lambda i: i.row())
        return "\n".join(str(i.data(Qt.ItemDataRole.DisplayRole)) for i in rows)

    def copy(self) -> None:
        text = self.selected_text()
        if text:
            QGuiApplication.clipboard().setText(text)

    def context_menu(self, pos: QPoint) -> QMenu:
        """Copy (the selection, or the row under ``pos``), and Copy link address over a
        link. ``pos`` is in the viewport's coordinates."""
        index = self.indexAt(pos)
        if index.isValid() and not self.selectionModel().isSelected(index):
            self.setCurrentIndex(index)  # a right click on an unselected row takes it
        menu = QMenu(self)
        copy = menu.addAction("Copy", self.copy)
        copy.setShortcut(QKeySequence.StandardKey.Copy)
        copy.setEnabled(bool(self.selected_text()))
        over = self.hit(pos)
        if over is not None and over[0] == "link":
            url = str(over[1])
            menu.addAction("Copy link address", lambda: QGuiApplication.clipboard().setText(url))
        return menu

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        # The scroll area hands the viewport's event over: ``pos`` is the viewport's.
        self.context_menu(event.pos()).popup(event.globalPos())

    # ----- the keyboard ----------------------------------------------------------

    def focusInEvent(self, event: QFocusEvent) -> None:
        """Tabbing in lands on the newest row (Qt's own choice is the oldest)."""
        rows = self.model().rowCount() if self.model() is not None else 0
        mouse = event.reason() == Qt.FocusReason.MouseFocusReason
        if rows and not mouse and not self.currentIndex().isValid():
            last = self.model().index(rows - 1, 0)
            self.selectionModel().setCurrentIndex(last, QItemSelectionModel.SelectionFlag.NoUpdate)
            self.scrollTo(last)
        super().focusInEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy()
            return
        offered = parts(self.currentIndex().data(ItemRole))
        plain = event.modifiers() == Qt.KeyboardModifier.NoModifier
        if offered and plain and event.key() in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            step = -1 if event.key() == Qt.Key.Key_Left else 1
            self.set_part(max(0, min(len(offered) - 1, self.delegate.focus_part + step)))
            return
        if offered and plain and event.key() in ACTIVATE:
            self.press(offered[min(self.delegate.focus_part, len(offered) - 1)])
            return
        super().keyPressEvent(event)

    def currentChanged(self, current: Index, previous: Index) -> None:
        super().currentChanged(current, previous)
        self.set_part(0)

    def set_part(self, at: int) -> None:
        """Put the keyboard on the current row's part ``at``, ringed, and say it."""
        self.delegate.focus_part = at
        offered = parts(self.currentIndex().data(ItemRole))
        spoken = ""
        if offered:
            kind, what = offered[min(at, len(offered) - 1)]
            if isinstance(what, TransferInfo):
                spoken = f"{button_spoken(what, kind)}: press Enter"
            else:
                spoken = f"Link {what}: press Enter to open it"
        self.setAccessibleDescription(spoken)
        self.viewport().update()

    def press(self, part: Part) -> None:
        """A link opens; a card's button goes to the window."""
        kind, what = part
        if kind == "link":
            self.link_clicked.emit(what)
        else:
            self.card_action.emit(what, kind)

    # ----- find ----------------------------------------------------------------

    def open_find(self) -> None:
        self.find_bar.open_bar()
        self._place_find_bar()

    def _place_find_bar(self) -> None:
        """Above the rows, in a margin of the scroll area (no row is hidden by it)."""
        height = self.find_bar.sizeHint().height() if self.find_bar.isVisible() else 0
        self.setViewportMargins(0, height, 0, 0)
        frame = self.frameWidth()
        self.find_bar.setGeometry(frame + PAD, frame, self.width() - 2 * (frame + PAD), height)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_find_bar()

    def viewportEvent(self, event: QEvent) -> bool:
        """Lay the rows out again when the viewport alone changes width: the view's own
        resize mode does so only when the view does, and the vertical scroll bar that
        comes with the 30th message narrows the viewport alone. Rows laid out for the
        old width made a horizontal scroll bar on X11."""
        if event.type() == QEvent.Type.Resize:
            self.scheduleDelayedItemsLayout()
        return super().viewportEvent(event)

    def _search(self, text: str) -> None:
        self.delegate.found = text
        rows = matching_rows(self.model(), text)
        self.match = len(rows) - 1 if rows else None
        self._show_match(rows)

    def _step_match(self, step: int) -> None:
        rows = matching_rows(self.model(), self.delegate.found)
        if rows:
            self.match = ((self.match if self.match is not None else 0) + step) % len(rows)
        else:
            self.match = None
        self._show_match(rows)

    def _show_match(self, rows: list[int]) -> None:
        if self.match is not None and self.match < len(rows):
            index = self.model().index(rows[self.match], 0)
            self.setCurrentIndex(index)
            self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        else:
            self.match = None
        self.find_bar.show_count(self.match, len(rows))
        self.viewport().update()

    def _end_search(self) -> None:
        self.delegate.found = ""
        self.match = None
        self._place_find_bar()
        self.viewport().update()
        self.setFocus(Qt.FocusReason.OtherFocusReason)

    # ----- the mouse -----------------------------------------------------------

    def hit(self, pos: QPoint) -> Part | None:
        """What is under ``pos`` (viewport coordinates): ("link", url) or (label, transfer)."""
        index = self.indexAt(pos)
        if not index.isValid():
            return None
        item = index.data(ItemRole)
        rect = self.visualRect(index)
        if isinstance(item, StoredMessage):
            url = self.delegate.anchor_at(item, rect, pos)
            return ("link", url) if url else None
        if isinstance(item, TransferInfo):
            for label, button in self.delegate.button_rects(item, rect):
                if button.contains(pos):
                    return (label, item)
        return None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        over = self.hit(event.position().toPoint())
        cursor = Qt.CursorShape.PointingHandCursor if over else Qt.CursorShape.ArrowCursor
        self.viewport().setCursor(cursor)
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            over = self.hit(event.position().toPoint())
            if over is not None:
                self.press(over)
        super().mouseReleaseEvent(event)
