"""Pairing codes and rate limits, sans IO: messages and bytes in, states and events out."""

from __future__ import annotations

import hashlib

import pytest

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol.frames import FrameType, encode_json
from chatty_p2p.protocol.limits import COSTLY_BURST, COSTLY_RATE
from chatty_p2p.protocol.messages import ChatMessage, MessageReceived, PairReceived
from chatty_p2p.protocol.pairing import (
    Pairing,
    PairMessage,
    PairState,
    code_for,
    normalise_code,
)
from tests.support.sessions import pair

A_ID, B_ID, M_ID = "a" * 64, "b" * 64, "c" * 64


def run_exchange(first: Pairing, second: Pairing) -> None:
    """Deliver messages back and forth until both sides are quiet."""
    queue: list[tuple[Pairing, PairMessage]] = []
    if first.initiator:
        queue.append((second, first.start()))
    if second.initiator:
        queue.append((first, second.start()))
    while queue:
        target, message = queue.pop(0)
        reply = target.receive(message)
        if reply is not None:
            queue.append((first if target is second else second, reply))


def test_honest_pairing_shows_one_code_and_needs_both_yeses() -> None:
    a, b = Pairing(A_ID, B_ID, initiator=True), Pairing(B_ID, A_ID, initiator=False)
    run_exchange(a, b)
    assert a.state is b.state is PairState.COMPARE
    assert a.code == b.code and len(a.code) == 7 and a.code[3] == " "
    b.receive(a.confirm())
    assert a.state is PairState.COMPARE  # our yes alone is not enough
    assert b.state is PairState.COMPARE and b.peer_confirmed
    a.receive(b.confirm())
    assert a.state is b.state is PairState.PAIRED


def test_a_relaying_man_in_the_middle_shows_different_codes() -> None:
    """M re-signs with its own key: A pairs with (A, M), B with (M, B). It relays
    every message unchanged, the best it can do without knowing the nonces."""
    differing = 0
    for _ in range(50):
        a, b = Pairing(A_ID, M_ID, initiator=True), Pairing(B_ID, M_ID, initiator=False)
        start = a.start()
        nonce = b.receive(start)  # relayed as is
        assert nonce is not None
        reveal = a.receive(nonce)
        assert reveal is not None
        b.receive(reveal)
        assert a.state is b.state is PairState.COMPARE
        differing += a.code != b.code
    assert differing == 50  # a collision has odds of one in a million per try


def test_a_reveal_that_does_not_match_the_commitment_aborts() -> None:
    a, b = Pairing(A_ID, B_ID, initiator=True), Pairing(B_ID, A_ID, initiator=False)
    nonce = b.receive(a.start())
    assert nonce is not None
    forged = PairMessage("reveal", "00" * 32)  # chosen after seeing B's nonce
    reply = b.receive(forged)
    assert reply is not None and reply.op == "abort"
    assert b.state is PairState.FAILED and "commitment" in b.error


def test_both_pressing_pair_at_once_still_agree() -> None:
    a, b = Pairing(A_ID, B_ID, initiator=True), Pairing(B_ID, A_ID, initiator=True)
    run_exchange(a, b)
    assert a.state is b.state is PairState.COMPARE and a.code == b.code
    assert a.initiator and not b.initiator  # the smaller id keeps the role


def test_out_of_order_or_cancelled_pairings_fail_cleanly() -> None:
    a, b = Pairing(A_ID, B_ID, initiator=True), Pairing(B_ID, A_ID, initiator=False)
    early = b.receive(PairMessage("confirm"))  # a yes before any code
    assert early is not None and early.op == "abort" and b.state is PairState.FAILED
    run_exchange(a, Pairing(B_ID, A_ID, initiator=False))
    a.receive(PairMessage("abort", "the codes differ"))
    assert a.state is PairState.FAILED and "the codes differ" in a.error
    assert a.receive(PairMessage("confirm")) is None  # nothing revives it


def test_code_is_bound_to_both_ids_and_both_nonces() -> None:
    n1, n2 = b"\x01" * 32, b"\x02" * 32
    base = code_for(A_ID, B_ID, n1, n2)
    assert base == code_for(A_ID, B_ID, n1, n2)
    others = {
        code_for(B_ID, A_ID, n1, n2),
        code_for(A_ID, M_ID, n1, n2),
        code_for(A_ID, B_ID, n2, n1),
    }
    assert base not in others
    digest = hashlib.sha256(
        b"chatty pairing v1\x00" + bytes.fromhex(A_ID) + bytes.fromhex(B_ID) + n1 + n2
    ).digest()
    assert base.replace(" ", "") == f"{int.from_bytes(digest[:8], 'big') % 10**6:06d}"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("042917", "042 917"),
        ("042 917", "042 917"),
        ("042-917", "042 917"),
        ("42917", ""),
        ("0429170", ""),
        ("abc917", ""),
        ("٠٤٢٩١٧", ""),
    ],
)
def test_typed_codes_are_normalised(typed: str, expected: str) -> None:
    assert normalise_code(typed) == expected


def test_pair_frames_are_checked_field_by_field() -> None:
    a, b = pair()
    a.send_pair(PairMessage("start", "ab" * 32))
    (event,) = b.receive_data(a.data_to_send(), now=0.0)
    assert event == PairReceived(PairMessage("start", "ab" * 32))
    for body in ({"op": "steal", "value": ""}, {"op": "nonce", "value": "zz"}, {"op": "start"}):
        _, c = pair()
        with pytest.raises(RemoteProtocolError):
            c.receive_data(encode_json(FrameType.PAIR, body))


def _message(i: int) -> ChatMessage:
    return ChatMessage(id=f"{i:032x}", ts=1.0, kind="text", body="x" * 100)


def test_a_message_flood_is_a_rate_limit_error() -> None:
    _, b = pair()
    flood = b"".join(
        encode_json(FrameType.MESSAGE, {"id": f"{i:032x}", "ts": 1, "kind": "text", "body": "x"})
        for i in range(COSTLY_BURST + 1)
    )
    with pytest.raises(RemoteProtocolError) as caught:
        b.receive_data(flood, now=100.0)
    assert caught.value.code == "rate-limit"


def test_a_paced_sender_never_trips_the_receiver() -> None:
    """3,000 messages queued at once (a week's outbox): the sender releases them in
    time, the receiver accepts every one, and pings were never held behind them."""
    a, b = pair()
    for i in range(3000):
        a.send_message(_message(i))
    now, received = 0.0, 0
    while True:
        a.ping()
        data = a.data_to_send(now)
        assert data, "a ping always goes out at once"
        events = b.receive_data(data, now)
        received += sum(isinstance(e, MessageReceived) for e in events)
        delay = a.send_delay(now)
        if delay is None:
            break
        now += max(delay, 0.01)
    assert received == 3000
    # A burst's worth at once, then the rest at the sustained rate.
    assert now == pytest.approx((3000 - 0.9 * COSTLY_BURST) / (0.9 * COSTLY_RATE), rel=0.05)
