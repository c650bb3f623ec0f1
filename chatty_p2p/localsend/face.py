"""Chatty's LocalSend face: it announces this device on LocalSend's multicast group and
answers its REST API on port 53317 (HTTPS with the device's own certificate, or HTTP),
lists the LocalSend devices it hears, and sends and receives files with them through
the node's transfers (``files.foreign``).

What a LocalSend device says cannot be checked: its certificate is self-signed and
its fingerprint is what it claims. So its devices are always "unverified", their
offers always ask (auto-accept never applies), and the README says what that means.

When port 53317 is taken (the LocalSend app runs on this machine) the face says so
once and the node goes on without it; ``--no-localsend`` or the setting turns it off.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import h11

from chatty_p2p.errors import ChattyError, RemoteProtocolError
from chatty_p2p.events import Peer
from chatty_p2p.files.foreign import ForeignTransfer, Mover
from chatty_p2p.files.model import OFFER_TTL, TransferInfo
from chatty_p2p.localsend import client, receiving, sending
from chatty_p2p.localsend.devices import DeviceTable, peer_id
from chatty_p2p.net.localsend_udp import Beacon, PortTaken
from chatty_p2p.protocol import localsend as ls
from chatty_p2p.share.exchange import Exchange
from chatty_p2p.share.server import Server
from chatty_p2p.stopping import cancel_and_wait

log = logging.getLogger(__name__)

CHATTY_MODEL = "Chatty"
"""The device model a Chatty announces itself with on LocalSend (``node.localsend``)."""
ANNOUNCE_EVERY = 30.0
"""Seconds between announcements: each makes the devices answer (``register``), which
is how a device that left is noticed (``devices.AWAY_AFTER``)."""
Start = Callable[[ForeignTransfer, list[tuple[str, str, int]]], Mover]


class Transfers(Protocol):
    """What the face asks of the node's transfers (``files.FileTransfers``)."""

    def offer_foreign(
        self, peer_id: str, names: list[str], count: int, size: int, mover: Mover
    ) -> ForeignTransfer | str: ...

    def send_foreign(
        self, peer_id: str, paths: list[Path], start: Start
    ) -> Awaitable[TransferInfo]: ...


class Hooks(Protocol):
    """What the face tells the node."""

    def peer_changed(self, peer: Peer, new: bool) -> None:
        """A device was heard for the first time, changed, or went away."""

    def text_received(self, peer: Peer, text: str) -> None:
        """A LocalSend text message (a text file whose content is its preview)."""

    def is_chatty(self, fingerprint: str) -> bool:
        """Whether the device announcing ``fingerprint`` is a Chatty peer this node knows
        (a Chatty speaks LocalSend too, with its device id as its fingerprint)."""


class LocalSendFace:
    def __init__(
        self,
        me: ls.Device,
        tls: ssl.SSLContext | None,
        transfers: Transfers,
        hooks: Hooks,
        addresses: Callable[[], list[str]],
        port: int = ls.PORT,
        *,
        multicast: bool = True,
    ) -> None:
        """``me``: this device as LocalSend sees it (its fingerprint is the certificate's
        SHA-256 over HTTPS); ``tls`` serves HTTPS (None: HTTP); ``addresses``: the IPv4
        addresses of the interfaces to announce on, asked again at every announcement;
        without ``multicast`` only the REST API runs (devices come by ``add``)."""
        self.me = me
        self._transfers = transfers
        self._hooks = hooks
        self._addresses = addresses
        self._tls = tls
        self.port = port
        self._multicast = multicast
        self.devices = DeviceTable(me.fingerprint)
        self._beacon = Beacon(self._heard, port)
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._incoming: receiving.Incoming | None = None
        self.pin = ""
        """The PIN a device must send with its files ("": none); see ``PinGuard``."""
        self._pins = PinGuard()
        self.problem = ""
        """Why the face is off or half off (the port taken), for the doctor and the user."""

    # ----- life ----------------------------------------------------------------------

    async def start(self) -> None:
        """Listen and announce. A port taken is said once (``problem``), not fatal."""
        try:
            if self._multicast:
                await self._beacon.start(self._addresses())
        except PortTaken as exc:
            self.problem = f"LocalSend devices will not see this one: {exc}"
        server = Server(
            "",
            self.port,
            0,
            handle=self._handle,
            on_expired=_nothing,
            on_ending=_nothing,
            on_ended=_nothing,
            tls=self._tls,
        )
        try:
            await server.start()
            self._server = server
            self.port = server.port  # the one given, or the free one found for 0 (tests)
            self.me = replace(self.me, port=server.port)
        except ChattyError as exc:
            self.problem = (
                f"LocalSend is off: port {self.port} is taken (is the LocalSend app running "
                f"on this machine?): {exc}"
            )
            self._beacon.close()
            log.warning("%s", self.problem)
            return
        if self.problem:
            log.warning("%s", self.problem)
        self._spawn(self._announce_forever())

    async def stop(self) -> None:
        await cancel_and_wait(list(self._tasks))
        self._beacon.close()
        if self._server is not None:
            await self._server.stop()

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _announce_forever(self) -> None:
        while True:
            self._beacon.join(self._addresses())
            self._beacon.announce(ls.announcement(self.me, announce=True))
            await asyncio.sleep(ANNOUNCE_EVERY)
            now = time.time()
            for seen in self.devices.all():
                peer = self.devices.peer(seen, now)
                if not peer.online and now - seen.heard < ANNOUNCE_EVERY + 120:
                    self._hooks.peer_changed(peer, False)  # said once, as it goes away

    # ----- devices -------------------------------------------------------------------

    def peers(self) -> list[Peer]:
        now = time.time()
        return [self.devices.peer(seen, now) for seen in self.devices.all()]

    def peer(self, peer_id: str) -> Peer | None:
        """The device with this id as the peer list shows it, if it was heard."""
        seen = self.devices.get(peer_id)
        return self.devices.peer(seen, time.time()) if seen is not None else None

    def _heard(self, datagram: bytes, host: str) -> None:
        try:
            device = ls.parse_announcement(datagram)
        except RemoteProtocolError:
            return
        self._note(device, host)
        if device.announce:
            self._spawn(self._answer(device, host))

    async def add(self, host: str, port: int = ls.PORT, protocol: str = "https") -> Peer:
        """A device by address, for a network without multicast (LocalSend's "HTTP
        legacy mode"): we register with it, and its answer describes it."""
        reply = await self._register_with(host, port, protocol)
        if reply.status != 200:
            raise ChattyError(f"{host}:{port} is not a LocalSend device (HTTP {reply.status})")
        try:
            device = ls.parse_device(ls.loads(reply.body), port=port)
        except RemoteProtocolError as exc:
            raise ChattyError(f"{host}:{port} answered oddly: {exc}") from None
        self._note(replace(device, port=port, protocol=protocol), host)
        seen = self.devices.get(peer_id(device.fingerprint))
        if seen is None:
            raise ChattyError(f"{host}:{port} is this device")
        return self.devices.peer(seen, time.time())

    def _note(self, device: ls.Device, host: str) -> None:
        if self._hooks.is_chatty(device.fingerprint) or (
            self._multicast and device.device_model == CHATTY_MODEL
        ):
            # A Chatty: listed once, pinned, as a Chatty peer, from its mDNS record (which
            # may come after this announcement). Without multicast (HTTP only, no mDNS
            # either), LocalSend is the only way to see it, and it is listed as such.
            return
        noted = self.devices.heard(device, host, time.time())
        if noted is not None and noted[2]:
            seen, new, _ = noted
            self._hooks.peer_changed(self.devices.peer(seen, time.time()), new)

    async def _answer(self, device: ls.Device, host: str) -> None:
        """Tell an announcer about us: ``register`` over HTTP(S), else a datagram."""
        try:
            if (await self._register_with(host, device.port, device.protocol)).status == 200:
                return
        except ChattyError:
            pass
        self._beacon.send_to(ls.announcement(self.me, announce=False), host)

    async def _register_with(self, host: str, port: int, protocol: str) -> client.Reply:
        body = ls.dumps(self.me.to_json())
        return await client.request(host, port, protocol, "POST", f"{ls.API}register", body)

    # ----- sending -------------------------------------------------------------------

    async def send(self, peer_id: str, paths: list[Path], pin: str = "") -> TransferInfo:
        seen = self.devices.get(peer_id)
        if seen is None:
            raise ChattyError("no such LocalSend device here (it may have left)")

        def start(transfer: ForeignTransfer, files: list[tuple[str, str, int]]) -> Mover:
            mover = sending.OutgoingMover(seen.device, seen.host)
            task = asyncio.ensure_future(
                sending.send(self.me, seen.device, seen.host, transfer, files, mover, pin)
            )
            mover.task = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return mover

        return await self._transfers.send_foreign(peer_id, paths, start)

    async def send_text(self, peer_id: str, text: str) -> None:
        seen = self.devices.get(peer_id)
        if seen is None:
            raise ChattyError("no such LocalSend device here (it may have left)")
        await sending.send_text(self.me, seen.device, seen.host, text)

    # ----- the REST API --------------------------------------------------------------

    async def _handle(self, exchange: Exchange, request: h11.Request) -> None:
        target = request.target.decode("ascii", "replace")
        path, _, raw_query = target.partition("?")
        query = dict(urllib.parse.parse_qsl(raw_query))
        method = request.method.decode("ascii", "replace")
        route = path.removeprefix(ls.API) if path.startswith(ls.API) else ""
        if path == "/api/localsend/v1/info":
            route = "info"
        try:
            if route == "info" and method in ("GET", "POST"):
                await exchange.respond_json(200, self.me.to_json())
            elif route == "register" and method == "POST":
                await self._register(exchange, request)
            elif route == "prepare-upload" and method == "POST":
                given = query.get("pin", "")
                refused = self._pins.check(self.pin, given, exchange.remote, time.monotonic())
                if refused:
                    await exchange.respond(refused[0], refused[1].encode())
                    return
                await self._prepare_upload(exchange, request)
            elif route == "upload" and method == "POST":
                await self._upload(exchange, query)
            elif route == "cancel" and method == "POST":
                await self._cancel(exchange, query)
            else:
                await exchange.respond(404, b"")
        except RemoteProtocolError as exc:
            if exchange.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                await exchange.respond(400, str(exc).encode())

    async def _json(self, exchange: Exchange, request: h11.Request) -> bytes:
        body = await exchange.read_body(request, ls.MAX_BODY)
        if body is None:
            raise RemoteProtocolError("localsend: the body is too long", "too-large")
        return body

    async def _register(self, exchange: Exchange, request: h11.Request) -> None:
        device = ls.parse_device(ls.loads(await self._json(exchange, request)))
        self._note(device, exchange.remote)
        await exchange.respond_json(200, self.me.to_json())

    async def _prepare_upload(self, exchange: Exchange, request: h11.Request) -> None:
        offer = ls.parse_upload_request(await self._json(exchange, request))
        self._note(offer.sender, exchange.remote)
        seen = self.devices.get(peer_id(offer.sender.fingerprint))
        peer = self.devices.peer(seen, time.time()) if seen is not None else None
        if peer is None:
            await exchange.respond(403, b"")
            return
        if offer.is_text:
            self._hooks.text_received(peer, offer.files[0].preview)
            await exchange.respond(204, b"")
            return
        if self._incoming is not None:
            await exchange.respond(409, b"Blocked by another session")
            return
        mover = receiving.IncomingMover()
        names = sorted({f.parts[0] for f in offer.files})
        made = self._transfers.offer_foreign(peer.id, names, len(offer.files), offer.size, mover)
        if isinstance(made, str):
            await exchange.respond(403, made.encode())
            return
        try:
            async with asyncio.timeout(OFFER_TTL + 5):
                accepted = await mover.decided
        except TimeoutError:
            accepted = False
        if not accepted or self._incoming is not None:
            await exchange.respond(403, b"Rejected")
            return
        session = receiving.accepted_session(offer, exchange.remote, made)
        mover.session = session
        self._incoming = session
        await exchange.respond_json(200, {"sessionId": session.session, "files": session.tokens})

    async def _upload(self, exchange: Exchange, query: dict[str, str]) -> None:
        session = self._incoming
        file_id = query.get("fileId", "")
        if (
            session is None
            or query.get("sessionId") != session.session
            or exchange.remote != session.host
            or file_id not in session.files
            or query.get("token") != session.tokens[file_id]
        ):
            await exchange.respond(403, b"Invalid token or IP address")
            return
        status, reason = await receiving.receive_file(session, file_id, exchange.body_chunks())
        if len(session.finished) == len(session.files) or session.cancelled:
            self._incoming = None
        await exchange.respond(status, reason.encode())

    async def _cancel(self, exchange: Exchange, query: dict[str, str]) -> None:
        session = self._incoming
        if (
            session is not None
            and exchange.remote == session.host
            and query.get("sessionId", session.session) == session.session
        ):
            receiving.cancelled_by_sender(session)
            self._incoming = None
        await exchange.respond(200, b"")


class PinGuard:
    """The PIN's check, with a limit on guessing: after ``MAX_WRONG`` wrong PINs from one
    address it is refused (429) for ``LOCKOUT`` seconds, as LocalSend's app does."""

    MAX_WRONG = 3
    LOCKOUT = 60.0

    def __init__(self) -> None:
        self._wrong: dict[str, list[float]] = {}

    def check(self, pin: str, given: str, host: str, now: float) -> tuple[int, str] | None:
        """None when the offer may go on; else the status and reason to answer."""
        if not pin:
            return None
        recent = [t for t in self._wrong.get(host, []) if now - t < self.LOCKOUT]
        if len(recent) >= self.MAX_WRONG:
            return 429, "Too many wrong PINs"
        if hmac.compare_digest(given.encode(), pin.encode()):
            self._wrong.pop(host, None)
            return None
        if given:
            recent.append(now)
        self._wrong[host] = recent
        if len(self._wrong) > 256:  # a flood of addresses: those with no recent miss go
            self._wrong = {h: t for h, t in self._wrong.items() if t and now - t[-1] < self.LOCKOUT}
        return 401, "PIN required" if not given else "Wrong PIN"


def _nothing() -> None:
    """The share's hooks for ending; LocalSend's server ends only with the node."""
