"""How a peer looks in the list: name; state, trust and short id; an unread badge;
greyed out while it is away. Trust has a colour of its own everywhere: green for
paired, amber for unverified, red for blocked or a changed key. Every colour comes
from ``theme`` at each paint, so the list follows the palette (light or dark)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from chatty_p2p.gui.models import ItemRole, UnreadRole
from chatty_p2p.gui.theme import Inks, theme
from chatty_p2p.node import Peer


def status_parts(peer: Peer, inks: Inks) -> list[tuple[str, QColor]]:
    """The second line, piece by piece: state, trust, short id, each in its colour."""
    if peer.conflict or peer.trust == "blocked":
        return [(peer.state, inks.blocked), (f" · {peer.short_id}", inks.muted)]
    trust = inks.trust(peer.trust)
    return [
        (f"{peer.state} · ", inks.muted),
        (peer.trust, trust),
        (f" · {peer.short_id}", inks.muted),
    ]


class PeerDelegate(QStyledItemDelegate):
    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(200, 2 * QFontMetrics(QApplication.font()).height() + 14)

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        peer: Peer = index.data(ItemRole)
        unread: int = index.data(UnreadRole)
        rect: QRect = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colours = theme(option.palette)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        inks = colours.accent if selected else colours.page
        if selected:
            painter.fillRect(rect, inks.background)
        line = QFontMetrics(QApplication.font()).height()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colours.online if peer.online else colours.away)
        painter.drawEllipse(rect.left() + 10, rect.top() + 7 + line // 2 - 4, 8, 8)
        painter.setPen(inks.text if peer.online or selected else inks.muted)
        font = painter.font()
        font.setBold(unread > 0)
        painter.setFont(font)
        painter.drawText(rect.left() + 26, rect.top() + 5 + line, peer.name)
        font.setBold(False)
        painter.setFont(font)
        metrics = QFontMetrics(painter.font())
        x, y = rect.left() + 26, rect.top() + 7 + 2 * line
        for text, pen in status_parts(peer, inks):
            painter.setPen(pen)
            painter.drawText(x, y, text)
            x += metrics.horizontalAdvance(text)
        if unread:
            badge = QRect(rect.right() - 34, rect.top() + 10, 26, line + 2)
            painter.setPen(Qt.PenStyle.NoPen)
            # The accent's colours, swapped on a selected row (whose fill is the accent).
            fill, digits = colours.accent.background, colours.accent.text
            if selected:
                fill, digits = digits, fill
            painter.setBrush(fill)
            painter.drawRoundedRect(badge, badge.height() / 2, badge.height() / 2)
            painter.setPen(digits)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(unread))
        painter.restore()
