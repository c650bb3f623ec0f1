"""The conversation view: message bubbles with live links, and transfer cards.

One delegate paints every row from the model's snapshot; nothing here holds
state of its own. Bubbles are laid out with a ``QTextDocument`` so that a click
can be mapped back to the anchor under it; cards draw their buttons and report
which one a click hit. The view turns those hits into signals for the window.

Colours come from ``theme`` with the palette of each paint: outgoing bubbles in the
accent, incoming ones and cards a shade off the page, so a dark palette gives dark
bubbles and cards with light text, and a switch of palette repaints them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import (
    QContextMenuEvent,
    QFontMetrics,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPalette,
    QPen,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QWidget,
)

from chatty_p2p.files.model import RESUMABLE, TransferInfo, human_size, items
from chatty_p2p.gui.models import ItemRole, Notice, message_html
from chatty_p2p.gui.theme import Inks, Theme, theme
from chatty_p2p.store import StoredMessage

PAD = 8
BUBBLE_SHARE = 0.7
CARD_HEIGHT = 96

Index = QModelIndex | QPersistentModelIndex


def clock(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


def card_actions(t: TransferInfo) -> list[str]:
    """The buttons a transfer card offers in its state, right to left."""
    if t.state == "offered" and not t.outgoing:
        return ["Decline", "Accept"]
    if t.state == "offered" or t.state in RESUMABLE:
        return ["Cancel"]
    if t.state == "done" and not t.outgoing:
        return ["Show in folder", "Open"]
    return []


def card_status(t: TransferInfo) -> str:
    """One line: progress, rate and time left while running; the outcome after."""
    if t.state == "running":
        text = f"{human_size(t.done_bytes)} of {human_size(t.size)}"
        if t.rate > 0:
            text += f" · {human_size(t.rate)}/s"
        if t.eta is not None:
            text += f" · {int(t.eta) + 1} s left"
        return text
    if t.state == "done":
        return "verified, saved in " + t.folder if not t.outgoing else "delivered and verified"
    if t.state == "offered":
        return "waiting for you to accept" if not t.outgoing else "waiting for the peer to accept"
    return f"{t.state}: {t.error}" if t.error else t.state


@dataclass
class _Layout:
    bubble: QRect
    text: QRect
    meta: QRect


def bubble_inks(message: StoredMessage, colours: Theme) -> Inks:
    """Outgoing bubbles in the accent, incoming ones a shade off the page."""
    return colours.accent if message.outgoing else colours.bubble


class ConversationDelegate(QStyledItemDelegate):
    def _document(
        self, message: StoredMessage, width: int, palette: QPalette | None = None
    ) -> QTextDocument:
        """The bubble's text, laid out; in the colours of ``palette`` when it is for
        painting (the layout, for sizes and clicks, does not depend on them)."""
        doc = QTextDocument()
        doc.setDocumentMargin(0)
        if palette is None:
            doc.setHtml(f"<div>{message_html(message)}</div>")
        else:
            colour = bubble_inks(message, theme(palette)).text.name()
            doc.setDefaultStyleSheet(f"a {{ color: {colour}; text-decoration: underline; }}")
            doc.setHtml(f'<div style="color:{colour}">{message_html(message)}</div>')
        doc.setTextWidth(width)
        ideal = int(doc.idealWidth()) + 1
        doc.setTextWidth(min(width, ideal))
        return doc

    def _layout(
        self, message: StoredMessage, rect: QRect, palette: QPalette | None = None
    ) -> tuple[_Layout, QTextDocument]:
        doc = self._document(message, int(rect.width() * BUBBLE_SHARE) - 2 * PAD, palette)
        size = doc.size().toSize()
        meta_height = QFontMetrics(QApplication.font()).height()
        width = max(size.width(), 90) + 2 * PAD
        height = size.height() + meta_height + 2 * PAD
        left = rect.right() - width - PAD if message.outgoing else rect.left() + PAD
        bubble = QRect(left, rect.top() + PAD // 2, width, height)
        text = QRect(bubble.left() + PAD, bubble.top() + PAD, size.width(), size.height())
        meta = QRect(text.left(), text.bottom() + 2, width - 2 * PAD, meta_height)
        return _Layout(bubble, text, meta), doc

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:
        item = index.data(ItemRole)
        width = option.rect.width() or 600
        if isinstance(item, StoredMessage):
            layout, _ = self._layout(item, QRect(0, 0, width, 0))
            return QSize(width, layout.bubble.height() + PAD)
        if isinstance(item, TransferInfo):
            return QSize(width, CARD_HEIGHT + PAD)
        return QSize(width, QFontMetrics(QApplication.font()).height() + PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        item = index.data(ItemRole)
        rect: QRect = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if isinstance(item, StoredMessage):
            self._paint_message(painter, item, rect, option.palette)
            if option.state & QStyle.StateFlag.State_Selected:
                self._paint_selected(painter, item, rect, option.palette)
        elif isinstance(item, TransferInfo):
            self._paint_card(painter, item, rect, option)
        elif isinstance(item, Notice):
            painter.setPen(theme(option.palette).page.muted)
            painter.drawText(
                rect.adjusted(PAD, 0, -PAD, 0), Qt.AlignmentFlag.AlignVCenter, item.text
            )
        painter.restore()

    def _paint_message(
        self, painter: QPainter, message: StoredMessage, rect: QRect, palette: QPalette
    ) -> None:
        layout, doc = self._layout(message, rect, palette)
        inks = bubble_inks(message, theme(palette))
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(inks.background)
        painter.drawRoundedRect(layout.bubble, 10, 10)
        painter.translate(layout.text.topLeft())
        doc.drawContents(painter)
        painter.translate(-layout.text.topLeft())
        meta = clock(message.ts)
        if message.outgoing:
            meta += f" · {message.status}"
        painter.setPen(inks.muted)
        font = painter.font()
        font.setPointSizeF(font.pointSizeF() * 0.85)
        painter.setFont(font)
        painter.drawText(layout.meta, Qt.AlignmentFlag.AlignRight, meta)

    def _paint_selected(
        self, painter: QPainter, message: StoredMessage, rect: QRect, palette: QPalette
    ) -> None:
        """A selected message (the one Copy takes) is ringed: in the accent, or in the
        page's text around an outgoing bubble, which is the accent already."""
        layout, _ = self._layout(message, rect)
        colours = theme(palette)
        ring = colours.page.text if message.outgoing else colours.accent.background
        painter.setPen(QPen(ring, 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(layout.bubble.adjusted(-1, -1, 1, 1), 11, 11)

    def card_rect(self, rect: QRect) -> QRect:
        width = min(rect.width() - 2 * PAD, 520)
        return QRect(rect.left() + PAD, rect.top() + PAD // 2, width, CARD_HEIGHT)

    def button_rects(self, t: TransferInfo, rect: QRect) -> list[tuple[str, QRect]]:
        card = self.card_rect(rect)
        metrics = QFontMetrics(QApplication.font())
        right, out = card.right() - PAD, []
        for label in card_actions(t):
            width = metrics.horizontalAdvance(label) + 24
            out.append((label, QRect(right - width, card.bottom() - PAD - 26, width, 26)))
            right -= width + 6
        return out

    def _paint_card(
        self, painter: QPainter, t: TransferInfo, rect: QRect, option: QStyleOptionViewItem
    ) -> None:
        card = self.card_rect(rect)
        colours = theme(option.palette)
        inks = colours.card
        painter.setPen(colours.card_border)
        painter.setBrush(inks.background)
        painter.drawRoundedRect(card, 8, 8)
        arrow = "↑ to " if t.outgoing else "↓ from "
        title = f"{', '.join(t.names[:2])}{' …' if len(t.names) > 2 else ''}"
        painter.setPen(inks.text)
        bold = painter.font()
        bold.setBold(True)
        painter.setFont(bold)
        line = QFontMetrics(QApplication.font()).height() + 2
        inner = card.adjusted(PAD, PAD, -PAD, -PAD)
        painter.drawText(inner.left(), inner.top() + line - 4, title)
        bold.setBold(False)
        painter.setFont(bold)
        sub = f"{arrow}{t.peer_name} · {items(t.count)} · {human_size(t.size)}"
        painter.drawText(inner.left(), inner.top() + 2 * line - 4, sub)
        bar = QStyleOptionProgressBar()
        bar.palette = option.palette
        bar.rect = QRect(inner.left(), inner.top() + 2 * line + 2, inner.width(), 8)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = (
            int(1000 * t.done_bytes / t.size) if t.size else (1000 if t.state == "done" else 0)
        )
        # Horizontal must be said: without it, Fusion fills the 8 px bar from the bottom
        # up, and 36 % shows as a hairline along the whole width.
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)
        painter.setPen(inks.muted)
        status = QRect(inner.left(), inner.bottom() - 24, inner.width(), 24)
        painter.drawText(status, Qt.AlignmentFlag.AlignVCenter, card_status(t))
        for label, button_rect in self.button_rects(t, rect):
            button = QStyleOptionButton()
            button.palette = option.palette
            button.rect = button_rect
            button.text = label
            button.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
            style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter)

    def anchor_at(self, message: StoredMessage, rect: QRect, pos: QPoint) -> str:
        layout, doc = self._layout(message, rect)
        if not layout.text.contains(pos):
            return ""
        local = pos - layout.text.topLeft()
        return doc.documentLayout().anchorAt(local)


class ConversationView(QListView):
    """Clicks on links open them; clicks on card buttons become ``card_action``.

    Messages can be selected (a click, Ctrl or Shift for more) and copied: Ctrl+C or
    the context menu's Copy puts their text on the clipboard. The view takes the
    focus on a click for that, so Ctrl+C no longer reaches the peer list (which copied
    a peer's name)."""

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
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)

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

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy()
            return
        super().keyPressEvent(event)

    def hit(self, pos: QPoint) -> tuple[str, object] | None:
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
            if over is not None and over[0] == "link":
                self.link_clicked.emit(over[1])
            elif over is not None:
                self.card_action.emit(over[1], over[0])
        super().mouseReleaseEvent(event)
