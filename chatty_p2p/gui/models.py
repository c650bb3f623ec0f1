"""Qt models of what the node reports: peers, and one conversation at a time.

They are updated in place from node events (a row changes, a row is inserted),
never rebuilt, so a busy peer or a transfer ticking four times a second costs
one ``dataChanged`` each. The models hold plain snapshots from the core
(``Peer``, ``StoredMessage``, ``TransferInfo``); they never call the node.
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from chatty_p2p.events import RESUMABLE, StoredMessage, TransferInfo, human_size, items
from chatty_p2p.gui.transfer_words import state_words
from chatty_p2p.links import find_links, is_safe_url
from chatty_p2p.node import Peer

ItemRole = Qt.ItemDataRole.UserRole + 1
UnreadRole = Qt.ItemDataRole.UserRole + 2

Index = QModelIndex | QPersistentModelIndex


TRUST_SPOKEN = {"trusted": "paired", "unverified": "not paired", "blocked": "blocked"}
DEVICE_WORDS = {
    "laptop": "laptop",
    "desktop": "desktop computer",
    "server": "server",
    "phone": "phone",
    "tablet": "tablet",
}
"""A device type as the tooltip and a screen reader say it ("unknown" says nothing)."""


def ago(seconds: float, when: float) -> str:
    """How long ago, in words: "just now", "5 min ago", "3 h ago", "yesterday", or
    the day ("on 3 Mar") when it was longer ago than that."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 2 * 86400:
        return "yesterday"
    day = time.localtime(when)
    return f"on {day.tm_mday} {time.strftime('%b', day)}"


LOCALSEND_SPOKEN = "LocalSend device, not verified (LocalSend has no pairing)"
STATE_WORDS = {"seen": "on the network", "refused: key changed": "key changed"}
"""``Peer.state`` where the list says it otherwise ("seen" was cryptic)."""


def presence(peer: Peer, now: float | None = None) -> str:
    """Where a peer is, in words: "online", "on the network" (announced, no session
    yet), "last seen 5 min ago", "offline" (never seen); "refuses us", "key changed"
    and "blocked" say what needs the user instead."""
    state = peer.state
    if state == "offline" and peer.last_seen > 0:
        now = time.time() if now is None else now
        return "last seen " + ago(max(0.0, now - peer.last_seen), peer.last_seen)
    return STATE_WORDS.get(state, state)


def peer_spoken(peer: Peer, unread: int = 0, now: float | None = None) -> str:
    """A peer's row as a screen reader says it: name, device, where it is, trust,
    unread count ("bravo, laptop, online, paired, 2 unread")."""
    parts = [peer.name]
    if peer.device in DEVICE_WORDS:
        parts.append(DEVICE_WORDS[peer.device])
    parts.append(presence(peer, now))
    trust = (
        LOCALSEND_SPOKEN if peer.via == "localsend" else TRUST_SPOKEN.get(peer.trust, peer.trust)
    )
    if trust not in parts:
        parts.append(trust)
    if unread:
        parts.append(f"{unread} unread")
    return ", ".join(parts)


def peer_tooltip(peer: Peer, now: float | None = None) -> str:
    """The full name, what the device is, where it is and its trust; then the short
    fingerprint, the one place the list shows any part of the id."""
    kind = DEVICE_WORDS.get(peer.device, "device of unknown type").capitalize()
    trust = (
        LOCALSEND_SPOKEN if peer.via == "localsend" else TRUST_SPOKEN.get(peer.trust, peer.trust)
    )
    return f"{peer.name}\n{kind} · {presence(peer, now)} · {trust}\nfingerprint {peer.short_id}"


@dataclass(frozen=True)
class PeerRow:
    peer: Peer
    unread: int = 0


class PeerModel(QAbstractListModel):
    """Every peer the node knows: online first, then by name."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[PeerRow] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.peer.name
        if role == ItemRole:
            return row.peer
        if role == UnreadRole:
            return row.unread
        if role == Qt.ItemDataRole.ToolTipRole:
            return peer_tooltip(row.peer)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return peer_spoken(row.peer, row.unread)
        return None

    def reset(self, peers: list[Peer]) -> None:
        self.beginResetModel()
        unread = {r.peer.id: r.unread for r in self._rows}
        self._rows = sorted((PeerRow(p, unread.get(p.id, 0)) for p in peers), key=self._order)
        self.endResetModel()

    @staticmethod
    def _order(row: PeerRow) -> tuple[bool, str]:
        return (not row.peer.online, row.peer.name.lower())

    def upsert(self, peer: Peer) -> None:
        """A peer appeared or changed: update its row in place, moving it if its place
        in the order changed, so the view keeps its selection."""
        at = self.row_of(peer.id)
        if at is None:
            row = PeerRow(peer)
            target = self._place(row)
            self.beginInsertRows(QModelIndex(), target, target)
            self._rows.insert(target, row)
            self.endInsertRows()
            return
        row = replace(self._rows[at], peer=peer)
        self._rows[at] = row
        self.dataChanged.emit(self.index(at), self.index(at))
        target = self._place(row, skip=at)
        if target != at:
            # Qt counts the destination before the move: one further when moving down.
            self.beginMoveRows(QModelIndex(), at, at, QModelIndex(), target + (target > at))
            self._rows.insert(target, self._rows.pop(at))
            self.endMoveRows()

    def _place(self, row: PeerRow, skip: int | None = None) -> int:
        """Where ``row`` belongs among the others (without the one at ``skip``)."""
        others = [r for i, r in enumerate(self._rows) if i != skip]
        return sum(1 for other in others if self._order(other) < self._order(row))

    def set_unread(self, peer_id: str, unread: int | None = None, add: int = 0) -> None:
        at = self.row_of(peer_id)
        if at is None:
            return
        row = self._rows[at]
        self._rows[at] = replace(row, unread=(row.unread if unread is None else unread) + add)
        self.dataChanged.emit(self.index(at), self.index(at))

    def row_of(self, peer_id: str) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.peer.id == peer_id), None)

    def peer(self, row: int) -> Peer:
        return self._rows[row].peer


@dataclass(frozen=True)
class Notice:
    """A line from the window itself (``/help`` output, an error), never stored."""

    text: str
    ts: float


Item = StoredMessage | TransferInfo | Notice


def clock(ts: float) -> str:
    return time.strftime("%H:%M", time.localtime(ts))


def card_actions(t: TransferInfo) -> list[str]:
    """The buttons a transfer card offers in its state, right to left: the last is
    the leftmost, and the one Enter presses."""
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
    return state_words(t)  # a stopped one, in words a user can act on


def card_title(t: TransferInfo) -> str:
    return f"{', '.join(t.names[:2])}{' …' if len(t.names) > 2 else ''}"


def button_spoken(t: TransferInfo, label: str) -> str:
    """What a card's button does, said with what it acts on: "Accept report.pdf from
    desk" (a screen reader hears this, not a bare "Accept")."""
    return f"{label} {card_title(t)} {'to' if t.outgoing else 'from'} {t.peer_name}"


def item_spoken(item: Item) -> str:
    """A conversation's row as a screen reader says it."""
    if isinstance(item, StoredMessage):
        who = "You" if item.outgoing else "They"
        status = f", {item.status}" if item.outgoing else ""
        return f"{who}, {clock(item.ts)}: {item.body}{status}"
    if isinstance(item, TransferInfo):
        way = ("to " if item.outgoing else "from ") + item.peer_name
        text = f"Files {way}: {card_title(item)}, {items(item.count)}, {human_size(item.size)}"
        text += f"; {card_status(item)}"
        actions = card_actions(item)
        if actions:
            text += "; buttons " + ", ".join(reversed(actions)) + " (Left and Right, then Enter)"
        return text
    return item.text


def link_spans(message: StoredMessage) -> list[tuple[int, int, str]]:
    """Where the body's safe links are: (start, end, url) each, in order."""
    body = message.body
    if message.kind == "link" and is_safe_url(body):
        return [(0, len(body), body)]
    return find_links(body)


def message_html(message: StoredMessage) -> str:
    """The body as HTML with every safe link an anchor; everything else escaped."""
    body = message.body
    out, at = [], 0
    for start, end, url in link_spans(message):
        out.append(html.escape(body[at:start]))
        out.append(f'<a href="{html.escape(url, quote=True)}">{html.escape(body[start:end])}</a>')
        at = end
    out.append(html.escape(body[at:]))
    return "".join(out).replace("\n", "<br>")


class ConversationModel(QAbstractListModel):
    """Messages and transfer cards with one peer, oldest first."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.peer_id: str | None = None
        self._items: list[Item] = []

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._items[index.row()]
        if role == ItemRole:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            if isinstance(item, StoredMessage):
                return item.body
            if isinstance(item, TransferInfo):
                return f"{', '.join(item.names)}: {item.state}"
            return item.text
        if role == Qt.ItemDataRole.AccessibleTextRole:
            return item_spoken(item)
        return None

    def load(
        self, peer_id: str, messages: list[StoredMessage], transfers: list[TransferInfo]
    ) -> None:
        self.beginResetModel()
        self.peer_id = peer_id
        items: list[Item] = [*messages, *(t for t in transfers if t.peer_id == peer_id)]
        self._items = sorted(items, key=_when)
        self.endResetModel()

    def add(self, item: Item) -> None:
        """Insert, or replace the row with the same message or transfer id."""
        at = self._find(item)
        if at is not None:
            self._items[at] = item
            self.dataChanged.emit(self.index(at), self.index(at))
            return
        self.beginInsertRows(QModelIndex(), len(self._items), len(self._items))
        self._items.append(item)
        self.endInsertRows()

    def _find(self, item: Item) -> int | None:
        if isinstance(item, Notice):
            return None
        for i in range(len(self._items) - 1, -1, -1):
            other = self._items[i]
            if type(other) is type(item) and other.id == item.id:
                return i
        return None

    def item(self, row: int) -> Item:
        return self._items[row]


def _when(item: Item) -> float:
    return item.created if isinstance(item, TransferInfo) else item.ts
