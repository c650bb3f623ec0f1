"""The bulk protocol's new messages, bytes in and events out: LANDED (the receiver is
still landing) and ERROR with a resumable code (the receiver cannot write)."""

from __future__ import annotations

import os

import pytest

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol.bulk.receiver import BulkReceiver
from chatty_p2p.protocol.bulk.sender import BulkSender
from chatty_p2p.protocol.bulk.wire import (
    DISK_FULL,
    RESUMABLE,
    BulkError,
    BulkType,
    Entry,
    Landed,
    ResultReceived,
    Want,
    Wanted,
    WantsDone,
    data_header,
    error_frame,
)
from chatty_p2p.protocol.frames import encode_json
from chatty_p2p.protocol.names import readable

TID = "a" * 32


def streaming_pair() -> tuple[BulkSender, BulkReceiver]:
    """A sender and a receiver of two files (10 and 0 bytes), past WANT."""
    entries = [Entry("x/a.bin", "file", 10, 0.0), Entry("x/b.txt", "file", 0, 0.0)]
    sender, receiver = BulkSender(), BulkReceiver(TID, 2, 10)
    sender.set_manifest([e.size for e in entries])
    events = sender.receive_data(
        receiver.open(entries) + receiver.want([Want.whole(0, 0, 10), Want.whole(1, 0, 0)])
    )
    assert isinstance(events[-2], Wanted) and isinstance(events[-1], WantsDone)
    return sender, receiver


def test_landed_reaches_the_sender_mid_stream_and_before_the_result() -> None:
    sender, receiver = streaming_pair()
    events = sender.receive_data(
        receiver.landed(4, 0) + receiver.landed(10, 2) + receiver.result([])
    )
    assert events == [Landed(4, 0), Landed(10, 2), ResultReceived([])]


@pytest.mark.parametrize(
    "body",
    [
        {"done": 11, "files": 0},  # more bytes than the batch has
        {"done": 0, "files": 3},  # more files than the batch has
        {"done": -1, "files": 0},
        {"done": "10", "files": 0},
        {"done": True, "files": 0},
        {"files": 0},
    ],
)
def test_a_landed_frame_out_of_range_is_refused(body: dict[str, object]) -> None:
    sender, _ = streaming_pair()
    with pytest.raises(RemoteProtocolError):
        sender.receive_data(encode_json(BulkType.LANDED, body))


def test_landed_before_the_stream_is_out_of_order() -> None:
    sender = BulkSender()
    sender.set_manifest([1])
    with pytest.raises(RemoteProtocolError, match="out of order"):
        sender.receive_data(BulkReceiver(TID, 1, 1).landed(0, 0))


def test_a_receiver_that_cannot_write_says_so_with_a_resumable_code() -> None:
    sender, _ = streaming_pair()
    message = readable(os.fsdecode(b"the disk holding /media/caf\xe9 is full"))
    (event,) = sender.receive_data(error_frame(DISK_FULL, message))
    assert event == BulkError(DISK_FULL, "the disk holding /media/caf\ufffd is full")
    assert event.code in RESUMABLE
    assert "failed" not in RESUMABLE and "malformed" not in RESUMABLE


def test_an_error_frame_carries_a_name_that_is_not_utf8() -> None:
    """A path in the message that came from the disk must not break the frame."""
    _, receiver = streaming_pair()
    frame = error_frame("unwritable", "cannot write in /srv/" + os.fsdecode(b"\xff\xfe"))
    (event,) = receiver.receive_data(frame)
    assert event == BulkError("unwritable", "cannot write in /srv/\ufffd\ufffd")


def test_readable_replaces_each_undecodable_byte_and_keeps_the_rest() -> None:
    assert readable(os.fsdecode(b"caf\xe9 \xe2\x82\xac.txt")) == "caf\ufffd \u20ac.txt"
    assert readable("plain") == "plain"
    assert readable("\ud800x") == "\ufffdx"


def test_landed_may_come_while_the_receiver_prepares_its_wants() -> None:
    """The receiver hashes the bytes a resume already has before it asks; LANDED says
    it is alive meanwhile."""
    sender, receiver = BulkSender(), BulkReceiver(TID, 1, 10)
    sender.set_manifest([10])
    entries = [Entry("a.bin", "file", 10, 0.0)]
    events = sender.receive_data(receiver.open(entries) + receiver.landed(4, 0))
    assert events[1:] == [Landed(4, 0)]
    events = sender.receive_data(receiver.want([Want.whole(0, 4, 10)]))
    assert events == [Wanted([Want.whole(0, 4, 10)]), WantsDone()]


def test_an_empty_data_frame_is_a_sign_of_life_that_changes_nothing() -> None:
    """The sender hashing what the receiver already has sends empty DATA frames."""
    sender, receiver = streaming_pair()
    events = receiver.receive_data(
        sender.file_start(0, 0) + data_header(0) + data_header(0) + data_header(10) + b"x" * 10
    )
    assert [type(e).__name__ for e in events] == ["FileStarted", *["DataReceived"] * 3]
    assert [e.data for e in events[1:]] == [b"", b"", b"x" * 10]  # type: ignore[union-attr]
