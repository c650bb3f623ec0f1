"""The tray icon: where Chatty lives while its window is closed.

Closing the window hides it here, and the node keeps receiving. The icon's menu opens
the window, sends files, pauses receiving (the node declines new offers meanwhile) and
quits; a click on the icon shows or hides the window. While the window is hidden, the
window's notifications come out of the icon, and clicking one opens the window on the
peer it was about.

Like the window's other parts, this one imports no window: it tells what was asked
through signals, and reaches the node through the bridge alone.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import (
    QFileDialog,
    QInputDialog,
    QMenu,
    QSystemTrayIcon,
    QWidget,
)

from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.models import PeerModel
from chatty_p2p.node import Node

TOLD = (
    "Chatty is still running",
    "Closing the window keeps Chatty receiving here; quit from this icon's menu.",
)
"""What the first close to the tray says, once: the node remembers that it was said."""
PAUSE = "Pause receiving"
RESUME = "Resume receiving"
"""The tray's pause item, as it reads while receiving and while paused."""


class Tray(QObject):
    open_requested = Signal(str)
    """Show the window; on this peer's conversation unless the id is ""."""
    toggle_requested = Signal()
    """The icon was clicked: show the window if hidden, hide it if shown."""
    send_requested = Signal(list, str)
    """Files (``Path``s) chosen from the menu, and the peer chosen for them."""
    transfers_requested = Signal()
    """Show the window with its Transfers panel open."""
    quit_requested = Signal()

    def __init__(self, bridge: NodeBridge, peers: PeerModel, parent: QWidget) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.peers = peers
        self.owner = parent
        self.about = ""
        """The peer the last notification was about: a click on it opens that one."""
        self.icon = QSystemTrayIcon(chatty_icon(), self)
        self.icon.setToolTip("Chatty")
        self.menu = QMenu(parent)
        self.open_action = self._item("Open", lambda: self.open_requested.emit(""))
        self.send_action = self._item("Send files…", self.send_files)
        self.transfers_action = self._item("Transfers", self.transfers_requested.emit)
        self.paused = False
        """Whether the node said receiving is paused (this run only)."""
        # Said in words, not as a tick: Fusion draws an unticked box in a dark menu
        # darker than the menu, so "Pause receiving" looked the same either way.
        self.pause_action = self._item(PAUSE, self._toggle_pause)
        self.menu.addSeparator()
        self.quit_action = self._item("Quit", self.quit_requested.emit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self.icon.messageClicked.connect(self._message_clicked)
        self._just_opened = False
        self.icon.show()

    @staticmethod
    def available() -> bool:
        """Whether the desktop has a tray for the icon; without one, closing quits."""
        return QSystemTrayIcon.isSystemTrayAvailable()

    def _item(self, text: str, slot: Callable[..., object]) -> QAction:
        action = QAction(text, self.menu)
        action.triggered.connect(slot)
        self.menu.addAction(action)
        return action

    def _message_clicked(self) -> None:
        """On X11 a click on the icon while a notification shows is both a click on
        the notification and on the icon (in that order): the window it opens must
        not be hidden again by the second."""
        self._just_opened = True
        QTimer.singleShot(0, lambda: setattr(self, "_just_opened", False))
        self.open_requested.emit(self.about)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger and not self._just_opened:
            self.toggle_requested.emit()

    def send_files(self) -> None:
        """Files first, then the peer, from the online ones (or all, when none is)."""
        chosen, _ = QFileDialog.getOpenFileNames(self.owner, "Files to send")
        if not chosen:
            return
        peers = [self.peers.peer(row) for row in range(self.peers.rowCount())]
        online = [p for p in peers if p.online] or peers
        if not online:
            self.notify("Chatty", "No peer to send to yet")
            return
        names = [p.name for p in online]
        name, ok = QInputDialog.getItem(
            self.owner, "Send files", f"Send {len(chosen)} file(s) to:", names, 0, False
        )
        if ok and name in names:
            self.send_requested.emit([Path(p) for p in chosen], online[names.index(name)].id)

    def _toggle_pause(self) -> None:
        """Ask the node for the other state, and show what it says (unchanged if it
        failed)."""
        self.bridge.call(
            partial(_set_paused, paused=not self.paused),
            self.show_paused,
            lambda reason: self.show_paused(self.paused),
        )

    def show_paused(self, paused: bool) -> None:
        self.paused = paused
        self.pause_action.setText(RESUME if paused else PAUSE)
        self.icon.setToolTip("Chatty (receiving paused)" if paused else "Chatty")

    def notify(self, title: str, text: str, peer_id: str = "") -> None:
        self.about = peer_id
        self.icon.showMessage(title, text[:200])

    def tell_once(self) -> None:
        """Say where Chatty went, the first time the window is closed to the tray."""

        def said(first: bool) -> None:
            if first:
                self.notify(*TOLD)

        self.bridge.call(_first_close, said)


def chatty_icon() -> QIcon:
    """Chatty's icon (the one ``chatty desktop install`` puts in the theme), from the
    package: the tray's and every window's."""
    svg = resources.files("chatty_p2p.desktop").joinpath("chatty.svg")
    with resources.as_file(svg) as path:
        return QIcon(str(path))


def _set_paused(node: Node, paused: bool) -> bool:
    node.set_receiving_paused(paused)
    return node.receiving_paused


def _first_close(node: Node) -> bool:
    """Whether the tray has not been explained yet; from now on it has."""
    first = not node.told_about_tray
    node.set_told_about_tray(True)
    return first
