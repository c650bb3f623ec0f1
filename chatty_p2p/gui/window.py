"""The main window: peers on the left, the conversation with the chosen one on the right.

Everything the window shows comes from node events and from ``bridge.call``
results; everything it does is a ``bridge.call``. It keeps no copy of the
node's state beyond its two models.
"""

from __future__ import annotations

import os
import shlex
import time
from functools import partial
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QPoint, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QDesktopServices,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeyEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListView,
    QMainWindow,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QSystemTrayIcon,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from chatty_p2p.events import (
    CopyToClipboard,
    MessageStatus,
    NameChanged,
    NewMessage,
    NodeEvent,
    NodeWarning,
    PairingChanged,
    TransferChanged,
    TransferOffered,
    TransferProgress,
)
from chatty_p2p.files.model import TransferInfo
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.conversation import ConversationView
from chatty_p2p.gui.dialogs import OfferDialog, PairDialog, Settings, SettingsDialog
from chatty_p2p.gui.doctor import DoctorDialog
from chatty_p2p.gui.models import ConversationModel, ItemRole, Notice, PeerModel
from chatty_p2p.gui.peers import PeerDelegate
from chatty_p2p.gui.share import ShareDialog
from chatty_p2p.identity import short_id
from chatty_p2p.links import is_safe_url
from chatty_p2p.net.addresses import parse_address
from chatty_p2p.node import Node, Peer
from chatty_p2p.store import StoredMessage
from chatty_p2p.trust import PairingInfo

HELP = [
    "/help — this list",
    "/nick NAME — rename this device",
    "/send PATH… — send files or folders (or drop them here)",
    "/link URL — send a link",
    "/peers — list peers",
    "/history — reload this conversation",
    "Enter sends, Shift+Enter starts a new line; select several peers to send to all.",
]


class MessageInput(QPlainTextEdit):
    """Enter sends, Shift+Enter adds a line."""

    submitted = Signal(str)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            text = self.toPlainText()
            if text.strip():
                self.submitted.emit(text)
                self.clear()
            return
        super().keyPressEvent(event)


class MainWindow(QMainWindow):
    def __init__(self, bridge: NodeBridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.me: dict[str, object] = {}
        self.current: str | None = None
        self.offers: dict[str, OfferDialog] = {}
        self.pairings: dict[str, PairDialog] = {}
        self.setWindowTitle("Chatty")
        self.resize(980, 640)

        self.peers = PeerModel(self)
        self.peer_view = QListView()
        self.peer_view.setModel(self.peers)
        self.peer_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.peer_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.peer_view.customContextMenuRequested.connect(self._peer_menu)
        self.peer_view.selectionModel().currentChanged.connect(self._on_current)
        self.peer_view.setItemDelegate(PeerDelegate(self.peer_view))
        add_button = QPushButton("Add peer by address…")
        add_button.clicked.connect(self.add_peer_dialog)
        why = QPushButton("Can't see your peer?")
        why.setFlat(True)
        why.clicked.connect(self.doctor_dialog)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(QLabel("<b>Peers</b>"))
        left_layout.addWidget(self.peer_view)
        left_layout.addWidget(add_button)
        left_layout.addWidget(why)

        self.header = QLabel("Choose a peer on the left")
        self.pair_button = QPushButton("Pair…")
        self.pair_button.setToolTip("Compare a code with this peer, so no one can pose as it")
        self.pair_button.clicked.connect(lambda: self.current and self.pair(self.current))
        self.pair_button.hide()
        header_row = QHBoxLayout()
        header_row.addWidget(self.header, 1)
        header_row.addWidget(self.pair_button)
        self.conversation = ConversationModel(self)
        self.view = ConversationView()
        self.view.setModel(self.conversation)
        self.view.link_clicked.connect(self.open_link)
        self.view.card_action.connect(self._on_card_action)
        self.input = MessageInput()
        self.input.setPlaceholderText("Message, or /help")
        self.input.setFixedHeight(64)
        self.input.submitted.connect(self.submit)
        attach = QToolButton()
        attach.setText("Attach")
        attach.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(attach)
        menu.addAction("Files…", self.attach_files)
        menu.addAction("Folder…", self.attach_folder)
        menu.addAction("Clipboard text", self.send_clipboard)
        attach.setMenu(menu)
        send = QPushButton("Send")
        send.clicked.connect(lambda: self.input.submitted.emit(self.input.toPlainText()))
        send.clicked.connect(self.input.clear)
        row = QHBoxLayout()
        row.addWidget(attach)
        row.addWidget(self.input)
        row.addWidget(send)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addLayout(header_row)
        right_layout.addWidget(self.view)
        right_layout.addLayout(row)

        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([260, 720])
        self.setCentralWidget(splitter)
        settings = QAction("Settings…", self)
        settings.triggered.connect(self.settings_dialog)
        share = QAction("Share with a browser…", self)
        share.triggered.connect(lambda: self.share_with_browser())
        share_folder = QAction("Share a folder with a browser…", self)
        share_folder.triggered.connect(self.share_folder_with_browser)
        doctor = QAction("Why can't I see my peer?", self)
        doctor.triggered.connect(self.doctor_dialog)
        self.menuBar().addMenu("&Chatty").addActions([share, share_folder, doctor, settings])
        self.share_dialog: ShareDialog | None = None
        self.doctor: DoctorDialog | None = None
        for target in (self.view.viewport(), self.peer_view.viewport()):
            target.setAcceptDrops(True)
            target.installEventFilter(self)
        self.tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            icon = self.style().standardIcon(QStyle.StandardPixmap.SP_ComputerIcon)
            self.tray = QSystemTrayIcon(QIcon(icon), self)
            self.tray.activated.connect(self._raise_window)
            self.tray.show()

        # The bridge goes with the window: a signal left connected from a longer-lived
        # bridge to a deleted window corrupts memory at exit (seen as SIGABRT).
        bridge.setParent(self)
        bridge.node_event.connect(self.on_event)
        bridge.ready.connect(self.on_ready)
        bridge.failed.connect(self.show_error)

    def _raise_window(self) -> None:
        self.showNormal()
        self.activateWindow()

    # ----- node to window ----------------------------------------------------

    def on_ready(self, info: dict[str, object]) -> None:
        self.me = info
        self.setWindowTitle(f"Chatty — {info['name']}")
        self.bridge.call(lambda n: n.peers(), self.peers.reset)

    def on_event(self, event: NodeEvent) -> None:
        if event.peer is not None and not isinstance(event, NodeWarning | MessageStatus):
            self.peers.upsert(event.peer)
            if event.peer.id == self.current:
                self._show_header(event.peer)
        match event:
            case NewMessage(message=message) | MessageStatus(message=message):
                incoming = isinstance(event, NewMessage) and not message.outgoing
                if message.peer_id == self.current:
                    self.conversation.add(message)
                    self.view.scrollToBottom()
                elif incoming:
                    self.peers.set_unread(message.peer_id, add=1)
                if incoming:
                    self.notify(f"{event.peer.name}", message.body)
            case TransferChanged() | TransferOffered() | TransferProgress():
                self._on_transfer(event, event.transfer)
            case PairingChanged():
                self._on_pairing(event.pairing)
            case CopyToClipboard():
                QGuiApplication.clipboard().setText(event.text)
                self.statusBar().showMessage(
                    "Copied text from a paired peer to the clipboard", 5000
                )
            case NodeWarning():
                self.show_error(event.text)
            case NameChanged():
                self.me["name"] = event.text
                self.setWindowTitle(f"Chatty — {event.text}")

    def _on_transfer(self, event: NodeEvent, t: TransferInfo) -> None:
        if t.peer_id == self.current:
            self.conversation.add(t)
            if not isinstance(event, TransferProgress):
                self.view.scrollToBottom()
        if isinstance(event, TransferOffered):
            self.notify(f"Files from {t.peer_name}", t.summary)
            at = self.peers.row_of(t.peer_id)
            trusted = at is not None and self.peers.peer(at).trust == "trusted"
            dialog = OfferDialog(t, trusted, self)
            dialog.accepted.connect(lambda: self.answer(t, True))
            dialog.rejected.connect(lambda: self.answer(t, False))
            self.offers[t.id] = dialog
            dialog.open()
        elif t.id in self.offers and t.state != "offered":
            self.offers.pop(t.id).done(0)
        if isinstance(event, TransferChanged) and t.state in ("failed", "declined") and t.outgoing:
            self.show_error(f"Sending to {t.peer_name}: {t.error or t.state}")

    def _on_pairing(self, info: PairingInfo) -> None:
        dialog = self.pairings.get(info.peer_id)
        if dialog is None and info.state == "compare" and not info.initiator:
            self.notify(f"{info.peer_name} asks to pair", f"Code {info.code}")
            dialog = self._pair_dialog(info)
        if dialog is not None:
            dialog.update_from(info)
            if info.state in ("paired", "failed"):
                self.pairings.pop(info.peer_id, None)

    def _pair_dialog(self, info: PairingInfo) -> PairDialog:
        dialog = PairDialog(info, self)
        peer_id = info.peer_id
        dialog.match_button.clicked.connect(
            lambda: self.bridge.call(lambda n: n.confirm_pairing(peer_id), error=self.show_error)
        )
        dialog.differ_button.clicked.connect(lambda: self._reject_pairing(dialog))
        dialog.rejected.connect(lambda: self._reject_pairing(dialog))
        self.pairings[peer_id] = dialog
        dialog.open()
        return dialog

    def _reject_pairing(self, dialog: PairDialog) -> None:
        """ "They don't match", or the dialog closed while the pairing still ran."""
        if self.pairings.get(dialog.peer_id) is dialog:
            self.pairings.pop(dialog.peer_id)
            peer_id = dialog.peer_id
            self.bridge.call(lambda n: n.reject_pairing(peer_id), error=lambda _: None)
        dialog.close()

    def pair(self, peer_id: str) -> None:
        """Start pairing (or show the one running) and put the code on screen."""
        if peer_id in self.pairings:
            self.pairings[peer_id].raise_()
            return
        self.bridge.call(lambda n: n.pair(peer_id), self._on_pair_started, self.show_error)

    def _on_pair_started(self, info: PairingInfo) -> None:
        dialog = self.pairings.get(info.peer_id) or self._pair_dialog(info)
        dialog.update_from(info)

    # ----- window to node ----------------------------------------------------

    def _on_current(self) -> None:
        index = self.peer_view.currentIndex()
        if not index.isValid():
            return
        peer: Peer = index.data(ItemRole)
        self.current = peer.id
        self.peers.set_unread(peer.id, unread=0)
        self._show_header(peer)
        peer_id = peer.id
        self.bridge.call(
            lambda n: (n.history(peer_id), n.transfers()),
            lambda result: self._loaded(peer_id, result),
        )

    def _show_header(self, peer: Peer) -> None:
        colour = {"trusted": "#1a7f37", "blocked": "#cf222e"}.get(peer.trust, "#9a6700")
        trust = "key changed!" if peer.conflict else peer.trust
        self.header.setText(
            f"<b>{peer.name}</b> &nbsp; <span style='color:#57606a'>{peer.state} · "
            f"<span style='color:{colour}'>{trust}</span> · {short_id(peer.id)}</span>"
        )
        self.pair_button.setVisible(peer.trust != "trusted" and peer.trust != "blocked")

    def _loaded(self, peer_id: str, result: tuple[list[StoredMessage], list[TransferInfo]]) -> None:
        if peer_id == self.current:
            self.conversation.load(peer_id, *result)
            self.view.scrollToBottom()

    def targets(self) -> list[str]:
        """The selected peers (send to several), or the one being viewed."""
        rows = self.peer_view.selectionModel().selectedRows()
        chosen = [self.peers.peer(i.row()).id for i in rows]
        if not chosen and self.current:
            chosen = [self.current]
        return chosen

    def submit(self, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if text.startswith("/"):
            self.command(text)
            return
        self.send_text(text, "text")

    def send_text(self, text: str, kind: str) -> None:
        """To every selected peer: sending to several is one Enter."""
        targets = self.targets()
        if not targets:
            self.show_error("Choose a peer first")
        for peer_id in targets:
            self.bridge.call(partial(Node.send_text, peer_id=peer_id, text=text, kind=kind))

    def send_clipboard(self) -> None:
        """The clipboard's text to the chosen peers in one action (links stay links)."""
        text = QGuiApplication.clipboard().text()
        if not text.strip():
            self.show_error("The clipboard holds no text")
            return
        self.send_text(text, "link" if is_safe_url(text.strip()) else "text")

    def command(self, line: str) -> None:
        name, _, rest = line.partition(" ")
        rest = rest.strip()
        match name:
            case "/help":
                for text in HELP:
                    self.notice(text)
            case "/nick" if rest:
                self.bridge.call(lambda n: n.set_name(rest))
            case "/send" if rest:
                self.send_paths([Path(p).expanduser() for p in shlex.split(rest)])
            case "/link" if rest:
                self.send_text(rest, "link")
            case "/peers":
                for row in range(self.peers.rowCount()):
                    peer = self.peers.peer(row)
                    self.notice(f"{peer.name} ({short_id(peer.id)}): {peer.state}")
            case "/history":
                self._on_current()
            case _:
                self.notice(f"Unknown or incomplete command {name}; /help lists them")

    def notice(self, text: str) -> None:
        self.conversation.add(Notice(text, time.time()))
        self.view.scrollToBottom()

    def send_paths(self, paths: list[Path], targets: list[str] | None = None) -> None:
        for peer_id in targets or self.targets():
            self.bridge.call(partial(Node.send_files, peer_id=peer_id, paths=paths))

    def attach_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Send files")
        if files:
            self.send_paths([Path(f) for f in files])

    def attach_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Send a folder")
        if folder:
            self.send_paths([Path(folder)])

    def answer(self, t: TransferInfo, accept: bool) -> None:
        self.offers.pop(t.id, None)
        self.bridge.call(lambda n: n.accept(t.id) if accept else n.decline(t.id))

    def _on_card_action(self, t: TransferInfo, label: str) -> None:
        match label:
            case "Accept" | "Decline":
                if t.id in self.offers:
                    self.offers.pop(t.id).done(0)
                self.answer(t, label == "Accept")
            case "Cancel":
                self.bridge.call(lambda n: n.cancel(t.id))
            case "Open" if t.saved:
                QDesktopServices.openUrl(QUrl.fromLocalFile(t.saved[0]))
            case "Show in folder":
                folder = os.path.dirname(t.saved[0]) if t.saved else t.folder
                QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def open_link(self, url: str) -> None:
        if is_safe_url(url):
            QDesktopServices.openUrl(QUrl(url))

    def add_peer_dialog(self) -> None:
        text, ok = QInputDialog.getText(
            self, "Add peer", "Address of the other machine (host:port, as its Chatty shows):"
        )
        if ok and text.strip():
            pair = parse_address(text.strip())
            if pair is None:
                self.show_error(f"Not an address: {text!r} (expected host:port)")
                return
            self.bridge.call(lambda n: n.add_peer(*pair), lambda peer: self.peers.upsert(peer))

    def share_with_browser(self, paths: list[Path] | None = None, host: str = "") -> None:
        """For a phone without Chatty: files at a one-time address (see ``share``)."""
        if paths is None:
            chosen, _ = QFileDialog.getOpenFileNames(self, "Files to share with a browser")
            paths = [Path(p) for p in chosen]
        if not paths:
            return
        if self.share_dialog is not None:
            self.share_dialog.reject()
        self.share_dialog = ShareDialog(self.bridge, paths, host, self)
        self.share_dialog.show()

    def share_folder_with_browser(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to share with a browser")
        if folder:
            self.share_with_browser([Path(folder)])

    def doctor_dialog(self) -> None:
        if self.doctor is None:
            self.doctor = DoctorDialog(self.bridge, self)
        else:
            self.doctor.check()
        self.doctor.show()
        self.doctor.raise_()

    def settings_dialog(self) -> None:
        def show(current: Settings) -> None:
            dialog = SettingsDialog(current, self)
            if dialog.exec():
                # Read the widgets here, on the GUI thread: the lambda runs on the node's
                # thread, where touching them crashed the app (a segfault on X11).
                chosen = dialog.result_settings()
                self.bridge.call(lambda n: _apply_settings(n, chosen))

        self.bridge.call(_read_settings, show)

    def _peer_menu(self, pos: QPoint) -> None:
        index = self.peer_view.indexAt(pos)
        if not index.isValid():
            return
        peer: Peer = index.data(ItemRole)
        menu = QMenu(self)
        if peer.trust == "trusted":
            menu.addAction("Unpair", lambda: self.bridge.call(lambda n: n.unpair(peer.id)))
        elif peer.trust != "blocked":
            menu.addAction("Pair…", lambda: self.pair(peer.id))
        blocked = peer.trust == "blocked"
        menu.addAction(
            "Unblock" if blocked else "Block",
            lambda: self.bridge.call(lambda n: n.block(peer.id, not blocked)),
        )
        menu.addAction("Forget", lambda: self.bridge.call(lambda n: n.forget(peer.id)))
        menu.popup(self.peer_view.viewport().mapToGlobal(pos))

    # ----- drag and drop, notifications, errors ------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """PySide hands each event over as its own class, so ``isinstance`` both picks
        the drag events out and tells mypy what they are."""
        if isinstance(event, QDragMoveEvent):  # a QDragEnterEvent is one too
            if event.mimeData().hasUrls():
                event.acceptProposedAction()
                return True
        elif isinstance(event, QDropEvent):  # the drop itself: the drags were caught above
            paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
            if paths:
                targets = None
                if watched is self.peer_view.viewport():
                    index = self.peer_view.indexAt(event.position().toPoint())
                    targets = [index.data(ItemRole).id] if index.isValid() else None
                self.send_paths(paths, targets)
                event.acceptProposedAction()
                return True
        return super().eventFilter(watched, event)

    def notify(self, title: str, text: str) -> None:
        if self.tray is not None and not self.isActiveWindow():
            self.tray.showMessage(title, text[:200])

    def show_error(self, text: str) -> None:
        self.statusBar().showMessage(text, 10_000)
        if self.current is not None:
            self.notice(text)


def _read_settings(node: Node) -> Settings:
    return Settings(
        name=node.name,
        download_dir=str(node.download_dir()),
        auto_accept_trusted=node.auto_accept_trusted,
        start_minimised=node.start_minimised,
        trusted_only=node.trusted_only,
        auto_copy_trusted=node.auto_copy_trusted,
    )


async def _apply_settings(node: Node, settings: Settings) -> None:
    if settings.name and settings.name != node.name:
        await node.set_name(settings.name)
    if settings.download_dir:
        node.set_download_dir(Path(settings.download_dir))
    node.set_auto_accept_trusted(settings.auto_accept_trusted)
    node.set_auto_copy_trusted(settings.auto_copy_trusted)
    if settings.trusted_only != node.trusted_only:
        node.set_trusted_only(settings.trusted_only)
    node.set_start_minimised(settings.start_minimised)
