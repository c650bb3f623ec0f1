"""The fields of a control frame's JSON body, each type- and size-checked where it
is read: anything wrong raises ``RemoteProtocolError``, whose code goes back to the
peer in an ERROR frame."""

from __future__ import annotations

import re
from typing import Any

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol.ids import ITEM_ID
from chatty_p2p.protocol.text import MAX_REASON, clean_text


def field(body: dict[str, Any], key: str, kind: type, frame: str) -> Any:
    value = body.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise RemoteProtocolError(
            f"{frame}: field {key!r} missing or not {kind.__name__}", "malformed"
        )
    return value


def count(body: dict[str, Any], key: str, frame: str, limit: int) -> int:
    value: int = field(body, key, int, frame)
    if not 0 <= value <= limit:
        raise RemoteProtocolError(f"{frame}: field {key!r} out of range", "malformed")
    return value


def text(
    body: dict[str, Any], key: str, frame: str, limit: int, pattern: re.Pattern[str] | None = None
) -> str:
    value: str = field(body, key, str, frame)
    if len(value.encode("utf-8")) > limit:
        raise RemoteProtocolError(f"{frame}: field {key!r} longer than {limit} bytes", "too-large")
    if pattern is not None and not pattern.fullmatch(value):
        raise RemoteProtocolError(f"{frame}: field {key!r} is malformed", "malformed")
    return value


def item_id(body: dict[str, Any], frame: str) -> str:
    """The id of the message or transfer a frame is about (``ids.ITEM_ID``)."""
    return text(body, "id", frame, 32, ITEM_ID)


def reason(body: dict[str, Any], frame: str) -> str:
    """Why, in the peer's words: bounded, and safe to show."""
    return clean_text(text(body, "reason", frame, MAX_REASON))
