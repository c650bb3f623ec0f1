"""Sharing with a browser: the fallback for a device without Chatty, such as a phone.

``BrowserShare`` serves the chosen files and folders at a one-time address,
``http://ADDRESS:PORT/TOKEN/``, and, given a receive folder, an upload form
whose every file waits for consent here. It is HTTP/1.1 through h11 on
asyncio streams; the node is not involved (no identity, no data-dir lock).
This facade joins the rooms of ``chatty_p2p.share`` and routes each request.

Why plain HTTP: a phone's browser meets a self-signed certificate with a
warning page most people cannot (and should not learn to) click through, and
no certificate authority vouches for a LAN address. So nothing is encrypted on
the LAN: anyone who can watch this network can read what moves, and the page
and the CLI say so. What protects the share is its address: the token holds
144 random bits, so it cannot be guessed, and it works only while the share
lives. A wrong token, any other path and anything after the end get the same
bare 404 (or a refused connection); nothing but the chosen files is served.

Rules the browser cannot bend, each in its room:

* the share ends at ``stop()`` or after ``timeout`` seconds: the listener
  closes, idle connections are dropped, offers not yet answered are declined;
  on a timeout a download or upload already running may finish, on ``stop()``
  it is cut (``server``);
* a request head is at most ``MAX_HEAD`` bytes and must be complete within
  ``HEAD_TIMEOUT`` seconds (in all, not per byte: a slowloris dripping a byte
  a second is cut like a silent one), a body that stops for ``IDLE_TIMEOUT``
  seconds is cut (``exchange``); a JSON body is at most ``MAX_JSON``,
  ``MAX_OFFERS`` uploads wait at a time (``uploads``);
* at most ``MAX_CONNECTIONS`` are open, ``MAX_PER_ADDRESS`` of them from one
  address; when all are taken, a newcomer displaces the oldest connection still
  waiting for a request head, from the address that holds the most (or from
  its own, if that one is at its cap), so a flood from a few addresses cannot
  keep anyone else out (``server``);
* a request the share cannot make sense of gets its 400 and the connection is
  closed: after a malformed request (or one framed by both Transfer-Encoding
  and Content-Length, RFC 9112 section 6.1) no byte after it can be trusted to
  start the next request (``exchange``);
* an upload's body is taken only for an accepted offer, once, from the address
  that offered it, and only if it is exactly the size offered. It lands in a
  partial under ``.chatty-partial`` in the receive folder (as the node's
  transfers do) and gets its final name only once complete, never replacing
  a file: a taken name is numbered, ``photo (1).jpg`` (``uploads``);
* a folder is served as a ``.zip`` of its files as they were when the share
  started, stored (not compressed: photos and videos would not shrink) and
  written as it is sent, ZIP64 where needed. Its length is not known in
  advance, so it goes out chunked and the browser shows no percentage
  (``downloads``).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import h11

from chatty_p2p.errors import ChattyError
from chatty_p2p.protocol.text import clean_name
from chatty_p2p.share.downloads import download, shared_items
from chatty_p2p.share.events import ShareEvent, UploadOffer
from chatty_p2p.share.exchange import Exchange, header
from chatty_p2p.share.page import send_page
from chatty_p2p.share.server import Server
from chatty_p2p.share.uploads import MAX_JSON, Uploads

log = logging.getLogger(__name__)

NOT_ENCRYPTED = (
    "Not encrypted: anyone on this network who learns the address can use it until the "
    "share ends; nobody can guess it."
)
"""What every face says next to the address (see the module docstring for why)."""

_INDEX = re.compile(rb"[0-9]{1,6}")
_OFFER_ID = re.compile(rb"[A-Za-z0-9_-]{1,64}")


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
        self.items = shared_items(paths)
        self.name = clean_name(name or socket.gethostname())
        """The device's name, as Chatty shows it to peers (the page says whose files
        these are); without one, the host name, as a node without a name uses."""
        if receive_dir is not None and receive_dir.exists() and not receive_dir.is_dir():
            raise ChattyError(f"cannot receive into {receive_dir}: it is not a folder")
        self.receive_dir = receive_dir
        self.port = port
        self.expires_at = 0.0
        """``time.time()`` at which the share ends unless stopped earlier."""
        self._on_event = on_event
        self._token = secrets.token_urlsafe(18)
        self._uploads = None if receive_dir is None else Uploads(receive_dir, on_upload, self._emit)
        self._server = Server(
            host,
            port,
            timeout,
            handle=self._dispatch,
            on_expired=lambda: self._emit("expired"),
            on_ending=self._uploads.end if self._uploads else lambda: None,
            on_ended=self._ended,
        )

    # ----- the face's side ---------------------------------------------------

    async def start(self) -> None:
        """Listen (every address when ``host`` is empty) and start the clock."""
        await self._server.start()
        self.port = self._server.port
        self.expires_at = self._server.expires_at

    def urls(self) -> list[str]:
        """One address per usable LAN address, IPv4 first: any of them opens the page."""
        return self._server.urls(f"/{self._token}/")

    def decide(self, upload_id: str, accept: bool) -> bool:
        """Answer an offer; ``False`` when it is no longer waiting (expired, the share
        ended, or answered already)."""
        return self._uploads is not None and self._uploads.decide(upload_id, accept)

    async def stop(self) -> None:
        """End now, transfers included."""
        await self._server.stop()

    async def wait_closed(self) -> None:
        """Return once the share has ended, by ``stop()`` or by its timeout."""
        await self._server.wait_closed()

    # ----- what happens --------------------------------------------------------

    def _ended(self) -> None:
        if self._uploads is not None:
            self._uploads.forget()
        self._emit("stopped")

    def _emit(self, kind: str, offer: UploadOffer | None = None, **fields: Any) -> None:
        if offer is not None:
            fields = {"name": offer.name, "size": offer.size, "remote": offer.remote, **fields}
        if self._on_event is not None:
            try:
                self._on_event(ShareEvent(kind, **fields))
            except Exception:
                log.exception("the share's event handler failed")

    # ----- requests ------------------------------------------------------------

    async def _dispatch(self, exchange: Exchange, request: h11.Request) -> None:
        route = self._route(request)
        if route is None:
            await exchange.respond(404, b"Not found.\n")
            return
        kind, arg = route
        uploads = self._uploads
        if kind == "upload" and uploads is not None:
            await uploads.upload(exchange, request, arg)
            return
        body = await exchange.read_body(request, MAX_JSON)
        if body is None:
            await exchange.respond(413, b"Too large.\n")
        elif kind == "page":
            await send_page(
                exchange,
                base=f"/{self._token}/",
                host=self.name,
                items=[(item.name, item.detail) for item in self.items],
                uploads=uploads is not None,
                expires_at=self.expires_at,
            )
        elif kind == "redirect":
            await exchange.respond(308, b"", extra=[("location", f"/{self._token}/")])
        elif kind == "file":
            await download(exchange, self.items[int(arg)], header(request, b"range"), self._emit)
        elif kind == "offer" and uploads is not None:
            await uploads.offer(exchange, body)
        elif uploads is not None:
            await uploads.poll(exchange, arg)

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
