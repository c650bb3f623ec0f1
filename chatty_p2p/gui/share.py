"""The window's face of the browser share: the address, its QR code, consent.

The share itself runs on the node's event loop (``bridge.call``); its callbacks
arrive there and are re-emitted as Qt signals, which Qt queues onto the GUI
thread. Closing the dialog ends the share.

The QR code is never squeezed: its label is as large as the code, quiet zone and all,
and the dialog grows to hold it once the code arrives (a clipped code cannot be
scanned).
"""

from __future__ import annotations

import html
import io
from collections.abc import Callable
from pathlib import Path

import segno
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from chatty_p2p.events import human_size
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.theme import ThemedLabel
from chatty_p2p.node import Node
from chatty_p2p.share import NOT_ENCRYPTED, BrowserShare, ShareEvent, UploadOffer

TIMEOUT = 600.0


class _Relay(QObject):
    happened = Signal(object)
    offered = Signal(object)


def qr_pixmap(text: str) -> QPixmap:
    png = io.BytesIO()
    segno.make(text, error="m").save(png, kind="png", scale=6, border=2)
    pixmap = QPixmap()
    pixmap.loadFromData(png.getvalue(), "PNG")
    return pixmap


async def _start(
    node: Node,
    paths: list[Path],
    host: str,
    on_upload: Callable[[UploadOffer], None],
    on_event: Callable[[ShareEvent], None],
) -> BrowserShare:
    """On the node's loop: the share, serving until it is stopped."""
    share = BrowserShare(
        paths,
        node.download_dir(),
        host=host,
        timeout=TIMEOUT,
        on_upload=on_upload,
        on_event=on_event,
        name=node.name,
    )
    await share.start()
    return share


class ShareDialog(QDialog):
    def __init__(
        self,
        bridge: NodeBridge,
        paths: list[Path],
        host: str = "",
        parent: QWidget | None = None,
    ) -> None:
        """``host`` binds one address instead of all (the tests keep to loopback)."""
        super().__init__(parent)
        self.setWindowTitle("Share with a browser")
        self.bridge = bridge
        self.share: BrowserShare | None = None
        self.ended = False
        self.relay = _Relay(self)
        self.relay.happened.connect(self._on_event)
        self.relay.offered.connect(self._on_offer)
        self.offer_buttons: dict[str, tuple[QPushButton, QPushButton]] = {}

        layout = QVBoxLayout(self)
        self.address = QLabel("Starting…")
        self.address.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.address.setOpenExternalLinks(True)
        self.address.setWordWrap(True)
        self.qr = QLabel()
        self.qr.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.qr.setAccessibleName("QR code of the address")
        warning = ThemedLabel(
            lambda colours: (
                f"<span style='color:{colours.window.unverified.name()}'>"
                f"{html.escape(NOT_ENCRYPTED)}</span>"
            )
        )
        warning.setWordWrap(True)
        self.offers = QVBoxLayout()
        self.log = QListWidget()
        self.log.setAccessibleName("What the browser did")
        self.log.setMaximumHeight(120)
        stop = QPushButton("Stop sharing")
        stop.setAccessibleName("Stop sharing and close")
        stop.clicked.connect(self.reject)
        layout.addWidget(QLabel("Open this address on the phone (or scan the code):"))
        layout.addWidget(self.address)
        layout.addWidget(self.qr)
        layout.addWidget(warning)
        layout.addLayout(self.offers)
        layout.addWidget(self.log)
        layout.addWidget(stop)
        # The share starts on the node's thread, which must not touch this dialog: it
        # gets the relay's signals to emit (safe from any thread), not the dialog.
        offered, happened = self.relay.offered.emit, self.relay.happened.emit
        bridge.call(
            lambda node: _start(node, paths, host, offered, happened),
            self._started,
            self._failed,
        )

    def _started(self, share: BrowserShare) -> None:
        if self.ended:  # closed before the share was up: end it at once
            self.bridge.call(lambda _node: share.stop())
            return
        self.share = share
        urls = share.urls()
        if not urls:
            self._failed("This machine has no network address a phone could reach")
            return
        links = "<br>".join(f'<a href="{u}">{u}</a>' for u in urls)
        minutes = int(TIMEOUT // 60)
        shared = ", ".join(html.escape(f"{i.name} ({i.detail})") for i in share.items)
        self.address.setText(
            f"{links}<br>Sharing {shared}.<br>Ends in {minutes} minutes or when you close this."
        )
        self.show_qr(qr_pixmap(urls[0]))

    def show_qr(self, pixmap: QPixmap) -> None:
        """The code whole: its label no smaller than it, the dialog grown to fit."""
        self.qr.setPixmap(pixmap)
        self.qr.setMinimumSize(pixmap.size())
        needed = self.minimumSizeHint().expandedTo(self.sizeHint())
        self.resize(self.size().expandedTo(needed))

    def _failed(self, text: str) -> None:
        self.address.setText(f"Cannot share: {text}")

    def _on_offer(self, offer: UploadOffer) -> None:
        row = QWidget()
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        line.addWidget(QLabel(f"{offer.remote} sends '{offer.name}' ({human_size(offer.size)})"))
        accept, decline = QPushButton("Accept"), QPushButton("Decline")
        accept.setAccessibleName(f"Accept {offer.name} from {offer.remote}")
        decline.setAccessibleName(f"Decline {offer.name} from {offer.remote}")
        accept.clicked.connect(lambda: self.decide(offer.id, True, row))
        decline.clicked.connect(lambda: self.decide(offer.id, False, row))
        line.addWidget(accept)
        line.addWidget(decline)
        self.offers.addWidget(row)
        self.offer_buttons[offer.id] = (accept, decline)

    def decide(self, upload_id: str, accept: bool, row: QWidget) -> None:
        share = self.share
        self.offer_buttons.pop(upload_id, None)
        row.deleteLater()
        if share is not None:
            self.bridge.call(lambda _node: share.decide(upload_id, accept))

    def _on_event(self, event: ShareEvent) -> None:
        self.log.addItem(f"{event.summary()}")
        self.log.scrollToBottom()

    def done(self, result: int) -> None:
        """Every way out (Stop, Esc, the title bar's close) ends the share."""
        self.ended = True
        share, self.share = self.share, None
        if share is not None:
            self.bridge.call(lambda _node: share.stop())
        super().done(result)
