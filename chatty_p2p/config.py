"""Where Chatty keeps its files, and whether a process owns them.

``--data-dir`` beats ``CHATTY_HOME`` beats the platform's user data folder
(``~/.local/share/chatty`` on Linux), so several instances can share a host.
This module is imported by every command before it knows whether it needs a
node, so it imports nothing heavy (``platformdirs`` only when asked).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def default_data_dir() -> Path:
    """The platform's user data folder: where Chatty looks with no option and no
    ``CHATTY_HOME``, so the only folder a printed command may leave unsaid."""
    import platformdirs

    return Path(platformdirs.user_data_dir("chatty", appauthor=False))


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("CHATTY_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return default_data_dir()


def lock_is_held(data_dir: Path) -> bool:
    """Whether a node (a daemon or the window) owns ``data_dir`` by holding ``node.lock``:
    the CLI then talks to it instead of starting its own."""
    try:
        handle = open(data_dir / "node.lock", "a+")  # noqa: SIM115
    except OSError:
        return False
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False
