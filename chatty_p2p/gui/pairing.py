"""Pairing on screen: the dialog with the code to compare, one per peer, whether this
device asked or the peer did.

The pairing itself runs in the node; this keeps track of which dialog shows which
pairing, so a second "Pair…" raises the running one and a dialog closed half way
tells the node to give up. What the window shows about it (a notification, an error)
goes out as a signal.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

from chatty_p2p.events import PairingInfo
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.dialogs import PairDialog


class Pairings(QObject):
    notify = Signal(str, str)
    """(title, text) for the tray, when a peer asks to pair."""
    failed = Signal(str)

    def __init__(self, bridge: NodeBridge, parent: QWidget) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.owner = parent
        self.dialogs: dict[str, PairDialog] = {}
        """The open dialog of each pairing that still runs, by peer id."""

    def on_pairing(self, info: PairingInfo) -> None:
        dialog = self.dialogs.get(info.peer_id)
        if dialog is None and info.state == "compare" and not info.initiator:
            self.notify.emit(f"{info.peer_name} asks to pair", f"Code {info.code}")
            dialog = self._open(info)
        if dialog is not None:
            dialog.update_from(info)
            if info.state in ("paired", "failed"):
                self.dialogs.pop(info.peer_id, None)

    def pair(self, peer_id: str) -> None:
        """Start pairing (or show the one running) and put the code on screen."""
        if peer_id in self.dialogs:
            self.dialogs[peer_id].raise_()
            return
        self.bridge.call(lambda n: n.pair(peer_id), self._started, self.failed.emit)

    def _started(self, info: PairingInfo) -> None:
        dialog = self.dialogs.get(info.peer_id) or self._open(info)
        dialog.update_from(info)

    def _open(self, info: PairingInfo) -> PairDialog:
        dialog = PairDialog(info, self.owner)
        peer_id = info.peer_id
        dialog.match_button.clicked.connect(
            lambda: self.bridge.call(lambda n: n.confirm_pairing(peer_id), error=self.failed.emit)
        )
        dialog.differ_button.clicked.connect(lambda: self._reject(dialog))
        dialog.rejected.connect(lambda: self._reject(dialog))
        self.dialogs[peer_id] = dialog
        if self.owner.isVisible():
            dialog.open()  # else the notification says it, and ``show_waiting`` opens it
        return dialog

    def show_waiting(self) -> None:
        """The window is back: a peer's request to pair that came while it was hidden."""
        for dialog in self.dialogs.values():
            if not dialog.isVisible():
                dialog.open()

    def _reject(self, dialog: PairDialog) -> None:
        """ "They don't match", or the dialog closed while the pairing still ran."""
        if self.dialogs.get(dialog.peer_id) is dialog:
            self.dialogs.pop(dialog.peer_id)
            peer_id = dialog.peer_id
            self.bridge.call(lambda n: n.reject_pairing(peer_id), error=lambda _: None)
        dialog.close()
