"""Save PNG screenshots of the window's main states into docs/screenshots/.

    python scripts/screenshots.py

Starts the window (offscreen) and two headless nodes on loopback, with no mDNS:
a peer list with one peer online and one gone, the pairing code, a conversation
with a link and a finished file card (light, and dark as a dark system palette shows
it), and an incoming offer.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtWidgets import QApplication  # noqa: E402

from chatty_p2p.files.model import TransferInfo  # noqa: E402
from chatty_p2p.gui.bridge import NodeBridge  # noqa: E402
from chatty_p2p.gui.window import MainWindow  # noqa: E402
from chatty_p2p.node import Node  # noqa: E402
from tests.gui.samples import dark_palette  # noqa: E402
from tests.support.headless import Headless  # noqa: E402

OUT = ROOT / "docs" / "screenshots"


def wait(app: QApplication, done: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the window")
        app.processEvents()
        time.sleep(0.02)


def main() -> None:
    app = QApplication(sys.argv[:1])
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bridge = NodeBridge(
            lambda: Node(
                tmp / "laptop",
                name="laptop",
                discovery=False,
                download_dir=tmp / "dl",
                interfaces=["lo"],  # the doctor's mDNS look stays on this machine
            )
        )
        window = MainWindow(bridge)
        window.resize(1000, 640)
        bridge.start()
        bridge.wait_started()
        window.show()
        port, me = bridge.info["port"], bridge.info["id"]
        desk = Headless(Node(tmp / "desk", name="desktop", discovery=False, accept_from=["*"]))
        phone = Headless(Node(tmp / "phone", name="phone", discovery=False))
        for node in (desk, phone):
            node.run(node.node.add_peer("127.0.0.1", port))
        desk.call(lambda n: n.pair_by_fingerprint(me, me))  # the desk takes the album unasked
        wait(app, lambda: window.peers.rowCount() == 2)
        phone.stop()  # gone: greyed out in the list
        peers = window.peers
        wait(app, lambda: [peers.peer(i).online for i in range(2)] == [True, False])
        desk.run(desk.node.send_text(me, "Are the holiday photos ready?"))
        wait(app, lambda: window.conversation.rowCount() >= 1)
        window.grab().save(str(OUT / "peers.png"))

        window.peer_view.setCurrentIndex(window.peers.index(0))
        wait(app, lambda: window.conversation.rowCount() >= 1)
        desk_id = desk.node.device_id
        window.pairings.pair(desk_id)
        wait(
            app,
            lambda: (
                desk_id in window.pairings.dialogs
                and bool(window.pairings.dialogs[desk_id].code.text())
            ),
        )
        pairing = window.pairings.dialogs[desk_id]
        app.processEvents()
        pairing.grab().save(str(OUT / "pair.png"))
        desk.call(lambda n: n.confirm_pairing(me, pairing.code.text()))
        pairing.match_button.click()
        wait(app, lambda: window.peers.peer(0).trust == "trusted")
        pairing.close()
        window.input.setPlainText("Yes! Sending them now.")
        window.input.submitted.emit(window.input.toPlainText())
        window.input.clear()
        photos = tmp / "holiday-photos"
        photos.mkdir()
        for i in range(12):
            (photos / f"IMG_{i:04}.jpg").write_bytes(os.urandom(400_000))
        window.send_paths([photos])
        desk.run(desk.node.send_text(me, "Thanks! The album is at https://example.org/album/2026"))

        def finished() -> bool:
            rows = [window.conversation.item(i) for i in range(window.conversation.rowCount())]
            cards = [r for r in rows if isinstance(r, TransferInfo)]
            return bool(cards) and cards[-1].state == "done" and len(rows) >= 4

        wait(app, finished)
        window.view.scrollToBottom()
        app.processEvents()
        window.grab().save(str(OUT / "conversation.png"))
        light = app.palette()
        app.setPalette(dark_palette())  # as the system's switch to dark hands it over
        app.processEvents()
        window.grab().save(str(OUT / "conversation-dark.png"))
        app.setPalette(light)
        app.processEvents()

        video = tmp / "trip-video.mp4"
        video.write_bytes(os.urandom(2_000_000))
        sent = desk.run(desk.node.send_files(me, [video]))
        wait(app, lambda: sent.id in window.transfers.offers)
        dialog = window.transfers.offers[sent.id]
        app.processEvents()
        dialog.grab().save(str(OUT / "offer.png"))
        dialog.reject()

        window.menu.share_with_browser([video, photos], host="127.0.0.1")
        share = window.menu.share_dialog
        assert share is not None
        wait(app, lambda: share.share is not None)
        app.processEvents()
        share.grab().save(str(OUT / "share.png"))
        share.reject()
        window.menu.doctor_dialog()
        doctor = window.menu.doctor
        assert doctor is not None
        wait(app, lambda: doctor.report is not None)
        app.processEvents()
        doctor.grab().save(str(OUT / "doctor.png"))
        desk.stop()
        bridge.stop()
    print(f"saved {', '.join(sorted(p.name for p in OUT.glob('*.png')))} in {OUT}")


if __name__ == "__main__":
    main()
