"""``chatty`` with no command: the window, with a node of its own and the control
socket, so ``chatty say`` and friends reach this process while it runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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


def run(args: argparse.Namespace) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Chatty")
    bridge = make_bridge(args)
    window = MainWindow(bridge)
    bridge.start()
    try:
        bridge.wait_started()
    except ChattyError as exc:
        QMessageBox.critical(window, "Chatty", str(exc))
        return 1
    if bridge.info.get("start_minimised") and window.tray is not None:
        window.hide()
    else:
        window.show()
    try:
        return app.exec()
    finally:
        bridge.stop()
