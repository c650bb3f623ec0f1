"""One browser connection's HTTP exchanges: h11's state machine over an asyncio stream.

Reading a request head (whole within ``HEAD_TIMEOUT``, in all, not per byte:
a slowloris dripping a byte a second is cut like a silent one), reading a
body (a stall of ``IDLE_TIMEOUT`` cuts it), writing a response (a browser
that stops reading for ``SEND_TIMEOUT`` is cut). A request the share cannot
make sense of gets its 400 and the connection is closed: after a malformed
request (or one framed by both Transfer-Encoding and Content-Length, RFC 9112
section 6.1) no byte after it can be trusted to start the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from http import HTTPStatus
from typing import Any

import h11

MAX_HEAD = 8 * 1024
"""Request line and headers together; a browser sends well under 2 KB."""
HEAD_TIMEOUT = 10.0
"""Seconds from waiting for a request to having its whole head (a kept-alive
browser's idle connection is closed after this too; it simply opens another)."""
IDLE_TIMEOUT = 30.0
"""Seconds a body may go without a byte while we wait to read from it."""
SEND_TIMEOUT = 60.0
"""Seconds a browser may go without reading what we send."""
CHUNK = 256 * 1024
"""Bytes read from a body, or from a shared file, at a time."""
LINGER_TIME = 2.0
LINGER_BYTES = 16 << 20
"""How long, and how much of a body left unread, is read and dropped before closing
(see ``Exchange.linger``)."""

HEADERS = [
    ("cache-control", "no-store"),
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
]
"""On every response."""


class Exchange:
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
        """Cancelled to make room for a newcomer (see ``server.Server._make_room``)."""

    async def next_request(self) -> h11.Request | None:
        """The next request, its head whole within ``HEAD_TIMEOUT`` (else
        ``TimeoutError``); ``None`` when the connection is to close: the browser
        closed it, or it sent what gets a refusal (sent here) and nothing more."""
        try:
            async with asyncio.timeout(HEAD_TIMEOUT):
                event = await self.next_event()
        except h11.RemoteProtocolError as exc:
            if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                await self.respond(exc.error_status_hint, b"")
            return None
        if not isinstance(event, h11.Request):
            return None  # the browser closed it
        if _head_size(event) > MAX_HEAD:  # h11 caps only a head still incomplete
            await self.respond(431, b"")
            return None
        if header(event, b"transfer-encoding") and content_length(event) is not None:
            # h11 would go by Transfer-Encoding; a proxy in front might not.
            await self.respond(400, b"Transfer-Encoding and Content-Length.\n")
            return None
        return event

    async def linger(self) -> None:
        """Before closing on a request whose body was refused unread: our FIN after the
        response, then what the browser still sends is read and dropped, briefly.
        Closed at once, the kernel answers the unread bytes with a reset, which can
        reach the browser before the response: it shows a network error instead of the
        refusal (nginx's "lingering close", for the same reason). Bounded in time and
        bytes: a sender that goes on for ever is cut as before."""
        if self.conn.our_state not in (h11.DONE, h11.MUST_CLOSE):
            return  # no response went out: nothing to protect
        if self.conn.their_state is not h11.SEND_BODY:
            return
        with contextlib.suppress(OSError, TimeoutError):
            if self.writer.can_write_eof():
                self.writer.write_eof()
            left = LINGER_BYTES
            async with asyncio.timeout(LINGER_TIME):
                while left > 0 and (data := await self.reader.read(min(CHUNK, left))):
                    left -= len(data)

    def next_cycle(self) -> bool:
        """After a response: ready for the next request on this connection, or
        ``False`` when it is to close (a body left unread, ``connection: close``)."""
        if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
            return False
        self.conn.start_next_cycle()
        return True

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
        await self.send(response(status, headers + HEADERS + [*extra]))
        if body:
            await self.send(h11.Data(data=body))
        await self.send(h11.EndOfMessage())

    async def respond_json(self, status: int, obj: dict[str, Any]) -> None:
        body = json.dumps(obj).encode()
        await self.respond(status, body, content_type="application/json")

    async def read_body(self, request: h11.Request, limit: int) -> bytes | None:
        """The whole request body, or ``None`` (left unread) when over ``limit``."""
        declared = content_length(request)
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


def header(request: h11.Request, name: bytes) -> str:
    return next((v.decode("latin-1") for k, v in request.headers if k == name), "")


def content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is digits
    return None


def response(status: int, headers: list[tuple[str, str]]) -> h11.Response:
    return h11.Response(status_code=status, headers=headers, reason=HTTPStatus(status).phrase)


def _head_size(request: h11.Request) -> int:
    """About the bytes of the request line and headers as they came."""
    line = len(request.method) + len(request.target) + 11
    return line + sum(len(name) + len(value) + 4 for name, value in request.headers)
