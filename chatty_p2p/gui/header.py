"""The line above the conversation: who it is with, their state, trust and short id,
and Pair… while the peer is neither paired nor blocked.

It is the one place that says whether the person you are writing to is verified, so
it is kept apart from the window and redrawn from each new snapshot of the peer.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from chatty_p2p.identity import short_id
from chatty_p2p.node import Peer


class ConversationHeader(QWidget):
    pair_clicked = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("Choose a peer on the left")
        self.pair_button = QPushButton("Pair…")
        self.pair_button.setToolTip("Compare a code with this peer, so no one can pose as it")
        self.pair_button.clicked.connect(self.pair_clicked)
        self.pair_button.hide()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.title, 1)
        row.addWidget(self.pair_button)

    def show_peer(self, peer: Peer) -> None:
        colour = {"trusted": "#1a7f37", "blocked": "#cf222e"}.get(peer.trust, "#9a6700")
        trust = "key changed!" if peer.conflict else peer.trust
        self.title.setText(
            f"<b>{peer.name}</b> &nbsp; <span style='color:#57606a'>{peer.state} · "
            f"<span style='color:{colour}'>{trust}</span> · {short_id(peer.id)}</span>"
        )
        self.pair_button.setVisible(peer.trust != "trusted" and peer.trust != "blocked")
