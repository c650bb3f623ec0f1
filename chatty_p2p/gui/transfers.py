"""The window's side of a transfer: the dialog that asks about an incoming offer, and
what a transfer card's buttons do (Accept, Decline, Cancel, Open, Show in folder).

An offer can be answered in two places, its dialog or its card; both end here, so an
answer given in one closes the other. Opening a received file goes to the desktop
(``QDesktopServices``), everything else to the node through the bridge.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QWidget

from chatty_p2p.events import TransferChanged, TransferOffered, TransferProgress
from chatty_p2p.files.model import TransferInfo
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.dialogs import OfferDialog
from chatty_p2p.gui.models import PeerModel


class TransferActions(QObject):
    notify = Signal(str, str)
    """(title, text) for the tray, when files are offered."""
    failed = Signal(str)

    def __init__(self, bridge: NodeBridge, peers: PeerModel, parent: QWidget) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.peers = peers
        self.owner = parent
        self.offers: dict[str, OfferDialog] = {}
        """The open dialog of each offer not yet answered, by transfer id."""

    def on_event(self, event: TransferChanged | TransferOffered | TransferProgress) -> None:
        t = event.transfer
        if isinstance(event, TransferOffered):
            self.notify.emit(f"Files from {t.peer_name}", t.summary)
            at = self.peers.row_of(t.peer_id)
            trusted = at is not None and self.peers.peer(at).trust == "trusted"
            dialog = OfferDialog(t, trusted, self.owner)
            dialog.accepted.connect(lambda: self.answer(t, True))
            dialog.rejected.connect(lambda: self.answer(t, False))
            self.offers[t.id] = dialog
            dialog.open()
        elif t.id in self.offers and t.state != "offered":
            self.offers.pop(t.id).done(0)
        if isinstance(event, TransferChanged) and t.state in ("failed", "declined") and t.outgoing:
            self.failed.emit(f"Sending to {t.peer_name}: {t.error or t.state}")

    def answer(self, t: TransferInfo, accept: bool) -> None:
        self.offers.pop(t.id, None)
        self.bridge.call(lambda n: n.accept(t.id) if accept else n.decline(t.id))

    def card_action(self, t: TransferInfo, label: str) -> None:
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
