"""Sans-IO session pairs for protocol tests: bytes in, events out, no sockets."""

from __future__ import annotations

from chatty_p2p.protocol.messages import ChatMessage, Hello, HelloReceived
from chatty_p2p.protocol.session import Session

A_ID, B_ID = "a" * 64, "b" * 64


def hello(device_id: str, name: str = "x") -> Hello:
    return Hello(device_id=device_id, name=name, boot="0123456789abcdef", port=4000)


def pair() -> tuple[Session, Session]:
    """Two sessions that have exchanged HELLOs."""
    a, b = Session(hello(A_ID, "alpha")), Session(hello(B_ID, "bravo"))
    a.start(), b.start()
    (ev_b,) = b.receive_data(a.data_to_send())
    (ev_a,) = a.receive_data(b.data_to_send())
    assert isinstance(ev_a, HelloReceived) and ev_a.hello.device_id == B_ID
    assert isinstance(ev_b, HelloReceived) and ev_b.hello.name == "alpha"
    return a, b


def msg(body: str = "hi", mid: str = "0" * 32) -> ChatMessage:
    return ChatMessage(id=mid, ts=1.5, kind="text", body=body)
