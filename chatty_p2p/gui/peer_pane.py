"""The left side of the window: the list of peers, "Add peer by address…", "Can't see
your peer?", and each peer's context menu (pair, unpair, block, forget; the menu key
opens it on the current row). Block and Forget ask first.

What happens to a peer from here is one ``bridge.call``; what the window must do
itself (start pairing, open the doctor, say something in the status bar) goes out as a
signal, so the pane never imports the window.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QInputDialog,
    QLabel,
    QListView,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chatty_p2p.api import format_address, parse_address
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.models import ItemRole, PeerModel
from chatty_p2p.gui.peers import PeerDelegate
from chatty_p2p.node import Node, Peer

CONSEQUENCES = {
    "Block": "It can no longer connect, send messages or offer files, until you unblock it.",
    "Forget": "Chatty drops its key and any pairing with it; it shows again as a new, "
    "unverified device when it is next seen.",
}
"""What Block and Forget do, said before the user says yes."""
REPAINT_MS = 30_000
DONE_MS = 5_000
ERROR_MS = 10_000

Where = tuple[str, int, list[tuple[str, tuple[str, ...]]]]
"""This device as the empty list tells it: its name, its port, and each interface it
looks for devices on (its name and addresses)."""


def where_am_i(node: Node) -> Where:
    """On the node's thread: the node's name and port and the interfaces it announces
    itself on (``--interface``, or every usable one). Plain values only."""
    return node.name, node.port, node.looking_on()


def interface_words(name: str) -> str:
    """ "Wi-Fi", "Ethernet" for the usual names; the name itself otherwise."""
    if name.startswith(("wl", "wlan", "wifi")):
        return "Wi-Fi"
    if name.startswith(("en", "eth")):
        return "Ethernet"
    if name == "lo":
        return "this machine only"
    return name


def best_address(addresses: tuple[str, ...]) -> str:
    """The address a person would type: the first IPv4 one, else the first."""
    v4 = [a for a in addresses if ":" not in a]
    return (v4 or list(addresses) or [""])[0]


def looking_words(where: Where | None) -> str:
    """What the empty list says: where it looks, and this device's name and address."""
    if where is None:
        return "Looking for devices…"
    name, port, interfaces = where
    places = [f"{interface_words(n)} ({best_address(a)})" for n, a in interfaces if a]
    if not places:
        return f"No network to look on. This device is {name}, port {port}."
    shown = ", ".join(places[:3]) + (" and more" if len(places) > 3 else "")
    first = best_address(interfaces[0][1]) if interfaces[0][1] else ""
    reach = format_address(first, port) if first else f"port {port}"
    return f"Looking for devices on {shown}…\nThis device: {name}, at {reach}"


class PeerPane(QWidget):
    pair_requested = Signal(str)
    """Pair… chosen in a peer's menu (its id)."""
    doctor_requested = Signal()
    status = Signal(str, int)
    """A line for the status bar and for how long (ms, 0: until the next), about
    nothing in any conversation: "Add peer by address…"'s progress and outcome."""

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
        self.view.setAccessibleName("Peers")
        self.view.setAccessibleDescription(
            "Each row says the device's name and type, where it is and whether it is paired"
        )
        self._ticker = QTimer(self)
        """Paints the rows again now and then, so "last seen 5 min ago" stays true."""
        self._ticker.timeout.connect(self.view.viewport().update)
        self._ticker.start(REPAINT_MS)
        self.add_button = add_button = QPushButton("Add peer by address…")
        add_button.setAccessibleName("Add a peer by its address")
        add_button.clicked.connect(self.add_peer_dialog)
        why = QPushButton("Can't see your peer?")
        why.setAccessibleName("Can't see your peer? Check this device's network")
        why.setFlat(True)
        why.clicked.connect(self.doctor_requested)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("<b>Peers</b>"))
        layout.addWidget(self.view)
        self.empty = QLabel(looking_words(None))
        """Said while the list is empty: where Chatty looks, and this device's address."""
        self.empty.setWordWrap(True)
        self.empty.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty.setAccessibleName("No devices yet")
        layout.addWidget(self.empty)
        for changed in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            changed.connect(self._show_empty)
        layout.addWidget(add_button)
        layout.addWidget(why)

    def show_where(self, where: Where) -> None:
        """What the empty list says, once the node told where it looks."""
        self.empty.setText(looking_words(where))
        self._show_empty()

    def _show_empty(self) -> None:
        self.empty.setVisible(self.model.rowCount() == 0)

    def selected_peers(self) -> list[Peer]:
        """The selected peers, in the list's order."""
        rows = sorted(i.row() for i in self.view.selectionModel().selectedRows())
        return [self.model.peer(row) for row in rows]

    def selected_ids(self) -> list[str]:
        return [p.id for p in self.selected_peers()]

    def add_peer_dialog(self) -> None:
        text, ok = QInputDialog.getText(
            self, "Add peer", "Address of the other machine (host:port, as its Chatty shows):"
        )
        if ok and text.strip():
            self.add_peer(text.strip())

    def add_peer(self, text: str) -> None:
        """Dial ``text`` (host:port): "Connecting to …" in the status bar meanwhile, the
        button off so it is not dialled twice, then the outcome there too. Its error
        belongs to no conversation, so it goes only to the status bar."""
        pair = parse_address(text)
        if pair is None:
            self.status.emit(f"Not an address: {text!r} (expected host:port)", ERROR_MS)
            return
        address = format_address(*pair)
        self.add_button.setEnabled(False)
        self.status.emit(f"Connecting to {address}…", 0)
        self.bridge.call(
            lambda n: n.add_peer(*pair),
            lambda added: self._added(address, added),
            lambda why: self._not_added(address, why),
        )

    def _added(self, address: str, peer: Peer) -> None:
        self.add_button.setEnabled(True)
        self.model.upsert(peer)
        self.status.emit(f"Added {peer.name} ({address})", DONE_MS)

    def _not_added(self, address: str, why: str) -> None:
        self.add_button.setEnabled(True)
        self.status.emit(f"Could not add {address}: {why or 'no answer'}", ERROR_MS)

    def _peer_menu(self, pos: QPoint) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        peer: Peer = index.data(ItemRole)
        if peer.via == "localsend":
            return  # no pairing, blocking or forgetting: the device is only heard, not kept
        menu = QMenu(self)
        if peer.trust == "trusted":
            menu.addAction("Unpair", lambda: self.bridge.call(lambda n: n.unpair(peer.id)))
        elif peer.trust != "blocked":
            menu.addAction("Pair…", lambda: self.pair_requested.emit(peer.id))
        if peer.trust == "blocked":
            menu.addAction("Unblock", lambda: self.bridge.call(lambda n: n.block(peer.id, False)))
        else:
            menu.addAction("Block…", lambda: self.block(peer))
        menu.addAction("Forget…", lambda: self.forget(peer))
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def block(self, peer: Peer) -> None:
        """Block, once the user said yes: nothing from the peer is taken any more."""
        peer_id = peer.id
        self._ask_then("Block", peer, lambda n: n.block(peer_id, True))

    def forget(self, peer: Peer) -> None:
        """Forget, once the user said yes: its pinned key and pairing go."""
        peer_id = peer.id
        self._ask_then("Forget", peer, lambda n: n.forget(peer_id))

    def _ask_then(self, verb: str, peer: Peer, work: Callable[[Node], object]) -> None:
        """``work`` on the node's thread, if the user answers Yes to "Block bravo?"."""
        yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
        question = f"{verb} {peer.name}? {CONSEQUENCES[verb]}"
        if QMessageBox.question(self, f"{verb} {peer.name}", question, yes | no, no) == yes:
            self.bridge.call(work)
