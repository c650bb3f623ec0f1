"""The bulk stream as the receiver reads it: DATA payloads pass through as views of the
buffer they were read into (no copy into a frame and out again), whatever the
chunking; and a sender handed OPEN and WANT in one read checks the WANT against the
manifest it has not looked up yet."""

from __future__ import annotations

import os

import pytest

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol.bulk.receiver import BulkReceiver
from chatty_p2p.protocol.bulk.sender import BulkSender
from chatty_p2p.protocol.bulk.wire import (
    AllSent,
    DataReceived,
    Entry,
    FileEnded,
    FileStarted,
    Opened,
    Want,
    Wanted,
    WantsDone,
    data_header,
)

TID = "b" * 32
BODY = os.urandom(3 * 1024 * 1024 + 7)
"""More than one frame's worth (1 MiB each), not a multiple of it."""


def _stream(sender: BulkSender) -> bytes:
    out = bytearray(sender.file_start(0, 0))
    for start in range(0, len(BODY), 1 << 20):
        piece = BODY[start : start + (1 << 20)]
        out += data_header(len(piece)) + piece
    return bytes(out + sender.file_end("0" * 64) + sender.end())


def _receiver() -> BulkReceiver:
    receiver = BulkReceiver(TID, 1, len(BODY))
    entries = [Entry("big.bin", "file", len(BODY), 0.0)]
    receiver.open(entries)
    receiver.want([Want.whole(0, 0, len(BODY))])
    return receiver


@pytest.mark.parametrize("chunk", [1, 5, 6, 7, 16 * 1024 + 3, 1 << 20, 4 << 20])
def test_any_chunking_gives_the_same_file_and_frames(chunk: int) -> None:
    wire = _stream(BulkSender())
    receiver = _receiver()
    got = bytearray()
    kinds = []
    for start in range(0, len(wire), chunk):
        buffer = bytearray(wire[start : start + chunk])
        for event in receiver.receive_data(memoryview(buffer)):
            if isinstance(event, DataReceived):
                got += event.data  # used before the buffer is reused, as the shell does
            else:
                kinds.append(type(event))
    assert bytes(got) == BODY
    assert kinds == [FileStarted, FileEnded, AllSent]


def test_data_is_a_view_of_the_callers_buffer_not_a_copy() -> None:
    wire = bytearray(_stream(BulkSender()))
    events = _receiver().receive_data(memoryview(wire))
    data = [e for e in events if isinstance(e, DataReceived)]
    assert len(data) == 4
    first = len(BulkSender().file_start(0, 0)) + 6  # the first DATA payload's start
    wire[first + 3] ^= 0xFF  # change the buffer: the event sees it, so it holds no copy
    assert data[0].data[3] == wire[first + 3] != BODY[3]


def test_more_data_than_the_file_has_is_refused_even_in_pieces() -> None:
    receiver = BulkReceiver(TID, 1, 4)
    receiver.open([Entry("a", "file", 4, 0.0)])
    receiver.want([Want.whole(0, 0, 4)])
    wire = BulkSender().file_start(0, 0) + data_header(6) + b"abcdef"
    receiver.receive_data(wire[:-3])
    with pytest.raises(RemoteProtocolError):
        receiver.receive_data(wire[-3:])


def test_a_huge_length_is_refused_at_the_header_before_any_byte_is_kept() -> None:
    receiver = _receiver()
    receiver.receive_data(BulkSender().file_start(0, 0))
    with pytest.raises(RemoteProtocolError) as caught:
        receiver.receive_data(b"\x01\x07\xff\xff\xff\xff")
    assert caught.value.code == "too-large"


def test_open_and_want_in_one_read_wait_for_the_manifest() -> None:
    """A receiver resuming knows the manifest and sends OPEN and WANT together: the
    sender learns which transfer it is (OPEN) before it can check the WANT."""
    receiver = BulkReceiver(TID, 2, 10)
    entries = [Entry("a", "file", 10, 0.0), Entry("b", "file", 0, 0.0)]
    sender = BulkSender()
    events = sender.receive_data(
        receiver.open(entries) + receiver.want([Want.whole(1, 0, 0), Want.whole(0, 4, 10)])
    )
    assert events == [Opened(TID, False)]
    assert sender.set_manifest([10, 0]) == [
        Wanted([Want.whole(1, 0, 0), Want.whole(0, 4, 10)]),
        WantsDone(),
    ]


def test_a_held_want_is_still_checked_against_the_manifest() -> None:
    receiver = BulkReceiver(TID, 1, 10)
    sender = BulkSender()
    sender.receive_data(
        receiver.open([Entry("a", "file", 10, 0.0)]) + receiver.want([Want.whole(0, 0, 10)])
    )
    with pytest.raises(RemoteProtocolError):
        sender.set_manifest([])  # the transfer the sender holds has no such file


def test_frames_before_the_manifest_are_bounded() -> None:
    receiver = BulkReceiver(TID, 1, 10)
    sender = BulkSender()
    sender.receive_data(receiver.open([Entry("a", "file", 10, 0.0)]))
    with pytest.raises(RemoteProtocolError):
        sender.receive_data(receiver.landed(0, 0) * 257)
