"""Where Chatty keeps its files.

``--data-dir`` beats ``CHATTY_HOME`` beats the platform's user data folder
(``~/.local/share/chatty`` on Linux), so several instances can share a host.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("CHATTY_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir("chatty", appauthor=False))
