"""Edges of the bulk protocol a review found: a peer's ERROR must reach its reader even
when garbage follows it in the same read; RESULT names each failed file once; OPEN's
"manifest" is a boolean; FILE's numbers are numbers, not booleans that compare equal."""

from __future__ import annotations

import pytest

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol.bulk.receiver import BulkReceiver
from chatty_p2p.protocol.bulk.sender import BulkSender
from chatty_p2p.protocol.bulk.wire import BulkError, BulkType, Entry, Opened, Want, error_frame
from chatty_p2p.protocol.frames import encode, encode_json

TID = "d" * 32
ENTRIES = [Entry("a", "file", 10, 0.0), Entry("b", "file", 5, 0.0)]


def test_an_error_reaches_the_sender_though_garbage_follows_it_in_the_same_read() -> None:
    sender = BulkSender()
    sender.set_manifest([10, 5])
    sender.receive_data(encode_json(BulkType.OPEN, {"id": TID, "manifest": False}))
    garbage = encode(BulkType.LANDED, b"{not json")
    events = sender.receive_data(error_frame("disk-full", "full") + garbage)
    assert events == [BulkError("disk-full", "full")]


def test_an_error_reaches_the_receiver_though_garbage_follows_it() -> None:
    receiver = BulkReceiver(TID, 2, 15)
    receiver.open(ENTRIES)
    receiver.want([Want.whole(0, 0, 10), Want.whole(1, 0, 5)])
    garbage = encode(BulkType.FILE, b"\xff\xfe")
    events = receiver.receive_data(error_frame("unreadable", "gone") + garbage)
    assert events == [BulkError("unreadable", "gone")]


def test_a_result_naming_a_file_twice_is_refused() -> None:
    sender = BulkSender()
    sender.set_manifest([10, 5])
    sender.receive_data(encode_json(BulkType.OPEN, {"id": TID, "manifest": False}))
    sender.receive_data(encode_json(BulkType.WANT_END, {}))
    with pytest.raises(RemoteProtocolError):
        sender.receive_data(encode_json(BulkType.RESULT, {"failed": [[0, "x"], [0, "x"]]}))


@pytest.mark.parametrize("manifest", [1, "yes", None, [True]])
def test_open_says_whether_it_wants_the_manifest_with_a_boolean(manifest: object) -> None:
    sender = BulkSender()
    with pytest.raises(RemoteProtocolError):
        sender.receive_data(encode_json(BulkType.OPEN, {"id": TID, "manifest": manifest}))


def test_open_without_the_manifest_field_asks_for_none() -> None:
    assert BulkSender().receive_data(encode_json(BulkType.OPEN, {"id": TID})) == [
        Opened(TID, False)
    ]


@pytest.mark.parametrize("fields", [{"index": True, "offset": 0}, {"index": 1, "offset": 0.0}])
def test_file_numbers_are_integers_not_lookalikes(fields: dict[str, object]) -> None:
    receiver = BulkReceiver(TID, 2, 15)
    receiver.open(ENTRIES)
    receiver.want([Want.whole(1, 0, 5), Want.whole(0, 0, 10)])
    with pytest.raises(RemoteProtocolError):
        receiver.receive_data(encode_json(BulkType.FILE, fields))
