"""The session state machine, two of them joined by an in-memory link."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chatty_p2p.errors import LocalProtocolError, RemoteProtocolError
from chatty_p2p.protocol.frames import FrameDecoder, FrameType, encode, encode_json
from chatty_p2p.protocol.messages import (
    PROTOCOL_VERSION,
    ClosedByPeer,
    EndedReceived,
    HelloReceived,
    MessageReceived,
    NackReceived,
    PeerReportedError,
    ProfileReceived,
    ReceiptReceived,
    UnknownFrameReceived,
)
from chatty_p2p.protocol.session import Session, State
from tests.support.sessions import A_ID, B_ID, hello, msg, pair


def test_message_receipt_and_profile_flow() -> None:
    a, b = pair()
    a.send_message(msg("hello 👋"))
    (event,) = b.receive_data(a.data_to_send())
    assert event == MessageReceived(msg("hello 👋"))
    b.send_receipt("0" * 32)
    b.send_profile("bravo\x1b[31m two\u202e")
    events = a.receive_data(b.data_to_send())
    assert events == [ReceiptReceived("0" * 32), ProfileReceived("bravo[31m two")]


def test_a_message_not_kept_is_refused_by_id_with_a_readable_reason() -> None:
    """NACK: the receiver's disk is full; the reason is hostile text like any other."""
    a, b = pair()
    b.send_nack("0" * 32, "bravo cannot store messages: its disk is full\x1b[2J")
    assert a.receive_data(b.data_to_send()) == [
        NackReceived("0" * 32, "bravo cannot store messages: its disk is full\ufffd[2J")
    ]


@pytest.mark.parametrize(
    "payload",
    [
        b'{"id":"' + b"0" * 32 + b'"}',
        b'{"id":"zz","reason":"full"}',
        b'{"id":"' + b"0" * 32 + b'","reason":"' + b"x" * 600 + b'"}',
        b'{"id":"' + b"0" * 32 + b'","reason":5}',
    ],
    ids=["no-reason", "bad-id", "too-long", "not-text"],
)
def test_a_malformed_nack_is_refused(payload: bytes) -> None:
    _, b = pair()
    with pytest.raises(RemoteProtocolError):
        b.receive_data(encode(FrameType.NACK, payload))


def test_ping_is_answered_by_the_session_itself() -> None:
    a, b = pair()
    a.ping()
    assert b.receive_data(a.data_to_send()) == []
    pong = b.data_to_send()
    (frame,) = FrameDecoder().feed(pong)
    assert frame.type == FrameType.PONG and frame.json() == {"n": 1}
    assert a.receive_data(pong) == []


@settings(max_examples=30)
@given(st.lists(st.integers(1, 64), min_size=1, max_size=50))
def test_any_chunking_gives_the_same_events(cuts: list[int]) -> None:
    a, b = pair()
    for i in range(5):
        a.send_message(msg(f"m{i}", f"{i:032x}"))
    wire, pos, events = a.data_to_send(), 0, []
    for size in [*cuts, len(wire)]:
        events += b.receive_data(wire[pos : pos + size])
        pos += size
    assert [e.message.body for e in events if isinstance(e, MessageReceived)] == [
        f"m{i}" for i in range(5)
    ]


def test_nothing_but_hello_before_hello() -> None:
    s = Session(hello(A_ID))
    with pytest.raises(RemoteProtocolError) as err:
        s.receive_data(encode_json(FrameType.MESSAGE, {"id": "0" * 32}))
    assert err.value.code == "order"


def test_second_hello_is_an_error() -> None:
    _, b = pair()
    again = Session(hello(A_ID))
    again.start()
    with pytest.raises(RemoteProtocolError, match="HELLO not allowed"):
        b.receive_data(again.data_to_send())


def test_error_frame_is_sent_before_closing() -> None:
    a, b = pair()
    try:
        b.receive_data(encode(FrameType.MESSAGE, b"{broken"))
    except RemoteProtocolError as exc:
        b.fail(exc)
    (frame,) = FrameDecoder().feed(b.data_to_send())
    assert frame.type == FrameType.ERROR and frame.json()["code"] == "malformed"
    assert b.state is State.CLOSED
    (event,) = a.receive_data(encode_json(FrameType.ERROR, frame.json()))
    assert isinstance(event, PeerReportedError) and event.code == "malformed"
    assert a.receive_data(encode_json(FrameType.PING, {"n": 1})) == []  # closed: ignored


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"id": "0" * 32, "ts": 1, "kind": "text", "body": "x" * 70000}, "too-large"),
        ({"id": "../etc", "ts": 1, "kind": "text", "body": "x"}, "malformed"),
        ({"id": "0" * 32, "ts": "yesterday", "kind": "text", "body": "x"}, "malformed"),
        ({"id": "0" * 32, "ts": True, "kind": "text", "body": "x"}, "malformed"),
        ({"id": "0" * 32, "ts": 1, "kind": "text"}, "malformed"),
        ({"id": "0" * 32, "ts": 1, "kind": "text", "body": ["x"]}, "malformed"),
    ],
)
def test_bad_message_fields_are_rejected(body: dict[str, object], code: str) -> None:
    _, b = pair()
    with pytest.raises(RemoteProtocolError) as err:
        b.receive_data(encode_json(FrameType.MESSAGE, body))
    assert err.value.code == code


def test_unknown_frame_types_from_a_newer_peer_are_skipped() -> None:
    a, b = pair()
    a.send_message(msg())
    events = b.receive_data(encode(200, b"\x00future") + a.data_to_send())
    assert events == [UnknownFrameReceived(200), MessageReceived(msg())]


def test_incompatible_protocol_versions_fail_with_a_clear_message() -> None:
    s = Session(hello(A_ID))
    future = {"proto": [5, 7], "id": B_ID, "name": "n", "boot": "0" * 16, "port": 1}
    with pytest.raises(RemoteProtocolError, match="update Chatty") as err:
        s.receive_data(encode_json(FrameType.HELLO, future))
    assert err.value.code == "version"


def test_newer_peer_with_overlapping_range_negotiates_down() -> None:
    s = Session(hello(A_ID))
    newer = {"proto": [2, 9], "id": B_ID, "name": "n", "boot": "0" * 16, "port": 1}
    (event,) = s.receive_data(encode_json(FrameType.HELLO, newer))
    assert isinstance(event, HelloReceived) and event.hello.version == PROTOCOL_VERSION


@pytest.mark.parametrize(
    ("proto", "extra", "lanes"),
    [
        ([2, 3], {"lanes": 3}, 3),
        ([2, 3], {}, 1),  # absent: one connection
        ([2, 3], {"lanes": 64}, 4),  # capped, not refused
        ([2, 2], {"lanes": 4}, 1),  # a version-2 session knows no ranges
    ],
)
def test_hello_says_how_many_bulk_lanes_a_peer_uses(
    proto: list[int], extra: dict[str, int], lanes: int
) -> None:
    s = Session(hello(A_ID))
    body = {"proto": proto, "id": B_ID, "name": "n", "boot": "0" * 16, "port": 1, **extra}
    (event,) = s.receive_data(encode_json(FrameType.HELLO, body))
    assert isinstance(event, HelloReceived) and event.hello.lanes == lanes


@pytest.mark.parametrize("bad", [0, -1, "2", True, 1.5])
def test_a_lane_count_that_is_not_a_positive_integer_is_refused(bad: object) -> None:
    s = Session(hello(A_ID))
    body = {"proto": [2, 3], "id": B_ID, "name": "n", "boot": "0" * 16, "port": 1, "lanes": bad}
    with pytest.raises(RemoteProtocolError):
        s.receive_data(encode_json(FrameType.HELLO, body))


def test_a_version_1_peer_is_told_to_update_before_any_transfer() -> None:
    """Version 1 senders reject the receiver's LANDED reports mid-transfer."""
    s = Session(hello(A_ID))
    old = {"proto": [1, 1], "id": B_ID, "name": "n", "boot": "0" * 16, "port": 1}
    with pytest.raises(RemoteProtocolError, match="update Chatty"):
        s.receive_data(encode_json(FrameType.HELLO, old))


def test_bye_closes_and_nothing_after_it_is_read() -> None:
    a, b = pair()
    a.close("quit")
    a_bytes = a.data_to_send() + encode_json(FrameType.PING, {"n": 9})
    assert b.receive_data(a_bytes) == [ClosedByPeer("quit")]
    assert b.data_to_send() == b""  # the trailing PING was not answered


def test_local_misuse_raises_local_errors() -> None:
    s = Session(hello(A_ID))
    with pytest.raises(LocalProtocolError):
        s.send_message(msg())
    s.start()
    with pytest.raises(LocalProtocolError):
        s.start()


def test_hello_json_is_compact_and_complete() -> None:
    s = Session(hello(A_ID, "alpha"))
    s.start()
    (frame,) = FrameDecoder().feed(s.data_to_send())
    assert json.loads(frame.payload) == {
        "proto": [2, PROTOCOL_VERSION],
        "id": A_ID,
        "name": "alpha",
        "boot": "0123456789abcdef",
        "port": 4000,
        "lanes": 1,
    }


@pytest.mark.parametrize(
    ("frame_type", "payload"),
    [
        (FrameType.MESSAGE, rb'{"id":"' + b"0" * 32 + rb'","ts":1,"kind":"text","body":"\ud800"}'),
        (FrameType.PROFILE, rb'{"name":"\ud800"}'),
        (FrameType.RECEIPT, rb'{"id":"\ud800"}'),
        (FrameType.NACK, rb'{"id":"' + b"0" * 32 + rb'","reason":"\ud800"}'),
        (FrameType.OFFER, rb'{"id":"' + b"1" * 32 + rb'","count":1,"size":1,"names":["\ud800"]}'),
        (FrameType.PAIR, rb'{"op":"cancel","value":"\ud800"}'),
    ],
    ids=["message", "profile", "receipt", "nack", "offer", "pair"],
)
def test_a_lone_surrogate_anywhere_is_malformed(frame_type: FrameType, payload: bytes) -> None:
    _, b = pair()
    with pytest.raises(RemoteProtocolError) as err:
        b.receive_data(encode(frame_type, payload))
    assert err.value.code == "malformed"


def test_a_closed_session_lets_go_of_an_unfinished_frame() -> None:
    """A peer that sent most of a megabyte and left: the session keeps none of it."""
    _, b = pair()
    b.receive_data(encode(FrameType.MESSAGE, b"x" * 1_000_000)[:900_000])
    assert b.buffered == 900_000
    b.close("gone")
    assert b.buffered == 0
    _, c = pair()
    c.receive_data(encode(FrameType.MESSAGE, b"x" * 1000)[:500])
    c.fail(RemoteProtocolError("enough", "malformed"))
    assert c.buffered == 0


@pytest.mark.parametrize(
    ("frame_type", "body", "event"),
    [
        (FrameType.BYE, {"reason": ""}, ClosedByPeer("bye")),
        (FrameType.BYE, {"reason": "gone\x1b[2J"}, ClosedByPeer("gone\ufffd[2J")),
        (
            FrameType.ERROR,
            {"code": "", "message": "x\u202e"},
            PeerReportedError("unknown", "x\ufffd"),
        ),
        (FrameType.ERROR, {"code": "a\x07b", "message": 3}, PeerReportedError("a\ufffdb", "")),
    ],
    ids=["empty-bye", "bye-escapes", "empty-code", "code-escapes"],
)
def test_a_goodbye_or_error_always_has_a_printable_reason(
    frame_type: FrameType, body: dict[str, object], event: object
) -> None:
    """What a user reads as "peer left (…)" is never empty, nor terminal escapes."""
    _, b = pair()
    assert b.receive_data(encode_json(frame_type, body)) == [event]


def test_ended_tells_the_sender_how_a_transfer_ended_and_is_checked() -> None:
    a, b = pair()
    b.send_ended("1" * 32, False, "")
    b.send_ended("2" * 32, True, "1 file failed: hash mismatch\ud800")
    done, failed = a.receive_data(b.data_to_send())
    assert done == EndedReceived("1" * 32, False, "")
    assert failed == EndedReceived("2" * 32, True, "1 file failed: hash mismatch?")
    for body in (
        {"id": "1" * 32, "failed": "no", "reason": ""},  # not a boolean
        {"id": "../x", "failed": False, "reason": ""},  # not a transfer id
        {"id": "1" * 32, "failed": False, "reason": "x" * 5000},  # too long
    ):
        with pytest.raises(RemoteProtocolError):
            pair()[0].receive_data(encode_json(FrameType.ENDED, body))
