"""The line above the conversation: who it is with, their state, trust and short id,
and Pair… while the peer is neither paired nor blocked.

It is the one place that says whether the person you are writing to is verified, so
it is kept apart from the window and redrawn from each new snapshot of the peer, and
again in new colours when the palette changes (``ThemedLabel``).
"""

from __future__ import annotations

import html

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSizePolicy, QWidget

from chatty_p2p.gui.theme import Theme, ThemedLabel
from chatty_p2p.identity import short_id
from chatty_p2p.node import Peer


def header_html(peer: Peer, colours: Theme) -> str:
    """The peer's name (escaped: it is whatever the peer calls itself), then its
    state, trust (a changed key said loudest) and short id, in the window's inks."""
    inks = colours.window
    trust = "key changed!" if peer.conflict else peer.trust
    tone = inks.blocked if peer.conflict else inks.trust(peer.trust)
    return (
        f"<b>{html.escape(peer.name)}</b> &nbsp; <span style='color:{inks.muted.name()}'>"
        f"{peer.state} · <span style='color:{tone.name()}'>{trust}</span> · "
        f"{short_id(peer.id)}</span>"
    )


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
        self.title.setAccessibleName(f"Conversation with {peer.name}, {peer.state}, {peer.trust}")
        self.pair_button.setAccessibleName(f"Pair with {peer.name}")
        self.pair_button.setVisible(peer.trust != "trusted" and peer.trust != "blocked")
