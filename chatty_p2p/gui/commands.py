"""The slash commands of the window's chat (``/nick``, ``/send``…) and what each one
does there. Which command a line is, and the paths ``/send`` names, come from
:mod:`chatty_p2p.slash`, the reader the terminal's chat uses too, so both read a line
the same way.

The commands act through ``Chat``, the few things of the window they need; the window
is one, and this module never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from chatty_p2p import slash
from chatty_p2p.errors import ChattyError
from chatty_p2p.events import short_id
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.models import PeerModel

HELP = [
    "/help — this list",
    "/nick NAME — rename this device",
    "/send PATH… — send files or folders (or drop them here)",
    "/link URL — send a link",
    "/peers — list peers",
    "/history — reload this conversation",
    "Enter sends, Shift+Enter starts a new line; select several peers to send to all.",
]


class Chat(Protocol):
    """What a command may do in the window."""

    bridge: NodeBridge
    peers: PeerModel

    def notice(self, text: str) -> None: ...
    def show_error(self, text: str) -> None: ...
    def send_text(self, text: str, kind: str) -> bool: ...
    def send_paths(self, paths: list[Path], targets: list[str] | None = None) -> None: ...
    def open_conversation(self) -> None: ...


def run(line: str, chat: Chat) -> None:
    """Do what the slash command ``line`` asks; an unknown one is answered with a hint."""
    name, rest = slash.split(line)
    rest = rest.strip()
    match name:
        case "/help":
            for text in HELP:
                chat.notice(text)
        case "/nick" if rest:
            chat.bridge.call(lambda n: n.set_name(rest))
        case "/send" if rest:
            try:
                paths = slash.paths(rest)
            except ChattyError as exc:  # an unclosed quote
                chat.show_error(str(exc))
                return
            chat.send_paths(paths)
        case "/link" if rest:
            chat.send_text(rest, "link")
        case "/peers":
            for row in range(chat.peers.rowCount()):
                peer = chat.peers.peer(row)
                chat.notice(f"{peer.name} ({short_id(peer.id)}): {peer.state}")
        case "/history":
            chat.open_conversation()
        case _:
            chat.notice(f"Unknown or incomplete command {name}; /help lists them")
