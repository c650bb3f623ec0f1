"""What a run of Chatty is configured with, before any node starts: where it keeps its
files, whether a process owns them, a setting read without a node, and whether the
interfaces named on the command line exist.

``--data-dir`` beats ``CHATTY_HOME`` beats the platform's user data folder
(``~/.local/share/chatty`` on Linux), so several instances can share a host.
This module is imported by every command before it knows whether it needs a
node, so it imports nothing heavy: each function imports what it needs when asked
(for start-up, not to dodge a cycle).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from chatty_p2p import portable
from chatty_p2p.errors import ChattyError

if TYPE_CHECKING:
    from chatty_p2p.protocol.dnssd import TsigKey


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


LOCK_NAME = "node.lock"


def lock_is_held(data_dir: Path) -> bool:
    """Whether a node (a daemon or the window) owns ``data_dir`` by holding ``node.lock``:
    the CLI then talks to it instead of starting its own. A data dir that does not
    exist, or that cannot be written, is owned by nobody; so is one without the lock
    file, which an owner makes before it locks (and is not made here)."""
    path = data_dir / LOCK_NAME
    if not path.exists():
        return False
    try:
        held = portable.lock(path)
    except OSError:
        return False
    if held is None:
        return True
    held.close()
    return False


def stored_setting(data_dir: Path, key: str) -> str | None:
    """A setting read without opening the store, which would take the data dir that a
    running daemon may hold: for ``chatty share``, which runs no node."""
    from chatty_p2p.store import peek_setting

    return peek_setting(data_dir, key)


def check_interfaces(names: list[str]) -> None:
    """Each ``--interface`` must name an interface here, or one of its addresses: the
    node would otherwise announce and listen nowhere, and say so only in a log line.
    Called once the command line is parsed (``--version`` and ``--help`` never are)."""
    if not names:
        return
    from chatty_p2p.net import netif  # brings ifaddr, which most commands never need

    every = netif.interfaces()
    known = {i.name for i in every} | {a.split("%")[0] for i in every for a in i.addresses}
    for name in names:
        if name.split("%")[0] not in known:
            here = ", ".join(i.name for i in every) or "none"
            raise ChattyError(f"no interface named {name}; interfaces here: {here}")


def wide_area(domains: list[str], key_file: str | None) -> tuple[list[str], TsigKey | None]:
    """``--dns-sd-domain`` and ``--tsig-key``, checked before a node starts: a domain
    that is no DNS name, a key file that cannot be read or holds no key, and a key with
    no domain to sign for are errors to fix now, not a log line later."""
    import dns.exception  # only for the few who use wide-area DNS-SD
    import dns.name

    from chatty_p2p.protocol.dnssd import read_key

    for domain in domains:
        try:
            dns.name.from_text(domain)
        except dns.exception.DNSException as exc:
            raise ChattyError(f"--dns-sd-domain {domain!r} is not a DNS name: {exc}") from exc
    if key_file is None:
        return domains, None
    if not domains:
        raise ChattyError("--tsig-key signs the registration in a domain: add --dns-sd-domain")
    try:
        text = Path(key_file).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ChattyError(f"cannot read the TSIG key file {key_file}: {exc.strerror}") from exc
    return domains, read_key(text, key_file)
