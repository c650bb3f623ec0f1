"""Fuzz targets for everything that parses a peer's bytes, driven by Hypothesis.

The property is the same everywhere: whatever a peer sends, the parser either
accepts it or raises ``RemoteProtocolError`` (which the shell turns into an
ERROR frame); never another exception, never an unbounded buffer. Inputs are
half structure-aware (real headers, JSON objects with the fields each frame
expects, plausible values) so the search gets past the first length check.

CI runs the ``ci`` profile (a few hundred cases each, seconds). For a long run::

    pytest tests/unit/test_fuzz.py --hypothesis-profile=fuzz     # 100,000 cases each

Hypothesis keeps failing cases in ``.hypothesis/`` and replays them first; a
crash found that way is then pinned below with ``@example`` as a regression.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from chatty_p2p.errors import LocalProtocolError, RemoteProtocolError
from chatty_p2p.protocol import localsend as ls
from chatty_p2p.protocol.bulk.receiver import BulkReceiver
from chatty_p2p.protocol.bulk.sender import BulkSender
from chatty_p2p.protocol.bulk.wire import BulkType, ReceiverPhase, Want
from chatty_p2p.protocol.frames import HEADER, MAX_PAYLOAD, FrameDecoder, FrameType, encode
from chatty_p2p.protocol.messages import Hello
from chatty_p2p.protocol.names import UnsafePath, safe_relpath
from chatty_p2p.protocol.pairing import OPS, Pairing, PairMessage, PairState
from chatty_p2p.protocol.preamble import REQUEST_HEAD, parse_reply, parse_request_head
from chatty_p2p.protocol.session import Session, State

A_ID, B_ID = "a" * 64, "b" * 64
MESSAGE_WITH_TS = b'{"id":"' + b"0" * 32 + b'","ts":%b,"kind":"text","body":"x"}'

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
hexish = st.sampled_from(["", "0" * 32, "f" * 32, "a" * 64, "zz", "0" * 31, "A" * 32])
FIELDS = ["id", "ts", "kind", "body", "n", "name", "proto", "boot", "port", "count", "size"]
FIELDS += ["names", "accept", "reason", "op", "value", "code", "message"]


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object with some of the fields frames expect, of any type."""
    keys = draw(st.lists(st.sampled_from(FIELDS), max_size=6, unique=True))
    body: dict[str, Any] = {}
    for key in keys:
        body[key] = draw(hexish | json_values | st.sampled_from(sorted(OPS)))
    return body


@st.composite
def frames(draw: st.DrawFn, types: range = range(0, 20)) -> bytes:
    kind = draw(st.sampled_from(list(types)) | st.integers(0, 255))
    choice = draw(st.integers(0, 9))
    if choice == 0:  # a header that lies about its length or format
        return HEADER.pack(draw(st.integers(0, 3)), kind, draw(st.integers(0, 2**32 - 1)))
    if choice == 1:
        payload = draw(st.binary(max_size=64))
    else:
        payload = json.dumps(draw(bodies()), allow_nan=True).encode()
    return encode(kind, payload[:MAX_PAYLOAD])


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def open_session() -> Session:
    session = Session(Hello(A_ID, "a", "0" * 16, 1))
    session.start()
    peer = Session(Hello(B_ID, "b", "0" * 16, 2))
    peer.start()
    session.receive_data(peer.data_to_send())
    assert session.state is State.OPEN
    session.data_to_send()
    return session


@given(
    st.lists(frames(), max_size=12),
    st.lists(st.integers(0, 10_000), max_size=8),
    st.booleans(),
)
@example([HEADER.pack(1, FrameType.MESSAGE, 2**32 - 1)], [3], True)  # the 4 GiB prefix
@example([encode(FrameType.PAIR, b'{"op":"nonce","value":"' + b"0" * 64 + b'"}')], [], True)
# Found by thinking like this fuzzer, each once a crash (RecursionError, a NaN that
# SQLite cannot store, OverflowError): now RemoteProtocolError.
@example([encode(FrameType.MESSAGE, b"[" * 100_000 + b"]" * 100_000)], [], True)
@example([encode(FrameType.MESSAGE, MESSAGE_WITH_TS % b"NaN")], [], True)
@example([encode(FrameType.MESSAGE, MESSAGE_WITH_TS % (b"1" + b"0" * 400))], [], True)
@example([encode(FrameType.PING, b'{"n":1}') + encode(FrameType.MESSAGE, b"{")], [], True)
def test_session_takes_any_bytes(stream: list[bytes], cuts: list[int], opened: bool) -> None:
    session = open_session() if opened else Session(Hello(A_ID, "a", "0" * 16, 1))
    now = 0.0
    try:
        for chunk in chunked(b"".join(stream), cuts):
            now += 0.001
            session.receive_data(chunk, now)
            assert session._decoder.buffered <= HEADER.size + MAX_PAYLOAD
    except RemoteProtocolError as exc:
        session.fail(exc)
        sent = FrameDecoder().feed(session.data_to_send())  # a PONG may come first
        assert sent[-1].type == FrameType.ERROR and session.state is State.CLOSED


@given(st.lists(frames(range(0, 13)), max_size=12), st.lists(st.integers(0, 5000), max_size=6))
@example([encode(BulkType.ENTRIES, b'{"entries":[["a","file",1,1' + b"0" * 400 + b"]]}")], [])
def test_bulk_receiver_takes_any_bytes(stream: list[bytes], cuts: list[int]) -> None:
    receiver = BulkReceiver("0" * 32, count=3, size=100)
    receiver.open(None)
    with contextlib.suppress(RemoteProtocolError):
        for chunk in chunked(b"".join(stream), cuts):
            receiver.receive_data(chunk)
            if receiver._phase is ReceiverPhase.WANT:
                with contextlib.suppress(LocalProtocolError):
                    receiver.want(
                        [
                            Want.whole(i, 0, e.size)
                            for i, e in enumerate(receiver.entries)
                            if e.kind == "file"
                        ]
                    )


@given(st.lists(frames(range(0, 13)), max_size=12), st.lists(st.integers(0, 5000), max_size=6))
@example([encode(BulkType.WANT, b'{"files":[[0,0],[0,0]]}')], [])
def test_bulk_sender_takes_any_bytes(stream: list[bytes], cuts: list[int]) -> None:
    sender = BulkSender()
    sender.set_manifest([10, 0, 5])
    with contextlib.suppress(RemoteProtocolError):
        for chunk in chunked(b"".join(stream), cuts):
            sender.receive_data(chunk)


@given(
    st.lists(
        st.builds(
            PairMessage,
            st.sampled_from(sorted(OPS)),
            st.sampled_from(["", "0" * 64, "ab" * 32]) | st.text(max_size=20),
        ),
        max_size=8,
    ),
    st.booleans(),
)
def test_pairing_survives_any_message_order(messages: list[PairMessage], initiator: bool) -> None:
    """What the session lets through (hex values for nonces) never breaks the state
    machine, and it never reaches PAIRED without a code and both yeses."""
    pairing = Pairing(A_ID, B_ID, initiator)
    if initiator:
        pairing.start()
    for message in messages:
        if message.op in ("start", "nonce", "reveal") and len(message.value) != 64:
            continue  # the session refuses these before they get here
        reply = pairing.receive(message)
        assert reply is None or reply.op in OPS
    if pairing.state is PairState.PAIRED:
        assert pairing.code and pairing.local_confirmed and pairing.peer_confirmed
    assert not pairing.local_confirmed  # only the local user confirms


@given(st.binary(min_size=REQUEST_HEAD.size, max_size=REQUEST_HEAD.size), st.binary(max_size=8))
def test_preamble_takes_any_bytes(head: bytes, reply: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        parse_request_head(head)
    if len(reply) == 8:
        with contextlib.suppress(RemoteProtocolError):
            parse_reply(reply)


@given(
    st.text(max_size=300)
    | st.lists(st.sampled_from(["..", ".", "", "a", "/", "\\", "C:"])).map("/".join)
)
def test_any_peer_path_stays_inside_the_folder(raw: str) -> None:
    try:
        parts = safe_relpath(raw)
    except UnsafePath:
        return
    assert parts
    for part in parts:
        assert part not in ("", ".", "..") and "/" not in part and "\x00" not in part
        assert len(part.encode("utf-8")) <= 240


# ----- LocalSend's messages --------------------------------------------------------


_INFO_KEYS = ["alias", "fingerprint", "port", "protocol", "deviceType", "deviceModel", "version"]


@given(st.binary(max_size=3000))
@example(b'{"alias": "\\udc80", "fingerprint": "x"}')
def test_any_datagram_is_a_device_or_a_protocol_error(data: bytes) -> None:
    """Whatever arrives on LocalSend's multicast group: a checked ``Device`` or a
    ``RemoteProtocolError``, never another exception."""
    with contextlib.suppress(RemoteProtocolError):
        ls.parse_announcement(data)


@given(st.dictionaries(st.sampled_from(_INFO_KEYS), json_values), st.lists(json_values, max_size=4))
def test_any_prepare_upload_is_a_request_or_a_protocol_error(
    info: dict[str, Any], files: list[Any]
) -> None:
    body = json.dumps({"info": info, "files": {str(i): f for i, f in enumerate(files)}})
    with contextlib.suppress(RemoteProtocolError):
        request = ls.parse_upload_request(body.encode())
        for meta in request.files:  # every name it makes is one this system can create
            assert all(part and "/" not in part and part not in (".", "..") for part in meta.parts)
            "/".join(meta.parts).encode("utf-8")
