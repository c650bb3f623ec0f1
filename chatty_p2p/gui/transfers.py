"""The window's side of a transfer: the dialog that asks about an incoming offer, and
what a transfer card's buttons do (Accept, Decline, Cancel, Open, Show in folder), and
the Transfers panel's (those, and Retry, which resumes).

An offer can be answered in two places, its dialog or its card; both end here, so an
answer given in one closes the other. Opening a received file goes to the desktop
(``QDesktopServices``), everything else to the node through the bridge. Open opens
every file of a batch (its folder, past ``OPEN_AT_MOST``), and says which ones no
application took or are gone: never silence.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QInputDialog, QLineEdit, QWidget

from chatty_p2p.events import TransferChanged, TransferInfo, TransferOffered, TransferProgress
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.dialogs import OfferDialog
from chatty_p2p.gui.models import PeerModel
from chatty_p2p.node import Node

PIN_ASKED = "asks for a PIN"
"""In the reason a LocalSend device's 401 gives (``localsend.sending.ANSWERS``)."""
OPEN_AT_MOST = 8
"""More files than this open as their folder: not a window for each."""


def folder_of(t: TransferInfo) -> str:
    """Where a received transfer's files are: the folder holding them all."""
    if not t.saved:
        return t.folder
    return os.path.commonpath([os.path.dirname(p) for p in t.saved])


def open_locally(path: str) -> bool:
    """Hand ``path`` to the desktop's application for it; False if none took it."""
    return QDesktopServices.openUrl(QUrl.fromLocalFile(path))


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
        self.sent: dict[str, tuple[str, list[Path]]] = {}
        """What each recent send offered, and to whom (for ``ask_pin``)."""

    def on_event(self, event: TransferChanged | TransferOffered | TransferProgress) -> None:
        t = event.transfer
        if isinstance(event, TransferOffered):
            self.notify.emit(f"Files from {t.peer_name}", t.summary)
            at = self.peers.row_of(t.peer_id)
            trusted = at is not None and self.peers.peer(at).trust == "trusted"
            dialog = OfferDialog(t, trusted, self.owner)
            dialog.accepted.connect(lambda: self._dialog_answered(t, True))
            dialog.rejected.connect(lambda: self._dialog_answered(t, False))
            self.offers[t.id] = dialog
            if self.owner.isVisible():
                dialog.open()
            # else the notification asks, and the dialog waits for the window to come back
            # (``show_waiting``): a window popping up from the tray, unasked, on a screen
            # the user may be presenting, is what closing to the tray is there to avoid.
        elif t.id in self.offers and t.state != "offered":
            self._close_dialog(t.id)
        if isinstance(event, TransferChanged) and t.state in ("failed", "declined") and t.outgoing:
            if PIN_ASKED in t.error and t.id in self.sent:
                self.ask_pin(t)
                return
            self.failed.emit(f"Sending to {t.peer_name}: {t.error or t.state}")

    def show_waiting(self) -> None:
        """The window is back: the offers that came while it was hidden, still unanswered."""
        for dialog in self.offers.values():
            if not dialog.isVisible():
                dialog.open()

    def send(self, paths: list[Path], peer_id: str, pin: str = "") -> None:
        """Offer ``paths`` to a peer, remembering them until the transfer is known: a
        LocalSend device that asks for a PIN gets them again, with the PIN typed."""

        def sent(info: TransferInfo) -> None:
            self.sent[info.id] = (peer_id, paths)
            while len(self.sent) > 64:
                self.sent.pop(next(iter(self.sent)))

        self.bridge.call(partial(Node.send_files, peer_id=peer_id, paths=paths, pin=pin), sent)

    def ask_pin(self, t: TransferInfo) -> None:
        """The device shows a PIN: typed here, and the files offered again with it."""
        peer_id, paths = self.sent.pop(t.id)
        pin, ok = QInputDialog.getText(
            self.owner,
            "PIN",
            f"{t.peer_name} asks for a PIN: type the one it shows",
            QLineEdit.EchoMode.Normal,
        )
        if ok and pin.strip():
            self.send(paths, peer_id, pin.strip())

    def answer(self, t: TransferInfo, accept: bool) -> None:
        self.answer_id(t.id, accept)

    def answer_id(self, transfer_id: str, accept: bool) -> None:
        """Accept or decline an offer (a card, its dialog, a notification's button)."""
        self._close_dialog(transfer_id)
        self.bridge.call(lambda n: n.accept(transfer_id) if accept else n.decline(transfer_id))

    def _dialog_answered(self, t: TransferInfo, accept: bool) -> None:
        """The dialog's own buttons (or Esc). Closing it because the offer was answered
        elsewhere rejects it too: that is no answer (it declined what a card's Accept
        had just accepted)."""
        if self.offers.pop(t.id, None) is not None:
            self.answer(t, accept)

    def _close_dialog(self, transfer_id: str) -> None:
        dialog = self.offers.pop(transfer_id, None)
        if dialog is not None:
            dialog.done(0)  # rejected, out of ``offers`` first: see ``_dialog_answered``

    def card_action(self, t: TransferInfo, label: str) -> None:
        match label:
            case "Accept" | "Decline":
                self.answer(t, label == "Accept")
            case "Cancel":
                self.bridge.call(lambda n: n.cancel(t.id))
            case "Retry":
                self.bridge.call(lambda n: n.resume(t.id))
            case "Open":
                self.open_files(t)
            case "Show in folder":
                folder = folder_of(t)
                if not open_locally(folder):
                    self.failed.emit(f"No file manager opened {folder}")

    def open_files(self, t: TransferInfo) -> None:
        """Every file received (their folder, if many), each by its application."""
        paths = t.saved if 0 < len(t.saved) <= OPEN_AT_MOST else [folder_of(t)]
        gone = [p for p in paths if not os.path.exists(p)]
        refused = [p for p in paths if p not in gone and not open_locally(p)]
        said = [f"not there any more: {_names(gone)}"] if gone else []
        if refused:
            said.append(f"no application opens {_names(refused)} (try Show in folder)")
        if said:
            self.failed.emit("Open: " + "; ".join(said))


def _names(paths: list[str]) -> str:
    return ", ".join(os.path.basename(p) or p for p in paths)
