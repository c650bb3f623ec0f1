"""How a peer looks in the list, as a device card: an avatar in the device's own
colour (from its id, the same every run) with an icon of what it is (laptop,
desktop, server, phone, tablet) or, when it did not say, its initial; a dot on the
avatar, green while it is online; its name, cut with "…" when long; where it is and
its trust in words ("last seen 5 min ago · not paired"); an unread badge.

No part of the id is shown (the tooltip has the short fingerprint). Only what needs
the user has a warning colour: a changed key or a block in red, a peer that refuses
us in amber; a new, unpaired device is as plain as the rest, and a paired one green.
Every colour comes from ``theme`` at each paint, so the list follows the palette.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from chatty_p2p.gui.models import TRUST_SPOKEN, ItemRole, UnreadRole, presence
from chatty_p2p.gui.theme import Inks, avatar_colour, ink_on, theme
from chatty_p2p.node import Peer

ICONS = ("laptop", "desktop", "server", "phone", "tablet")
"""Device types drawn as an icon; any other shows the name's initial."""
PAD = 8


def status_parts(peer: Peer, inks: Inks, now: float | None = None) -> list[tuple[str, QColor]]:
    """The second line, piece by piece, each in its colour: where the peer is, then
    its trust; only a block, a changed key or a refusal in a warning colour."""
    where = presence(peer, now)
    if peer.trust == "blocked" or peer.conflict:
        return [(where, inks.blocked)]
    if peer.refused_by:
        return [(where, inks.unverified), (" · ", inks.muted), ("not paired", inks.muted)]
    if peer.via == "localsend":  # nobody verifies a LocalSend device: no trust to show
        return [(f"{where} · ", inks.muted), ("LocalSend", inks.muted)]
    trust = TRUST_SPOKEN.get(peer.trust, "not paired")
    tone = inks.trusted if peer.trust == "trusted" else inks.muted
    return [(f"{where} · ", inks.muted), (trust, tone)]


def initial(name: str) -> str:
    """The first letter or digit of a name, upper case ("?" if it has none)."""
    return next((c.upper() for c in name if c.isalnum()), "?")


@dataclass(frozen=True)
class Look:
    """What a row shows, worked out before painting (and what tests check)."""

    avatar: QRect
    fill: QColor
    glyph: str
    """A device type from ``ICONS``, or the initial to write in the avatar."""
    name: str
    """The name as painted: elided with "…" to fit ``text_width``."""
    status: list[tuple[str, QColor]]
    text_left: int
    text_width: int
    bold: bool


def line_height() -> int:
    return QFontMetrics(QApplication.font()).height()


class PeerDelegate(QStyledItemDelegate):
    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        return QSize(200, 2 * line_height() + 2 * PAD)

    def look(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> Look:
        peer: Peer = index.data(ItemRole)
        unread: int = index.data(UnreadRole) or 0
        rect: QRect = option.rect
        colours = theme(option.palette)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        inks = colours.accent if selected else colours.page
        size = rect.height() - 2 * PAD
        avatar = QRect(rect.left() + PAD, rect.top() + PAD, size, size)
        left = avatar.right() + 1 + PAD
        badge = 34 if unread else 0
        width = max(0, rect.right() - PAD - badge - left)
        font = QFont(option.font)
        font.setBold(unread > 0)
        name = QFontMetrics(font).elidedText(peer.name, Qt.TextElideMode.ElideRight, width)
        return Look(
            avatar=avatar,
            fill=avatar_colour(peer.id, colours.page.background),  # the same when selected
            glyph=peer.device if peer.device in ICONS else initial(peer.name),
            name=name,
            status=status_parts(peer, inks),
            text_left=left,
            text_width=width,
            bold=unread > 0,
        )

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        peer: Peer = index.data(ItemRole)
        unread: int = index.data(UnreadRole) or 0
        look = self.look(option, index)
        rect: QRect = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colours = theme(option.palette)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        inks = colours.accent if selected else colours.page
        if selected:
            painter.fillRect(rect, inks.background)
        paint_avatar(painter, look)
        dot = colours.online if peer.online else colours.away
        paint_dot(painter, look.avatar, dot, inks.background)
        font = QFont(option.font)
        font.setBold(look.bold)
        painter.setFont(font)
        line = QFontMetrics(font).height()
        top = rect.top() + PAD
        painter.setPen(inks.text if peer.online or selected else inks.muted)
        painter.drawText(look.text_left, top + QFontMetrics(font).ascent(), look.name)
        font.setBold(False)
        painter.setFont(font)
        paint_status(painter, look, top + line + QFontMetrics(font).ascent())
        if unread:
            paint_badge(painter, rect, unread, colours.accent, selected, line)
        painter.restore()


def paint_status(painter: QPainter, look: Look, baseline: int) -> None:
    """The second line's pieces one after the other, the last cut with "…" if the
    row is too narrow for them all."""
    metrics = QFontMetrics(painter.font())
    x, right = look.text_left, look.text_left + look.text_width
    for text, pen in look.status:
        shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(0, right - x))
        if not shown:
            break
        painter.setPen(pen)
        painter.drawText(x, baseline, shown)
        x += metrics.horizontalAdvance(shown)


def paint_badge(
    painter: QPainter, rect: QRect, unread: int, accent: Inks, selected: bool, line: int
) -> None:
    badge = QRect(rect.right() - 34, rect.top() + PAD + 2, 26, line + 2)
    painter.setPen(Qt.PenStyle.NoPen)
    # The accent's colours, swapped on a selected row (whose fill is the accent).
    fill, digits = accent.background, accent.text
    if selected:
        fill, digits = digits, fill
    painter.setBrush(fill)
    painter.drawRoundedRect(badge, badge.height() / 2, badge.height() / 2)
    painter.setPen(digits)
    painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(unread))


def paint_avatar(painter: QPainter, look: Look) -> None:
    """The coloured disc, and on it the device's icon or the name's initial."""
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(look.fill)
    painter.drawEllipse(look.avatar)
    ink = ink_on(look.fill)
    if look.glyph in ICONS:
        paint_icon(painter, look.glyph, QRectF(look.avatar), ink)
        return
    font = QFont(painter.font())
    font.setBold(True)
    font.setPixelSize(max(8, look.avatar.height() * 9 // 20))
    painter.setFont(font)
    painter.setPen(ink)
    painter.drawText(look.avatar, Qt.AlignmentFlag.AlignCenter, look.glyph)


def paint_dot(painter: QPainter, avatar: QRect, colour: QColor, ring: QColor) -> None:
    """The online dot on the avatar's lower right, ringed in the row's background."""
    size = max(8, avatar.width() // 3)
    dot = QRectF(avatar.right() + 2 - size, avatar.bottom() + 2 - size, size, size)
    painter.setPen(QPen(ring, 2))
    painter.setBrush(colour)
    painter.drawEllipse(dot)


def paint_icon(painter: QPainter, kind: str, box: QRectF, ink: QColor) -> None:
    """A line drawing of a device, in ``ink``, centred in ``box`` (the avatar)."""
    s = box.width() / 32  # drawn on a 32-unit grid
    x0, y0 = box.left(), box.top()

    def r(x: float, y: float, w: float, h: float) -> QRectF:
        return QRectF(x0 + x * s, y0 + y * s, w * s, h * s)

    def p(x: float, y: float) -> QPointF:
        return QPointF(x0 + x * s, y0 + y * s)

    pen = QPen(ink, max(1.2, 1.8 * s))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    if kind == "laptop":
        painter.drawRoundedRect(r(9, 10, 14, 10), s, s)
        painter.drawLine(p(6, 22.5), p(26, 22.5))
    elif kind == "desktop":
        painter.drawRoundedRect(r(7.5, 8.5, 17, 12), s, s)
        painter.drawLine(p(16, 20.5), p(16, 24))
        painter.drawLine(p(12, 24), p(20, 24))
    elif kind == "server":
        for top in (8, 14.5, 21):
            painter.drawRoundedRect(r(9, top, 14, 4.5), s, s)
            painter.drawPoint(p(12, top + 2.25))
    elif kind == "phone":
        painter.drawRoundedRect(r(11.5, 7, 9, 18), 2 * s, 2 * s)
        painter.drawLine(p(15, 22), p(17, 22))
    else:  # tablet
        painter.drawRoundedRect(r(9, 8, 14, 17), 2 * s, 2 * s)
        painter.drawLine(p(15, 22), p(17, 22))
