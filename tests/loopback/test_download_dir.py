"""The download folder: set while an offer waits, set to something unusable, gone bad
after it was set; and the files that land there. Two real nodes on loopback (no mDNS)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import stat
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatty_p2p.errors import ChattyError
from chatty_p2p.node import EventType, Node
from chatty_p2p.share import BrowserShare, UploadOffer
from tests.support.transfers import ended, vouch, wait_transfer

RAW = ("File exists", "Errno", "Not a directory", "Read-only file system")
"""The system's texts for OSErrors, which no message may show as they are."""


async def test_a_folder_set_while_an_offer_waits_is_where_it_lands(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    a, b = pair
    source = tmp_path / "note.txt"
    source.write_text("to the new folder\n")
    b_events = b.subscribe()
    sent = await a.send_files(b.device_id, [source])
    await wait_transfer(b_events, lambda t: t.id == sent.id, (EventType.TRANSFER_OFFERED,))
    chosen = b.set_download_dir(tmp_path / "chosen later")
    accepted = b.accept(sent.id[:8])
    assert accepted.folder == str(chosen)
    done = await wait_transfer(b_events, ended)
    assert done.state == "done", done.error
    assert done.folder == str(chosen)
    assert (chosen / "note.txt").read_text() == "to the new folder\n"
    assert not (tmp_path / "b-dl" / "note.txt").exists()
    assert b.transfers()[0].folder == str(chosen)  # as stored, not only as shown


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` where nothing can be written: a read-only mount for root (who
    ignores permission bits), a ``chmod`` otherwise."""
    folder.mkdir()
    if os.geteuid() == 0:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], check=True
        )
        try:
            yield
        finally:
            subprocess.run(["umount", "-l", str(folder)], check=False)
    else:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o755)


async def test_a_folder_nothing_can_be_saved_in_is_refused_in_plain_words(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    _, b = pair
    before = b.files.download_dir
    a_file = tmp_path / "small.bin"
    a_file.write_bytes(b"x")
    for wrong in (a_file, a_file / "below"):
        with pytest.raises(ChattyError, match="a file is in the way") as refused:
            b.set_download_dir(wrong)
        assert not any(raw in str(refused.value) for raw in RAW), refused.value
    with read_only(tmp_path / "ro"):
        with pytest.raises(ChattyError, match="cannot write in") as refused:
            b.set_download_dir(tmp_path / "ro")
        assert "read-only" in str(refused.value) or "permission denied" in str(refused.value)
        assert not any(raw in str(refused.value) for raw in RAW), refused.value
    assert b.files.download_dir == before
    assert b.store.setting("download_dir") != str(a_file)
    made = b.set_download_dir(tmp_path / "new" / "deeper")  # a missing folder is made
    assert made.is_dir() and b.files.download_dir == made


async def test_a_folder_that_turned_into_a_file_is_named_in_plain_words(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    """Set, then a file took its place: ``accept`` refuses; an offer accepted unasked
    pauses on both sides. Either way the words are plain."""
    a, b = pair
    source = tmp_path / "note.txt"
    source.write_text("nowhere to go\n")
    folder = tmp_path / "was a folder"
    folder.mkdir()
    b.set_download_dir(folder)
    folder.rmdir()
    folder.write_text("a file took its name")
    a_events, b_events = a.subscribe(), b.subscribe()
    sent = await a.send_files(b.device_id, [source])
    await wait_transfer(b_events, lambda t: t.id == sent.id, (EventType.TRANSFER_OFFERED,))
    with pytest.raises(ChattyError, match="a file is in the way") as refused:
        b.accept(sent.id)
    assert not any(raw in str(refused.value) for raw in RAW), refused.value
    b.decline(sent.id)
    b._guard.accept_from = ["*"]
    vouch(b, a)
    await a.send_files(b.device_id, [source])
    paused = await wait_transfer(b_events, lambda t: t.state == "paused")
    told = await wait_transfer(a_events, lambda t: t.state == "paused")
    for error in (paused.error, told.error):
        assert "a file is in the way" in error, error
        assert not any(raw in error for raw in RAW), error


async def test_received_files_get_one_mode_from_a_peer_or_a_browser(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    """Both are files their user receives: 0666 less the umask, as a browser's
    download (the share's uploads were 0644 and a peer's files 0600)."""
    a, b = pair
    source = tmp_path / "from a peer.txt"
    source.write_text("hello\n")
    old = os.umask(0o027)
    try:
        b_events = b.subscribe()
        sent = await a.send_files(b.device_id, [source])
        await wait_transfer(b_events, lambda t: t.id == sent.id, (EventType.TRANSFER_OFFERED,))
        b.accept(sent.id)
        assert (await wait_transfer(b_events, ended)).state == "done"
        inbox = tmp_path / "inbox"

        def accept(offer: UploadOffer) -> None:
            share.decide(offer.id, True)

        share = BrowserShare([source], inbox, host="127.0.0.1", on_upload=accept)
        await share.start()
        try:
            await asyncio.to_thread(upload, share, "from a browser.txt", b"hi\n")
        finally:
            await share.stop()
    finally:
        os.umask(old)
    modes = {
        stat.S_IMODE((tmp_path / "b-dl" / "from a peer.txt").stat().st_mode),
        stat.S_IMODE((inbox / "from a browser.txt").stat().st_mode),
    }
    assert modes == {0o640}, [oct(m) for m in modes]


def upload(share: BrowserShare, name: str, data: bytes) -> None:
    """What the share's page does: offer, then send the accepted file."""
    base = urllib.parse.urlsplit(share.urls()[0]).path
    conn = http.client.HTTPConnection("127.0.0.1", share.port, timeout=30)
    try:
        conn.request("POST", base + "offer", json.dumps({"name": name, "size": len(data)}))
        reply = json.loads(conn.getresponse().read())
        assert reply["state"] == "accepted", reply
        conn.request("PUT", f"{base}upload/{reply['id']}", data)
        response = conn.getresponse()
        assert response.status == 200, response.read()
    finally:
        conn.close()
