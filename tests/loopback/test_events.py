"""The node's events: one typed union, one JSON codec (chatty_p2p/events.py).

Every kind round-trips; the JSON each kind sends (what `chatty daemon --json` prints and
scripts read) is pinned; a malformed event from the control socket is refused with a
clear error, and the client goes on reading."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from chatty_p2p.control import ControlClient
from chatty_p2p.events import (
    KINDS,
    CopyToClipboard,
    EventType,
    MalformedEvent,
    MessageStatus,
    NameChanged,
    NewMessage,
    NodeEvent,
    NodeWarning,
    PairingChanged,
    Peer,
    PeerDiscovered,
    PeerLost,
    PeerOffline,
    PeerOnline,
    PeerUpdated,
    TransferChanged,
    TransferOffered,
    TransferProgress,
)
from chatty_p2p.files.model import TransferInfo
from chatty_p2p.store import StoredMessage
from chatty_p2p.trust import PairingInfo

PEER = Peer(
    id="a" * 64,
    name="desk",
    online=True,
    discovered=True,
    known=True,
    addresses=("192.0.2.1:7700",),
    last_seen=1700000000.5,
    trust="trusted",
    clock_skew=0.25,
)
MESSAGE = StoredMessage(
    seq=3,
    id="m" * 32,
    peer_id=PEER.id,
    outgoing=False,
    kind="text",
    body="hé",
    ts=1.5,
    status="received",
)
TRANSFER = TransferInfo(
    id="t" * 32,
    peer_id=PEER.id,
    peer_name="desk",
    outgoing=True,
    state="running",
    count=2,
    size=2048,
    names=["a.txt", "b"],
    done_bytes=1024,
    resumed_from=0,
    file="b/c.bin",
    file_done=10,
    file_size=20,
    rate=1e6,
    eta=None,
    folder="",
    error="",
    saved=[],
    created=1700000000.0,
)
PAIRING = PairingInfo(
    peer_id=PEER.id, peer_name="desk", state="compare", code="123 456", initiator=True
)
T = 1700000001.25

ONE_OF_EACH: list[NodeEvent] = [
    PeerDiscovered(peer=PEER, time=T),
    PeerUpdated(peer=PEER, time=T),
    PeerOnline(peer=PEER, time=T),
    PeerOffline(peer=PEER, text="closed", time=T),
    PeerLost(peer=PEER, time=T),
    NewMessage(peer=PEER, message=MESSAGE, time=T),
    MessageStatus(peer=PEER, message=MESSAGE, text="disk full", time=T),
    NameChanged(text="laptop", time=T),
    NodeWarning(peer=PEER, text="KEY CHANGED", time=T),
    NodeWarning(text="the disk is full", time=T),
    TransferChanged(transfer=TRANSFER, time=T),
    TransferOffered(transfer=TRANSFER, time=T),
    TransferOffered(transfer=TRANSFER, peer=PEER, time=T),
    TransferProgress(transfer=TRANSFER, time=T),
    PairingChanged(pairing=PAIRING, time=T),
    CopyToClipboard(peer=PEER, text="copied", time=T),
]

PEER_JSON = {
    "id": "a" * 64,
    "name": "desk",
    "state": "online",
    "online": True,
    "discovered": True,
    "known": True,
    "trust": "trusted",
    "conflict": None,
    "addresses": ["192.0.2.1:7700"],
    "clock_skew": 0.25,
    "refused_by": "",
    "last_seen": 1700000000.5,
    "device": "unknown",
    "via": "chatty",
}
MESSAGE_JSON = {
    "seq": 3,
    "id": "m" * 32,
    "peer_id": "a" * 64,
    "outgoing": False,
    "kind": "text",
    "body": "hé",
    "ts": 1.5,
    "status": "received",
}
TRANSFER_JSON = {
    "id": "t" * 32,
    "peer_id": "a" * 64,
    "peer_name": "desk",
    "outgoing": True,
    "state": "running",
    "count": 2,
    "size": 2048,
    "names": ["a.txt", "b"],
    "done_bytes": 1024,
    "resumed_from": 0,
    "file": "b/c.bin",
    "file_done": 10,
    "file_size": 20,
    "rate": 1e6,
    "eta": None,
    "folder": "",
    "error": "",
    "saved": [],
    "created": 1700000000.0,
}
PAIRING_JSON = {
    "peer_id": "a" * 64,
    "peer_name": "desk",
    "state": "compare",
    "code": "123 456",
    "initiator": True,
    "error": "",
}


def test_every_kind_has_a_class_and_one_is_tested() -> None:
    assert set(KINDS) == {str(k) for k in EventType}
    assert {e.type for e in ONE_OF_EACH} == set(EventType)
    for kind, cls in KINDS.items():
        assert cls.type == kind


@pytest.mark.parametrize("event", ONE_OF_EACH, ids=lambda e: str(e.type))
def test_every_kind_round_trips_through_the_codec(event: NodeEvent) -> None:
    wire = json.dumps({"event": event.to_json()}).encode("ascii")  # as the socket sends it
    back = NodeEvent.from_json(json.loads(wire)["event"])
    assert back == event
    assert type(back) is type(event)
    assert NodeEvent.from_json(json.dumps(event.to_json())) == event  # from JSON text too


def shape(**parts: Any) -> dict[str, Any]:
    return {"type": parts.pop("type"), "time": T, **parts}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (PeerDiscovered(peer=PEER, time=T), shape(type="peer-discovered", peer=PEER_JSON)),
        (PeerUpdated(peer=PEER, time=T), shape(type="peer-updated", peer=PEER_JSON)),
        (PeerOnline(peer=PEER, time=T), shape(type="peer-online", peer=PEER_JSON)),
        (
            PeerOffline(peer=PEER, text="closed", time=T),
            shape(type="peer-offline", peer=PEER_JSON, text="closed"),
        ),
        (PeerLost(peer=PEER, time=T), shape(type="peer-lost", peer=PEER_JSON)),
        (
            NewMessage(peer=PEER, message=MESSAGE, time=T),
            shape(type="message", peer=PEER_JSON, message=MESSAGE_JSON),
        ),
        (
            MessageStatus(peer=PEER, message=MESSAGE, time=T),
            shape(type="message-status", peer=PEER_JSON, message=MESSAGE_JSON),
        ),
        (
            MessageStatus(peer=PEER, message=MESSAGE, text="disk full", time=T),
            shape(type="message-status", peer=PEER_JSON, message=MESSAGE_JSON, text="disk full"),
        ),
        (NameChanged(text="laptop", time=T), shape(type="name-changed", text="laptop")),
        (NodeWarning(text="full", time=T), shape(type="warning", text="full")),
        (
            NodeWarning(peer=PEER, text="KEY CHANGED", time=T),
            shape(type="warning", peer=PEER_JSON, text="KEY CHANGED"),
        ),
        (
            TransferChanged(transfer=TRANSFER, time=T),
            shape(type="transfer", transfer=TRANSFER_JSON),
        ),
        (
            TransferOffered(transfer=TRANSFER, time=T),
            shape(type="transfer-offered", transfer=TRANSFER_JSON),
        ),
        (
            TransferOffered(transfer=TRANSFER, peer=PEER, time=T),
            shape(type="transfer-offered", peer=PEER_JSON, transfer=TRANSFER_JSON),
        ),
        (
            TransferProgress(transfer=TRANSFER, time=T),
            shape(type="transfer-progress", transfer=TRANSFER_JSON),
        ),
        (PairingChanged(pairing=PAIRING, time=T), shape(type="pairing", pairing=PAIRING_JSON)),
        (
            CopyToClipboard(peer=PEER, text="copied", time=T),
            shape(type="clipboard", peer=PEER_JSON, text="copied"),
        ),
    ],
    ids=lambda v: v["type"] if isinstance(v, dict) else "",
)
def test_the_json_shape_of_each_kind_is_pinned(event: NodeEvent, expected: dict[str, Any]) -> None:
    """What scripts read from `chatty daemon --json` (and the socket carries): ``type`` and
    ``time``, each part under its name, ``text`` only when there is one."""
    assert event.to_json() == expected
    assert json.loads(json.dumps(event.to_json())) == expected


def test_a_kind_refuses_a_part_it_never_carries() -> None:
    with pytest.raises(TypeError, match="carries no transfer"):
        PeerOnline(peer=PEER, transfer=TRANSFER)
    with pytest.raises(TypeError):
        NewMessage(peer=PEER)  # type: ignore[call-arg]


def test_the_faces_may_ask_any_event_for_any_part() -> None:
    event = PeerOnline(peer=PEER)
    assert (event.transfer, event.message, event.pairing, event.text) == (None, None, None, "")
    assert event.type is EventType.PEER_ONLINE


GOOD = NewMessage(peer=PEER, message=MESSAGE, time=T).to_json()


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ("{not json", "not JSON"),
        ([1, 2], "must be a JSON object, not list"),
        (None, "must be a JSON object, not null"),
        ({"time": T}, "unknown type None"),
        ({"type": "meteor", "time": T}, "unknown type 'meteor'"),
        ({**GOOD, "time": "noon"}, "time is missing or not a number"),
        ({k: v for k, v in GOOD.items() if k != "time"}, "time is missing"),
        ({k: v for k, v in GOOD.items() if k != "message"}, "message"),
        ({**GOOD, "peer": "desk"}, "peer should be an object, not str"),
        ({**GOOD, "peer": {**PEER_JSON, "online": "yes"}}, "peer.online should be bool, not str"),
        ({**GOOD, "peer": {k: v for k, v in PEER_JSON.items() if k != "id"}}, "peer has no id"),
        ({**GOOD, "message": {**MESSAGE_JSON, "seq": 1.5}}, "message.seq should be int"),
        ({**GOOD, "message": {**MESSAGE_JSON, "seq": True}}, "message.seq should be int, not bool"),
        (
            {
                **TransferChanged(transfer=TRANSFER).to_json(),
                "transfer": {**TRANSFER_JSON, "names": [1]},
            },
            "transfer.names should be list[str]",
        ),
        (
            {**PairingChanged(pairing=PAIRING).to_json(), "pairing": {**PAIRING_JSON, "code": 7}},
            "pairing.code should be str, not int",
        ),
        ({"type": "name-changed", "time": T, "text": ["x"]}, "text should be str, not list"),
    ],
)
def test_a_malformed_event_is_refused_with_a_clear_error(data: object, said: str) -> None:
    with pytest.raises(MalformedEvent, match=said.replace("[", r"\[").replace("(", r"\(")):
        NodeEvent.from_json(data)


def test_the_decoder_ignores_keys_it_does_not_know() -> None:
    """A newer daemon may add fields; ``Peer.state`` is derived, not read back."""
    data = {**GOOD, "extra": 1, "peer": {**PEER_JSON, "state": "whatever", "new": 2}}
    assert NodeEvent.from_json(data) == NewMessage(peer=PEER, message=MESSAGE, time=T)


async def test_the_client_refuses_a_malformed_event_and_reads_on(tmp_path: Path) -> None:
    """A daemon (here a fake one) sends an event this side cannot read: whoever waits for
    events gets a ``MalformedEvent`` saying so (a ChattyError: the CLI prints it, no
    traceback), and the next good event still arrives."""
    path = tmp_path / "control.sock"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for event in ({"type": "peer-online", "time": T, "peer": 5}, GOOD):
            writer.write(json.dumps({"event": event}).encode("ascii") + b"\n")
        writer.write(b"[1]\n")  # not even an object: skipped
        writer.write(json.dumps({"event": GOOD}).encode("ascii") + b"\n")
        await writer.drain()
        await reader.read()

    server = await asyncio.start_unix_server(serve, path)
    client = await ControlClient.connect(tmp_path)
    try:
        with pytest.raises(MalformedEvent, match="peer-online event the daemon sent: peer should"):
            await client.get()
        assert await client.get() == NewMessage(peer=PEER, message=MESSAGE, time=T)
        assert await client.get() == NewMessage(peer=PEER, message=MESSAGE, time=T)
    finally:
        await client.close()
        server.close()
