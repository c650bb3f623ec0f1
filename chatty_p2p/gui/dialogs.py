"""Small dialogs: an incoming offer, pairing, settings. They only collect answers;
the window passes them on to the node."""

from __future__ import annotations

import html
import sys
from collections.abc import Callable
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

from chatty_p2p.desktop import install as autostart
from chatty_p2p.events import PairingInfo, TransferInfo, format_fingerprint
from chatty_p2p.gui.theme import ThemedLabel


class OfferDialog(QDialog):
    """Who offers what, with the sender's fingerprint to compare; Accept or Decline."""

    def __init__(self, offer: TransferInfo, trusted: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.offer = offer
        self.setWindowTitle(f"Files from {offer.peer_name}")
        layout = QVBoxLayout(self)
        title = QLabel(f"<b>{offer.peer_name}</b> wants to send you {offer.summary}.")
        title.setWordWrap(True)
        layout.addWidget(title)
        if not trusted:
            name = html.escape(offer.peer_name)
            self.warning = ThemedLabel(
                lambda colours: (
                    f"<span style='color:{colours.window.unverified.name()}'>"
                    "Unverified device: Chatty cannot confirm it is who it says. "
                    f"Pair with {name} first if you are not sure.</span>"
                )
            )
            self.warning.setWordWrap(True)
            layout.addWidget(self.warning)
        fingerprint = QLabel(f"Fingerprint: <tt>{format_fingerprint(offer.peer_id)[:39]}</tt>")
        fingerprint.setToolTip(format_fingerprint(offer.peer_id))
        layout.addWidget(fingerprint)
        layout.addWidget(QLabel(f"It will be saved in {offer.folder}."))
        buttons = QDialogButtonBox()
        self.accept_button = buttons.addButton("Accept", QDialogButtonBox.ButtonRole.AcceptRole)
        self.decline_button = buttons.addButton("Decline", QDialogButtonBox.ButtonRole.RejectRole)
        self.accept_button.setAccessibleName(f"Accept {offer.summary} from {offer.peer_name}")
        self.decline_button.setAccessibleName(f"Decline {offer.summary} from {offer.peer_name}")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class PairDialog(QDialog):
    """The code to compare, and two buttons: they match, they don't. It follows the
    pairing as events arrive (``show``), until paired or failed."""

    def __init__(self, info: PairingInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.peer_id = info.peer_id
        self.setWindowTitle(f"Pair with {info.peer_name}")
        layout = QVBoxLayout(self)
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.code = QLabel()
        font = self.code.font()
        font.setPointSize(font.pointSize() * 3)
        font.setBold(True)
        self.code.setFont(font)
        layout.addWidget(self.code)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.buttons = QDialogButtonBox()
        self.match_button = self.buttons.addButton(
            "They match", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.differ_button = self.buttons.addButton(
            "They don't match", QDialogButtonBox.ButtonRole.RejectRole
        )
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.clicked.connect(self.close)
        for button in (self.match_button, self.differ_button, self.close_button):
            button.setAccessibleName(
                f"{button.text().replace('&', '')}: the code on {info.peer_name}"
            )
        layout.addWidget(self.buttons)
        self.update_from(info)

    def update_from(self, info: PairingInfo) -> None:
        name = info.peer_name
        self.intro.setText(
            f"Check that <b>{name}</b> shows the same code. If it does, this device and "
            f"{name} will trust each other: no one else can then pose as {name}."
        )
        self.code.setText(info.code or "…")
        waiting = info.state in ("exchanging", "compare")
        self.match_button.setEnabled(info.state == "compare")
        self.differ_button.setVisible(waiting)
        self.match_button.setVisible(waiting)
        self.close_button.setVisible(not waiting)
        self.status.setText(
            {
                "exchanging": f"Waiting for {name}…",
                "compare": "Do both screens show this code?",
                "waiting-peer": f"Now confirm on {name}.",
                "paired": f"Paired: {name} is now trusted.",
                "failed": f"Not paired: {info.error}",
            }.get(info.state, info.state)
        )


@dataclass
class Settings:
    name: str
    download_dir: str
    auto_accept_trusted: bool
    start_minimised: bool
    trusted_only: bool
    auto_copy_trusted: bool
    localsend: bool = True
    dns_sd_domain: str = ""
    dns_sd_key_file: str = ""


def _with_chooser(
    form: QFormLayout, label: str, field: QLineEdit, choose: Callable[[], None]
) -> QPushButton:
    """A row of ``form``: a path's field and the button that opens a chooser for it."""
    button = QPushButton("Choose…")
    button.clicked.connect(choose)
    row = QHBoxLayout()
    row.addWidget(field)
    row.addWidget(button)
    form.addRow(label, row)
    return button


class SettingsDialog(QDialog):
    def __init__(self, current: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Chatty settings")
        form = QFormLayout(self)
        self.name = QLineEdit(current.name)
        form.addRow("Device name", self.name)
        self.folder = QLineEdit(current.download_dir)
        browse = _with_chooser(form, "Download folder", self.folder, self._browse)
        self.auto_accept = QCheckBox("Accept files from paired peers without asking")
        self.auto_accept.setChecked(current.auto_accept_trusted)
        form.addRow(self.auto_accept)
        self.trusted_only = QCheckBox("Accept connections from paired peers only")
        self.trusted_only.setChecked(current.trusted_only)
        form.addRow(self.trusted_only)
        self.auto_copy = QCheckBox("Copy text from paired peers to the clipboard")
        self.auto_copy.setChecked(current.auto_copy_trusted)
        form.addRow(self.auto_copy)
        self.localsend = QCheckBox("Talk to devices running LocalSend (never verified)")
        self.localsend.setChecked(current.localsend)
        self.localsend.setToolTip(
            "Phones and computers with the LocalSend app see this device and exchange files "
            "with it, on port 53317; nobody can verify them, so their files always ask"
        )
        form.addRow(self.localsend)
        self.dns_sd_domain = QLineEdit(current.dns_sd_domain)
        self.dns_sd_domain.setPlaceholderText("none: this network only")
        self.dns_sd_domain.setToolTip(
            "A DNS domain where Chatty registers itself and looks for others (wide-area "
            "DNS-SD): devices behind a router find each other through your DNS server"
        )
        form.addRow("DNS-SD domain", self.dns_sd_domain)
        self.dns_sd_key = QLineEdit(current.dns_sd_key_file)
        self.dns_sd_key.setPlaceholderText("none: unsigned updates")
        choose_key = _with_chooser(form, "TSIG key file", self.dns_sd_key, self._choose_key)
        self.minimised = QCheckBox("Start minimised to the tray")
        self.minimised.setChecked(current.start_minimised)
        form.addRow(self.minimised)
        self.autostart = QCheckBox("Start Chatty when I log in, in the tray")
        self.autostart.setChecked(autostart.autostart_enabled())
        self.autostart.setToolTip(f"An autostart entry in {autostart.places()['autostart'].path}")
        self.autostart.setVisible(sys.platform.startswith("linux"))  # XDG autostart
        form.addRow(self.autostart)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self.name.setAccessibleName("Device name")
        self.folder.setAccessibleName("Download folder")
        browse.setAccessibleName("Choose the download folder")
        self.dns_sd_domain.setAccessibleName("DNS-SD domain")
        self.dns_sd_key.setAccessibleName("TSIG key file")
        choose_key.setAccessibleName("Choose the TSIG key file")
        boxes = (
            self.auto_accept,
            self.trusted_only,
            self.auto_copy,
            self.minimised,
            self.autostart,
            self.localsend,
        )
        for box in boxes:
            box.setAccessibleName(box.text())
        for button in buttons.buttons():
            button.setAccessibleName(f"{button.text().replace('&', '')} the settings")

    def _browse(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Download folder", self.folder.text())
        if chosen:
            self.folder.setText(chosen)

    def _choose_key(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(self, "TSIG key file", self.dns_sd_key.text())
        if chosen:
            self.dns_sd_key.setText(chosen)

    def apply_autostart(self) -> str:
        """Write or remove the autostart entry as the box says, here on the GUI thread
        (a small file, no network). The reason it failed, or ""."""
        wanted = self.autostart.isChecked()
        if wanted == autostart.autostart_enabled():
            return ""
        try:
            autostart.set_autostart(wanted)
        except OSError as exc:
            return f"Could not change starting at log-in: {exc.strerror or exc}"
        return ""

    def result_settings(self) -> Settings:
        return Settings(
            self.name.text().strip(),
            self.folder.text().strip(),
            self.auto_accept.isChecked(),
            self.minimised.isChecked(),
            self.trusted_only.isChecked(),
            self.auto_copy.isChecked(),
            self.localsend.isChecked(),
            self.dns_sd_domain.text().strip(),
            self.dns_sd_key.text().strip(),
        )
