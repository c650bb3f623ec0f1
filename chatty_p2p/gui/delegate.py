"""How the conversation's rows are painted: message bubbles with live links, and
transfer cards with their buttons, a row's keyboard ring and the find bar's marks.

Bubbles are laid out with a ``QTextDocument`` so that a click can be mapped back to
the anchor under it; cards draw their buttons and say where each is, so the view
(``conversation``) can tell what a click hit.

Colours come from ``theme`` with the palette of each paint: outgoing bubbles in the
accent, incoming ones and cards a shade off the page, so a dark palette gives dark
bubbles and cards with light text, and a switch of palette repaints them.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt
from PySide6.QtGui import (
    QFontMetrics,
    QPainter,
    QPalette,
    QPen,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QWidget,
)

from chatty_p2p.events import StoredMessage, TransferInfo, TransferState, human_size, items
from chatty_p2p.gui.models import (
    ItemRole,
    Notice,
    card_actions,
    card_status,
    card_title,
    clock,
    link_spans,
    message_html,
)
from chatty_p2p.gui.theme import Inks, Theme, theme

PAD = 8
BUBBLE_SHARE = 0.7
CARD_HEIGHT = 96
COLUMN = 880
"""The widest the conversation gets: on a wide screen its rows sit in a centred column
of this width, so a reply on the right is not 1,500 px away from what it answers."""


def column(rect: QRect) -> QRect:
    """``rect`` narrowed to at most ``COLUMN`` wide, centred: where a row's bubble or
    card may go."""
    if rect.width() <= COLUMN:
        return rect
    return QRect(rect.left() + (rect.width() - COLUMN) // 2, rect.top(), COLUMN, rect.height())


Index = QModelIndex | QPersistentModelIndex
Part = tuple[str, object]
"""What a key or a click can press in a row: ("link", url), or (button label, transfer)."""


@dataclass
class _Layout:
    bubble: QRect
    text: QRect
    meta: QRect


def bubble_inks(message: StoredMessage, colours: Theme) -> Inks:
    """Outgoing bubbles in the accent, incoming ones a shade off the page."""
    return colours.accent if message.outgoing else colours.bubble


def parts(item: object) -> list[Part]:
    """What a row offers to press, left to right: a card's buttons (the first is the
    one Enter presses at first), a message's links."""
    if isinstance(item, TransferInfo):
        return [(label, item) for label in reversed(card_actions(item))]
    if isinstance(item, StoredMessage):
        return [("link", url) for _, _, url in link_spans(item)]
    return []


class ConversationDelegate(QStyledItemDelegate):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.found = ""
        """What the find bar looks for, marked wherever it shows."""
        self.focus_part = 0
        """Which of the focused row's ``parts`` the keyboard is on."""

    def _document(
        self,
        message: StoredMessage,
        width: int,
        palette: QPalette | None = None,
        focused: bool = False,
    ) -> QTextDocument:
        """The bubble's text, laid out; in the colours of ``palette`` when it is for
        painting (the layout, for sizes and clicks, does not depend on them), with
        the words found and the link the keyboard is on (``focused``) marked."""
        doc = QTextDocument()
        doc.setDocumentMargin(0)
        if palette is None:
            doc.setHtml(f"<div>{message_html(message)}</div>")
        else:
            colour = bubble_inks(message, theme(palette)).text.name()
            doc.setDefaultStyleSheet(f"a {{ color: {colour}; text-decoration: underline; }}")
            doc.setHtml(f'<div style="color:{colour}">{message_html(message)}</div>')
            self._mark(doc, message, theme(palette), focused)
        doc.setTextWidth(width)
        ideal = int(doc.idealWidth()) + 1
        doc.setTextWidth(min(width, ideal))
        return doc

    def _mark(
        self, doc: QTextDocument, message: StoredMessage, colours: Theme, focused: bool
    ) -> None:
        """Found words and the focused link in the accent (the page's colours on an
        outgoing bubble, which is the accent already)."""
        inks = colours.page if message.outgoing else colours.accent
        mark = QTextCharFormat()
        mark.setBackground(inks.background)
        mark.setForeground(inks.text)
        cursor = doc.find(self.found) if self.found else QTextCursor()
        while not cursor.isNull():
            cursor.mergeCharFormat(mark)
            cursor = doc.find(self.found, cursor)
        spans = link_spans(message)
        if focused and spans:
            start, end, _ = spans[min(self.focus_part, len(spans) - 1)]
            cursor = QTextCursor(doc)
            cursor.setPosition(start)
            cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
            mark.setFontUnderline(False)
            cursor.mergeCharFormat(mark)

    def _layout(
        self,
        message: StoredMessage,
        rect: QRect,
        palette: QPalette | None = None,
        focused: bool = False,
    ) -> tuple[_Layout, QTextDocument]:
        rect = column(rect)
        width = int(rect.width() * BUBBLE_SHARE) - 2 * PAD
        doc = self._document(message, width, palette, focused)
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
        focused = bool(option.state & QStyle.StateFlag.State_HasFocus)
        if isinstance(item, StoredMessage):
            bubble = self._paint_message(painter, item, rect, option.palette, focused)
            if option.state & QStyle.StateFlag.State_Selected:
                self._paint_selected(painter, item, rect, option.palette)
            if focused:
                self._paint_focus(painter, bubble, option.palette)
        elif isinstance(item, TransferInfo):
            self._paint_card(painter, item, rect, option)
            if focused:
                self._paint_focus(painter, self.card_rect(rect, item), option.palette)
        elif isinstance(item, Notice):
            painter.setPen(theme(option.palette).page.muted)
            painter.drawText(
                column(rect).adjusted(PAD, 0, -PAD, 0), Qt.AlignmentFlag.AlignVCenter, item.text
            )
        painter.restore()

    def _paint_message(
        self,
        painter: QPainter,
        message: StoredMessage,
        rect: QRect,
        palette: QPalette,
        focused: bool,
    ) -> QRect:
        """The bubble, and where it went."""
        layout, doc = self._layout(message, rect, palette, focused)
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
        return layout.bubble

    def _paint_focus(self, painter: QPainter, around: QRect, palette: QPalette) -> None:
        """The keyboard's ring: dashed, in the page's text, just outside the row's
        bubble or card (a selected bubble's solid ring sits inside it)."""
        painter.setPen(QPen(theme(palette).page.text, 2, Qt.PenStyle.DashLine))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(around.adjusted(-3, -3, 3, 3), 12, 12)

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

    def card_rect(self, rect: QRect, t: TransferInfo) -> QRect:
        """Where a transfer's card sits: on the side its messages are, right for what
        we send, left for what comes to us."""
        rect = column(rect)
        width = min(rect.width() - 2 * PAD, 520)
        left = rect.right() - width - PAD if t.outgoing else rect.left() + PAD
        return QRect(left, rect.top() + PAD // 2, width, CARD_HEIGHT)

    def button_rects(self, t: TransferInfo, rect: QRect) -> list[tuple[str, QRect]]:
        card = self.card_rect(rect, t)
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
        card = self.card_rect(rect, t)
        colours = theme(option.palette)
        inks = colours.card
        painter.setPen(colours.card_border)
        painter.setBrush(inks.background)
        painter.drawRoundedRect(card, 8, 8)
        arrow = "↑ to " if t.outgoing else "↓ from "
        title = card_title(t)
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
        if t.done_bytes or t.state in (TransferState.RUNNING, TransferState.DONE):
            self._paint_bar(
                painter,
                t,
                QRect(inner.left(), inner.top() + 2 * line + 2, inner.width(), 8),
                option,
            )
        painter.setPen(inks.muted)
        status = QRect(inner.left(), inner.bottom() - 24, inner.width(), 24)
        painter.drawText(status, Qt.AlignmentFlag.AlignVCenter, card_status(t))
        labels = [label for label, _ in parts(t)]
        focused = option.state & QStyle.StateFlag.State_HasFocus and labels
        on = labels[min(self.focus_part, len(labels) - 1)] if focused else None
        style = option.widget.style() if option.widget else QApplication.style()
        for label, button_rect in self.button_rects(t, rect):
            button = QStyleOptionButton()
            button.palette = option.palette
            button.rect = button_rect
            button.text = label
            button.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
            if label == on:
                button.state |= QStyle.StateFlag.State_HasFocus
                button.state |= QStyle.StateFlag.State_KeyboardFocusChange
            style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter)
            if label == on:
                self._paint_focus(painter, button_rect, option.palette)

    def _paint_bar(
        self, painter: QPainter, t: TransferInfo, where: QRect, option: QStyleOptionViewItem
    ) -> None:
        """The progress bar, for a transfer that moves or moved bytes: an offer, or one
        declined or cancelled before a byte, has none (it drew an empty groove)."""
        bar = QStyleOptionProgressBar()
        bar.palette = option.palette
        bar.rect = where
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = (
            int(1000 * t.done_bytes / t.size) if t.size else (1000 if t.state == "done" else 0)
        )
        # Horizontal must be said: without it, Fusion fills the 8 px bar from the bottom
        # up, and 36 % shows as a hairline along the whole width.
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)

    def anchor_at(self, message: StoredMessage, rect: QRect, pos: QPoint) -> str:
        layout, doc = self._layout(message, rect)
        if not layout.text.contains(pos):
            return ""
        local = pos - layout.text.topLeft()
        return doc.documentLayout().anchorAt(local)
