"""Serving the shared files: a file (a single byte range if asked), a folder as a zip.

A folder is served as a ``.zip`` of its files as they were when the share
started, stored (not compressed: photos and videos would not shrink) and
written as it is sent, ZIP64 where needed. Its length is not known in
advance, so it goes out chunked and the browser shows no percentage.
A symlink shares what it pointed to when the share started; a link put in
a source's place since is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import mimetypes
import os
import re
import shutil
import threading
import urllib.parse
import zipfile
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import h11

from chatty_p2p import portable
from chatty_p2p.errors import ChattyError, why_failed
from chatty_p2p.files.manifest import build_manifest
from chatty_p2p.files.model import human_size
from chatty_p2p.protocol.bulk.wire import Entry
from chatty_p2p.share.events import Emit
from chatty_p2p.share.exchange import CHUNK, HEADERS, Exchange, response

_ZIP_CHUNKS_IN_FLIGHT = 4

_Chunks = AsyncGenerator[bytes, None]


@dataclass(frozen=True)
class SharedItem:
    """One download on the page: a file, or a folder sent as a ``.zip``."""

    name: str
    """The name the browser saves it under."""
    path: Path
    size: int
    """Bytes of the file, or of all the folder's files."""
    files: int
    is_dir: bool
    members: tuple[tuple[Entry, str], ...] = field(repr=False)
    """What goes in: manifest entries (paths start with the folder's name) and sources."""

    @property
    def detail(self) -> str:
        if not self.is_dir:
            return human_size(self.size)
        files = "1 file" if self.files == 1 else f"{self.files} files"
        return f"folder, {files}, {human_size(self.size)}, as .zip"


def shared_items(paths: Sequence[Path]) -> list[SharedItem]:
    if not paths:
        raise ChattyError("nothing to share: give at least one file or folder")
    for path in paths:
        if not path.exists():
            raise ChattyError(f"cannot share {path}: no such file or folder")
    entries, sources = build_manifest(list(paths))
    groups: dict[str, list[tuple[Entry, str]]] = {}
    for entry, source in zip(entries, sources, strict=True):
        # A symlink shares what it points to now, not what it may point to later.
        frozen = os.path.realpath(source) if entry.kind == "file" else source
        groups.setdefault(entry.path.split("/", 1)[0], []).append((entry, frozen))
    found = []
    for path, (top, members) in zip(paths, groups.items(), strict=True):
        is_dir = path.is_dir()
        files = [entry for entry, _ in members if entry.kind == "file"]
        found.append(
            SharedItem(
                name=top + ".zip" if is_dir else top,
                path=path,
                size=sum(entry.size for entry in files),
                files=len(files),
                is_dir=is_dir,
                members=tuple(members),
            )
        )
    return found


async def download(exchange: Exchange, item: SharedItem, wanted: str, emit: Emit) -> None:
    """A file or a folder's zip. A file honours a single byte range (``wanted``,
    the request's ``Range``), so a phone whose download broke off resumes it
    instead of starting over (a zip is made as it goes and has no stable bytes
    to resume from)."""
    headers = [("content-disposition", _attachment(item.name))]
    source: BinaryIO | None = None
    if item.is_dir:
        status, planned = 200, 0  # a zip's length is not known in advance
        chunks = _zip_chunks(item.members)
        headers.append(("content-type", "application/zip"))
    else:
        planned_file = await _plan_file(exchange, item, wanted, headers)
        if planned_file is None:
            return
        status, planned, source = planned_file
        chunks = _file_chunks(source, planned)
    fields: dict[str, Any] = {
        "name": item.name,
        "size": item.size,
        "remote": exchange.remote,
        "path": str(item.path),
        "partial": status == 206,
    }
    emit("download-started", served=planned, **fields)
    served = 0
    try:
        async with contextlib.aclosing(chunks):
            await exchange.send(response(status, headers + HEADERS))
            async for chunk in chunks:
                await exchange.send(h11.Data(data=chunk))
                served += len(chunk)
            await exchange.send(h11.EndOfMessage())
    except (OSError, TimeoutError, asyncio.CancelledError) as exc:
        cut = isinstance(exc, asyncio.CancelledError)
        reason = "the share ended" if cut else why_failed(exc)
        emit("download-failed", served=served, detail=reason, **fields)
        raise
    finally:
        # Here, not in ``_file_chunks``: a generator closed before its first step
        # never runs its ``finally`` (the response head failed to go out).
        if source is not None:
            source.close()
    emit("download-done", served=served, **fields)


async def _plan_file(
    exchange: Exchange, item: SharedItem, wanted: str, headers: list[tuple[str, str]]
) -> tuple[int, int, BinaryIO] | None:
    """Open a shared file and plan its response: the status, the bytes it will
    carry and the open file, at their start, its headers added to ``headers``;
    ``None`` once a refusal (gone, or a range it does not have) has been sent."""
    try:
        source = await asyncio.to_thread(_open_frozen, item.members[0][1])
    except OSError:
        await exchange.respond(410, b"That file can no longer be read where it is shared.\n")
        return None
    size = os.fstat(source.fileno()).st_size
    span = _byte_range(wanted, size)
    if span is None:
        source.close()
        await exchange.respond(
            416, b"Range not satisfiable.\n", extra=[("content-range", f"bytes */{size}")]
        )
        return None
    start, end = span
    status = 200
    if (start, end) != (0, size):
        status = 206
        headers.append(("content-range", f"bytes {start}-{end - 1}/{size}"))
        source.seek(start)
    headers += [
        ("content-type", mimetypes.guess_type(item.name)[0] or "application/octet-stream"),
        ("content-length", str(end - start)),
        ("accept-ranges", "bytes"),
    ]
    return status, end - start, source


async def _file_chunks(source: BinaryIO, size: int) -> _Chunks:
    """``size`` bytes of ``source`` from where it stands (the caller closes it)."""
    left = size
    while left:
        data = await asyncio.to_thread(source.read, min(CHUNK, left))
        if not data:
            raise OSError("the file got shorter while it was being sent")
        left -= len(data)
        yield data


async def _zip_chunks(members: Sequence[tuple[Entry, str]]) -> _Chunks:
    """A folder's zip, written by a thread of its own as the browser takes it: at
    most a few chunks wait, so a slow browser slows the reading of the disk."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | Exception | None] = asyncio.Queue()
    slots = threading.Semaphore(_ZIP_CHUNKS_IN_FLIGHT)
    abandoned = threading.Event()

    def hand_over(item: bytes | Exception | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to hand to
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def produce() -> None:
        try:
            with io.BufferedWriter(_Pipe(hand_over, slots, abandoned), CHUNK) as out:
                _write_zip(out, members)
            hand_over(None)
        except Exception as exc:
            hand_over(exc)

    threading.Thread(target=produce, name="share-zip", daemon=True).start()
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, Exception):
                raise OSError(f"cannot read the folder: {item}") from item
            slots.release()
            yield item
    finally:
        abandoned.set()


class _Pipe(io.RawIOBase):
    """zipfile's output in the worker thread. It cannot seek, so zipfile writes
    data descriptors after each file instead of going back to patch headers."""

    def __init__(
        self,
        hand_over: Callable[[bytes], None],
        slots: threading.Semaphore,
        abandoned: threading.Event,
    ) -> None:
        self._hand_over = hand_over
        self._slots = slots
        self._abandoned = abandoned

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        while not self._slots.acquire(timeout=0.5):
            if self._abandoned.is_set():
                raise OSError("the download was abandoned")
        chunk = bytes(data)
        self._hand_over(chunk)
        return len(chunk)


def _write_zip(out: BinaryIO, members: Sequence[tuple[Entry, str]]) -> None:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for entry, source in members:
            if entry.kind == "dir":
                archive.mkdir(entry.path)
                continue
            info = zipfile.ZipInfo.from_file(source, entry.path, strict_timestamps=False)
            with _open_frozen(source) as src, archive.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, CHUNK)


def _byte_range(wanted: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` to send for a ``Range`` header: the whole file when there is
    none or it is not one we serve (several ranges, other units: ignoring it is
    allowed), ``None`` when it asks for bytes the file does not have."""
    found = re.fullmatch(r"bytes=(\d{0,19})-(\d{0,19})", wanted.strip())
    if found is None or found.groups() == ("", ""):
        return 0, size
    first, last = found.groups()
    if not first:  # the last N bytes
        return (max(0, size - int(last)), size) if int(last) else None
    start = int(first)
    end = min(size, int(last) + 1) if last else size
    return (start, end) if start < end else None


def _open_frozen(path: str) -> BinaryIO:
    """Open a source resolved when the share started, refusing a symlink put in its
    place since: a link re-pointed later must not serve another file (on Windows as
    well as ``portable.open_nofollow`` can tell)."""
    return os.fdopen(portable.open_nofollow(path, os.O_RDONLY), "rb")


def _attachment(name: str) -> str:
    """A Content-Disposition that saves under ``name``: RFC 6266 with the RFC 5987
    UTF-8 form, and a plain ASCII one for browsers that know no better."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"
