"""A browser share's download that fails before its first byte (the connection reset
while the response head goes out) closes the shared file at once: it used to stay
open until the garbage collector found it, one descriptor per broken download."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from chatty_p2p.share import downloads
from chatty_p2p.share.downloads import SharedItem, download


class _Broken:
    """An exchange whose connection is gone: every send fails."""

    remote = "192.0.2.1"

    async def send(self, event: Any) -> None:
        raise ConnectionResetError("reset by the browser")

    async def respond(self, *args: Any, **kw: Any) -> None:
        raise AssertionError("no refusal expected")


def test_a_download_that_fails_before_its_first_byte_closes_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "photo.jpg"
    shared.write_bytes(b"x" * 100_000)
    opened: list[BinaryIO] = []
    real = downloads._open_frozen

    def tracked(path: str) -> BinaryIO:
        opened.append(real(path))
        return opened[-1]

    monkeypatch.setattr(downloads, "_open_frozen", tracked)
    item = downloads.shared_items([shared])[0]
    assert isinstance(item, SharedItem)
    with pytest.raises(ConnectionResetError):
        asyncio.run(download(_Broken(), item, "", lambda *a, **k: None))  # type: ignore[arg-type]
    assert len(opened) == 1 and opened[0].closed
