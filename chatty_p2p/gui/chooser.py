"""``chatty send --choose PATH…``: "Send with Chatty…" from a file manager. A small
window lists the devices as the main window does; the ones picked get the files.

Whoever owns the data dir sends: a daemon or a window already running (asked through
the control socket, so the transfer goes on after this window closes), or else the
main window, started here with the chooser over it. Either way the chooser asks for
peers with ``ask_peers(done)`` every second (devices keep appearing) and sends with
``send(peer_ids, paths, done)``, never touching a node or a socket on the GUI thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QListView,
    QVBoxLayout,
    QWidget,
)

from chatty_p2p.control import ControlClient
from chatty_p2p.errors import ChattyError
from chatty_p2p.events import Peer, human_size, items
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.models import PeerModel
from chatty_p2p.gui.peers import PeerDelegate
from chatty_p2p.node import Node

AskPeers = Callable[[Callable[[list[Peer]], None]], None]
Send = Callable[[list[str], list[Path], Callable[[str], None]], None]
"""``send(peer_ids, paths, done)``: ``done("")`` once offered, or with the reason."""
REFRESH_MS = 1000


def what_is_sent(paths: list[Path]) -> str:
    """ "holiday.mov", or "3 items (12.5 MB)": what the chooser's title line says."""
    size = sum(p.stat().st_size for p in paths if p.is_file())
    if len(paths) == 1:
        return paths[0].name or str(paths[0])
    return f"{items(len(paths))} ({human_size(size)})"


class Chooser(QDialog):
    """Pick devices (several with Ctrl or Shift), then Send."""

    def __init__(
        self, paths: list[Path], ask_peers: AskPeers, send: Send, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.paths = paths
        self._ask_peers = ask_peers
        self._send = send
        self.setWindowTitle("Send with Chatty")
        self.heading = QLabel(f"Send {what_is_sent(paths)} to:")
        self.model = PeerModel()
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(PeerDelegate(self.view))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setAccessibleName("Devices to send to")
        self.status = QLabel("Looking for devices…")
        self.status.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.send_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.send_button.setText("Send")
        self.send_button.setEnabled(False)
        self.buttons.accepted.connect(self.send_chosen)
        self.buttons.rejected.connect(self.reject)
        self.view.selectionModel().selectionChanged.connect(self._selection_changed)
        self.view.doubleClicked.connect(self.send_chosen)
        layout = QVBoxLayout(self)
        for widget in (self.heading, self.view, self.status, self.buttons):
            layout.addWidget(widget)
        self.resize(420, 460)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.refresh)
        self._timer.start(REFRESH_MS)
        self.refresh()

    def refresh(self) -> None:
        self._ask_peers(self._show_peers)

    def _show_peers(self, peers: list[Peer]) -> None:
        """The online devices (only they can be sent to now), keeping the selection."""
        chosen = set(self.chosen_ids())
        online = [p for p in peers if p.online and p.trust != "blocked"]
        if [p.id for p in online] != [self.model.peer(r).id for r in range(self.model.rowCount())]:
            self.model.reset(online)
            for row in range(self.model.rowCount()):
                if self.model.peer(row).id in chosen:
                    self.view.selectionModel().select(
                        self.model.index(row), self.view.selectionModel().SelectionFlag.Select
                    )
        else:
            for peer in online:
                self.model.upsert(peer)
        if not self.send_button.text().startswith("Sending"):
            self.status.setText("" if online else "Looking for devices…")

    def chosen_ids(self) -> list[str]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedRows())
        return [self.model.peer(row).id for row in rows]

    def _selection_changed(self) -> None:
        self.send_button.setEnabled(bool(self.chosen_ids()))

    def send_chosen(self) -> None:
        chosen = self.chosen_ids()
        if not chosen:
            return
        self.send_button.setEnabled(False)
        self.send_button.setText("Sending…")
        self._send(chosen, self.paths, self._sent)

    def _sent(self, reason: str) -> None:
        if reason:
            self.status.setText(f"Not sent: {reason}")
            self.send_button.setText("Send")
            self.send_button.setEnabled(True)
            return
        self.accept()


class RemoteNode(QObject):
    """A node in another process (a daemon or a window), asked through the control
    socket on a worker thread; each answer comes back on the GUI thread."""

    _answered = Signal(object, object)

    def __init__(self, data_dir: Path) -> None:
        super().__init__()
        self.data_dir = data_dir
        self._pool = concurrent.futures.ThreadPoolExecutor(1, "chatty-chooser")
        self._answered.connect(lambda done, value: done(value), Qt.ConnectionType.QueuedConnection)

    def _ask(self, op: str, args: dict[str, Any], done: Callable[[Any], None]) -> None:
        data_dir = self.data_dir

        async def one_call() -> Any:
            client = await ControlClient.connect(data_dir)
            try:
                return await client.call(op, **args)
            finally:
                await client.close()

        def run() -> None:
            try:
                value: Any = asyncio.run(one_call())
            except ChattyError as exc:
                value = exc
            self._answered.emit(done, value)

        self._pool.submit(run)

    def ask_peers(self, done: Callable[[list[Peer]], None]) -> None:
        def got(value: Any) -> None:
            if not isinstance(value, Exception):
                done([Peer.from_json(p) for p in value["peers"]])

        self._ask("peers", {}, got)

    def send(self, peer_ids: list[str], paths: list[Path], done: Callable[[str], None]) -> None:
        texts = [str(p) for p in paths]
        left = list(peer_ids)

        def sent(value: Any) -> None:
            if isinstance(value, Exception):
                done(str(value))
            elif left:
                self._ask("send", {"peer": left.pop(0), "paths": texts}, sent)
            else:
                done("")

        sent(None)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def chosen_paths(given: list[str]) -> list[Path]:
    """The paths given, absolute (a missing one is an error before any window); none
    given (the launcher's "Send Files…"): asked for."""
    missing = [p for p in given if not Path(p).expanduser().exists()]
    if missing:
        raise ChattyError(f"no such file or folder: {', '.join(missing)}")
    if given:
        return [Path(p).expanduser().absolute() for p in given]
    picked, _ = QFileDialog.getOpenFileNames(None, "Files to send with Chatty")
    return [Path(p) for p in picked]


def through_bridge(bridge: NodeBridge) -> tuple[AskPeers, Send]:
    """The chooser's two questions, asked of the window's own node."""

    def ask_peers(done: Callable[[list[Peer]], None]) -> None:
        bridge.call(lambda node: node.peers(), done)

    def send(peer_ids: list[str], paths: list[Path], done: Callable[[str], None]) -> None:
        async def offer(node: Node) -> None:
            for peer_id in peer_ids:
                await node.send_files(peer_id, paths)

        bridge.call(offer, lambda _: done(""), done)

    return ask_peers, send
