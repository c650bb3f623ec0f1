"""How a peer looks in the list: name; state, trust and short id; an unread badge;
greyed out while it is away. Trust has a colour of its own everywhere: green for
paired, amber for unverified, red for blocked or a changed key."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from chatty_p2p.gui.models import ItemRole, UnreadRole
from chatty_p2p.node import Peer

ONLINE = QColor("#1a7f37")
AWAY = QColor("#8c959f")
TRUST_COLOURS = {"trusted": ONLINE, "unverified": QColor("#9a6700"), "blocked": QColor("#cf222e")}


def status_parts(peer: Peer) -> list[tuple[str, QColor]]:
    """The second line, piece by piece: state, trust, short id, each in its colour."""
    if peer.conflict or peer.trust == "blocked":
        return [(peer.state, TRUST_COLOURS["blocked"]), (f" · {peer.short_id}", AWAY)]
    trust = TRUST_COLOURS.get(peer.trust, AWAY)
    return [(f"{peer.state} · ", AWAY), (peer.trust, trust), (f" · {peer.short_id}", AWAY)]


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
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        if selected:
            painter.fillRect(rect, option.palette.highlight())
        line = QFontMetrics(QApplication.font()).height()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(ONLINE if peer.online else AWAY)
        painter.drawEllipse(rect.left() + 10, rect.top() + 7 + line // 2 - 4, 8, 8)
        on_highlight = option.palette.highlightedText().color()
        name_colour = on_highlight if selected else QColor("#1f2328") if peer.online else AWAY
        painter.setPen(name_colour)
        font = painter.font()
        font.setBold(unread > 0)
        painter.setFont(font)
        painter.drawText(rect.left() + 26, rect.top() + 5 + line, peer.name)
        font.setBold(False)
        painter.setFont(font)
        metrics = QFontMetrics(painter.font())
        x, y = rect.left() + 26, rect.top() + 7 + 2 * line
        for text, pen in status_parts(peer):
            painter.setPen(pen)
            painter.drawText(x, y, text)
            x += metrics.horizontalAdvance(text)
        if unread:
            badge = QRect(rect.right() - 34, rect.top() + 10, 26, line + 2)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#2f6feb"))
            painter.drawRoundedRect(badge, badge.height() / 2, badge.height() / 2)
            painter.setPen(QColor("white"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(unread))
        painter.restore()
