"""``chatty`` with no command: the window, with a node of its own and the control
socket, so ``chatty say`` and friends reach this process while it runs. Also
``chatty send --choose``: the chooser, over this window or over a node that runs."""

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
from chatty_p2p.gui.chooser import Chooser, RemoteNode, chosen_paths, through_bridge
from chatty_p2p.gui.tray import chatty_icon
from chatty_p2p.gui.window import MainWindow
from chatty_p2p.node import Node


def make_bridge(args: argparse.Namespace) -> NodeBridge:
    data_dir = config.data_dir(args.data_dir)
    domains, key = config.wide_area(args.dns_sd_domain, args.tsig_key)

    def make_node() -> Node:
        return Node(
            data_dir,
            discovery=not args.no_discovery,
            localsend=not getattr(args, "no_localsend", False),
            interfaces=args.interface or None,
            download_dir=Path(args.download_dir) if getattr(args, "download_dir", None) else None,
            dns_sd_domains=domains,
            tsig_key=key,
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


def application() -> QApplication:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("Chatty")
    app.setDesktopFileName("chatty")  # the launcher's name: docks group the window under it
    app.setWindowIcon(chatty_icon())
    return app


def run_chooser(args: argparse.Namespace) -> int:
    """``chatty send --choose [PATH…]``: the node that owns the data dir sends, asked
    through its control socket; with none running, the window starts and sends, its
    chooser open over it. 0 once offered, 1 when cancelled or there is nothing to send."""
    application()
    paths = chosen_paths(args.choose)
    if not paths:
        return 1
    data_dir = config.data_dir(args.data_dir)
    if not config.lock_is_held(data_dir):
        return run(args, choose=paths)
    remote = RemoteNode(data_dir)
    try:
        return 0 if Chooser(paths, remote.ask_peers, remote.send).exec() else 1
    finally:
        remote.close()


def run(args: argparse.Namespace, choose: list[Path] | None = None) -> int:
    """The window until Quit; with ``choose``, the chooser over it first (the window
    stays, showing the transfer, unless the chooser was cancelled)."""
    app = application()
    try:
        window = open_window(args)
    except ChattyError:
        return 1
    if choose is not None:
        window.show()
        if not Chooser(choose, *through_bridge(window.bridge), parent=window).exec():
            window.bridge.stop()
            shiboken6.delete(window)
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
        window.notifier.stop()
        window.bridge.stop()
        # Delete the window (and its bridge) now, while Qt is whole, rather than in
        # whatever order the interpreter's exit would pick.
        shiboken6.delete(window)
