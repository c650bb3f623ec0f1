"""Turning a peer's file paths into names that are safe to create here.

A manifest path comes from another machine, maybe a hostile one. The rules
make every path a plain relative path of ordinary names, whatever it was, so
that joining it under the download folder can never leave that folder:

* ``/`` is the only separator in the protocol; empty and ``.`` parts are
  dropped, so an absolute path becomes relative;
* a part made only of dots (``..``) becomes ``_``;
* control, bidi-override and characters that Windows forbids (``<>:"\\|?*``)
  become ``_``, so ``C:\\x`` is one harmless name, not a drive and a folder;
* trailing dots and spaces go (Windows drops them silently, which could merge
  two names); Windows device names (``CON``, ``nul.txt``, ``COM1``) get a ``_``
  prefix, so a folder received on Linux can still be copied to Windows;
* a part longer than ``MAX_PART_BYTES`` is shortened, keeping its extension.

A name on the *sending* side may not be text at all: Linux names are bytes, and
one from an old Latin-1 disk is not valid UTF-8. Python hands such a name over
with each undecodable byte as a lone surrogate, which JSON, SQLite and the wire
refuse. ``readable`` turns each into U+FFFD, the usual "unknown character" sign:
the name on the wire is readable (``caf\ufffd.txt``), the bytes are still read
through the original path, and two names that differ only there land as
``caf\ufffd.txt`` and ``caf\ufffd (1).txt``.

What the rules cannot decide (a name that already exists, a symlink planted
in the download folder) is the writer's job: see ``files.landing``.
"""

from __future__ import annotations

import re

from chatty_p2p.errors import ChattyError

MAX_PART_BYTES = 240
"""Below the usual 255-byte limit, leaving room for a `` (12)`` suffix."""
MAX_DEPTH = 64

_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f-\x9f<>:"\\|?*\u2028\u2029\u202a-\u202e\u2066-\u2069]')
_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?", re.I)


_SURROGATE = re.compile("[\ud800-\udfff]")


def readable(text: str) -> str:
    """``text`` with every lone surrogate (an undecodable byte of a file name, see
    above) replaced by U+FFFD, so that it can be encoded as UTF-8 anywhere."""
    return _SURROGATE.sub("\ufffd", text)


class UnsafePath(ChattyError):
    """A path that cannot be made safe (too deep); the whole batch is refused."""


def safe_part(raw: str) -> str:
    """One path component, made safe to create in a folder on any system."""
    part = _FORBIDDEN.sub("_", raw).rstrip(". ").lstrip(" ")
    if not part or set(part) == {"."}:
        return "_"
    if _RESERVED.fullmatch(part):
        part = "_" + part
    return _shorten(part, MAX_PART_BYTES)


def safe_relpath(raw: str) -> tuple[str, ...]:
    """The parts of a peer's ``/``-separated path, each made safe; never empty."""
    parts = tuple(safe_part(p) for p in raw.split("/") if p not in ("", "."))
    if len(parts) > MAX_DEPTH:
        raise UnsafePath(f"path nested deeper than {MAX_DEPTH} folders: {raw[:80]!r}")
    return parts or ("_",)


def numbered(name: str, n: int) -> str:
    """``name`` with `` (n)`` before its extension: the n-th alternative for a taken name."""
    stem, dot, ext = name.rpartition(".")
    if not stem or len(ext) > 16:  # no extension, a dotfile, or a dot mid-name
        return f"{name} ({n})"
    return f"{stem} ({n}){dot}{ext}"


def _shorten(part: str, limit: int) -> str:
    if len(part.encode("utf-8")) <= limit:
        return part
    stem, dot, ext = part.rpartition(".")
    tail = dot + ext if stem and len(ext.encode("utf-8")) <= 16 else ""
    head = part[: len(part) - len(tail)] if tail else part
    budget = limit - len(tail.encode("utf-8"))
    return head.encode("utf-8")[:budget].decode("utf-8", "ignore") + tail
