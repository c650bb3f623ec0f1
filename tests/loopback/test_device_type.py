"""A peer's device type, from its mDNS record to the other node's peer snapshot and
the events the faces get (driven in-process: nothing is multicast)."""

from __future__ import annotations

from pathlib import Path

from zeroconf import ServiceInfo

from chatty_p2p.events import NodeEvent, Peer
from chatty_p2p.net.discovery import SERVICE_TYPE, Discovery, instance_name, parse_advert
from chatty_p2p.node import EventType, Node
from tests.support.events import next_event


def record_of(node: Node, device: str) -> ServiceInfo:
    """The record ``node`` would announce on a machine of the kind ``device``."""
    discovery = Discovery(node.device_id, node.name, node.port, lambda *_: None, device=device)
    discovery._addresses = ["127.0.0.1"]
    return discovery._service_info()


async def test_a_peers_device_type_reaches_the_other_nodes_peer_list(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    events = a.subscribe()
    advert = parse_advert(instance_name(b.device_id), record_of(b, "laptop"))
    assert advert is not None
    a._adverts.on_advert(b.device_id, advert)
    found = await next_event(events, EventType.PEER_DISCOVERED)
    assert found.peer is not None and found.peer.device == "laptop"
    online = await next_event(events, EventType.PEER_ONLINE)  # dialled from the record
    assert online.peer is not None and online.peer.device == "laptop"
    assert a.peer(b.device_id).device == "laptop"
    assert [p.device for p in a.peers() if p.id == b.device_id] == ["laptop"]
    back = NodeEvent.from_json(online.to_json())  # as the control socket carries it
    assert back.peer is not None and back.peer.device == "laptop"


async def test_a_changed_device_type_is_told_and_a_forged_one_is_unknown(
    nodes: tuple[Node, Node],
) -> None:
    a, b = nodes
    events = a.subscribe()
    for device in ("desktop", "server"):
        advert = parse_advert(instance_name(b.device_id), record_of(b, device))
        assert advert is not None
        a._adverts.on_advert(b.device_id, advert)
    updated = await next_event(events, EventType.PEER_UPDATED)
    assert updated.peer is not None and updated.peer.device == "server"
    forged = ServiceInfo(
        SERVICE_TYPE,
        instance_name(b.device_id),
        port=b.port,
        properties={"id": b.device_id, "name": "bravo", "device": b"<script>" * 20},
        parsed_addresses=["127.0.0.1"],
    )
    advert = parse_advert(instance_name(b.device_id), forged)
    assert advert is not None
    a._adverts.on_advert(b.device_id, advert)
    assert a.peer(b.device_id).device == "unknown"


async def test_a_peer_that_is_away_keeps_its_device_type_after_a_restart(
    nodes: tuple[Node, Node], tmp_path: Path
) -> None:
    """The type is remembered with the peer: after a restart, with the peer away and
    its record gone, the list still shows its laptop, not a bare initial."""
    a, b = nodes
    events = a.subscribe()
    advert = parse_advert(instance_name(b.device_id), record_of(b, "laptop"))
    assert advert is not None
    a._adverts.on_advert(b.device_id, advert)
    await next_event(events, EventType.PEER_ONLINE)  # the session saves the peer
    await b.stop()
    await a.stop()
    again = Node(tmp_path / "a", name="alpha", discovery=False)
    await again.start()
    try:
        away = [p for p in again.peers() if p.id == b.device_id]
        assert [(p.online, p.device) for p in away] == [(False, "laptop")]
        assert again.peer(b.device_id).device == "laptop"
    finally:
        await again.stop()


def test_an_event_from_the_socket_with_an_odd_device_type_reads_as_unknown() -> None:
    data = Peer("a" * 64, "desk", True, True, True, (), 1.0).to_dict()
    assert data["device"] == "unknown"
    assert Peer.from_json({**data, "device": "laptop"}).device == "laptop"
    assert Peer.from_json({**data, "device": "\u202elaptop"}).device == "unknown"
    assert Peer.from_json({k: v for k, v in data.items() if k != "device"}).device == "unknown"
