"""What a sender offers: the manifest of files and folders, and where each is read from."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from chatty_p2p.errors import (
    ChattyError,
    why_failed,
)
from chatty_p2p.protocol.bulk.wire import Entry
from chatty_p2p.protocol.names import numbered, readable


def build_manifest(paths: list[Path]) -> tuple[list[Entry], list[str]]:
    """Entries for files and folders, and the local path each file is read from.

    Files inside folders keep their relative paths; an empty folder is an entry
    of its own so it arrives too. Symlinked files are followed, symlinked folders
    are not (they could loop). Two top-level items with one name are numbered.
    """
    entries: list[Entry] = []
    sources: list[str] = []
    taken: set[str] = set()
    for raw in paths:
        path = Path(raw).expanduser().absolute()
        try:
            st = path.stat()
        except OSError as exc:
            raise ChattyError(f"cannot send {readable(str(raw))}: {why_failed(exc)}") from exc
        name = readable(path.name) or "root"
        top, n = name, 0
        while top in taken:
            n += 1
            top = numbered(name, n)
        taken.add(top)
        if stat.S_ISREG(st.st_mode):
            _check_readable(path)
            entries.append(Entry(top, "file", st.st_size, st.st_mtime))
            sources.append(str(path))
        elif stat.S_ISDIR(st.st_mode):
            _walk(path, top, entries, sources)
        else:
            raise ChattyError(f"cannot send {readable(str(raw))}: not a regular file or folder")
    return entries, sources


def _walk(root: Path, top: str, entries: list[Entry], sources: list[str]) -> None:
    def fail(exc: OSError) -> None:
        raise ChattyError(f"cannot read {readable(str(exc.filename))}: {why_failed(exc)}")

    for folder, dirs, files in os.walk(root, onerror=fail):
        dirs.sort()
        rel = os.path.relpath(folder, root)
        prefix = top if rel == "." else readable(f"{top}/{Path(rel).as_posix()}")
        kept = 0
        for name in sorted(files):
            full = os.path.join(folder, name)
            try:
                st = os.stat(full)
            except OSError:
                continue  # a dangling symlink
            if not stat.S_ISREG(st.st_mode):
                continue  # sockets, fifos, devices
            _check_readable(Path(full))
            entries.append(Entry(f"{prefix}/{readable(name)}", "file", st.st_size, st.st_mtime))
            sources.append(full)
            kept += 1
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        if not kept and not dirs:
            entries.append(Entry(prefix, "dir", 0, os.stat(folder).st_mtime))
            sources.append("")


def _check_readable(path: Path) -> None:
    if not os.access(path, os.R_OK):
        raise ChattyError(f"cannot send {readable(str(path))}: permission denied")
