"""The fields of a control frame's JSON body, each type- and size-checked where it
is read: anything wrong raises ``RemoteProtocolError``, whose code goes back to the
peer in an ERROR frame."""

from __future__ import annotations

import re
from typing import Any

from chatty_p2p.errors import RemoteProtocolError


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
