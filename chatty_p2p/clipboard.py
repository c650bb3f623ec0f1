"""The system clipboard, for the command line (the window uses Qt's own).

pyperclip knows each OS's way in (pbcopy, the Windows API, wl-clipboard, xclip,
xsel); this module only turns its failure into advice a user can follow.
"""

from __future__ import annotations

import pyperclip

from chatty_p2p.errors import ChattyError

_ADVICE = "install wl-clipboard (Wayland) or xclip (X11), or run Chatty in a desktop session"


def read_text() -> str:
    try:
        text = str(pyperclip.paste())
    except pyperclip.PyperclipException as exc:
        raise ChattyError(f"cannot read the clipboard here: {_ADVICE}") from exc
    if not text.strip():
        raise ChattyError("the clipboard holds no text")
    return text


def write_text(text: str) -> None:
    try:
        pyperclip.copy(text)
    except pyperclip.PyperclipException as exc:
        raise ChattyError(f"cannot write the clipboard here: {_ADVICE}") from exc
