"""Chatty as a LocalSend client: one HTTP(S) request to a device, with h11 over an
asyncio stream, every step under a timeout.

LocalSend's certificates are self-signed and nobody verifies them (the protocol's
fingerprint is the certificate's SHA-256, sent by the device itself): the client
checks no chain and says which certificate it met (``Reply.fingerprint``), so the
caller can notice one that changed, but it proves nothing about who is at the other
end. That is why LocalSend devices are always "unverified" here.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import h11

from chatty_p2p.errors import ChattyError, why_failed

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
"""A reply's head, or a gap in its body."""
MAX_REPLY = 1024 * 1024
"""The longest reply body read (LocalSend's are small JSON objects)."""
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    fingerprint: str
    """SHA-256 of the certificate the device showed (HTTPS), "" over HTTP."""


class Unreachable(ChattyError):
    """The device did not answer (refused, timed out, TLS failed)."""


def tls_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # self-signed, unverifiable: see the module's docstring
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def request(
    host: str,
    port: int,
    scheme: str,
    method: str,
    target: str,
    body: bytes | None = None,
    *,
    stream: AsyncIterator[bytes] | None = None,
    length: int | None = None,
    wait: float = READ_TIMEOUT,
) -> Reply:
    """``method target`` on ``host:port`` over ``scheme`` (http or https), with ``body``
    or the ``length`` bytes of ``stream``. ``wait`` bounds the wait for the reply's
    head after the request is sent (a receiver asking its user takes a while)."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=tls_context() if scheme == "https" else None
            )
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        raise Unreachable(f"{host}:{port} does not answer: {why_failed(exc)}") from None
    try:
        return await _exchange(reader, writer, host, method, target, body, stream, length, wait)
    except (OSError, TimeoutError, ssl.SSLError, h11.ProtocolError) as exc:
        raise Unreachable(f"{host}:{port}: {why_failed(exc)}") from None
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    host: str,
    method: str,
    target: str,
    body: bytes | None,
    stream: AsyncIterator[bytes] | None,
    length: int | None,
    wait: float,
) -> Reply:
    conn = h11.Connection(h11.CLIENT)
    size = len(body) if body is not None else (length or 0)
    headers = [
        ("host", host),
        ("content-length", str(size)),
        ("content-type", "application/json" if body is not None else "application/octet-stream"),
        ("connection", "close"),
    ]

    async def send(event: h11.Event) -> None:
        data = conn.send(event)
        if data:
            writer.write(data)
            async with asyncio.timeout(READ_TIMEOUT):
                await writer.drain()

    await send(h11.Request(method=method, target=target, headers=headers))
    if body:
        await send(h11.Data(data=body))
    elif stream is not None:
        async for chunk in stream:
            await send(h11.Data(data=chunk))
    await send(h11.EndOfMessage())
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    status, reply = await _read_reply(conn, reader, wait)
    return Reply(status, reply, hashlib.sha256(der).hexdigest() if der else "")


async def _read_reply(
    conn: h11.Connection, reader: asyncio.StreamReader, wait: float
) -> tuple[int, bytes]:
    status = 0
    reply = bytearray()
    first = True
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            async with asyncio.timeout(wait if first else READ_TIMEOUT):
                conn.receive_data(await reader.read(CHUNK))
            continue
        first = False
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            reply += event.data
            if len(reply) > MAX_REPLY:
                raise h11.RemoteProtocolError("the reply is too long")
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return status, bytes(reply)
