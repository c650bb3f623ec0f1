"""Frame codec: bytes in, frames out, whatever the chunking; hostile headers refused."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatty_p2p.errors import LocalProtocolError, RemoteProtocolError
from chatty_p2p.protocol.frames import (
    HEADER,
    MAX_PAYLOAD,
    FrameDecoder,
    FrameType,
    encode,
    encode_json,
)

frames_st = st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=2000)), max_size=20)


@given(frames_st)
def test_round_trip_in_one_piece(frames: list[tuple[int, bytes]]) -> None:
    wire = b"".join(encode(t, p) for t, p in frames)
    decoded = FrameDecoder().feed(wire)
    assert [(f.type, f.payload) for f in decoded] == frames


@given(frames_st)
def test_round_trip_one_byte_at_a_time(frames: list[tuple[int, bytes]]) -> None:
    wire = b"".join(encode(t, p) for t, p in frames)
    decoder = FrameDecoder()
    out = []
    for i in range(len(wire)):
        out += decoder.feed(wire[i : i + 1])
    assert [(f.type, f.payload) for f in out] == frames
    assert decoder.buffered == 0


@given(frames_st, st.lists(st.integers(1, 5000), max_size=30))
def test_round_trip_in_random_splits(frames: list[tuple[int, bytes]], cuts: list[int]) -> None:
    wire = b"".join(encode(t, p) for t, p in frames)
    decoder, out, pos = FrameDecoder(), [], 0
    for size in [*cuts, len(wire)]:
        out += decoder.feed(wire[pos : pos + size])
        pos += size
    assert [(f.type, f.payload) for f in out] == frames


def test_huge_length_prefix_is_refused_from_the_header_alone() -> None:
    decoder = FrameDecoder()
    with pytest.raises(RemoteProtocolError) as err:
        decoder.feed(HEADER.pack(1, FrameType.MESSAGE, 0xFFFFFFFF))
    assert err.value.code == "too-large"
    assert decoder.buffered == HEADER.size  # nothing was allocated for the claimed 4 GiB


def test_payload_at_the_limit_passes_and_one_more_byte_fails() -> None:
    assert FrameDecoder().feed(encode(1, b"x" * MAX_PAYLOAD))[0].payload == b"x" * MAX_PAYLOAD
    with pytest.raises(RemoteProtocolError):
        FrameDecoder().feed(struct.pack("!BBI", 1, 1, MAX_PAYLOAD + 1))
    with pytest.raises(LocalProtocolError):
        encode(1, b"x" * (MAX_PAYLOAD + 1))


def test_other_frame_format_is_refused_with_a_version_code() -> None:
    with pytest.raises(RemoteProtocolError) as err:
        FrameDecoder().feed(b"\x02\x01\x00\x00\x00\x00")
    assert err.value.code == "version"


@pytest.mark.parametrize("payload", [b"\xff\xfe", b"[1,2]", b"not json", b""])
def test_control_payload_must_be_a_json_object(payload: bytes) -> None:
    (frame,) = FrameDecoder().feed(encode(FrameType.PING, payload))
    with pytest.raises(RemoteProtocolError) as err:
        frame.json()
    assert err.value.code == "malformed"


def test_json_frames_keep_unicode() -> None:
    (frame,) = FrameDecoder().feed(encode_json(FrameType.PROFILE, {"name": "Zoë 🖥"}))
    assert frame.json() == {"name": "Zoë 🖥"}


@pytest.mark.parametrize(
    "payload",
    [
        rb'{"body":"\ud800"}',
        rb'{"body":"x\uDBFFy"}',  # a high half with no low half after it
        rb'{"body":"\udc00"}',  # a low half alone
        rb'{"entries":[["a/\ud800.txt","file",5,0]]}',  # nested, as in a bulk manifest
        rb'{"\ud800":1}',  # a key
    ],
)
def test_a_lone_surrogate_is_malformed(payload: bytes) -> None:
    """``json`` decodes such an escape to a ``str`` that cannot be encoded again, so
    every later length check or write would raise ``UnicodeEncodeError`` instead of
    the protocol error the session turns into an ERROR frame."""
    (frame,) = FrameDecoder().feed(encode(FrameType.MESSAGE, payload))
    with pytest.raises(RemoteProtocolError) as err:
        frame.json()
    assert err.value.code == "malformed" and "surrogate" in str(err.value)


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        (rb'{"body":"\ud83d\ude00"}', "\U0001f600"),  # a pair is one character
        (rb'{"body":"\\ud800"}', "\\ud800"),  # an escaped backslash, then letters
    ],
)
def test_surrogate_pairs_and_lookalikes_pass(payload: bytes, text: str) -> None:
    (frame,) = FrameDecoder().feed(encode(FrameType.MESSAGE, payload))
    assert frame.json() == {"body": text}
