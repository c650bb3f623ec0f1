"""The window's slash commands, against a stand-in for the window (``commands.Chat``):
no node, no widget, just what each command asks the window to do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatty_p2p.gui import commands
from chatty_p2p.gui.models import PeerModel


class FakeChat:
    def __init__(self) -> None:
        self.bridge: Any = None
        self.peers = PeerModel()
        self.did: list[tuple[str, object]] = []

    def notice(self, text: str) -> None:
        self.did.append(("notice", text))

    def show_error(self, text: str) -> None:
        self.did.append(("error", text))

    def send_text(self, text: str, kind: str) -> None:
        self.did.append((kind, text))

    def send_paths(self, paths: list[Path], targets: list[str] | None = None) -> None:
        self.did.append(("paths", paths))

    def open_conversation(self) -> None:
        self.did.append(("reload", None))


def test_send_reads_paths_as_a_shell_would_and_an_unclosed_quote_is_an_error() -> None:
    chat = FakeChat()
    commands.run('/send "my file.txt" ~/b', chat)
    commands.run('/send "open', chat)
    commands.run("/link https://example.org/ ", chat)
    commands.run("/history", chat)
    commands.run("/frobnicate", chat)
    (_, paths), (error, text), link, reload, unknown = chat.did
    assert paths == [Path("my file.txt"), Path("~/b").expanduser()]
    assert error == "error" and "close the quote" in str(text)
    assert link == ("link", "https://example.org/")
    assert reload == ("reload", None)
    assert unknown[0] == "notice" and "/frobnicate" in str(unknown[1])
