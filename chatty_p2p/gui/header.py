"""The line above the conversation: who it is with, where they are and whether they
are paired (in the peer list's words), and Pair… while the peer is neither paired
nor blocked. With several peers selected it names them all, since what is typed or
attached goes to each of them.

It is the one place that says whether the person you are writing to is verified, so
it is kept apart from the window and redrawn from each new snapshot of the peer, and
again in new colours when the palette changes (``ThemedLabel``).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSizePolicy, QWidget

from chatty_p2p.gui.models import peer_spoken, peer_tooltip, presence
from chatty_p2p.gui.peers import status_parts
from chatty_p2p.gui.theme import Theme, ThemedLabel
from chatty_p2p.node import Peer


def header_html(peer: Peer, colours: Theme) -> str:
    """The peer's name (escaped: it is whatever the peer calls itself), then where it
    is and its trust in the peer list's words and colours (``peers.status_parts``),
    a changed key said loudest; the fingerprint only in the tooltip."""
    inks = colours.window
    parts = status_parts(peer, inks)
    if peer.conflict:
        parts = [(f"{presence(peer)} · ", inks.muted), ("key changed!", inks.blocked)]
    spans = "".join(f"<span style='color:{c.name()}'>{html.escape(t)}</span>" for t, c in parts)
    return f"<b>{html.escape(peer.name)}</b> &nbsp; {spans}"


def names_in_words(names: list[str], shown: int = 3) -> str:
    """ "desk", "desk and phone", "desk, phone and sofa", "desk, phone, sofa and 2 more"."""
    if len(names) <= 1:
        return "".join(names)
    if len(names) <= shown:
        return f"{', '.join(names[:-1])} and {names[-1]}"
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def group_html(peers: list[Peer], colours: Theme) -> str:
    """Several selected peers: their names (escaped), then that all of them get it."""
    names = html.escape(names_in_words([p.name for p in peers]))
    muted = colours.window.muted.name()
    tail = f"messages and files go to all {len(peers)}"
    return f"<b>{names}</b> &nbsp; <span style='color:{muted}'>{tail}</span>"


class ConversationHeader(QWidget):
    pair_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = ThemedLabel(lambda _: "Choose a peer on the left")
        self.pair_button = QPushButton("Pair…")
        self.pair_button.setToolTip("Compare a code with this peer, so no one can pose as it")
        self.pair_button.setAccessibleName("Pair with this peer")
        self.pair_button.clicked.connect(self.pair_clicked)
        self.pair_button.hide()
        # As tall as its contents: the conversation above (or below) takes the rest.
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.title, 1)
        row.addWidget(self.pair_button)

    def show_peer(self, peer: Peer) -> None:
        self.title.set_render(lambda colours: header_html(peer, colours))
        self.title.setAccessibleName(f"Conversation with {peer_spoken(peer)}")
        self.title.setToolTip(peer_tooltip(peer))
        self.pair_button.setAccessibleName(f"Pair with {peer.name}")
        pairable = peer.via == "chatty" and peer.trust not in ("trusted", "blocked")
        self.pair_button.setVisible(pairable)

    def show_group(self, peers: list[Peer]) -> None:
        """Several peers selected: the names of all (the first three and a count), the
        full list in the tooltip, and no Pair… (pairing is with one peer)."""
        self.title.set_render(lambda colours: group_html(peers, colours))
        names = [p.name for p in peers]
        self.title.setAccessibleName(f"Writing to {len(peers)} peers: {names_in_words(names, 9)}")
        self.title.setToolTip("\n".join(names))
        self.pair_button.hide()
