"""Made-up things for the window's tests and screenshots: peers, messages with the
peer "desk" (whose id is ``DESK_ID``), a transfer card in any state from it; a dark
palette."""

from __future__ import annotations

import time

from PySide6.QtGui import QColor, QPalette

from chatty_p2p.events import Peer
from chatty_p2p.files.model import TransferInfo
from chatty_p2p.store import StoredMessage

DESK_ID = "desk-id"
SIZE = 10_000_000
NOW = time.time()


def peer(name: str, online: bool, trust: str = "unverified") -> Peer:
    """A peer whose id is its name and "-id" (so "desk" is ``DESK_ID``)."""
    return Peer(
        id=f"{name}-id",
        name=name,
        online=online,
        discovered=True,
        known=True,
        addresses=(),
        last_seen=NOW,
        trust=trust,
    )


def message(seq: int, outgoing: bool, body: str) -> StoredMessage:
    """A message with the desk, ``seq`` seconds after the module was loaded."""
    status = "delivered" if outgoing else "received"
    return StoredMessage(seq, f"m{seq}", DESK_ID, outgoing, "text", body, NOW + seq, status)


def card(fraction: float, state: str = "running") -> TransferInfo:
    done = int(SIZE * fraction)
    return TransferInfo(
        id="t1",
        peer_id=DESK_ID,
        peer_name="desk",
        outgoing=False,
        state=state,
        count=1,
        size=SIZE,
        names=["holiday.mov"],
        done_bytes=done,
        resumed_from=0,
        file="holiday.mov",
        file_done=done,
        file_size=SIZE,
        rate=2_000_000.0,
        eta=3.0,
        folder="/home/me/Downloads",
        error="",
        saved=[],
        created=time.time(),
    )


def dark_palette() -> QPalette:
    """A dark palette as a desktop's dark scheme hands it to Qt."""
    Role = QPalette.ColorRole
    palette = QPalette()
    colours = {
        Role.Window: "#2b2b2b",
        Role.WindowText: "#e6e6e6",
        Role.Base: "#1e1e1e",
        Role.AlternateBase: "#262626",
        Role.Text: "#e6e6e6",
        Role.Button: "#353535",
        Role.ButtonText: "#e6e6e6",
        Role.Highlight: "#2a82da",
        Role.HighlightedText: "#ffffff",
        Role.PlaceholderText: "#8c8c8c",
        Role.Light: "#4a4a4a",
        Role.Midlight: "#3a3a3a",
        Role.Mid: "#303030",
        Role.Dark: "#1a1a1a",
        Role.Shadow: "#0a0a0a",
        Role.ToolTipBase: "#2b2b2b",
        Role.ToolTipText: "#e6e6e6",
        Role.Link: "#5aa9ff",
    }
    for role, name in colours.items():
        palette.setColor(role, QColor(name))
    return palette
