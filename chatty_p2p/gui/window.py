"""The main window: peers on the left, the conversation with the chosen one on the right.

Everything the window shows comes from node events and from ``bridge.call``
results; everything it does is a ``bridge.call``. It keeps no copy of the
node's state beyond its two models.

This module assembles the parts and routes the node's events to them; each part is a
module of its own: the peer list (``peer_pane``), the line above the conversation
(``header``), the send bar (``composer``) and its slash commands (``commands``), the
Chatty menu (``menus``), offers and card buttons (``transfers``), the Transfers panel
(``transfers_panel``: View → Transfers, Ctrl+T), pairing (``pairing``) and the tray icon
(``tray``). They import none of this, and tell the
window what happened through signals.

With a tray, closing the window (or Ctrl+W, or Esc) only hides it: the node keeps
receiving, and notifications come from the tray until the window is back. Ctrl+Q and
the tray's Quit quit. With no tray, closing quits, as it always did.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, Qt, QUrl
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDesktopServices,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QKeyEvent,
    QKeySequence,
)
from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter, QVBoxLayout, QWidget

from chatty_p2p.events import (
    CopyToClipboard,
    MessageStatus,
    NameChanged,
    NewMessage,
    NodeEvent,
    NodeWarning,
    PairingChanged,
    StoredMessage,
    TransferChanged,
    TransferInfo,
    TransferOffered,
    TransferProgress,
)
from chatty_p2p.gui import commands
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.composer import Composer
from chatty_p2p.gui.conversation import ConversationView
from chatty_p2p.gui.header import ConversationHeader
from chatty_p2p.gui.menus import ChattyMenu
from chatty_p2p.gui.models import ConversationModel, ItemRole, Notice, PeerModel
from chatty_p2p.gui.notify import DesktopNotifier, Note
from chatty_p2p.gui.pairing import Pairings
from chatty_p2p.gui.peer_pane import PeerPane, where_am_i
from chatty_p2p.gui.transfers import TransferActions
from chatty_p2p.gui.transfers_panel import TransfersPanel
from chatty_p2p.gui.tray import Tray
from chatty_p2p.links import is_safe_url
from chatty_p2p.node import Node, Peer


class MainWindow(QMainWindow):
    def __init__(self, bridge: NodeBridge) -> None:
        super().__init__()
        self.bridge = bridge
        self.me: dict[str, object] = {}
        self.current: str | None = None
        self.setWindowTitle("Chatty")
        self.resize(980, 640)

        self.peers = PeerModel(self)
        self.peer_pane = PeerPane(self.peers, bridge)
        self.peer_view = self.peer_pane.view
        self.header = ConversationHeader()
        self.conversation = ConversationModel(self)
        self.view = ConversationView()
        self.view.setModel(self.conversation)
        self.composer = Composer()
        self.input = self.composer.input
        self.transfers = TransferActions(bridge, self.peers, self)
        self.pairings = Pairings(bridge, self)
        self.transfers_panel = TransfersPanel(bridge, self)
        self._lay_out()
        # Made now, not at the first message: one that appears later pushes the
        # buttons above it up, and the next click lands on something else.
        self.statusBar()
        self.menu = ChattyMenu(self, bridge)
        self.transfers_action = self._transfers_menu()
        self._connect_parts()
        for target in (self.view.viewport(), self.peer_view.viewport()):
            target.setAcceptDrops(True)
            target.installEventFilter(self)
        self.quitting = False
        self.tray = Tray(bridge, self.peers, self) if Tray.available() else None
        self.notifier = DesktopNotifier(self)
        self.notifier.opened.connect(self.show_on)
        self.notifier.answered.connect(self.transfers.answer_id)
        self._connect_tray()

        # The bridge goes with the window: a signal left connected from a longer-lived
        # bridge to a deleted window corrupts memory at exit (seen as SIGABRT).
        bridge.setParent(self)
        bridge.node_event.connect(self.on_event)
        bridge.ready.connect(self.on_ready)
        bridge.failed.connect(self.show_error)

    def _lay_out(self) -> None:
        """The peer pane on the left; header, conversation and send bar on the right."""
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.header)
        right_layout.addWidget(self.view)
        right_layout.addWidget(self.composer)
        splitter = QSplitter()
        splitter.addWidget(self.peer_pane)
        splitter.addWidget(right)
        splitter.setSizes([260, 720])
        self.setCentralWidget(splitter)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.transfers_panel)
        self.transfers_panel.hide()

    def _transfers_menu(self) -> QAction:
        """View → Transfers (Ctrl+T): opens the panel, or closes it from inside it."""
        action = QAction("Transfers", self)
        action.setShortcut(QKeySequence("Ctrl+T"))
        action.triggered.connect(self.toggle_transfers)
        self.menuBar().addMenu("&View").addAction(action)
        return action

    def _connect_parts(self) -> None:
        self.peer_view.selectionModel().currentChanged.connect(self.open_conversation)
        self.peer_view.selectionModel().selectionChanged.connect(self.show_header)
        self.peers.modelReset.connect(self._keep_current)
        self.peer_pane.pair_requested.connect(self.pairings.pair)
        self.peer_pane.doctor_requested.connect(self.menu.doctor_dialog)
        self.peer_pane.status.connect(self.statusBar().showMessage)
        self.header.pair_clicked.connect(self._pair_current)
        self.view.link_clicked.connect(self.open_link)
        self.view.card_action.connect(self.transfers.card_action)
        self.transfers_panel.action_requested.connect(self.transfers.card_action)
        self.composer.submitted.connect(self.submit)
        self.composer.paths_chosen.connect(self.send_paths)
        self.composer.clipboard_chosen.connect(self.send_clipboard)
        # Offers are announced here, with their peer (see ``_on_transfer``), not
        # through the transfer part's notify, which does not say whose they are.
        self.pairings.notify.connect(self.notify)
        for part in (self.transfers, self.pairings):
            part.failed.connect(self.show_error)

    def _connect_tray(self) -> None:
        """Ctrl+W hides to the tray (closes, with none), Ctrl+Q quits; the tray's
        menu and its notifications come back here."""
        # Named, not the platform's standard keys: some platforms bind Quit to none.
        for keys, slot in (("Ctrl+W", self.close), ("Ctrl+Q", self.quit)):
            action = QAction(self)
            action.setShortcut(QKeySequence(keys))
            action.triggered.connect(slot)
            self.addAction(action)
        if self.tray is None:
            return
        self.tray.open_requested.connect(self.show_on)
        self.tray.toggle_requested.connect(self.toggle)
        self.tray.send_requested.connect(lambda paths, peer_id: self.send_paths(paths, [peer_id]))
        self.tray.transfers_requested.connect(self.show_transfers)
        self.tray.quit_requested.connect(self.quit)

    # ----- the tray: hide, show, quit ----------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.tray is None or self.quitting:
            super().closeEvent(event)
            return
        event.ignore()
        self.hide_to_tray()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        """Esc that no part of the window took (a dialog has its own) hides to the tray."""
        if event.key() == Qt.Key.Key_Escape and self.tray is not None:
            self.hide_to_tray()
        else:
            super().keyPressEvent(event)

    def hide_to_tray(self) -> None:
        assert self.tray is not None
        self.hide()
        self.tray.tell_once()

    def show_on(self, peer_id: str = "") -> None:
        """Show and raise the window, on ``peer_id``'s conversation if one is given."""
        self.showNormal()
        self.raise_()
        self.activateWindow()
        self.transfers.show_waiting()
        self.pairings.show_waiting()
        row = self.peers.row_of(peer_id) if peer_id else None
        if row is not None:
            self.peer_view.setCurrentIndex(self.peers.index(row))

    def toggle(self) -> None:
        if self.isVisible() and not self.isMinimized():
            self.hide_to_tray()
        else:
            self.show_on()

    def show_transfers(self) -> None:
        """The window, with the Transfers panel open and its list focused."""
        self.show_on()
        self.transfers_panel.open_and_focus()

    def toggle_transfers(self) -> None:
        panel = self.transfers_panel
        focused = QApplication.focusWidget()
        if panel.isVisible() and focused is not None and panel.isAncestorOf(focused):
            panel.hide()
        else:
            self.show_transfers()

    def quit(self) -> None:
        """Quit Chatty (the app's ``run`` stops the node once the event loop ends)."""
        self.quitting = True
        self.close()
        self.notifier.stop()
        QApplication.quit()

    # ----- node to window ----------------------------------------------------

    def on_ready(self, info: dict[str, object]) -> None:
        self.me = info
        self.setWindowTitle(f"Chatty — {info['name']}")
        self.bridge.call(lambda n: n.peers(), self.peers.reset)
        self.bridge.call(where_am_i, self.peer_pane.show_where)
        self.transfers_panel.load()

    def on_event(self, event: NodeEvent) -> None:
        if event.peer is not None and not isinstance(event, NodeWarning | MessageStatus):
            self.peers.upsert(event.peer)
            if event.peer.id == self.current or event.peer.id in self.targets():
                self.show_header()
        match event:
            case NewMessage(message=message) | MessageStatus(message=message):
                incoming = isinstance(event, NewMessage) and not message.outgoing
                if message.peer_id == self.current:
                    self.conversation.add(message)
                    self.view.scrollToBottom()
                elif incoming:
                    self.peers.set_unread(message.peer_id, add=1)
                if incoming:
                    self.notify(f"{event.peer.name}", message.body, message.peer_id)
            case TransferChanged() | TransferOffered() | TransferProgress():
                self._on_transfer(event)
            case PairingChanged():
                self.pairings.on_pairing(event.pairing)
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
                self.bridge.call(where_am_i, self.peer_pane.show_where)

    def _on_transfer(self, event: TransferChanged | TransferOffered | TransferProgress) -> None:
        t = event.transfer
        if t.peer_id == self.current:
            self.conversation.add(t)
            if not isinstance(event, TransferProgress):
                self.view.scrollToBottom()
        self.transfers.on_event(event)
        self.transfers_panel.on_event(event)
        if isinstance(event, TransferOffered):
            self.notify(f"Files from {t.peer_name}", t.summary, t.peer_id, t.id)
        elif isinstance(event, TransferChanged) and t.state == "done":
            done = f"Sent to {t.peer_name}" if t.outgoing else f"Received from {t.peer_name}"
            self.notify(done, t.summary, t.peer_id)

    # ----- window to node ----------------------------------------------------

    def open_conversation(self) -> None:
        """Show the current peer's conversation, loaded afresh from the node."""
        index = self.peer_view.currentIndex()
        if not index.isValid():
            return
        peer: Peer = index.data(ItemRole)
        selection = self.peer_view.selectionModel()
        if not selection.hasSelection():
            # Qt makes a row current with none selected (at start-up, on focus): the
            # open conversation's row is then shown chosen, not left plain.
            selection.select(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.current = peer.id
        self.peers.set_unread(peer.id, unread=0)
        self.show_header()
        peer_id = peer.id
        self.bridge.call(
            lambda n: (n.history(peer_id), n.transfers()),
            lambda result: self._loaded(peer_id, result),
        )

    def _keep_current(self) -> None:
        """After the list is loaded afresh (a reset drops the view's current row and
        selection), the open conversation's row is current and chosen again: at
        start-up the node's list arrives after a peer's first event opened one, and
        the conversation stayed open with no row shown chosen."""
        row = self.peers.row_of(self.current) if self.current else None
        if row is not None:
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
            self.peer_view.selectionModel().setCurrentIndex(self.peers.index(row), flags)

    def show_header(self) -> None:
        """The header for what a line typed now goes to: the selected peers when there
        are several, else the peer whose conversation is open (the model's snapshot)."""
        chosen = self.peer_pane.selected_peers()
        if len(chosen) > 1:
            self.header.show_group(chosen)
            return
        row = self.peers.row_of(self.current) if self.current else None
        if row is not None:
            self.header.show_peer(self.peers.peer(row))

    def _loaded(self, peer_id: str, result: tuple[list[StoredMessage], list[TransferInfo]]) -> None:
        if peer_id == self.current:
            self.conversation.load(peer_id, *result)
            self.view.scrollToBottom()

    def _pair_current(self) -> None:
        if self.current:
            self.pairings.pair(self.current)

    def targets(self) -> list[str]:
        """The selected peers (send to several), or the one being viewed."""
        chosen = self.peer_pane.selected_ids()
        if not chosen and self.current:
            chosen = [self.current]
        return chosen

    def submit(self, text: str) -> None:
        """A line typed: a slash command, or a message to the chosen peers. The box is
        emptied once the line is taken; with no peer chosen it keeps what was typed,
        and says why, so nothing is lost."""
        line = text.strip()
        if not line:
            return
        if line.startswith("/"):
            commands.run(line, self)
        elif not self.send_text(line, "text"):
            return
        self.composer.clear()

    def send_text(self, text: str, kind: str) -> bool:
        """To every selected peer: sending to several is one Enter. False if no peer
        is chosen (said in the status bar)."""
        targets = self.targets()
        if not targets:
            self.show_error("Choose a peer first")
        for peer_id in targets:
            self.bridge.call(partial(Node.send_text, peer_id=peer_id, text=text, kind=kind))
        return bool(targets)

    def send_clipboard(self) -> None:
        """The clipboard's text to the chosen peers in one action (links stay links)."""
        text = QGuiApplication.clipboard().text()
        if not text.strip():
            self.show_error("The clipboard holds no text")
            return
        self.send_text(text, "link" if is_safe_url(text.strip()) else "text")

    def send_paths(self, paths: list[Path], targets: list[str] | None = None) -> None:
        for peer_id in targets or self.targets():
            self.transfers.send(paths, peer_id)

    def open_link(self, url: str) -> None:
        if is_safe_url(url):
            QDesktopServices.openUrl(QUrl(url))

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

    def notice(self, text: str) -> None:
        self.conversation.add(Notice(text, time.time()))
        self.view.scrollToBottom()

    def notify(self, title: str, text: str, peer_id: str = "", offer_id: str = "") -> None:
        """While the window is hidden or in the background: through the desktop's
        notification service (an offer with Accept and Decline), else from the tray.
        Clicking it opens the window on ``peer_id``."""
        if self.isActiveWindow():
            return
        if self.notifier.notify(Note(title, text, peer_id, offer_id)):
            return
        if self.tray is not None:
            self.tray.notify(title, text, peer_id)

    def show_error(self, text: str) -> None:
        self.statusBar().showMessage(text, 10_000)
        if self.current is not None:
            self.notice(text)
