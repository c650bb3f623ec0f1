"""LocalSend's protocol (version 2), its messages only: JSON in, checked values out, and
the JSON Chatty sends back. No sockets and no HTTP here; ``net/localsend`` carries
the bytes and ``localsend/`` decides what they mean for the node.

The protocol (the README of the public repository ``localsend/protocol``): a device
announces itself with a JSON datagram to ``224.0.0.167:53317``; one that hears an
announcement with ``announce: true`` answers with ``POST /api/localsend/v2/register``
(its own info) to the announcer's HTTP(S) port, or else with a datagram of its own
(``announce: false``). Files go by HTTP: ``prepare-upload`` (the sender's info and a
map of file metadata; the receiver answers, once its user decided, with a session id
and one token per file it wants), then one ``upload`` per file (the bytes as the
body), and ``cancel``.

Everything here comes from a device nobody verified, maybe a hostile one: every
field is type-checked and capped (``MAX_*``), names are what ``names.safe_relpath``
makes of them, unknown fields are ignored, and a message that does not fit raises
``RemoteProtocolError`` (an HTTP 400 for the caller).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol.frames import json_object
from chatty_p2p.protocol.names import UnsafePath, safe_relpath
from chatty_p2p.protocol.text import clean_name, clean_text, has_visible_name

PORT = 53317
GROUP = "224.0.0.167"
VERSION = "2.1"
API = "/api/localsend/v2/"
MAX_BODY = 4 * 1024 * 1024
"""The largest JSON body read (a prepare-upload of ``MAX_FILES`` files fits)."""
ID_PREFIX = "ls-"
"""LocalSend devices' ids in Chatty's peer list (and on their transfers): never a
Chatty device id, which is 64 hex digits."""
MAX_DATAGRAM = 2048
MAX_FILES = 2000
"""Files in one prepare-upload: the receiver keeps a record of each while it asks."""
MAX_ID = 128
MAX_ALIAS = 64
MAX_FILE_NAME = 1024
MAX_PREVIEW = 64 * 1024
"""A text message travels as a preview: the longest one kept."""
MAX_SIZE = 2**53
DEVICE_TYPES = ("mobile", "desktop", "web", "headless", "server")
CHATTY_DEVICE = {"mobile": "phone", "desktop": "desktop", "headless": "server", "server": "server"}
"""LocalSend's device type in Chatty's words (``chatty_p2p.device``); "web" has none."""
LOCALSEND_DEVICE = {"phone": "mobile", "tablet": "mobile", "server": "headless"}
"""Chatty's device type in LocalSend's words; anything else is a desktop."""
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{1,128}")
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Device:
    """A LocalSend device as it describes itself (announcement, register, info)."""

    alias: str
    fingerprint: str
    device_type: str = "desktop"
    """One of ``DEVICE_TYPES`` (an unknown one reads as "desktop", as LocalSend does)."""
    device_model: str = ""
    version: str = VERSION
    port: int = PORT
    protocol: str = "https"
    download: bool = False
    announce: bool = False

    def to_json(self, announce: bool | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "alias": self.alias,
            "version": self.version,
            "deviceModel": self.device_model or None,
            "deviceType": self.device_type,
            "fingerprint": self.fingerprint,
            "port": self.port,
            "protocol": self.protocol,
            "download": self.download,
        }
        if announce is not None:
            data["announce"] = announce
        return data

    @property
    def chatty_device(self) -> str:
        return CHATTY_DEVICE.get(self.device_type, "unknown")


@dataclass(frozen=True)
class FileMeta:
    """One file of a prepare-upload."""

    id: str
    name: str
    """As sent (``/`` may separate folders); ``parts`` is what may be created here."""
    size: int
    file_type: str = ""
    sha256: str = ""
    preview: str = ""
    parts: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fileName": self.name,
            "size": self.size,
            "fileType": self.file_type or "application/octet-stream",
            "sha256": self.sha256 or None,
            "preview": self.preview or None,
        }


@dataclass(frozen=True)
class UploadRequest:
    """A prepare-upload: who sends, and what."""

    sender: Device
    files: tuple[FileMeta, ...]

    @property
    def is_text(self) -> bool:
        """A LocalSend text message: one text file whose whole content is its preview,
        so no upload follows (the receiver answers 204)."""
        if len(self.files) != 1:
            return False
        only = self.files[0]
        return (
            only.file_type.startswith("text/")
            and bool(only.preview)
            and (len(only.preview.encode("utf-8")) == only.size)
        )

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def loads(body: bytes, limit: int = MAX_BODY) -> dict[str, Any]:
    """A JSON object, or ``RemoteProtocolError``: too long, or what ``json_object``
    refuses (not UTF-8, not JSON, not an object, a lone surrogate)."""
    if len(body) > limit:
        raise RemoteProtocolError(f"localsend: a body of {len(body)} bytes", "too-large")
    return json_object(body, "localsend")


def dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _str(data: dict[str, Any], key: str, limit: int, default: str | None = None) -> str:
    value = data.get(key, default)
    if value is None and default is not None:
        value = default
    if not isinstance(value, str):
        raise RemoteProtocolError(f"localsend: {key!r} missing or not text", "malformed")
    if len(value) > limit:
        raise RemoteProtocolError(f"localsend: {key!r} longer than {limit}", "too-large")
    return value


def _int(data: dict[str, Any], key: str, low: int, high: int, default: int | None = None) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RemoteProtocolError(f"localsend: {key!r} missing or out of range", "malformed")
    return value


def parse_device(data: dict[str, Any], port: int | None = None) -> Device:
    """A device's own description. ``port`` and ``protocol`` default to LocalSend's
    (an HTTP register or an info answer may leave them out); an alias with nothing
    visible in it reads as "LocalSend device"."""
    kind = data.get("deviceType")
    model = data.get("deviceModel")
    version = _str(data, "version", 16, "1.0")
    return Device(
        alias=_alias(_str(data, "alias", MAX_FILE_NAME)),
        fingerprint=_str(data, "fingerprint", MAX_ID, ""),
        device_type=kind if kind in DEVICE_TYPES else "desktop",
        device_model=clean_text(model, MAX_ALIAS) if isinstance(model, str) else "",
        version=version,
        port=_int(data, "port", 1, 65535, port or PORT),
        protocol="http" if data.get("protocol") == "http" else "https",
        download=data.get("download") is True,
        announce=data.get("announce") is True,
    )


def _alias(raw: str) -> str:
    """What the peer list shows: cleaned and cut (a datagram bounds it, a register body
    does not), or "LocalSend device" when nothing visible is left."""
    if not has_visible_name(raw):
        return "LocalSend device"
    return clean_name(raw)[:MAX_ALIAS]


def parse_announcement(datagram: bytes) -> Device:
    return parse_device(loads(datagram, MAX_DATAGRAM))


def announcement(me: Device, announce: bool) -> bytes:
    return dumps(me.to_json(announce=announce))


def parse_file(data: object) -> FileMeta:
    if not isinstance(data, dict):
        raise RemoteProtocolError("localsend: a file is not an object", "malformed")
    name = _str(data, "fileName", MAX_FILE_NAME)
    sha = data.get("sha256")
    preview = data.get("preview")
    if isinstance(preview, str) and len(preview) > MAX_PREVIEW:
        preview = ""  # a preview too long to keep is dropped; the file still comes
    return FileMeta(
        id=_str(data, "id", MAX_ID),
        name=name,
        size=_int(data, "size", 0, MAX_SIZE),
        file_type=_str(data, "fileType", 128, ""),
        sha256=sha.lower() if isinstance(sha, str) and _HEX64.fullmatch(sha) else "",
        preview=preview if isinstance(preview, str) else "",
        parts=_parts(name),
    )


def _parts(name: str) -> tuple[str, ...]:
    try:
        return safe_relpath(name)
    except UnsafePath as exc:
        raise RemoteProtocolError(f"localsend: {exc}", "malformed") from None


def parse_upload_request(body: bytes) -> UploadRequest:
    data = loads(body)
    info = data.get("info")
    files = data.get("files")
    if not isinstance(info, dict) or not isinstance(files, dict):
        raise RemoteProtocolError("localsend: prepare-upload needs info and files", "malformed")
    if not 0 < len(files) <= MAX_FILES:
        raise RemoteProtocolError(f"localsend: {len(files)} files (1 to {MAX_FILES})", "too-large")
    metas = tuple(parse_file(f) for f in files.values())
    if len({m.id for m in metas}) != len(metas):
        raise RemoteProtocolError("localsend: two files with one id", "malformed")
    return UploadRequest(parse_device(info), metas)


def upload_request(me: Device, files: list[FileMeta]) -> bytes:
    return dumps({"info": me.to_json(), "files": {f.id: f.to_json() for f in files}})


def upload_answer(session: str, tokens: dict[str, str]) -> bytes:
    return dumps({"sessionId": session, "files": tokens})


def parse_upload_answer(body: bytes, asked: set[str]) -> tuple[str, dict[str, str]]:
    """The session id and a token for each file the receiver wants (a subset of
    ``asked``, the ids offered)."""
    data = loads(body)
    session = _str(data, "sessionId", MAX_ID)
    files = data.get("files")
    if not isinstance(files, dict) or not _TOKEN.fullmatch(session):
        raise RemoteProtocolError("localsend: prepare-upload answer malformed", "malformed")
    tokens = {k: v for k, v in files.items() if k in asked and isinstance(v, str)}
    if any(not _TOKEN.fullmatch(v) for v in tokens.values()):
        raise RemoteProtocolError("localsend: a token is malformed", "malformed")
    return session, tokens


def is_token(text: str) -> bool:
    return bool(_TOKEN.fullmatch(text))
