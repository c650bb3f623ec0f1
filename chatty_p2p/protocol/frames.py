"""Length-prefixed, versioned frames.

Theory of operation
-------------------
A frame is a 6-byte header followed by a payload::

    +---------+--------+---------------------+-----------------+
    | format  | type   | payload length      | payload         |
    | 1 byte  | 1 byte | 4 bytes, big endian | length bytes    |
    +---------+--------+---------------------+-----------------+

``format`` is the frame layout version (1 here); a reader rejects any other
value before trusting the length. The length is checked against
``MAX_PAYLOAD`` as soon as the header is complete, so a hostile 4 GiB prefix
costs six bytes of buffer, never an allocation. Control frames carry a UTF-8
JSON object; bulk-data frames (added with file transfer) carry raw bytes, so
``Frame.payload`` is always ``bytes`` and the session layer decides how to read
it.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from chatty_p2p.errors import LocalProtocolError, RemoteProtocolError

FRAME_FORMAT = 1
HEADER = struct.Struct("!BBI")
MAX_PAYLOAD = 1024 * 1024
"""Largest payload a peer may send in one frame (1 MiB)."""


class FrameType(IntEnum):
    """Frame types. Values are never reused; new ones are only appended."""

    HELLO = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    RECEIPT = 5
    PROFILE = 6
    BYE = 7
    ERROR = 8
    OFFER = 9
    ANSWER = 10
    CANCEL = 11
    RESUME = 12
    PAIR = 13
    NACK = 14
    """A message not stored (the receiver's disk is full): not acknowledged, sent again later."""
    ENDED = 15
    """How a transfer ended on the receiver's side, for a sender that missed it."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. ``type`` is an int so unknown types survive decoding."""

    type: int
    payload: bytes

    def json(self) -> dict[str, Any]:
        """The payload as a JSON object, or a ``RemoteProtocolError``."""
        return json_object(self.payload, f"frame {self.type}")


def json_object(payload: bytes, what: str) -> dict[str, Any]:
    """``payload`` as a JSON object, or a ``RemoteProtocolError`` that says ``what`` it
    was: not UTF-8, not JSON, nested too deep, not an object, or a string holding a
    lone UTF-16 surrogate. Every peer's JSON is read here (Chatty's frames, LocalSend's
    messages)."""
    try:
        value = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RemoteProtocolError(f"{what}: payload is not JSON", "malformed") from exc
    except RecursionError as exc:  # "[[[[…" a megabyte deep
        raise RemoteProtocolError(f"{what}: JSON nested too deeply", "malformed") from exc
    if not isinstance(value, dict):
        raise RemoteProtocolError(f"{what}: payload is not an object", "malformed")
    if _SURROGATE_ESCAPE.search(payload) and not _encodable(value):
        raise RemoteProtocolError(f"{what}: a string holds a lone UTF-16 surrogate", "malformed")
    return value


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""The only way a surrogate gets into decoded JSON: UTF-8 itself cannot carry one
(the decoder refuses it), but a ``\\ud800`` escape can. A pair (an emoji written as
two escapes) is fine; a lone one decodes to a ``str`` that nothing can encode again,
so every later ``.encode()`` (a length check, the store, a file name) would fail."""


def _encodable(value: Any) -> bool:
    """Whether every string in a decoded JSON value survives UTF-8 encoding; only
    called when an escape hints otherwise, so ordinary frames cost one regex scan."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):  # ``dumps`` nests less deep than ``loads``
        return False
    return True


def finite(value: Any) -> float | None:
    """A JSON number as a finite float, or ``None``: peers may send NaN, Infinity
    or an integer too large for a float, and none of them is a time or a size."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def encode(frame_type: int, payload: bytes) -> bytes:
    """Header plus payload, refusing what a peer would refuse."""
    if not 0 <= frame_type <= 255:
        raise LocalProtocolError(f"frame type {frame_type} out of range")
    if len(payload) > MAX_PAYLOAD:
        raise LocalProtocolError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    return HEADER.pack(FRAME_FORMAT, frame_type, len(payload)) + payload


def encode_json(frame_type: int, body: dict[str, Any]) -> bytes:
    """A control frame: compact UTF-8 JSON. A lone surrogate in a string (a file name
    that is not UTF-8, decoded with surrogateescape, inside a reason) goes out as
    "?": it cannot be UTF-8, and a frame must not fail for a word in it."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    data = text.encode("utf-8", "replace")
    return encode(frame_type, data)


class FrameDecoder:
    """Splits a byte stream into frames, whatever the chunking.

    The buffer never holds more than one incomplete frame plus what the caller
    fed in one call, because every complete frame is handed out by ``frames()``.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._max_payload = max_payload

    def feed(self, data: bytes | memoryview) -> list[Frame]:
        """Add bytes; return every frame now complete, in order."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= HEADER.size:
            version, frame_type, length = HEADER.unpack_from(self._buffer)
            if version != FRAME_FORMAT:
                raise RemoteProtocolError(
                    f"unsupported frame format {version} (this build speaks {FRAME_FORMAT})",
                    "version",
                )
            if length > self._max_payload:
                raise RemoteProtocolError(
                    f"frame of {length} bytes exceeds the {self._max_payload}-byte limit",
                    "too-large",
                )
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            with memoryview(self._buffer) as view:  # one copy, not two
                frames.append(Frame(frame_type, bytes(view[HEADER.size : end])))
            del self._buffer[:end]
        return frames

    def clear(self) -> None:
        """Drop a partial frame and give its memory back: the stream has ended."""
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """Bytes held for a frame not yet complete."""
        return len(self._buffer)
