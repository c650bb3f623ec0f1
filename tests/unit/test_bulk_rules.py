"""Every rule of the bulk protocol, both sides, bytes in and events out: which frame
each phase takes (written out here again, not imported, so a change to the module's
tables shows up as a failure), every field a peer controls, and the frame layer.

Each phase is reached through the public API from a fresh side; the frames fed are
well formed, so a refusal with ``order`` is about the phase and nothing else."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol.bulk.receiver import BulkReceiver
from chatty_p2p.protocol.bulk.sender import BulkSender
from chatty_p2p.protocol.bulk.wire import (
    MAX_PATH_BYTES,
    AllSent,
    BulkError,
    BulkType,
    DataReceived,
    EntriesReceived,
    Entry,
    FileEnded,
    FileStarted,
    Landed,
    ManifestDone,
    Opened,
    ResultReceived,
    Want,
    Wanted,
    WantsDone,
    data_header,
    error_frame,
)
from chatty_p2p.protocol.frames import HEADER, MAX_PAYLOAD, encode, encode_json
from chatty_p2p.protocol.messages import MAX_LANES, MAX_TOTAL_SIZE

T = BulkType
TID = "d" * 32
HASH = "0" * 64
SIZES = [10, 0]
"""The transfer every test uses: a 10-byte file and an empty one."""
ENTRIES = [Entry("a.bin", "file", 10, 0.0), Entry("b.txt", "file", 0, 0.0)]
WHOLE = [Want.whole(0, 0, 10), Want.whole(1, 0, 0)]

GOOD: dict[BulkType, bytes] = {
    T.OPEN: encode_json(T.OPEN, {"id": TID, "manifest": False}),
    T.ENTRIES: encode_json(T.ENTRIES, {"entries": []}),
    T.ENTRIES_END: encode_json(T.ENTRIES_END, {}),
    T.WANT: encode_json(T.WANT, {"files": [[0, 0]]}),
    T.WANT_END: encode_json(T.WANT_END, {}),
    T.FILE: encode_json(T.FILE, {"index": 0, "offset": 0}),
    T.DATA: data_header(0),
    T.FILE_END: encode_json(T.FILE_END, {"hash": HASH}),
    T.END: encode_json(T.END, {}),
    T.RESULT: encode_json(T.RESULT, {"failed": []}),
    T.ERROR: error_frame("failed", "no"),
    T.LANDED: encode_json(T.LANDED, {"done": 0, "files": 0}),
}
"""One well-formed frame of each type, taken wherever the rules allow its type in
the phases below (an empty ENTRIES and an empty DATA change nothing)."""

EVENT: dict[BulkType, type] = {
    T.OPEN: Opened,
    T.ENTRIES: EntriesReceived,
    T.ENTRIES_END: ManifestDone,
    T.WANT: Wanted,
    T.WANT_END: WantsDone,
    T.FILE: FileStarted,
    T.DATA: DataReceived,
    T.FILE_END: FileEnded,
    T.END: AllSent,
    T.RESULT: ResultReceived,
    T.ERROR: BulkError,
    T.LANDED: Landed,
}


# ----- the sender's phases ---------------------------------------------------------


def _sender_open() -> BulkSender:
    sender = BulkSender()
    sender.set_manifest(SIZES)
    return sender


def _sender_want() -> BulkSender:
    sender = _sender_open()
    sender.receive_data(GOOD[T.OPEN])
    return sender


def _sender_want_unchecked() -> BulkSender:
    """OPEN read, the manifest not looked up yet: frames wait, but in order."""
    sender = BulkSender()
    sender.receive_data(GOOD[T.OPEN])
    return sender


def _sender_stream() -> BulkSender:
    sender = _sender_want()
    sender.receive_data(encode_json(T.WANT, {"files": [[1, 0]]}) + GOOD[T.WANT_END])
    return sender


def _sender_lane() -> BulkSender:
    sender = _sender_open()
    sender.receive_data(encode_json(T.OPEN, {"id": TID, "lane": 1}))
    return sender


def _sender_after_result() -> BulkSender:
    sender = _sender_stream()
    sender.receive_data(GOOD[T.RESULT])
    return sender


def _sender_after_error(setup: Callable[[], BulkSender]) -> Callable[[], BulkSender]:
    def reach() -> BulkSender:
        sender = setup()
        sender.receive_data(GOOD[T.ERROR])
        return sender

    return reach


SENDER: dict[str, tuple[Callable[[], BulkSender], set[BulkType]]] = {
    "open": (_sender_open, {T.OPEN, T.ERROR}),
    "want": (_sender_want, {T.WANT, T.WANT_END, T.LANDED, T.ERROR}),
    "want, before the manifest": (_sender_want_unchecked, {T.WANT, T.WANT_END, T.LANDED, T.ERROR}),
    "stream": (_sender_stream, {T.LANDED, T.RESULT, T.ERROR}),
    "a lane's stream": (_sender_lane, {T.LANDED, T.RESULT, T.ERROR}),
    "after RESULT": (_sender_after_result, set()),
    "after ERROR in open": (_sender_after_error(_sender_open), set()),
    "after ERROR in want": (_sender_after_error(_sender_want), set()),
    "after ERROR in stream": (_sender_after_error(_sender_stream), set()),
}


# ----- the receiver's phases -------------------------------------------------------


def _receiver_new() -> BulkReceiver:
    return BulkReceiver(TID, 2, 10)


def _receiver_manifest() -> BulkReceiver:
    """Asked for the manifest and given all of it, ENTRIES_END still to come."""
    receiver = _receiver_new()
    receiver.open(None)
    receiver.receive_data(BulkSender().entries(ENTRIES)[: -HEADER.size - 2])
    return receiver


def _receiver_known() -> BulkReceiver:
    receiver = _receiver_new()
    receiver.open(ENTRIES)
    return receiver


def _receiver_listed() -> BulkReceiver:
    receiver = _receiver_manifest()
    receiver.receive_data(GOOD[T.ENTRIES_END])
    return receiver


def _receiver_file() -> BulkReceiver:
    receiver = _receiver_known()
    receiver.want(WHOLE)
    return receiver


def _receiver_lane() -> BulkReceiver:
    receiver = _receiver_new()
    receiver.open_lane(1, ENTRIES, [Want(0, 5, 5, 10, 0), Want(0, 0, 0, 5, 1)])
    return receiver


def _receiver_data() -> BulkReceiver:
    receiver = _receiver_file()
    receiver.receive_data(GOOD[T.FILE] + data_header(4) + b"abcd")
    return receiver


def _receiver_file_end() -> BulkReceiver:
    receiver = _receiver_data()
    receiver.receive_data(data_header(6) + b"efghij")
    return receiver


def _receiver_empty_piece() -> BulkReceiver:
    receiver = _receiver_known()
    receiver.want([Want.whole(1, 0, 0), Want.whole(0, 0, 10)])
    receiver.receive_data(encode_json(T.FILE, {"index": 1, "offset": 0}))
    return receiver


def _receiver_next_piece() -> BulkReceiver:
    receiver = _receiver_empty_piece()
    receiver.receive_data(GOOD[T.FILE_END])
    return receiver


def _receiver_end() -> BulkReceiver:
    receiver = _receiver_file_end()
    receiver.receive_data(GOOD[T.FILE_END])
    receiver.receive_data(encode_json(T.FILE, {"index": 1, "offset": 0}) + GOOD[T.FILE_END])
    return receiver


def _receiver_nothing_wanted() -> BulkReceiver:
    receiver = _receiver_known()
    receiver.want([])
    return receiver


def _receiver_done() -> BulkReceiver:
    receiver = _receiver_end()
    receiver.receive_data(GOOD[T.END])
    return receiver


def _receiver_after_error(setup: Callable[[], BulkReceiver]) -> Callable[[], BulkReceiver]:
    def reach() -> BulkReceiver:
        receiver = setup()
        receiver.receive_data(GOOD[T.ERROR])
        return receiver

    return reach


RECEIVER: dict[str, tuple[Callable[[], BulkReceiver], set[BulkType]]] = {
    "new": (_receiver_new, {T.ERROR}),
    "manifest": (_receiver_manifest, {T.ENTRIES, T.ENTRIES_END, T.ERROR}),
    "manifest stored": (_receiver_known, {T.ERROR}),
    "manifest listed": (_receiver_listed, {T.ERROR}),
    "first piece due": (_receiver_file, {T.FILE, T.ERROR}),
    "a lane's first piece due": (_receiver_lane, {T.FILE, T.ERROR}),
    "bytes due": (_receiver_data, {T.DATA, T.ERROR}),
    "piece whole": (_receiver_file_end, {T.DATA, T.FILE_END, T.ERROR}),
    "empty piece": (_receiver_empty_piece, {T.DATA, T.FILE_END, T.ERROR}),
    "next piece due": (_receiver_next_piece, {T.FILE, T.ERROR}),
    "every piece came": (_receiver_end, {T.END, T.ERROR}),
    "nothing wanted": (_receiver_nothing_wanted, {T.END, T.ERROR}),
    "done": (_receiver_done, {T.ERROR}),
    "after ERROR in manifest": (_receiver_after_error(_receiver_manifest), set()),
    "after ERROR mid-piece": (_receiver_after_error(_receiver_data), set()),
    "after ERROR when done": (_receiver_after_error(_receiver_done), set()),
}

Side = BulkSender | BulkReceiver
PHASES: dict[str, tuple[Callable[[], Side], set[BulkType]]] = {
    **{f"sender {name}": rule for name, rule in SENDER.items()},
    **{f"receiver {name}": rule for name, rule in RECEIVER.items()},
}


def _cases(allowed: bool) -> list[Any]:
    return [
        pytest.param(phase, kind, id=f"{phase}: {kind.name}")
        for phase, (_, taken) in PHASES.items()
        for kind in BulkType
        if (kind in taken) == allowed
    ]


@pytest.mark.parametrize(("phase", "kind"), _cases(allowed=False))
def test_a_frame_out_of_order_is_refused(phase: str, kind: BulkType) -> None:
    side = PHASES[phase][0]()
    with pytest.raises(RemoteProtocolError, match="out of order") as caught:
        side.receive_data(GOOD[kind])
    assert caught.value.code == "order"


@pytest.mark.parametrize(("phase", "kind"), _cases(allowed=True))
def test_a_frame_in_order_is_taken(phase: str, kind: BulkType) -> None:
    side = PHASES[phase][0]()
    events = side.receive_data(GOOD[kind])
    if phase == "sender want, before the manifest" and kind is not T.ERROR:
        assert events == []  # it waits for the sizes to check it against
        assert isinstance(side, BulkSender)
        events = side.set_manifest(SIZES)
    assert [type(e) for e in events] == [EVENT[kind]]


# ----- the exchange end to end -------------------------------------------------------


def test_a_whole_exchange_with_the_manifest_goes_through_both_sides() -> None:
    sender, receiver = BulkSender(), BulkReceiver(TID, 2, 10)
    assert sender.receive_data(receiver.open(None)) == [Opened(TID, True)]
    sender.set_manifest(SIZES)
    got = receiver.receive_data(sender.entries(ENTRIES))
    assert got == [EntriesReceived(ENTRIES), ManifestDone()]
    assert sender.receive_data(receiver.want(WHOLE)) == [Wanted(WHOLE), WantsDone()]
    stream = sender.file_start(0, 0) + data_header(10) + b"x" * 10 + sender.file_end(HASH)
    stream += sender.file_start(1, 0) + sender.file_end("f" * 64) + sender.end()
    got = receiver.receive_data(stream)
    assert got[0] == FileStarted(WHOLE[0]) and got[2:] == [
        FileEnded(0, HASH),
        FileStarted(WHOLE[1]),
        FileEnded(1, "f" * 64),
        AllSent(),
    ]
    out = receiver.landed(10, 2) + receiver.result([(1, "checksum mismatch")])
    assert sender.receive_data(out) == [Landed(10, 2), ResultReceived([(1, "checksum mismatch")])]


# ----- fields the sender reads -------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"id": None},
        {"id": 7},
        {"id": "d" * 31},
        {"id": "d" * 33},
        {"id": "D" * 32},
        {"id": "g" * 32},
        {"id": "d" * 31 + "\n"},
        {"id": TID, "lane": -1},
        {"id": TID, "lane": MAX_LANES},
        {"id": TID, "lane": "1"},
        {"id": TID, "lane": True},
        {"id": TID, "lane": 1.0},
        {"id": TID, "lane": None},
    ],
)
def test_open_with_a_bad_id_or_lane_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        _sender_open().receive_data(encode_json(T.OPEN, body))
    assert caught.value.code == "malformed"


def test_open_names_the_transfer_whether_the_manifest_is_wanted_and_the_lane() -> None:
    opens = [
        ({"id": TID, "manifest": True}, Opened(TID, True, 0)),
        ({"id": TID, "lane": MAX_LANES - 1}, Opened(TID, False, MAX_LANES - 1)),
        ({"id": TID, "manifest": True, "lane": 2}, Opened(TID, False, 2)),  # a lane: never
    ]
    for body, event in opens:
        assert _sender_open().receive_data(encode_json(T.OPEN, body)) == [event]


@pytest.mark.parametrize(
    "files",
    [
        None,
        {},
        "0,0",
        [None],
        [0],
        [[]],
        [[0]],
        [[0, 0, 0]],
        [[0, 0, 0, 10]],
        [[0, 0, 0, 10, 0, 0]],
        # two elements: [index, offset] of a whole file
        [[-1, 0]],
        [[2, 0]],  # no such file
        [[True, 0]],
        [["0", 0]],
        [[0, 11]],  # past its end
        [[0, -1]],
        [[0, 1.0]],
        [[0, None]],
        # five elements: [index, offset, start, end, lane] of a range
        [[2, 0, 0, 0, 0]],
        [[0, 0, 0, 11, 0]],  # ends past the file's end
        [[0, 5, 6, 10, 0]],  # offset before its start
        [[0, 8, 6, 7, 0]],  # offset past its end
        [[0, 5, 6, 5, 0]],  # ends before it starts
        [[0, 0, -1, 5, 0]],
        [[0, 0, 0, 5, MAX_LANES]],
        [[0, 0, 0, 5, -1]],
        [[0, 0, 0, 5, True]],
        [[0, 0, 0, 5, "1"]],
        # a piece asked for twice
        [[0, 0], [0, 5]],
        [[1, 0], [1, 0]],  # an empty file too
        [[0, 0, 0, 5, 0], [0, 4, 4, 10, 1]],
        [[0, 0, 0, 5, 0], [0, 0]],
    ],
)
def test_a_bad_want_item_is_refused(files: Any) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        _sender_want().receive_data(encode_json(T.WANT, {"files": files}))
    assert caught.value.code == "malformed"


def test_a_piece_asked_for_in_an_earlier_want_frame_is_refused_too() -> None:
    sender = _sender_want()
    sender.receive_data(encode_json(T.WANT, {"files": [[0, 0, 0, 5, 0]]}))
    with pytest.raises(RemoteProtocolError):
        sender.receive_data(encode_json(T.WANT, {"files": [[0, 4, 4, 10, 1]]}))


def test_pieces_that_only_touch_are_taken_each_once() -> None:
    sender = _sender_want()
    files = [[0, 0, 0, 5, 0], [0, 7, 5, 10, MAX_LANES - 1], [1, 0]]
    events = sender.receive_data(encode_json(T.WANT, {"files": files}))
    pieces = [Want(0, 0, 0, 5, 0), Want(0, 7, 5, 10, MAX_LANES - 1), Want.whole(1, 0, 0)]
    assert events == [Wanted(pieces)]


@pytest.mark.parametrize(
    "body",
    [
        {"files": 0},
        {"done": 0},
        {"done": 11, "files": 0},
        {"done": 0, "files": 3},
        {"done": -1, "files": 0},
        {"done": 0, "files": -1},
        {"done": 1.0, "files": 0},
        {"done": False, "files": 0},
        {"done": 0, "files": "1"},
        {"done": None, "files": 0},
    ],
)
def test_landed_numbers_beyond_the_manifest_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        _sender_stream().receive_data(encode_json(T.LANDED, body))
    assert caught.value.code == "malformed"


def test_landed_may_say_everything_landed() -> None:
    assert _sender_stream().receive_data(encode_json(T.LANDED, {"done": 10, "files": 2})) == [
        Landed(10, 2)
    ]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"failed": None},
        {"failed": {}},
        {"failed": [0]},
        {"failed": [[0]]},
        {"failed": [[0, "a", "b"]]},
        {"failed": [[0, 1]]},
        {"failed": [[0, None]]},
        {"failed": [[-1, "x"]]},
        {"failed": [[2, "x"]]},  # the manifest has files 0 and 1
        {"failed": [[True, "x"]]},
        {"failed": [["0", "x"]]},
        {"failed": [[0.0, "x"]]},
    ],
)
def test_a_bad_result_item_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        _sender_stream().receive_data(encode_json(T.RESULT, body))
    assert caught.value.code == "malformed"


def test_a_result_reason_is_made_safe_to_print() -> None:
    body = {"failed": [[1, "bad\x1b[31m\u202e" + "x" * 600]]}
    (event,) = _sender_stream().receive_data(encode_json(T.RESULT, body))
    assert event == ResultReceived([(1, "bad\ufffd[31m\ufffd" + "x" * 503)])


def test_held_frames_are_checked_against_the_manifest_once_it_comes() -> None:
    sender = _sender_want_unchecked()
    assert sender.receive_data(encode_json(T.LANDED, {"done": 11, "files": 0})) == []
    with pytest.raises(RemoteProtocolError):
        sender.set_manifest(SIZES)


def test_a_frame_out_of_order_is_refused_before_the_manifest_too() -> None:
    """Its order needs no manifest, so it is refused as it comes, not held."""
    sender = _sender_want_unchecked()
    with pytest.raises(RemoteProtocolError):
        sender.receive_data(GOOD[T.RESULT])


def test_frames_held_before_the_manifest_are_bounded() -> None:
    sender = _sender_want_unchecked()
    assert sender.receive_data(GOOD[T.LANDED] * 256) == []
    with pytest.raises(RemoteProtocolError, match="before the manifest"):
        sender.receive_data(GOOD[T.LANDED])
    other = _sender_want_unchecked()
    other.receive_data(GOOD[T.LANDED] * 256)
    assert other.set_manifest(SIZES) == [Landed(0, 0)] * 256


def test_an_error_behind_held_frames_still_ends_the_sender_as_the_peer_said() -> None:
    """A resuming receiver says LANDED while it hashes, then fails (its disk, say)
    before the sender has looked the transfer up: the sender must learn the peer's
    resumable ERROR, not refuse the LANDED it held as out of order."""
    sender = BulkSender()
    events = sender.receive_data(GOOD[T.OPEN] + GOOD[T.LANDED] + error_frame("disk-full", "full"))
    assert events == [Opened(TID, False), BulkError("disk-full", "full")]
    assert sender.set_manifest(SIZES) == [Landed(0, 0)]


# ----- fields the receiver reads -----------------------------------------------------


def _entries(*items: Any) -> bytes:
    return encode_json(T.ENTRIES, {"entries": list(items)})


def _asking(count: int = 2, size: int = 10) -> BulkReceiver:
    receiver = BulkReceiver(TID, count, size)
    receiver.open(None)
    return receiver


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"entries": None},
        {"entries": {}},
        {"entries": [None]},
        {"entries": [["a", "file", 1]]},
        {"entries": [["a", "file", 1, 0, 0]]},
        {"entries": [["", "file", 1, 0]]},
        {"entries": [[7, "file", 1, 0]]},
        {"entries": [["é" * (MAX_PATH_BYTES // 2) + "x", "file", 1, 0]]},  # one byte over
        {"entries": [["a", "link", 1, 0]]},
        {"entries": [["a", None, 1, 0]]},
        {"entries": [["a", "file", -1, 0]]},
        {"entries": [["a", "file", 1.0, 0]]},
        {"entries": [["a", "file", True, 0]]},
        {"entries": [["a", "file", "1", 0]]},
        {"entries": [["a", "file", MAX_TOTAL_SIZE + 1, 0]]},
        {"entries": [["a", "dir", 1, 0]]},  # a folder has no bytes
        {"entries": [["a", "file", 1, "0"]]},
        {"entries": [["a", "file", 1, None]]},
        {"entries": [["a", "file", 1, True]]},
        {"entries": [["a", "file", 1, 10**400]]},
        {"entries": [["a", "file", 1, 0]] * 3},  # more than the offer's 2
    ],
)
def test_a_bad_manifest_entry_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        _asking().receive_data(encode_json(T.ENTRIES, body))
    assert caught.value.code == "malformed"


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_manifest_time_that_is_no_number_is_refused(number: bytes) -> None:
    frame = encode(T.ENTRIES, b'{"entries":[["a","file",1,' + number + b"]]}")
    with pytest.raises(RemoteProtocolError, match="mtime"):
        _asking().receive_data(frame)


def test_the_longest_path_and_largest_size_are_taken() -> None:
    path = "é" * (MAX_PATH_BYTES // 2)
    receiver = _asking(2, MAX_TOTAL_SIZE)
    events = receiver.receive_data(
        _entries([path, "file", MAX_TOTAL_SIZE, 1.5], ["d", "dir", 0, -3]) + GOOD[T.ENTRIES_END]
    )
    got = [Entry(path, "file", MAX_TOTAL_SIZE, 1.5), Entry("d", "dir", 0, -3.0)]
    assert events == [EntriesReceived(got), ManifestDone()]


def test_more_entries_than_offered_are_refused_across_frames() -> None:
    receiver = _asking()
    receiver.receive_data(_entries(["a", "file", 5, 0], ["b", "file", 5, 0]))
    with pytest.raises(RemoteProtocolError, match="more entries than offered"):
        receiver.receive_data(_entries(["c", "file", 0, 0]))


@pytest.mark.parametrize(
    "items",
    [
        [],  # none of the 2 offered
        [["a.bin", "file", 10, 0]],  # 1 of 2
        [["a.bin", "file", 9, 0], ["b.txt", "file", 0, 0]],  # 9 bytes, the offer said 10
        [["a.bin", "file", 5, 0], ["b", "dir", 0, 0]],  # 5 bytes
    ],
)
def test_a_manifest_that_differs_from_the_offer_is_refused_at_its_end(items: Any) -> None:
    receiver = _asking()
    receiver.receive_data(_entries(*items))
    with pytest.raises(RemoteProtocolError, match="the offer said") as caught:
        receiver.receive_data(GOOD[T.ENTRIES_END])
    assert caught.value.code == "malformed"


@pytest.mark.parametrize(
    "body",
    [
        {"index": 1, "offset": 0},  # the second piece, not the first
        {"index": 0, "offset": 1},
    ],
)
def test_a_file_other_than_the_next_piece_asked_for_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError, match="asked for next") as caught:
        _receiver_file().receive_data(encode_json(T.FILE, body))
    assert caught.value.code == "order"


@pytest.mark.parametrize(
    "body",
    [{"index": 0}, {"offset": 0}, {}, {"index": "0", "offset": 0}, {"index": False, "offset": 0}],
)
def test_a_file_whose_numbers_are_not_integers_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        _receiver_file().receive_data(encode_json(T.FILE, body))
    assert caught.value.code == "malformed"


def _resumed() -> BulkReceiver:
    """Streaming file 0 from byte 7: 3 bytes due."""
    receiver = _receiver_known()
    receiver.want([Want.whole(0, 7, 10)])
    assert receiver.receive_data(encode_json(T.FILE, {"index": 0, "offset": 7})) == [
        FileStarted(Want.whole(0, 7, 10))
    ]
    return receiver


def test_a_resumed_piece_is_due_only_the_bytes_after_its_offset() -> None:
    events = _resumed().receive_data(data_header(3) + b"xyz" + GOOD[T.FILE_END])
    assert events[-1] == FileEnded(0, HASH)
    with pytest.raises(RemoteProtocolError, match="more bytes"):
        _resumed().receive_data(data_header(4) + b"wxyz")


@pytest.mark.parametrize(
    "setup",
    [_receiver_data, _receiver_file_end, _receiver_empty_piece],
    ids=["bytes due", "piece whole", "empty piece"],
)
def test_more_data_than_the_piece_has_is_refused(setup: Callable[[], BulkReceiver]) -> None:
    with pytest.raises(RemoteProtocolError, match="more bytes than the file has") as caught:
        setup().receive_data(data_header(7) + b"x" * 7)  # 6 due at most
    assert caught.value.code == "malformed"


def test_file_end_before_the_last_byte_is_out_of_order() -> None:
    receiver = _receiver_data()
    receiver.receive_data(data_header(5) + b"x" * 5)  # 1 byte still due
    with pytest.raises(RemoteProtocolError, match="FILE_END out of order"):
        receiver.receive_data(GOOD[T.FILE_END])


@pytest.mark.parametrize(
    "body",
    [{}, {"hash": None}, {"hash": 0}, {"hash": "0" * 63}, {"hash": "0" * 65}, {"hash": "A" * 64}],
)
def test_file_end_with_a_bad_hash_is_refused(body: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError, match="bad hash") as caught:
        _receiver_file_end().receive_data(encode_json(T.FILE_END, body))
    assert caught.value.code == "malformed"


def test_a_lane_streams_only_its_own_pieces() -> None:
    receiver = _receiver_lane()
    with pytest.raises(RemoteProtocolError, match="asked for next"):
        receiver.receive_data(encode_json(T.FILE, {"index": 0, "offset": 5}))  # lane 0's
    lane = _receiver_lane()
    events = lane.receive_data(GOOD[T.FILE] + data_header(5) + b"x" * 5)
    assert events[0] == FileStarted(Want(0, 0, 0, 5, 1))
    assert lane.receive_data(GOOD[T.FILE_END] + GOOD[T.END]) == [FileEnded(0, HASH), AllSent()]


# ----- ERROR, from either side -------------------------------------------------------


SIDES: list[Callable[[], Side]] = [_sender_stream, _receiver_data]


@pytest.mark.parametrize(
    ("body", "event"),
    [
        ({"code": "disk-full", "message": "full"}, BulkError("disk-full", "full")),
        ({}, BulkError("unknown", "")),
        ({"code": 5, "message": ["x"]}, BulkError("unknown", "")),
        ({"code": "c" * 100, "message": "m"}, BulkError("c" * 64, "m")),
        (
            {"code": "a\nb", "message": "x\x00\u2066y" + "z" * 600},
            BulkError("a\ufffdb", "x\ufffd\ufffdy" + "z" * 508),
        ),
    ],
)
@pytest.mark.parametrize("setup", SIDES, ids=["sender", "receiver"])
def test_any_error_body_ends_the_side_with_what_can_be_shown(
    setup: Callable[[], Side], body: dict[str, Any], event: BulkError
) -> None:
    side = setup()
    assert side.receive_data(encode_json(T.ERROR, body)) == [event]
    with pytest.raises(RemoteProtocolError, match="out of order"):
        side.receive_data(GOOD[T.LANDED if isinstance(side, BulkSender) else T.DATA])


@pytest.mark.parametrize("setup", SIDES, ids=["sender", "receiver"])
def test_what_follows_an_error_in_the_same_read_is_not_read(setup: Callable[[], Side]) -> None:
    side = setup()
    events = side.receive_data(GOOD[T.ERROR] + GOOD[T.OPEN] + GOOD[T.ERROR])
    assert events == [BulkError("failed", "no")]


# ----- the frame layer ---------------------------------------------------------------


FRESH: list[Callable[[], Side]] = [_sender_want, _receiver_data]


@pytest.mark.parametrize("frame_type", [0, 13, 99, 255])
@pytest.mark.parametrize("setup", FRESH, ids=["sender", "receiver"])
def test_an_unknown_frame_type_is_refused(setup: Callable[[], Side], frame_type: int) -> None:
    with pytest.raises(RemoteProtocolError, match="unknown bulk frame") as caught:
        setup().receive_data(encode_json(frame_type, {}))
    assert caught.value.code == "malformed"


@pytest.mark.parametrize("version", [0, 2, 255])
@pytest.mark.parametrize("setup", FRESH, ids=["sender", "receiver"])
def test_a_frame_format_other_than_1_is_refused(setup: Callable[[], Side], version: int) -> None:
    with pytest.raises(RemoteProtocolError) as caught:
        setup().receive_data(HEADER.pack(version, T.LANDED, 2) + b"{}")
    assert caught.value.code == "version"


@pytest.mark.parametrize("kind", [T.DATA, T.LANDED])
@pytest.mark.parametrize("setup", FRESH, ids=["sender", "receiver"])
def test_a_length_over_the_limit_is_refused_at_the_header(
    setup: Callable[[], Side], kind: BulkType
) -> None:
    side = setup()
    assert side.receive_data(HEADER.pack(1, kind, MAX_PAYLOAD)[:-1]) == []  # not yet a header
    with pytest.raises(RemoteProtocolError) as caught:
        side.receive_data(HEADER.pack(1, kind, MAX_PAYLOAD + 1)[-1:])
    assert caught.value.code == "too-large"


def test_a_length_at_the_limit_is_taken() -> None:
    receiver = _receiver_new()
    receiver.open(None)
    pad = MAX_PAYLOAD - len(json.dumps({"entries": [], "pad": ""}))
    body = json.dumps({"entries": [], "pad": "x" * pad}).encode()
    assert len(body) == MAX_PAYLOAD
    assert receiver.receive_data(encode(T.ENTRIES, body)) == [EntriesReceived([])]


@pytest.mark.parametrize("payload", [b"", b"{", b"[]", b"1", b"\xff", b'{"a":"\\ud800"}'])
@pytest.mark.parametrize("setup", FRESH, ids=["sender", "receiver"])
def test_a_control_frame_that_is_no_json_object_is_refused(
    setup: Callable[[], Side], payload: bytes
) -> None:
    kind = T.LANDED if setup is _sender_want else T.FILE_END
    with pytest.raises(RemoteProtocolError) as caught:
        setup().receive_data(encode(kind, payload))
    assert caught.value.code == "malformed"
