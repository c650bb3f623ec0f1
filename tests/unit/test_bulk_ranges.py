"""Ranges and lanes in the bulk protocol, bytes in and events out: a large file's
pieces are asked for once each, on lanes the sender checks, and a lane's stream holds
exactly its pieces' bytes."""

from __future__ import annotations

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
    Landed,
    Opened,
    Want,
    Wanted,
    WantsDone,
    data_header,
)
from chatty_p2p.protocol.frames import encode_json

TID = "c" * 32
ENTRIES = [Entry("big.bin", "file", 300, 0.0), Entry("small.txt", "file", 5, 0.0)]
PIECES = [Want(0, 0, 0, 100, 0), Want(1, 0, 0, 5, 0), Want(0, 100, 100, 200, 1)]
PIECES += [Want(0, 250, 200, 300, 2)]  # a range resumed half-way


def test_a_whole_file_is_written_as_version_2_wrote_it_and_a_range_in_full() -> None:
    assert Want.whole(1, 3, 5).wire(5) == [1, 3]
    assert Want(0, 250, 200, 300, 2).wire(300) == [0, 250, 200, 300, 2]


def test_the_sender_gets_every_piece_of_every_lane_from_the_main_want() -> None:
    receiver, sender = BulkReceiver(TID, 2, 305), BulkSender()
    sender.receive_data(receiver.open(ENTRIES))
    sender.set_manifest([300, 5])
    assert sender.receive_data(receiver.want(PIECES)) == [Wanted(PIECES), WantsDone()]


@pytest.mark.parametrize(
    "item",
    [
        [0, 50, 0, 100, 0],  # overlaps the first range
        [0, 0, 0, 300, 0],  # overlaps everything
        [0, 150, 100, 200, 4],  # no such lane
        [0, 90, 100, 200, 1],  # offset before the range's start
        [0, 150, 160, 140, 1],  # ends before it starts
        [0, 300, 300, 301, 1],  # past the file's end
        [1, 0],  # the small file again
    ],
)
def test_a_piece_that_overlaps_or_leaves_the_file_is_refused(item: list[int]) -> None:
    sender = BulkSender()
    sender.set_manifest([300, 5])
    sender.receive_data(encode_json(1, {"id": TID, "manifest": False}))  # OPEN
    first = [[0, 0, 0, 100, 0], [1, 0]]
    sender.receive_data(encode_json(4, {"files": first}))  # WANT
    with pytest.raises(RemoteProtocolError):
        sender.receive_data(encode_json(4, {"files": [item]}))


def test_a_lane_opens_straight_into_its_stream() -> None:
    receiver, sender = BulkReceiver(TID, 2, 305), BulkSender()
    sender.set_manifest([300, 5])
    events = sender.receive_data(receiver.open_lane(2, ENTRIES, PIECES) + receiver.landed(0, 0))
    assert events == [Opened(TID, False, 2), Landed(0, 0)]
    with pytest.raises(RemoteProtocolError):  # a lane asks for nothing: WANT came on lane 0
        sender.receive_data(encode_json(4, {"files": [[1, 0]]}))


def _lane_stream(sender: BulkSender, want: Want, length: int) -> bytes:
    return sender.file_start(want.index, want.offset) + data_header(length) + b"x" * length


def test_a_lane_takes_its_own_pieces_and_exactly_their_bytes() -> None:
    receiver, sender = BulkReceiver(TID, 2, 305), BulkSender()
    receiver.open_lane(2, ENTRIES, PIECES)
    piece = PIECES[-1]
    events = receiver.receive_data(
        _lane_stream(sender, piece, 50) + sender.file_end("0" * 64) + sender.end()
    )
    assert [type(e) for e in events] == [FileStarted, DataReceived, FileEnded, AllSent]
    assert events[0] == FileStarted(piece)

    too_much = BulkReceiver(TID, 2, 305)
    too_much.open_lane(2, ENTRIES, PIECES)
    with pytest.raises(RemoteProtocolError):
        too_much.receive_data(_lane_stream(sender, piece, 51))  # the range ends at 300


def test_a_lane_refuses_a_piece_of_another_lane() -> None:
    receiver, sender = BulkReceiver(TID, 2, 305), BulkSender()
    receiver.open_lane(1, ENTRIES, PIECES)
    with pytest.raises(RemoteProtocolError):
        receiver.receive_data(sender.file_start(0, 0))  # lane 0's piece


def test_the_main_connection_streams_only_lane_0s_pieces_in_order() -> None:
    receiver, sender = BulkReceiver(TID, 2, 305), BulkSender()
    receiver.open(ENTRIES)
    receiver.want(PIECES)
    stream = _lane_stream(sender, PIECES[0], 100) + sender.file_end("0" * 64)
    stream += _lane_stream(sender, PIECES[1], 5) + sender.file_end("0" * 64) + sender.end()
    events = receiver.receive_data(stream)
    assert [type(e) for e in events][-1] is AllSent  # lanes 1 and 2 were not awaited here
