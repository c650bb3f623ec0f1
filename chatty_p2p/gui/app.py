"""``chatty`` with no command: the window, with a node of its own and the control
socket, so ``chatty say`` and friends reach this process while it runs."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import shiboken6
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from chatty_p2p import config
from chatty_p2p.control import ControlServer
from chatty_p2p.errors import ChattyError
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.window import MainWindow
from chatty_p2p.node import Node


def make_bridge(args: argparse.Namespace) -> NodeBridge:
    data_dir = config.data_dir(args.data_dir)

    def make_node() -> Node:
        return Node(
            data_dir,
            discovery=not args.no_discovery,
            interfaces=args.interface or None,
            download_dir=Path(args.download_dir) if getattr(args, "download_dir", None) else None,
        )

    return NodeBridge(make_node, control=ControlServer)


def open_window(args: argparse.Namespace) -> MainWindow:
    """The window, its node started: shown, or hidden in the tray when ``--minimized``
    or the setting asks for it (minimised, when there is no tray). Raises the
    ``ChattyError`` of a node that could not start, once it has been shown."""
    bridge = make_bridge(args)
    window = MainWindow(bridge)
    bridge.start()
    try:
        bridge.wait_started()
    except ChattyError as exc:
        QMessageBox.critical(window, "Chatty", str(exc))
        raise
    if not (getattr(args, "minimized", False) or bridge.info.get("start_minimised")):
        window.show()
    elif window.tray is None:
        window.showMinimized()
    return window


def run(args: argparse.Namespace) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Chatty")
    try:
        window = open_window(args)
    except ChattyError:
        return 1
    # With a tray, closing the window hides it (and a dialog closed meanwhile must
    # not end the app): only Quit quits.
    QApplication.setQuitOnLastWindowClosed(window.tray is None)
    # Ctrl-C or a SIGTERM quits cleanly (mDNS goodbye included). Python runs signal
    # handlers only between bytecodes, so a timer lets it in now and then.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: app.quit())
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    try:
        return app.exec()
    finally:
        wake.stop()
        window.bridge.stop()
        # Delete the window (and its bridge) now, while Qt is whole, rather than in
        # whatever order the interpreter's exit would pick.
        shiboken6.delete(window)
