"""The left side of the window: the list of peers, "Add peer by address…", "Can't see
your peer?", and each peer's context menu (pair, unpair, block, forget).

What happens to a peer from here is one ``bridge.call``; what the window must do
itself (start pairing, open the doctor, show an error) goes out as a signal, so the
pane never imports the window.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QInputDialog,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.models import ItemRole, PeerModel
from chatty_p2p.gui.peers import PeerDelegate
from chatty_p2p.net.addresses import parse_address
from chatty_p2p.node import Peer


class PeerPane(QWidget):
    pair_requested = Signal(str)
    """Pair… chosen in a peer's menu (its id)."""
    doctor_requested = Signal()
    failed = Signal(str)

    def __init__(self, model: PeerModel, bridge: NodeBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = model
        self.bridge = bridge
        self.view = QListView()
        self.view.setModel(model)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._peer_menu)
        self.view.setItemDelegate(PeerDelegate(self.view))
        add_button = QPushButton("Add peer by address…")
        add_button.clicked.connect(self.add_peer_dialog)
        why = QPushButton("Can't see your peer?")
        why.setFlat(True)
        why.clicked.connect(self.doctor_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Peers</b>"))
        layout.addWidget(self.view)
        layout.addWidget(add_button)
        layout.addWidget(why)

    def selected_ids(self) -> list[str]:
        return [self.model.peer(i.row()).id for i in self.view.selectionModel().selectedRows()]

    def add_peer_dialog(self) -> None:
        text, ok = QInputDialog.getText(
            self, "Add peer", "Address of the other machine (host:port, as its Chatty shows):"
        )
        if ok and text.strip():
            pair = parse_address(text.strip())
            if pair is None:
                self.failed.emit(f"Not an address: {text!r} (expected host:port)")
                return
            self.bridge.call(lambda n: n.add_peer(*pair), self.model.upsert)

    def _peer_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        peer: Peer = index.data(ItemRole)
        menu = QMenu(self)
        if peer.trust == "trusted":
            menu.addAction("Unpair", lambda: self.bridge.call(lambda n: n.unpair(peer.id)))
        elif peer.trust != "blocked":
            menu.addAction("Pair…", lambda: self.pair_requested.emit(peer.id))
        blocked = peer.trust == "blocked"
        menu.addAction(
            "Unblock" if blocked else "Block",
            lambda: self.bridge.call(lambda n: n.block(peer.id, not blocked)),
        )
        menu.addAction("Forget", lambda: self.bridge.call(lambda n: n.forget(peer.id)))
        menu.popup(self.view.viewport().mapToGlobal(pos))
