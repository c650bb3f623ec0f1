"""The browser share on loopback: what a browser can get, and what it cannot.

Clients are the standard library's (``http.client``, raw sockets), so every
byte on the wire is what the test wrote; assertions are on the bytes, hashes
and text a user would see.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.client
import io
import json
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from chatty_p2p.cli.share import default_receive_dir
from chatty_p2p.errors import ChattyError
from chatty_p2p.share import (
    MAX_CONNECTIONS,
    MAX_OFFERS,
    MAX_PER_ADDRESS,
    BrowserShare,
    ShareEvent,
    UploadOffer,
)
from chatty_p2p.share import exchange as share_exchange
from chatty_p2p.store import Store
from tests.support.processes import ShareProcess, files_in

HOST = "127.0.0.1"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def shared(tmp_path: Path) -> dict[str, Path]:
    """A file with a name to encode, a folder with a subfolder and an empty one, and
    an empty folder to receive into."""
    report = tmp_path / "report ü.bin"
    report.write_bytes(os.urandom(3_000_000))
    photos = tmp_path / "photos"
    (photos / "deep").mkdir(parents=True)
    (photos / "empty").mkdir()
    (photos / "a.jpg").write_bytes(os.urandom(200_000))
    (photos / "deep" / "b.txt").write_text("bee\n")
    inbox = tmp_path / "inbox"
    return {"report": report, "photos": photos, "inbox": inbox}


@contextlib.asynccontextmanager
async def running(
    paths: list[Path],
    receive: Path | None,
    on_upload: Callable[[UploadOffer], None] | None = None,
    timeout: float = 60,
    accept_all: bool = False,
) -> AsyncIterator[tuple[BrowserShare, list[ShareEvent]]]:
    """A share on loopback; ``accept_all`` says yes to every upload at once."""
    events: list[ShareEvent] = []
    if accept_all:

        def on_upload(o: UploadOffer) -> None:
            share.decide(o.id, True)

    share = BrowserShare(
        paths, receive, host=HOST, timeout=timeout, on_upload=on_upload, on_event=events.append
    )
    await share.start()
    try:
        yield share, events
    finally:
        await share.stop()


def base_of(share: BrowserShare) -> str:
    return urllib.parse.urlsplit(share.urls()[0]).path


BIG_BODY = os.urandom(8 << 20)
"""More than the kernel's socket buffers hold: a sender that is refused is still sending."""


async def fetch(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection, off the event loop the share runs on."""

    def run() -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            found = {k.lower(): v for k, v in response.getheaders()}
            return response.status, found, response.read()
        finally:
            conn.close()

    return await asyncio.to_thread(run)


async def offer(port: int, base: str, name: str, size: int) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"name": name, "size": size}).encode()
    status, _, reply = await fetch(
        port, "POST", base + "offer", body, {"Content-Type": "application/json"}
    )
    return status, json.loads(reply)


def kinds(events: list[ShareEvent]) -> list[str]:
    return [e.kind for e in events]


async def wait_until(predicate: Callable[[], bool], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


# ----- downloads -------------------------------------------------------------


async def test_page_lists_the_files_and_a_download_is_the_file(shared: dict[str, Path]) -> None:
    async with running([shared["report"], shared["photos"]], None) as (share, events):
        (url,) = share.urls()
        assert re.fullmatch(rf"http://127\.0\.0\.1:{share.port}/[A-Za-z0-9_-]{{24}}/", url)
        base = base_of(share)
        status, headers, page = await fetch(share.port, "GET", base)
        text = page.decode()
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert "report ü.bin" in text and "3.0 MB" in text
        assert "photos.zip" in text and "folder, 2 files" in text
        assert "not encrypted" in text
        assert 'id="files"' not in text  # no receive folder: no upload form

        status, headers, body = await fetch(share.port, "GET", base + "f/0")
        assert status == 200
        assert sha(body) == sha(shared["report"].read_bytes())
        assert headers["content-length"] == str(3_000_000)
        assert "attachment" in headers["content-disposition"]
        assert "filename*=UTF-8''report%20%C3%BC.bin" in headers["content-disposition"]
        await wait_until(lambda: "download-done" in kinds(events))
    done = next(e for e in events if e.kind == "download-done")
    assert (done.name, done.size, done.remote) == ("report ü.bin", 3_000_000, HOST)


async def test_a_broken_off_download_resumes_from_a_byte_range(shared: dict[str, Path]) -> None:
    data = shared["report"].read_bytes()
    size = len(data)
    async with running([shared["report"]], None) as (share, _):
        url = base_of(share) + "f/0"
        for wanted, first, last in (
            ("bytes=1000000-", 1_000_000, size - 1),
            ("bytes=10-19", 10, 19),
            ("bytes=-500", size - 500, size - 1),
        ):
            status, headers, body = await fetch(share.port, "GET", url, headers={"Range": wanted})
            assert (status, body) == (206, data[first : last + 1]), wanted
            assert headers["content-range"] == f"bytes {first}-{last}/{size}"
            assert headers["content-length"] == str(last + 1 - first)
        for whole in ("bytes=0-", "bytes=1-2, 5-6"):  # several ranges: the whole file is allowed
            status, headers, body = await fetch(share.port, "GET", url, headers={"Range": whole})
            assert (status, body) == (200, data) and headers["accept-ranges"] == "bytes"
        status, headers, body = await fetch(
            share.port, "GET", url, headers={"Range": f"bytes={size}-"}
        )
        assert status == 416 and headers["content-range"] == f"bytes */{size}"


async def test_a_folder_downloads_as_a_zip_of_its_files(shared: dict[str, Path]) -> None:
    photos = shared["photos"]
    async with running([photos], None) as (share, _):
        status, headers, body = await fetch(share.port, "GET", base_of(share) + "f/0")
    assert status == 200 and headers["content-type"] == "application/zip"
    assert 'filename="photos.zip"' in headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == [
            "photos/a.jpg",
            "photos/deep/b.txt",
            "photos/empty/",
        ]
        assert archive.read("photos/a.jpg") == (photos / "a.jpg").read_bytes()
        assert archive.read("photos/deep/b.txt") == b"bee\n"


async def test_a_symlink_shares_what_it_pointed_to_when_the_share_began(tmp_path: Path) -> None:
    folder, outside = tmp_path / "shared", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (outside / "chosen.txt").write_bytes(b"meant to be shared")
    (outside / "secret.txt").write_bytes(b"never shared")
    (folder / "link.txt").symlink_to(outside / "chosen.txt")
    (tmp_path / "single").symlink_to(outside / "chosen.txt")
    async with running([folder, tmp_path / "single"], None) as (share, _):
        # Someone re-points both links after the share began.
        for link in (folder / "link.txt", tmp_path / "single"):
            link.unlink()
            link.symlink_to(outside / "secret.txt")
        _, _, zipped = await fetch(share.port, "GET", base_of(share) + "f/0")
        _, _, single = await fetch(share.port, "GET", base_of(share) + "f/1")
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        assert archive.read("shared/link.txt") == b"meant to be shared"
    assert single == b"meant to be shared"


async def test_a_wrong_token_or_another_path_gets_a_bare_404(shared: dict[str, Path]) -> None:
    secret = shared["report"].read_bytes()[:64]
    async with running([shared["report"]], shared["inbox"]) as (share, events):
        token = base_of(share).strip("/")
        wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
        for path in (
            "/",
            "/favicon.ico",
            "/f/0",
            f"/{wrong}/",
            f"/{wrong}/f/0",
            f"/{token[:-1]}/f/0",
            f"/{token}x/f/0",
            f"//{token}/f/0",
            f"/x/{token}/f/0",
            f"/{token.lower() if token != token.lower() else token.upper()}/f/0",
        ):
            for method in ("GET", "POST", "PUT"):
                status, _, body = await fetch(share.port, method, path, b"{}")
                assert (path, method, status, body) == (path, method, 404, b"Not found.\n")
                assert secret not in body
    assert "download-started" not in kinds(events)


async def test_path_tricks_get_404_and_nothing_from_the_disk(shared: dict[str, Path]) -> None:
    outside = shared["report"].parent / "outside.txt"
    outside.write_text("top secret\n")
    async with running([shared["photos"]], None) as (share, _):
        base = base_of(share)
        for path in (
            f"{base}f/../../../../etc/passwd",
            f"{base}../{base}f/0",
            f"{base}f/0/../../outside.txt",
            f"{base}f/%30",
            f"{base}f/0%2f..%2foutside.txt",
            f"{base}%2e%2e/outside.txt",
            f"{base}f/1",
            f"{base}f/-1",
            f"{base}f/00000000",
            f"{base}f/{outside}",
            f"{base}{outside.name}",
            f"{base}photos/a.jpg",
        ):
            status, _, body = await fetch(share.port, "GET", path)
            assert (path, status) == (path, 404)
            assert b"top secret" not in body and b"root:" not in body


async def test_after_stop_nothing_answers(shared: dict[str, Path]) -> None:
    async with running([shared["report"]], None) as (share, events):
        base = base_of(share)
        kept = http.client.HTTPConnection(HOST, share.port, timeout=10)
        await asyncio.to_thread(kept.request, "GET", base)
        response = await asyncio.to_thread(kept.getresponse)
        assert response.status == 200
        response.read()
        await share.stop()
        async with asyncio.timeout(5):
            await share.wait_closed()
        assert kinds(events)[-1] == "stopped"
        with pytest.raises(ConnectionRefusedError):
            await fetch(share.port, "GET", base + "f/0")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            await asyncio.to_thread(kept.request, "GET", base + "f/0")
            await asyncio.to_thread(kept.getresponse)
        kept.close()


async def test_after_the_timeout_nothing_answers(shared: dict[str, Path]) -> None:
    async with running([shared["report"]], shared["inbox"], timeout=0.5) as (share, events):
        base = base_of(share)
        async with asyncio.timeout(10):
            await share.wait_closed()
        assert kinds(events) == ["expired", "stopped"]
        with pytest.raises(ConnectionRefusedError):
            await fetch(share.port, "GET", base)


async def test_a_download_running_at_the_timeout_finishes(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(40_000_000))
    async with running([big], None, timeout=1.0) as (share, events):
        base = base_of(share)

        def slow_download() -> bytes:
            with socket.create_connection((HOST, share.port), timeout=20) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                sock.sendall(f"GET {base}f/0 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                received = bytearray(sock.recv(65536))
                time.sleep(1.5)  # the share expires meanwhile
                while chunk := sock.recv(1 << 20):
                    received += chunk
            return bytes(received)

        raw = await asyncio.to_thread(slow_download)
        async with asyncio.timeout(10):
            await share.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert sha(body) == sha(big.read_bytes())
    assert kinds(events) == ["download-started", "expired", "download-done", "stopped"]


# ----- uploads ----------------------------------------------------------------


async def test_a_declined_upload_writes_nothing(shared: dict[str, Path]) -> None:
    inbox = shared["inbox"]
    offers: list[UploadOffer] = []

    def decline(o: UploadOffer) -> None:
        offers.append(o)
        share.decide(o.id, False)

    async with running([shared["report"]], inbox, on_upload=decline) as (share, events):
        base = base_of(share)
        status, reply = await offer(share.port, base, "../../evil.sh", 12)
        assert (status, reply["state"]) == (403, "declined")
        status, _, _ = await fetch(
            share.port, "PUT", f"{base}upload/{reply['id']}", b"#!/bin/sh\nx\n"
        )
        assert status == 404
    assert offers[0].name == "evil.sh" and offers[0].size == 12 and offers[0].remote == HOST
    assert files_in(inbox) == []
    assert kinds(events)[:2] == ["upload-offered", "upload-declined"]


async def test_without_anyone_to_ask_every_upload_is_declined(shared: dict[str, Path]) -> None:
    async with running([shared["report"]], shared["inbox"]) as (share, _):
        status, reply = await offer(share.port, base_of(share), "a.txt", 1)
    assert (status, reply["state"]) == (403, "declined")
    assert files_in(shared["inbox"]) == []


async def test_an_accepted_upload_lands_under_a_fresh_name(shared: dict[str, Path]) -> None:
    inbox = shared["inbox"]
    inbox.mkdir()
    (inbox / "photo.jpg").write_bytes(b"already here")
    loop = asyncio.get_running_loop()

    def accept_later(o: UploadOffer) -> None:  # a person taking a moment to answer
        loop.call_later(0.3, share.decide, o.id, True)

    async with running([shared["report"]], inbox, on_upload=accept_later) as (share, events):
        base = base_of(share)
        sent = []
        for _ in range(2):
            data = os.urandom(1_500_000)
            status, reply = await offer(share.port, base, "photo.jpg", len(data))
            assert (status, reply["state"]) == (200, "accepted")
            status, _, body = await fetch(share.port, "PUT", f"{base}upload/{reply['id']}", data)
            assert status == 200, body
            sent.append(data)
        status, _, _ = await fetch(share.port, "PUT", f"{base}upload/{reply['id']}", data)
        assert status == 404  # an offer is good for one upload
    assert (inbox / "photo.jpg").read_bytes() == b"already here"
    assert sha((inbox / "photo (1).jpg").read_bytes()) == sha(sent[0])
    assert sha((inbox / "photo (2).jpg").read_bytes()) == sha(sent[1])
    assert files_in(inbox) == ["photo (1).jpg", "photo (2).jpg", "photo.jpg"]
    done = [e for e in events if e.kind == "upload-done"]
    assert [Path(e.path).name for e in done] == ["photo (1).jpg", "photo (2).jpg"]


async def test_a_refused_upload_gets_its_answer_not_a_reset(shared: dict[str, Path]) -> None:
    """A PUT the share refuses before reading its body (no such offer): the browser sees
    the 404 and its reason. Closed at once with the body unread, the kernel answered
    the rest of the body with a reset, which could reach the browser before the 404
    did: a network error instead of the reason (a CI run saw it)."""
    inbox = shared["inbox"]
    inbox.mkdir()
    async with running([shared["report"]], inbox) as (share, _):
        base = base_of(share)
        for _ in range(3):
            status, _, body = await fetch(share.port, "PUT", f"{base}upload/nosuch", BIG_BODY)
            assert status == 404 and b"not accepted" in body


async def test_a_body_other_than_the_offered_size_is_refused(shared: dict[str, Path]) -> None:
    inbox = shared["inbox"]
    async with running([shared["report"]], inbox, accept_all=True) as (share, _):
        base = base_of(share)
        for body in (b"x" * 20, b"x" * 9):
            status, reply = await offer(share.port, base, "ten.txt", 10)
            assert status == 200
            status, _, answer = await fetch(share.port, "PUT", f"{base}upload/{reply['id']}", body)
            assert status == 413 and b"exactly 10 bytes" in answer
            status, _, _ = await fetch(share.port, "PUT", f"{base}upload/{reply['id']}", b"x" * 10)
            assert status == 404  # the offer is spent
    assert files_in(inbox) == []


async def test_an_upload_cut_short_leaves_nothing(shared: dict[str, Path]) -> None:
    inbox = shared["inbox"]
    async with running([shared["report"]], inbox, accept_all=True) as (share, events):
        base = base_of(share)
        status, reply = await offer(share.port, base, "movie.mp4", 5_000_000)
        assert status == 200

        def send_half() -> None:
            with socket.create_connection((HOST, share.port), timeout=10) as sock:
                head = f"PUT {base}upload/{reply['id']} HTTP/1.1\r\nHost: x\r\n"
                sock.sendall(f"{head}Content-Length: 5000000\r\n\r\n".encode())
                sock.sendall(os.urandom(2_000_000))

        await asyncio.to_thread(send_half)
        await wait_until(lambda: "upload-failed" in kinds(events))
        assert files_in(inbox) == []


async def test_limits_on_what_a_browser_sends(shared: dict[str, Path]) -> None:
    async with running([shared["report"]], shared["inbox"], accept_all=True) as (share, _):
        base, port = base_of(share), share.port
        status, _, _ = await fetch(port, "GET", base, headers={"X-Big": "a" * 10_000})
        assert status == 431
        status, _, _ = await fetch(port, "POST", base + "offer", b"{" + b" " * 5000 + b"}")
        assert status == 413
        for bad in (b"not json", b"[]", b'{"name": "", "size": 1}', b'{"name": "a", "size": -1}'):
            status, _, _ = await fetch(port, "POST", base + "offer", bad)
            assert status == 400
        status, reply = await offer(port, base, "huge.iso", 2**52)
        assert (status, reply["state"]) == (403, "declined") and "space" in reply["reason"]
        for _ in range(MAX_OFFERS):
            assert (await offer(port, base, "a.txt", 1))[0] == 200  # accepted, never sent
        status, reply = await offer(port, base, "a.txt", 1)
        assert status == 429 and "too many" in reply["reason"]
    assert files_in(shared["inbox"]) == []


async def test_uploads_are_not_served_without_a_receive_folder(shared: dict[str, Path]) -> None:
    async with running([shared["report"]], None, on_upload=lambda o: None) as (share, events):
        status, _, _ = await fetch(share.port, "POST", base_of(share) + "offer", b"{}")
    assert status == 404 and kinds(events) == ["stopped"]


def hold(port: int, source: str, count: int) -> list[socket.socket]:
    """``count`` connections from ``source`` (any 127/8 address is loopback on Linux)
    that send nothing, as a silent slowloris does."""
    return [
        socket.create_connection((HOST, port), timeout=5, source_address=(source, 0))
        for _ in range(count)
    ]


def is_closed(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(100) == b""
    except (TimeoutError, BlockingIOError):
        return False
    except OSError:
        return True


async def test_connections_beyond_the_caps_make_room_fairly(shared: dict[str, Path]) -> None:
    """Four addresses take every slot. One more from one of them takes the place of
    its own oldest, never another address's; a newcomer from elsewhere takes the
    place of the oldest connection of an address holding the most, and is served."""
    async with running([shared["report"]], None) as (share, _):

        def flood() -> tuple[bool, list[bool]]:
            per = MAX_CONNECTIONS // 4
            held = [s for i in range(4) for s in hold(share.port, f"127.0.0.{2 + i}", per)]
            try:
                time.sleep(0.3)  # the server has taken them all in
                (extra,) = hold(share.port, "127.0.0.2", 1)
                with extra:
                    kept = not is_closed(extra, 0.5)
                    status = urllib.request.urlopen(share.urls()[0], timeout=5).status
                    assert status == 200
                return kept, [is_closed(s, 0.2) for s in held]
            finally:
                for sock in held:
                    sock.close()

        kept, held_closed = await asyncio.to_thread(flood)
        assert kept
        assert held_closed[:2] == [True, True] and held_closed.count(True) == 2
        status, _, _ = await fetch(share.port, "GET", base_of(share))
        assert status == 200


async def test_a_slowloris_from_one_address_keeps_nobody_out(
    shared: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 connections from one address, half silent, half dripping a byte of a
    request head at a time: all but a few are closed at once, those few once the
    head's deadline passes (in all, not per byte), and a browser elsewhere is
    served throughout."""
    monkeypatch.setattr(share_exchange, "HEAD_TIMEOUT", 2.0)
    async with running([shared["report"]], None) as (share, _):
        head = f"GET {base_of(share)} HTTP/1.1\r\nHost: x\r\n".encode()

        def attack() -> tuple[int, list[bool], float]:
            socks = hold(share.port, "127.0.0.9", 40)
            try:
                time.sleep(0.3)
                open_now = [not is_closed(s, 0.05) for s in socks].count(True)
                served = urllib.request.urlopen(share.urls()[0], timeout=5).status
                assert served == 200
                start = time.monotonic()
                for i in range(len(head)):  # a byte each 0.25 s: each read comes in time
                    for sock in socks:
                        with contextlib.suppress(OSError):
                            sock.send(head[i : i + 1])
                    if all(is_closed(s, 0) for s in socks):
                        break
                    time.sleep(0.25)
                return open_now, [is_closed(s, 1) for s in socks], time.monotonic() - start
            finally:
                for sock in socks:
                    sock.close()

        open_now, closed, took = await asyncio.to_thread(attack)
        assert open_now == MAX_PER_ADDRESS
        assert all(closed) and took < 2.0 + 2, took


async def test_a_smuggled_request_after_a_400_is_never_answered(
    shared: dict[str, Path],
) -> None:
    """Transfer-Encoding and Content-Length together (RFC 9112 section 6.1), and a
    body that is no offer: each gets its 400 and the connection ends there, so the
    request hidden behind it is never read."""
    async with running([shared["report"]], shared["inbox"], accept_all=True) as (share, _):
        base = base_of(share)
        smuggled = f"GET {base} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        both = (
            f"POST {base}offer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            "Content-Length: 5\r\n\r\n0\r\n\r\n"
        ).encode()
        bad_offer = (
            f"POST {base}offer HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\nnot json"
        ).encode()

        def send(request: bytes) -> bytes:
            with socket.create_connection((HOST, share.port), timeout=5) as sock:
                sock.sendall(request + smuggled)
                reply = b""
                while chunk := sock.recv(65536):
                    reply += chunk
                return reply

        for request in (both, bad_offer):
            reply = await asyncio.to_thread(send, request)
            assert reply.startswith(b"HTTP/1.1 400 ") and reply.count(b"HTTP/1.1") == 1, reply


async def test_an_offer_name_with_a_lone_surrogate_is_a_400(shared: dict[str, Path]) -> None:
    async with running([shared["report"]], shared["inbox"], accept_all=True) as (share, _):
        body = b'{"name": "\\ud800.txt", "size": 1}'
        status, _, reply = await fetch(share.port, "POST", base_of(share) + "offer", body)
        assert status == 400 and b"not valid Unicode" in reply
        assert (await fetch(share.port, "GET", base_of(share)))[0] == 200


def test_a_missing_path_is_a_plain_error(tmp_path: Path) -> None:
    with pytest.raises(ChattyError, match=r"cannot share .*nope: no such file or folder"):
        BrowserShare([tmp_path / "nope"], None)


# ----- the command ------------------------------------------------------------


def chatty_share(tmp_path: Path, *args: str, stdin: int = subprocess.DEVNULL) -> ShareProcess:
    """``chatty share`` on loopback only."""
    command = [sys.executable, "-m", "chatty_p2p", "share", *args, "--interface", HOST]
    return ShareProcess([*command, "--data-dir", str(tmp_path / "data")], stdin)


def post_offer(url: str, name: str, size: int) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url + "offer", data=json.dumps({"name": name, "size": size}).encode(), method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_command_shares_until_its_timeout(tmp_path: Path, shared: dict[str, Path]) -> None:
    share = chatty_share(tmp_path, str(shared["report"]), "--no-upload", "--timeout", "4")
    try:
        url = share.url(HOST)
        with urllib.request.urlopen(url + "f/0", timeout=10) as response:
            assert sha(response.read()) == sha(shared["report"].read_bytes())
        code, out, err = share.finish()
    finally:
        share.kill()
    assert code == 0, err
    assert "Not encrypted" in out and "▀" in out  # the warning, and the QR code
    assert "downloaded report ü.bin (3.0 MB)" in out
    assert "time is up" in out and "stopped sharing" in out


def test_the_command_declines_uploads_with_no_terminal_to_ask(
    tmp_path: Path, shared: dict[str, Path]
) -> None:
    inbox = shared["inbox"]
    share = chatty_share(tmp_path, str(shared["report"]), "--receive-to", str(inbox))
    try:
        status, reply = post_offer(share.url(HOST), "a.txt", 3)
        assert (status, reply["state"]) == (403, "declined")
        share.wait_for("declined a.txt")
        share.proc.send_signal(signal.SIGINT)
        code, out, _ = share.finish()
    finally:
        share.kill()
    assert code == 0
    assert "Uploads are declined: there is no terminal to ask on" in out
    assert "stopped sharing" in out
    assert files_in(inbox) == []


@contextlib.contextmanager
def share_on_a_terminal(
    tmp_path: Path, shared: dict[str, Path]
) -> Iterator[tuple[ShareProcess, int, str]]:
    """``chatty share`` whose stdin is a real terminal (a pty) the test types into."""
    terminal, stdin = pty.openpty()
    share = chatty_share(
        tmp_path, str(shared["report"]), "--receive-to", str(shared["inbox"]), stdin=stdin
    )
    os.close(stdin)
    try:
        url = share.url(HOST)
        share.wait_for("you are asked about each one")
        yield share, terminal, url
    finally:
        share.kill()
        os.close(terminal)


def test_the_command_asks_on_its_terminal(tmp_path: Path, shared: dict[str, Path]) -> None:
    inbox = shared["inbox"]
    with share_on_a_terminal(tmp_path, shared) as (share, terminal, url):
        answers = []
        for name, typed in (("no.txt", b"\n"), ("yes.txt", b"y\n")):
            asking = threading.Thread(target=lambda n=name: answers.append(post_offer(url, n, 3)))
            asking.start()
            share.wait_for(f"offers {name}")
            os.write(terminal, typed)
            asking.join(10)
        assert [(status, reply["state"]) for status, reply in answers] == [
            (403, "declined"),
            (200, "accepted"),
        ]
        data = urllib.request.Request(url + f"upload/{answers[1][1]['id']}", b"yes", method="PUT")
        with urllib.request.urlopen(data, timeout=10) as response:
            assert response.status == 200
        share.wait_for("received yes.txt")
        share.proc.send_signal(signal.SIGINT)
        code, out, _ = share.finish()
    assert code == 0
    assert f"Accept 'no.txt' (3 B) from {HOST}? [y/N]" in out
    assert f"Accept 'yes.txt' (3 B) from {HOST}? [y/N]" in out
    assert files_in(inbox) == ["yes.txt"] and (inbox / "yes.txt").read_bytes() == b"yes"


def test_a_y_typed_before_the_question_does_not_answer_it(
    tmp_path: Path, shared: dict[str, Path]
) -> None:
    inbox = shared["inbox"]
    with share_on_a_terminal(tmp_path, shared) as (share, terminal, url):
        os.write(terminal, b"y\n")  # typed ahead, well before anything was asked
        time.sleep(0.3)
        answers: list[tuple[int, dict[str, Any]]] = []
        asking = threading.Thread(target=lambda: answers.append(post_offer(url, "evil.sh", 3)))
        asking.start()
        share.wait_for("offers evil.sh")
        os.write(terminal, b"\n")  # the person, having read the question, says no
        asking.join(10)
        assert [(status, reply["state"]) for status, reply in answers] == [(403, "declined")]
    assert files_in(inbox) == []


def test_uploads_go_to_the_download_folder_set_in_chatty(tmp_path: Path) -> None:
    assert default_receive_dir(tmp_path) == Path(platformdirs.user_downloads_dir()) / "Chatty"
    store = Store(tmp_path / "chatty.db")
    store.set_setting("download_dir", str(tmp_path / "mine"))
    store.close()
    assert default_receive_dir(tmp_path) == tmp_path / "mine"


def test_the_command_refuses_a_missing_path(tmp_path: Path) -> None:
    share = chatty_share(tmp_path, str(tmp_path / "nope.txt"))
    code, out, err = share.finish()
    assert code == 1 and out == ""  # as every command that fails
    assert (
        err.strip() == f"chatty share: cannot share {tmp_path / 'nope.txt'}: no such file or folder"
    )


# ----- what the share tells its user -------------------------------------------


async def test_a_byte_range_is_logged_as_the_part_it_was(shared: dict[str, Path]) -> None:
    async with running([shared["report"]], None) as (share, events):
        url = base_of(share) + "f/0"
        status, _, body = await fetch(share.port, "GET", url, headers={"Range": "bytes=10-109"})
        assert (status, len(body)) == (206, 100)
        await wait_until(lambda: "download-done" in kinds(events))
        status, _, body = await fetch(share.port, "GET", url)
        await wait_until(lambda: kinds(events).count("download-done") == 2)
    part, whole = [e for e in events if e.kind == "download-done"]
    assert (part.served, part.partial, part.size) == (100, True, 3_000_000)
    assert part.summary() == f"{HOST} downloaded part of report ü.bin (3.0 MB): 100 B"
    started = next(e for e in events if e.kind == "download-started")
    assert started.summary() == f"{HOST} is downloading part of report ü.bin (3.0 MB): 100 B"
    assert (whole.served, whole.partial) == (3_000_000, False)
    assert whole.summary() == f"{HOST} downloaded report ü.bin (3.0 MB)"


async def test_the_page_is_titled_with_the_device_name(shared: dict[str, Path]) -> None:
    share = BrowserShare([shared["report"]], None, host=HOST, name="Kitchen \u202elaptop")
    await share.start()
    try:
        _, _, page = await fetch(share.port, "GET", base_of(share))
    finally:
        await share.stop()
    assert "<title>Files from Kitchen laptop</title>" in page.decode()  # made safe to show
    assert socket.gethostname() not in page.decode()


def test_the_command_titles_the_page_with_the_name_set_in_chatty(
    tmp_path: Path, shared: dict[str, Path]
) -> None:
    (tmp_path / "data").mkdir()
    store = Store(tmp_path / "data" / "chatty.db")
    store.set_setting("name", "Desk PC")
    store.close()
    share = chatty_share(tmp_path, str(shared["report"]), "--no-upload", "--timeout", "30")
    try:
        with urllib.request.urlopen(share.url(HOST), timeout=10) as response:
            page = response.read().decode()
    finally:
        share.kill()
    assert "<title>Files from Desk PC</title>" in page


async def test_a_wrong_sized_upload_is_logged_in_one_sentence(shared: dict[str, Path]) -> None:
    async with running([shared["report"]], shared["inbox"], accept_all=True) as (share, events):
        base = base_of(share)
        _, reply = await offer(share.port, base, "ten.txt", 10)
        status, _, _ = await fetch(share.port, "PUT", f"{base}upload/{reply['id']}", b"x" * 20)
        assert status == 413
    failed = next(e for e in events if e.kind == "upload-failed")
    assert failed.summary() == (
        f"upload of ten.txt (10 B) from {HOST} failed: "
        "the browser's upload is 20 bytes, not the 10 bytes it offered"
    )
