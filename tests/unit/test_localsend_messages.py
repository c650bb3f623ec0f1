"""LocalSend's messages, bytes in and values out (``protocol/localsend``): what a
device says about itself, a prepare-upload and its answer, each field checked and
capped as a hostile device's would have to be."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol import localsend as ls

PHONE = {
    "alias": "Nice Orange",
    "version": "2.0",
    "deviceModel": "Samsung",
    "deviceType": "mobile",
    "fingerprint": "random string",
    "port": 53317,
    "protocol": "https",
    "download": True,
    "announce": True,
}


def body(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_an_announcement_as_the_specification_writes_it() -> None:
    phone = ls.parse_announcement(body(PHONE))
    assert (phone.alias, phone.device_type, phone.device_model) == (
        "Nice Orange",
        "mobile",
        "Samsung",
    )
    assert (phone.port, phone.protocol, phone.download, phone.announce) == (
        53317,
        "https",
        True,
        True,
    )
    assert phone.chatty_device == "phone"


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        ({"deviceType": "toaster"}, "device_type", "desktop"),  # as LocalSend falls back
        ({"deviceType": None}, "device_type", "desktop"),
        ({"protocol": "gopher"}, "protocol", "https"),
        ({"alias": "  \u202e\u200b "}, "alias", "LocalSend device"),
        ({"alias": "x" * 300}, "alias", "x" * ls.MAX_ALIAS),
        ({"announce": "yes"}, "announce", False),
        ({"deviceModel": 7}, "device_model", ""),
    ],
)
def test_odd_fields_read_as_something_harmless(
    change: dict[str, Any], field: str, value: Any
) -> None:
    assert getattr(ls.parse_announcement(body({**PHONE, **change})), field) == value


@pytest.mark.parametrize(
    "raw",
    [
        body({**PHONE, "alias": 5}),
        body({k: v for k, v in PHONE.items() if k != "alias"}),
        body({**PHONE, "port": 0}),
        body({**PHONE, "port": 70000}),
        body({**PHONE, "port": True}),
        body({**PHONE, "port": 1.5}),
        body([PHONE]),
        b"\xff\xfe{}",
        b'{"alias": "\\ud800", "fingerprint": "x"}',
        b"[" * 100_000,
        body({**PHONE, "fingerprint": "f" * 500}),
        body({**PHONE, "alias": "x" * 3000}),  # the datagram is over its cap
    ],
)
def test_a_malformed_announcement_is_refused(raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        ls.parse_announcement(raw)


def files(*metas: dict[str, Any]) -> bytes:
    return body({"info": PHONE, "files": {m["id"]: m for m in metas}})


def meta(i: str, name: str, size: int = 10, **more: Any) -> dict[str, Any]:
    return {"id": i, "fileName": name, "size": size, "fileType": "image/jpeg", **more}


def test_a_prepare_upload_with_folders_and_hostile_names() -> None:
    request = ls.parse_upload_request(
        files(
            meta("a", "photos/beach.jpg", 5, sha256="AB" * 32),
            meta("b", "../../etc/passwd", sha256="not hex"),
            meta("c", "/abs/C:\\x", preview="p" * (ls.MAX_PREVIEW + 1)),
        )
    )
    a, b, c = request.files
    assert a.parts == ("photos", "beach.jpg") and a.sha256 == "ab" * 32
    assert b.parts == ("_", "_", "etc", "passwd") and b.sha256 == ""
    assert c.parts == ("abs", "C__x") and c.preview == ""  # a preview too long is dropped
    assert request.size == 25 and request.sender.alias == "Nice Orange"
    assert not request.is_text


@pytest.mark.parametrize(
    "raw",
    [
        files(meta("a", "x", -1)),
        files(meta("a", "x", 2**60)),
        files(meta("a", "x", True)),
        files({"id": "a", "size": 1}),
        files(meta("a" * 200, "x")),
        body({"info": PHONE, "files": {"a": meta("a", "x"), "b": meta("a", "y")}}),
        body({"info": PHONE, "files": {}}),
        body({"info": PHONE, "files": [meta("a", "x")]}),
        body({"files": {"a": meta("a", "x")}}),
        body(
            {"info": PHONE, "files": {str(i): meta(str(i), "x") for i in range(ls.MAX_FILES + 1)}}
        ),
        files(meta("a", "/".join(["d"] * 100))),
    ],
)
def test_a_malformed_prepare_upload_is_refused(raw: bytes) -> None:
    with pytest.raises(RemoteProtocolError):
        ls.parse_upload_request(raw)


def test_a_text_message_is_one_text_file_whose_preview_is_all_of_it() -> None:
    text = "dinner at 8? 🍝"
    size = len(text.encode())
    message = files(
        {"id": "t", "fileName": "x.txt", "size": size, "fileType": "text/plain", "preview": text}
    )
    assert ls.parse_upload_request(message).is_text
    cut = files(
        {
            "id": "t",
            "fileName": "x.txt",
            "size": size + 5,
            "fileType": "text/plain",
            "preview": text,
        }
    )
    assert not ls.parse_upload_request(cut).is_text


def test_what_chatty_sends_reads_back_the_same() -> None:
    me = ls.Device("laptop", "f" * 64, "desktop", port=53317, protocol="https")
    sent = [ls.FileMeta("1", "holiday/a.jpg", 3), ls.FileMeta("2", "b.txt", 0, "text/plain")]
    request = ls.parse_upload_request(ls.upload_request(me, sent))
    assert [(f.id, f.name, f.size) for f in request.files] == [(f.id, f.name, f.size) for f in sent]
    assert request.sender.alias == "laptop" and request.sender.fingerprint == "f" * 64
    announced = json.loads(ls.announcement(me, announce=True))
    assert set(announced) == {
        "alias",
        "version",
        "deviceModel",
        "deviceType",
        "fingerprint",
        "port",
        "protocol",
        "download",
        "announce",
    }
    assert announced["announce"] is True and announced["version"] == ls.VERSION


def test_the_answer_keeps_only_tokens_for_files_offered() -> None:
    answer = ls.upload_answer("s1", {"1": "tok-1", "9": "tok-9"})
    assert ls.parse_upload_answer(answer, {"1", "2"}) == ("s1", {"1": "tok-1"})
    with pytest.raises(RemoteProtocolError):
        ls.parse_upload_answer(ls.upload_answer("s1", {"1": "bad token!"}), {"1"})
    with pytest.raises(RemoteProtocolError):
        ls.parse_upload_answer(body({"files": {}}), {"1"})
