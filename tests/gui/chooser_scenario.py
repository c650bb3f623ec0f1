""" "Send with Chatty…" with a daemon already running, as a person uses it: the chooser
over the running node's control socket, the peer picked with the mouse, Send clicked.

``python -m tests.gui.chooser_scenario --data-dir D --peer NAME FILE…`` shows the
chooser (``chatty_p2p.gui.chooser``) for the daemon that owns ``D``, waits until
``NAME`` is listed, clicks its row and Send, and waits for the chooser to close. It
prints one JSON line per step (``{"listed": [names]}``, ``{"sent": true}``) for the
test to read. Exit status: 0 sent; 2 a step failed or timed out.

It is run in a lab host by ``tests/netlab/test_netlab_chooser.py``, where a second
host's daemon is found by mDNS as a person's would be.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from chatty_p2p.gui.chooser import Chooser, RemoteNode

STEP_TIMEOUT_S = 20.0


def wait(app: QApplication, done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            print(json.dumps({"failed": what}), flush=True)
            sys.exit(2)
        app.processEvents()
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--peer", required=True)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    app = QApplication(["chooser-scenario"])
    remote = RemoteNode(Path(args.data_dir))
    chooser = Chooser([Path(p) for p in args.paths], remote.ask_peers, remote.send)
    chooser.show()

    def names() -> list[str]:
        return [chooser.model.peer(r).name for r in range(chooser.model.rowCount())]

    wait(app, lambda: args.peer in names(), f"{args.peer} listed")
    print(json.dumps({"listed": names()}), flush=True)
    row = names().index(args.peer)
    spot = chooser.view.visualRect(chooser.model.index(row)).center()
    QTest.mouseClick(chooser.view.viewport(), Qt.MouseButton.LeftButton, pos=spot)
    wait(app, chooser.send_button.isEnabled, "Send enabled by the pick")
    QTest.mouseClick(chooser.send_button, Qt.MouseButton.LeftButton)
    wait(app, lambda: not chooser.isVisible(), "the chooser closes once offered")
    print(json.dumps({"sent": chooser.result() == Chooser.DialogCode.Accepted}), flush=True)
    remote.close()
    return 0 if chooser.result() == Chooser.DialogCode.Accepted else 2


if __name__ == "__main__":
    sys.exit(main())
