"""Small dialogs: an incoming offer, settings. They only collect answers; the
window passes them on to the node."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chatty_p2p.files import TransferInfo
from chatty_p2p.identity import format_fingerprint


class OfferDialog(QDialog):
    """Who offers what, with the sender's fingerprint to compare; Accept or Decline."""

    def __init__(self, offer: TransferInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.offer = offer
        self.setWindowTitle(f"Files from {offer.peer_name}")
        layout = QVBoxLayout(self)
        title = QLabel(f"<b>{offer.peer_name}</b> wants to send you {offer.summary}.")
        title.setWordWrap(True)
        layout.addWidget(title)
        fingerprint = QLabel(f"Fingerprint: <tt>{format_fingerprint(offer.peer_id)[:39]}</tt>")
        fingerprint.setToolTip(format_fingerprint(offer.peer_id))
        layout.addWidget(fingerprint)
        layout.addWidget(QLabel(f"It will be saved in {offer.folder}."))
        buttons = QDialogButtonBox()
        self.accept_button = buttons.addButton("Accept", QDialogButtonBox.ButtonRole.AcceptRole)
        self.decline_button = buttons.addButton("Decline", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


@dataclass
class Settings:
    name: str
    download_dir: str
    auto_accept_trusted: bool
    start_minimised: bool


class SettingsDialog(QDialog):
    def __init__(self, current: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Chatty settings")
        form = QFormLayout(self)
        self.name = QLineEdit(current.name)
        form.addRow("Device name", self.name)
        self.folder = QLineEdit(current.download_dir)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder)
        row.addWidget(browse)
        form.addRow("Download folder", row)
        self.auto_accept = QCheckBox("Accept files from trusted peers without asking")
        self.auto_accept.setChecked(current.auto_accept_trusted)
        form.addRow(self.auto_accept)
        self.minimised = QCheckBox("Start minimised to the tray")
        self.minimised.setChecked(current.start_minimised)
        form.addRow(self.minimised)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Download folder", self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def result_settings(self) -> Settings:
        return Settings(
            self.name.text().strip(),
            self.folder.text().strip(),
            self.auto_accept.isChecked(),
            self.minimised.isChecked(),
        )
