"""The slash commands typed into a chat (``/nick NAME``, ``/send PATH…``): which
command a line is, and what follows it. What each one does is the face's business:
the terminal's chat (:mod:`chatty_p2p.cli.chat`) acts on it through a backend.

It lives beside the faces, not in one, and imports only the standard library, so the
window's chat (``gui/commands.py``) reads its lines with it too: the CLI opens the
window, so the window cannot import from ``chatty_p2p.cli`` without an import circle.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from chatty_p2p.errors import ChattyError


def split(line: str) -> tuple[str, str]:
    """``(command, rest)``: ``("", line)`` for a line that is a message; else the first
    word (``/send``) and everything after the space that ends it, as typed (a path
    keeps its spaces, a message its surrogates)."""
    if not line.startswith("/"):
        return "", line
    command, _, rest = line.partition(" ")
    return command, rest


def paths(rest: str) -> list[Path]:
    """The files and folders ``/send`` names, quoted as in a shell (``"my file.txt"``),
    with ``~`` expanded. A line shlex cannot read (an unclosed quote) is a
    ``ChattyError`` a face shows, not a crash of the chat."""
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise ChattyError(
            f"cannot read the paths ({exc}): close the quote and send again"
        ) from None
    return [Path(p).expanduser() for p in words]
