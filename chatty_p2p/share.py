"""Sharing with a browser: the fallback for a device without Chatty, such as a phone.

``BrowserShare`` serves the chosen files and folders at a one-time address,
``http://ADDRESS:PORT/TOKEN/``, and, given a receive folder, an upload form
whose every file waits for consent here. It is HTTP/1.1 through h11 on
asyncio streams; the node is not involved (no identity, no data-dir lock).

Why plain HTTP: a phone's browser meets a self-signed certificate with a
warning page most people cannot (and should not learn to) click through, and
no certificate authority vouches for a LAN address. So nothing is encrypted on
the LAN: anyone who can watch this network can read what moves, and the page
and the CLI say so. What protects the share is its address: the token holds
144 random bits, so it cannot be guessed, and it works only while the share
lives. A wrong token, any other path and anything after the end get the same
bare 404 (or a refused connection); nothing but the chosen files is served.

Rules the browser cannot bend:

* the share ends at ``stop()`` or after ``timeout`` seconds: the listener
  closes, idle connections are dropped, offers not yet answered are declined;
  on a timeout a download or upload already running may finish, on ``stop()``
  it is cut;
* a request head is at most ``MAX_HEAD`` bytes and must be complete within
  ``HEAD_TIMEOUT`` seconds (in all, not per byte: a slowloris dripping a byte
  a second is cut like a silent one), a JSON body is at most ``MAX_JSON``, a
  body that stops for ``IDLE_TIMEOUT`` seconds is cut, ``MAX_OFFERS`` uploads
  wait at a time;
* at most ``MAX_CONNECTIONS`` are open, ``MAX_PER_ADDRESS`` of them from one
  address; when all are taken, a newcomer displaces the oldest connection still
  waiting for a request head, from the address that holds the most (or from
  its own, if that one is at its cap), so a flood from a few addresses cannot
  keep anyone else out;
* a request the share cannot make sense of gets its 400 and the connection is
  closed: after a malformed request (or one framed by both Transfer-Encoding
  and Content-Length, RFC 9112 section 6.1) no byte after it can be trusted to
  start the next request;
* an upload's body is taken only for an accepted offer, once, from the address
  that offered it, and only if it is exactly the size offered. It lands in a
  partial under ``.chatty-partial`` in the receive folder (as the node's
  transfers do) and gets its final name only once complete, never replacing
  a file: a taken name is numbered, ``photo (1).jpg``;
* a folder is served as a ``.zip`` of its files as they were when the share
  started, stored (not compressed: photos and videos would not shrink) and
  written as it is sent, ZIP64 where needed. Its length is not known in
  advance, so it goes out chunked and the browser shows no percentage.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import io
import ipaddress
import json
import logging
import mimetypes
import os
import re
import secrets
import shutil
import socket
import threading
import time
import urllib.parse
import zipfile
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, BinaryIO

import h11

from chatty_p2p import netif, share_page
from chatty_p2p.errors import ChattyError, why_failed
from chatty_p2p.files.landing import FILE_MODE, Landing, write_all
from chatty_p2p.files.manifest import build_manifest
from chatty_p2p.files.model import human_size
from chatty_p2p.protocol.bulk import Entry
from chatty_p2p.protocol.names import readable, safe_part
from chatty_p2p.protocol.session import clean_name

log = logging.getLogger(__name__)

NOT_ENCRYPTED = (
    "Not encrypted: anyone on this network who learns the address can use it until the "
    "share ends; nobody can guess it."
)
"""What every face says next to the address (see the module docstring for why)."""

MAX_HEAD = 8 * 1024
"""Request line and headers together; a browser sends well under 2 KB."""
MAX_JSON = 4 * 1024
"""An offer is a name and a size."""
MAX_NAME = 1024
MAX_OFFERS = 16
"""Uploads offered and not yet finished (or their refusal not yet seen); more get 429."""
MAX_CONNECTIONS = 32
"""A browser opens six per host; room for a few devices, none for a flood."""
MAX_PER_ADDRESS = 8
"""Connections from one address: a browser's six and a spare or two."""
HEAD_TIMEOUT = 10.0
"""Seconds from waiting for a request to having its whole head (a kept-alive
browser's idle connection is closed after this too; it simply opens another)."""
IDLE_TIMEOUT = 30.0
"""Seconds a body may go without a byte while we wait to read from it."""
SEND_TIMEOUT = 60.0
"""Seconds a browser may go without reading what we send."""
POLL_WAIT = 20.0
"""A consent request is held this long, then answered "pending" and asked again."""
DECISION_TTL = 600.0
"""An offer nobody answers is declined after this many seconds."""
UPLOAD_START_TTL = 120.0
"""An accepted offer whose body does not start coming within this is dropped."""
CHUNK = 256 * 1024
_ZIP_CHUNKS_IN_FLIGHT = 4
_INDEX = re.compile(rb"[0-9]{1,6}")
_OFFER_ID = re.compile(rb"[A-Za-z0-9_-]{1,64}")

_HEADERS = [
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
]


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


@dataclass(frozen=True)
class UploadOffer:
    """A file a browser wants to send; answer with ``BrowserShare.decide``."""

    id: str
    name: str
    """Already made safe to create here; the saved file may get a number."""
    size: int
    remote: str
    """The browser's IP address."""


@dataclass(frozen=True)
class ShareEvent:
    """What happened, for a face to show.

    ``kind`` is one of download-started, download-done, download-failed,
    upload-offered, upload-declined, upload-done, upload-failed, expired,
    stopped. ``path`` is the shared item's path for downloads and the saved
    file's for a finished upload; ``detail`` says why for declines and failures.
    ``size`` is the whole item's; a download's ``served`` is what its response
    carries (started), carried (done) or carried before it broke (failed), and
    ``partial`` says the browser asked for a byte range, part of the file.
    """

    kind: str
    name: str = ""
    size: int = 0
    remote: str = ""
    path: str = ""
    detail: str = ""
    served: int = 0
    partial: bool = False
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"type": data.pop("kind"), **data}

    def summary(self) -> str:
        """One line for a person: the CLI's log and the window's list."""
        what = f"{self.name} ({human_size(self.size)})"
        served = human_size(self.served)
        match self.kind:
            case "download-started" if self.partial:
                return f"{self.remote} is downloading part of {what}: {served}"
            case "download-started":
                return f"{self.remote} is downloading {what}"
            case "download-done" if self.partial:
                return f"{self.remote} downloaded part of {what}: {served}"
            case "download-done":
                return f"{self.remote} downloaded {what}"
            case "download-failed":
                return f"{self.remote} did not get all of {what}: {self.detail}; {served} sent"
            case "upload-offered":
                return f"{self.remote} offers {what}"
            case "upload-declined":
                return f"declined {what} from {self.remote}: {self.detail}"
            case "upload-done":
                return f"received {what} from {self.remote}, saved as {self.path}"
            case "upload-failed":
                return f"upload of {what} from {self.remote} failed: {self.detail}"
            case "expired":
                return "time is up: the address takes no new requests"
            case _:
                return "stopped sharing: the address no longer works"


@dataclass
class _Slot:
    """An offer and what became of it, until the browser knows."""

    offer: UploadOffer
    state: str  # pending, accepted, declined, uploading
    reason: str = ""
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    timer: asyncio.TimerHandle | None = None


class BrowserShare:
    """One share: start it, give a person one of ``urls()``, stop it (or let it expire).

    ``on_upload`` is called on the event loop for each offer and must lead to
    ``decide`` (at once or later, from the loop); without it every upload is
    declined. ``on_event`` sees everything that happens. ``receive_dir=None``
    shares without an upload form.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        receive_dir: Path | None,
        *,
        host: str = "",
        port: int = 0,
        timeout: float = 600,
        on_upload: Callable[[UploadOffer], None] | None = None,
        on_event: Callable[[ShareEvent], None] | None = None,
        name: str | None = None,
    ) -> None:
        self.items = _shared_items(paths)
        self.name = clean_name(name or socket.gethostname())
        """The device's name, as Chatty shows it to peers (the page says whose files
        these are); without one, the host name, as a node without a name uses."""
        if receive_dir is not None and receive_dir.exists() and not receive_dir.is_dir():
            raise ChattyError(f"cannot receive into {receive_dir}: it is not a folder")
        self.receive_dir = receive_dir
        self.port = port
        self.expires_at = 0.0
        """``time.time()`` at which the share ends unless stopped earlier."""
        self._host = host
        self._timeout = timeout
        self._on_upload = on_upload
        self._on_event = on_event
        self._token = secrets.token_urlsafe(18)
        self._server: asyncio.Server | None = None
        self._dual_stack = False
        self._expiry: asyncio.TimerHandle | None = None
        self._connections: dict[asyncio.Task[Any], _Exchange] = {}
        self._offers: dict[str, _Slot] = {}
        self._closing = False
        self._closed = asyncio.Event()

    # ----- the face's side ---------------------------------------------------

    async def start(self) -> None:
        """Listen (every address when ``host`` is empty) and start the clock."""
        sock = _listen(self._host, self.port)
        self._dual_stack = sock.family == socket.AF_INET6 and not self._host
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._serve, sock=sock)
        self.expires_at = time.time() + self._timeout
        self._expiry = asyncio.get_running_loop().call_later(self._timeout, self._expire)

    def urls(self) -> list[str]:
        """One address per usable LAN address, IPv4 first: any of them opens the page."""
        hosts = [self._host] if self._host not in ("", "::", "0.0.0.0") else self._lan_hosts()
        return [f"http://{_bracketed(h)}:{self.port}/{self._token}/" for h in hosts]

    def _lan_hosts(self) -> list[str]:
        """Link-local addresses are left out: a browser cannot open a URL with a scope."""
        found = []
        for text in netif.advertised():
            addr = ipaddress.ip_address(text.split("%")[0])
            if addr.is_link_local or (addr.version == 6 and not self._dual_stack):
                continue
            found.append(addr)
        return [str(a) for a in sorted(found, key=lambda a: a.version)]

    def decide(self, upload_id: str, accept: bool) -> bool:
        """Answer an offer; ``False`` when it is no longer waiting (expired, the share
        ended, or answered already)."""
        slot = self._offers.get(upload_id)
        if slot is None or slot.state != "pending":
            return False
        if accept:
            self._settle(slot, "accepted", "", UPLOAD_START_TTL)
        else:
            self._settle(slot, "declined", "", POLL_WAIT * 2)
            self._emit("upload-declined", slot.offer, detail="declined here")
        return True

    async def stop(self) -> None:
        """End now, transfers included."""
        if self._server is None:
            self._closed.set()
            return
        self._shut(cut_running=True)
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._closed.wait()

    async def wait_closed(self) -> None:
        """Return once the share has ended, by ``stop()`` or by its timeout."""
        await self._closed.wait()

    # ----- ending ------------------------------------------------------------

    def _expire(self) -> None:
        self._emit("expired")
        self._shut(cut_running=False)

    def _shut(self, cut_running: bool) -> None:
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        if self._expiry is not None:
            self._expiry.cancel()
        for slot in list(self._offers.values()):
            if slot.state in ("pending", "accepted"):
                self._settle(slot, "declined", "the share has ended", POLL_WAIT)
        for task, exchange in self._connections.items():
            if cut_running or not exchange.busy:
                task.cancel()
        self._check_closed()

    def _check_closed(self) -> None:
        if self._closing and not self._connections and not self._closed.is_set():
            for slot in self._offers.values():
                if slot.timer is not None:
                    slot.timer.cancel()
            self._offers.clear()
            self._closed.set()
            self._emit("stopped")

    def _emit(self, kind: str, offer: UploadOffer | None = None, **fields: Any) -> None:
        if offer is not None:
            fields = {"name": offer.name, "size": offer.size, "remote": offer.remote, **fields}
        if self._on_event is not None:
            try:
                self._on_event(ShareEvent(kind, **fields))
            except Exception:
                log.exception("the share's event handler failed")

    # ----- connections ------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        exchange = _Exchange(reader, writer)
        if self._closing or task is None or not self._make_room(exchange.remote):
            writer.close()
            return
        self._connections[task] = exchange
        try:
            await self._converse(exchange)
        except (OSError, TimeoutError, h11.ProtocolError) as exc:
            log.debug("browser %s: %r", exchange.remote, exc)
        except asyncio.CancelledError:
            pass  # the share ended; ending quietly spares asyncio's stream callback a traceback
        finally:
            del self._connections[task]
            writer.close()
            self._check_closed()

    def _make_room(self, remote: str) -> bool:
        """Whether a connection from ``remote`` may be served, displacing another if
        all are taken (see the module docstring)."""
        open_from = Counter(e.remote for e in self._connections.values() if not e.displaced)
        full = open_from[remote] >= MAX_PER_ADDRESS
        if not full and sum(open_from.values()) < MAX_CONNECTIONS:
            return True
        waiting = [
            (task, e)
            for task, e in self._connections.items()
            if not e.busy and not e.displaced and (e.remote == remote or not full)
        ]
        if not waiting:
            return False
        # The oldest (dicts keep insertion order) of the address holding the most; an
        # address at its cap makes room among its own (a browser's idle keep-alive,
        # or a connection whose close has not been noticed yet).
        task, exchange = max(waiting, key=lambda item: open_from[item[1].remote])
        if not full and open_from[exchange.remote] <= open_from[remote]:
            return False  # the newcomer's address already has its share
        exchange.displaced = True
        task.cancel()
        log.info("browser %s: displaced by a newcomer from %s", exchange.remote, remote)
        return True

    async def _converse(self, exchange: _Exchange) -> None:
        """Requests one after another on a kept-alive connection."""
        conn = exchange.conn
        while not self._closing:
            try:
                async with asyncio.timeout(HEAD_TIMEOUT):
                    event = await exchange.next_event()
            except h11.RemoteProtocolError as exc:
                if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await exchange.respond(exc.error_status_hint, b"")
                return
            if not isinstance(event, h11.Request):
                return  # the browser closed it
            if _head_size(event) > MAX_HEAD:  # h11 caps only a head still incomplete
                await exchange.respond(431, b"")
                return
            if _header(event, b"transfer-encoding") and _content_length(event) is not None:
                # h11 would go by Transfer-Encoding; a proxy in front might not.
                await exchange.respond(400, b"Transfer-Encoding and Content-Length.\n")
                return
            exchange.busy = True
            await self._dispatch(exchange, event)
            exchange.busy = False
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _dispatch(self, exchange: _Exchange, request: h11.Request) -> None:
        route = self._route(request)
        if route is None:
            await exchange.respond(404, b"Not found.\n")
            return
        kind, arg = route
        if kind == "upload":
            await self._upload(exchange, request, arg)
            return
        body = await exchange.read_body(request, MAX_JSON)
        if body is None:
            await exchange.respond(413, b"Too large.\n")
        elif kind == "page":
            await self._page(exchange)
        elif kind == "redirect":
            await exchange.respond(308, b"", extra=[("location", f"/{self._token}/")])
        elif kind == "file":
            await self._download(exchange, self.items[int(arg)], _header(request, b"range"))
        elif kind == "offer":
            await self._offer(exchange, body)
        else:
            await self._poll(exchange, arg)

    def _route(self, request: h11.Request) -> tuple[str, str] | None:
        """What a request asks for; ``None`` for everything not this share's."""
        parts = request.target.split(b"?", 1)[0].split(b"/")
        if len(parts) < 2 or parts[0] or not hmac.compare_digest(parts[1], self._token.encode()):
            return None
        uploads = self.receive_dir is not None
        match request.method, parts[2:]:
            case b"GET", []:
                return "redirect", ""
            case b"GET", [b""]:
                return "page", ""
            case b"GET", [b"f", index] if _INDEX.fullmatch(index) and int(index) < len(self.items):
                return "file", index.decode()
            case b"POST", [b"offer"] if uploads:
                return "offer", ""
            case b"GET", [b"offer", upload_id] if uploads and _OFFER_ID.fullmatch(upload_id):
                return "poll", upload_id.decode()
            case b"PUT", [b"upload", upload_id] if uploads and _OFFER_ID.fullmatch(upload_id):
                return "upload", upload_id.decode()
        return None

    # ----- downloads ---------------------------------------------------------

    async def _page(self, exchange: _Exchange) -> None:
        nonce = secrets.token_urlsafe(16)
        page = share_page.render(
            base=f"/{self._token}/",
            host=self.name,
            items=[(item.name, item.detail) for item in self.items],
            uploads=self.receive_dir is not None,
            minutes=max(1, round((self.expires_at - time.time()) / 60)),
            nonce=nonce,
        )
        policy = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
        )
        await exchange.respond(
            200,
            page.encode(),
            content_type="text/html; charset=utf-8",
            extra=[("content-security-policy", policy)],
        )

    async def _download(self, exchange: _Exchange, item: SharedItem, wanted: str) -> None:
        """A file or a folder's zip. A file honours a single byte range, so a phone
        whose download broke off resumes it instead of starting over (a zip is made
        as it goes and has no stable bytes to resume from)."""
        headers = [("content-disposition", _attachment(item.name))]
        status = 200
        planned = 0  # a zip's length is not known in advance
        if item.is_dir:
            chunks = _zip_chunks(item.members)
            headers.append(("content-type", "application/zip"))
        else:
            try:
                source = await asyncio.to_thread(_open_frozen, item.members[0][1])
            except OSError:
                await exchange.respond(
                    410, b"That file can no longer be read where it is shared.\n"
                )
                return
            size = os.fstat(source.fileno()).st_size
            span = _byte_range(wanted, size)
            if span is None:
                source.close()
                await exchange.respond(
                    416, b"Range not satisfiable.\n", extra=[("content-range", f"bytes */{size}")]
                )
                return
            start, end = span
            if (start, end) != (0, size):
                status = 206
                headers.append(("content-range", f"bytes {start}-{end - 1}/{size}"))
                source.seek(start)
            planned = end - start
            chunks = _file_chunks(source, planned)
            headers += [
                ("content-type", mimetypes.guess_type(item.name)[0] or "application/octet-stream"),
                ("content-length", str(end - start)),
                ("accept-ranges", "bytes"),
            ]
        fields: dict[str, Any] = {
            "name": item.name,
            "size": item.size,
            "remote": exchange.remote,
            "path": str(item.path),
            "partial": status == 206,
        }
        self._emit("download-started", served=planned, **fields)
        served = 0
        try:
            async with contextlib.aclosing(chunks):
                await exchange.send(_response(status, headers + _HEADERS))
                async for chunk in chunks:
                    await exchange.send(h11.Data(data=chunk))
                    served += len(chunk)
                await exchange.send(h11.EndOfMessage())
        except (OSError, TimeoutError, asyncio.CancelledError) as exc:
            cut = isinstance(exc, asyncio.CancelledError)
            reason = "the share ended" if cut else why_failed(exc)
            self._emit("download-failed", served=served, detail=reason, **fields)
            raise
        self._emit("download-done", served=served, **fields)

    # ----- uploads -----------------------------------------------------------

    async def _offer(self, exchange: _Exchange, body: bytes) -> None:
        try:
            name, size = _parse_offer(body)
        except ValueError as exc:
            await exchange.respond_json(400, {"state": "failed", "reason": str(exc)})
            return
        if self._closing:
            reply = {"state": "declined", "reason": "the share has ended"}
            await exchange.respond_json(403, reply)
            return
        if len(self._offers) >= MAX_OFFERS:
            reason = "too many files are waiting; send this one when those are done"
            await exchange.respond_json(429, {"state": "failed", "reason": reason})
            return
        room = self._free_space()
        offer = UploadOffer(secrets.token_urlsafe(12), name, size, exchange.remote)
        slot = _Slot(offer, "pending")
        self._offers[offer.id] = slot
        if size > room:
            self._settle(slot, "declined", "not enough free space there", POLL_WAIT)
            self._emit("upload-declined", offer, detail="not enough free space")
        else:
            slot.timer = asyncio.get_running_loop().call_later(
                DECISION_TTL, self._slot_timeout, offer.id
            )
            self._emit("upload-offered", offer)
            self._ask(slot)
        await self._report(exchange, slot)

    def _ask(self, slot: _Slot) -> None:
        if self._on_upload is None:
            self.decide(slot.offer.id, False)
            return
        try:
            self._on_upload(slot.offer)
        except Exception:
            log.exception("the share's upload handler failed")
            self.decide(slot.offer.id, False)

    async def _poll(self, exchange: _Exchange, upload_id: str) -> None:
        slot = self._offers.get(upload_id)
        if slot is None or slot.offer.remote != exchange.remote:
            await exchange.respond_json(404, {"state": "failed", "reason": "unknown upload"})
            return
        await self._report(exchange, slot)

    async def _report(self, exchange: _Exchange, slot: _Slot) -> None:
        """Tell the browser the offer's state, holding the answer up to ``POLL_WAIT``
        while nobody has decided; a refusal, once told, is forgotten."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_WAIT):
                await slot.answered.wait()
        offer_id = slot.offer.id
        if slot.state == "declined":
            self._drop(offer_id)
            reply = {"state": "declined", "id": offer_id, "reason": slot.reason}
            await exchange.respond_json(403, reply)
        elif slot.state == "pending":
            await exchange.respond_json(202, {"state": "pending", "id": offer_id})
        else:
            await exchange.respond_json(200, {"state": "accepted", "id": offer_id})

    def _settle(self, slot: _Slot, state: str, reason: str, keep_for: float) -> None:
        slot.state, slot.reason = state, reason
        slot.answered.set()
        if slot.timer is not None:
            slot.timer.cancel()
        slot.timer = asyncio.get_running_loop().call_later(
            keep_for, self._slot_timeout, slot.offer.id
        )

    def _slot_timeout(self, upload_id: str) -> None:
        slot = self._offers.get(upload_id)
        if slot is None:
            return
        if slot.state == "pending":
            self._settle(slot, "declined", "nobody answered in time", POLL_WAIT * 2)
            self._emit("upload-declined", slot.offer, detail="nobody answered in time")
        elif slot.state == "accepted":
            self._drop(upload_id)
            self._emit("upload-failed", slot.offer, detail="the browser never sent it")
        elif slot.state == "declined":
            self._drop(upload_id)

    def _drop(self, upload_id: str) -> None:
        slot = self._offers.pop(upload_id, None)
        if slot is not None and slot.timer is not None:
            slot.timer.cancel()

    def _free_space(self) -> int:
        assert self.receive_dir is not None
        folder = self.receive_dir
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        try:
            free = shutil.disk_usage(folder).free
        except OSError:
            return 0
        return free - sum(s.offer.size for s in self._offers.values() if s.state != "declined")

    async def _upload(self, exchange: _Exchange, request: h11.Request, upload_id: str) -> None:
        slot = self._offers.get(upload_id)
        if slot is None or slot.state != "accepted" or slot.offer.remote != exchange.remote:
            await exchange.respond_json(404, {"state": "failed", "reason": "not accepted"})
            return
        offer = slot.offer
        slot.state = "uploading"  # one attempt per offer, whatever comes of it
        if slot.timer is not None:
            slot.timer.cancel()
        declared = _content_length(request)
        if declared != offer.size:
            self._offers.pop(upload_id)
            sends = "of unstated length" if declared is None else f"{declared:,} bytes"
            detail = f"the browser's upload is {sends}, not the {offer.size:,} bytes it offered"
            self._emit("upload-failed", offer, detail=detail)
            reason = f"expected exactly {offer.size} bytes, as offered"
            await exchange.respond_json(413, {"state": "failed", "reason": reason})
            return
        try:
            saved = await self._receive(exchange, offer)
        except (ConnectionError, TimeoutError, h11.ProtocolError, asyncio.CancelledError):
            self._emit("upload-failed", offer, detail="the browser stopped sending")
            raise
        except (OSError, ChattyError) as exc:  # the disk, or a symlink in the way (Landing)
            where = readable(str(self.receive_dir))
            self._emit(
                "upload-failed", offer, detail=f"cannot save it in {where}: {why_failed(exc)}"
            )
            reason = "the sharing computer cannot save it"
            await exchange.respond_json(500, {"state": "failed", "reason": reason})
            return
        finally:
            self._offers.pop(upload_id, None)
        self._emit("upload-done", offer, path=str(saved))
        await exchange.respond_json(200, {"state": "done", "id": offer.id})

    async def _receive(self, exchange: _Exchange, offer: UploadOffer) -> Path:
        """Land the body in a partial and name it only once all of it is there."""
        assert self.receive_dir is not None
        landing = Landing(self.receive_dir, f"browser-{offer.id}")
        try:
            await asyncio.to_thread(landing.prepare)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(landing.partial(0), flags, FILE_MODE)
            try:
                if exchange.conn.they_are_waiting_for_100_continue:
                    await exchange.send(h11.InformationalResponse(status_code=100, headers=[]))
                await _write_body(exchange, fd, offer.size)
            finally:
                os.close(fd)
            return await asyncio.to_thread(landing.finish, 0, offer.name, time.time())
        finally:
            landing.discard()


class _Exchange:
    """One browser connection: h11's state machine over an asyncio stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.remote = str(peer[0]).removeprefix("::ffff:") if peer else "?"
        self.busy = False
        """Within a request: a timeout lets it finish, only ``stop()`` cuts it."""
        self.displaced = False
        """Cancelled to make room for a newcomer (see ``_make_room``)."""

    async def next_event(self) -> h11.Event:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                assert event is not h11.PAUSED  # each cycle is restarted only once done
                return event  # type: ignore[return-value]
            # Between requests, small reads: a head arriving whole is checked once parsed.
            size = MAX_HEAD if self.conn.their_state is h11.IDLE else CHUNK
            async with asyncio.timeout(IDLE_TIMEOUT):
                data = await self.reader.read(size)
            self.conn.receive_data(data)

    async def send(self, event: h11.Event) -> None:
        data = self.conn.send(event)
        if data:
            self.writer.write(data)
            async with asyncio.timeout(SEND_TIMEOUT):
                await self.writer.drain()

    async def respond(
        self,
        status: int,
        body: bytes,
        *,
        content_type: str = "text/plain; charset=utf-8",
        extra: Sequence[tuple[str, str]] = (),
    ) -> None:
        headers = [("content-type", content_type), ("content-length", str(len(body)))]
        if self.conn.their_state is not h11.DONE or status == 400:
            # The rest of its body stays unread, or a request that made no sense may
            # have hidden another after it: either way, nothing more is read.
            headers.append(("connection", "close"))
        await self.send(_response(status, headers + _HEADERS + [*extra]))
        if body:
            await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())

    async def respond_json(self, status: int, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode()
        await self.respond(status, body, content_type="application/json")

    async def read_body(self, request: h11.Request, limit: int) -> bytes | None:
        """The whole request body, or ``None`` (left unread) when over ``limit``."""
        declared = _content_length(request)
        if declared is not None and declared > limit:
            return None
        body = bytearray()
        async for chunk in self.body_chunks():
            body += chunk
            if len(body) > limit:
                return None
        return bytes(body)

    async def body_chunks(self) -> AsyncIterator[bytes]:
        while not isinstance(event := await self.next_event(), h11.EndOfMessage):
            if not isinstance(event, h11.Data):
                raise h11.RemoteProtocolError("the body ended early")
            yield bytes(event.data)


async def _write_body(exchange: _Exchange, fd: int, size: int) -> None:
    """Write the body as it comes, a few chunks per disk write, off the event loop."""
    pending = bytearray()
    got = 0
    async for chunk in exchange.body_chunks():
        got += len(chunk)
        if got > size:  # h11 frames by Content-Length, so this is a second line of defence
            raise h11.RemoteProtocolError("more bytes than offered")
        pending += chunk
        if len(pending) >= 4 * CHUNK:
            await asyncio.to_thread(write_all, fd, bytes(pending))
            pending.clear()
    await asyncio.to_thread(write_all, fd, bytes(pending))


async def _file_chunks(source: BinaryIO, size: int) -> AsyncGenerator[bytes, None]:
    try:
        left = size
        while left:
            data = await asyncio.to_thread(source.read, min(CHUNK, left))
            if not data:
                raise OSError("the file got shorter while it was being sent")
            left -= len(data)
            yield data
    finally:
        source.close()


async def _zip_chunks(members: Sequence[tuple[Entry, str]]) -> AsyncGenerator[bytes, None]:
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


def _header(request: h11.Request, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in request.headers if k == name), "")


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
    place since: a link re-pointed later must not serve another file."""
    return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")


def _shared_items(paths: Sequence[Path]) -> list[SharedItem]:
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


def _parse_offer(body: bytes) -> tuple[str, int]:
    """The safe name and the size of an offer, or ValueError saying what is wrong."""
    try:
        offer = json.loads(body)
    except ValueError:
        raise ValueError("the offer is not JSON") from None
    if not isinstance(offer, dict):
        raise ValueError("the offer is not a JSON object")
    name, size = offer.get("name"), offer.get("size")
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        raise ValueError("the offer needs a file name")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from a "\ud800" escape
        raise ValueError("the file name is not valid Unicode") from None
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**53:
        raise ValueError("the offer needs the file's size in bytes")
    # Browsers send a bare name, but this one may come from anywhere.
    return safe_part(name.replace("\\", "/").rsplit("/", 1)[-1]), size


def _head_size(request: h11.Request) -> int:
    """About the bytes of the request line and headers as they came."""
    line = len(request.method) + len(request.target) + 11
    return line + sum(len(name) + len(value) + 4 for name, value in request.headers)


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is digits
    return None


def _attachment(name: str) -> str:
    """A Content-Disposition that saves under ``name``: RFC 6266 with the RFC 5987
    UTF-8 form, and a plain ASCII one for browsers that know no better."""
    plain = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{urllib.parse.quote(name, safe='')}"


def _response(status: int, headers: list[tuple[str, str]]) -> h11.Response:
    return h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase)


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket: dual-stack when ``host`` is empty, so one port serves
    IPv4 and IPv6."""
    try:
        if host:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            return socket.create_server((host, port), family=family, backlog=128)
        if socket.has_dualstack_ipv6():
            return socket.create_server(
                ("::", port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=128
            )
        return socket.create_server(("0.0.0.0", port), backlog=128)
    except OSError as exc:
        where = f"{host or 'any address'} port {port}"
        raise ChattyError(f"cannot listen on {where}: {why_failed(exc)}") from exc
