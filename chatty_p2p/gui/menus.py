"""The menu bar's Chatty menu and what its items open: sharing with a browser,
"Why can't I see my peer?" (the doctor) and Settings… (Ctrl+,); and the Conversation
menu, which lists the send bar's Send files… (Ctrl+O) and the conversation's Find
(Ctrl+F), so their keys can be found. Those two actions belong to their widgets.

Each item opens a dialog that talks to the node through the bridge on its own, so the
window only places the menu. One dialog of each kind is kept here: a second share
replaces the first, and the doctor's window is raised and checks again.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow

from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.composer import Composer
from chatty_p2p.gui.conversation import ConversationView
from chatty_p2p.gui.dialogs import Settings, SettingsDialog
from chatty_p2p.gui.doctor import DoctorDialog
from chatty_p2p.gui.share import ShareDialog
from chatty_p2p.node import Node


class ChattyMenu:
    def __init__(self, window: QMainWindow, bridge: NodeBridge) -> None:
        self.window = window
        self.bridge = bridge
        self.share_dialog: ShareDialog | None = None
        self.doctor: DoctorDialog | None = None
        settings = QAction("Settings…", window)
        settings.setShortcut(QKeySequence("Ctrl+,"))
        settings.triggered.connect(self.settings_dialog)
        share = QAction("Share with a browser…", window)
        share.triggered.connect(lambda: self.share_with_browser())
        share_folder = QAction("Share a folder with a browser…", window)
        share_folder.triggered.connect(self.share_folder_with_browser)
        doctor = QAction("Why can't I see my peer?", window)
        doctor.triggered.connect(self.doctor_dialog)
        window.menuBar().addMenu("&Chatty").addActions([share, share_folder, doctor, settings])
        # The window's own widgets, found rather than passed, so it need not say them.
        composer, view = window.findChild(Composer), window.findChild(ConversationView)
        actions = [part.attach_action for part in (composer,) if part is not None]
        actions += [part.find_action for part in (view,) if part is not None]
        if actions:
            window.menuBar().addMenu("C&onversation").addActions(actions)

    def share_with_browser(self, paths: list[Path] | None = None, host: str = "") -> None:
        """For a phone without Chatty: files at a one-time address (see ``share``)."""
        if paths is None:
            chosen, _ = QFileDialog.getOpenFileNames(self.window, "Files to share with a browser")
            paths = [Path(p) for p in chosen]
        if not paths:
            return
        if self.share_dialog is not None:
            self.share_dialog.reject()
        self.share_dialog = ShareDialog(self.bridge, paths, host, self.window)
        self.share_dialog.show()

    def share_folder_with_browser(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Folder to share with a browser")
        if folder:
            self.share_with_browser([Path(folder)])

    def doctor_dialog(self) -> None:
        if self.doctor is None:
            self.doctor = DoctorDialog(self.bridge, self.window)
        else:
            self.doctor.check()
        self.doctor.show()
        self.doctor.raise_()

    def settings_dialog(self) -> None:
        def show(current: Settings) -> None:
            dialog = SettingsDialog(current, self.window)
            if dialog.exec():
                # Read the widgets here, on the GUI thread: the lambda runs on the node's
                # thread, where touching them crashed the app (a segfault on X11).
                chosen = dialog.result_settings()
                self.bridge.call(lambda n: _apply_settings(n, chosen))
                if failed := dialog.apply_autostart():
                    self.window.statusBar().showMessage(failed, 10_000)

        self.bridge.call(_read_settings, show)


def _read_settings(node: Node) -> Settings:
    domain, key_file = node.announcing.setting()
    return Settings(
        name=node.name,
        download_dir=str(node.download_dir()),
        auto_accept_trusted=node.auto_accept_trusted,
        start_minimised=node.start_minimised,
        trusted_only=node.trusted_only,
        auto_copy_trusted=node.auto_copy_trusted,
        localsend=node.localsend.on,
        dns_sd_domain=domain,
        dns_sd_key_file=key_file,
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
    if settings.localsend != node.localsend.on:
        await node.localsend.turn(settings.localsend)
    if (settings.dns_sd_domain, settings.dns_sd_key_file) != node.announcing.setting():
        await node.announcing.configure(settings.dns_sd_domain, settings.dns_sd_key_file)
