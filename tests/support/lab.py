"""Network-lab predicates and set-ups shared by the multi-host tests."""

from __future__ import annotations

from tests.support.netlab import Host, Lab


def is_type(kind: str, peer_id: str | None = None):  # type: ignore[no-untyped-def]
    def check(event: dict) -> bool:  # type: ignore[type-arg]
        return event["type"] == kind and (peer_id is None or event["peer"]["id"] == peer_id)

    return check


def two_hosts_online(lab: Lab) -> tuple[Host, Host]:
    """Daemons on two fresh hosts, alpha and bravo, with a session between them."""
    a, b = lab.host("alpha"), lab.host("bravo")
    a.start(), b.start()
    a.daemon.wait_for(is_type("peer-online", b.id), timeout=5)
    return a, b


def say_and_check(sender: Host, receiver: Host, text: str) -> None:
    """``chatty say`` from ``sender``: delivered, and the message arrives as sent."""
    assert receiver.daemon is not None
    mark = receiver.daemon.mark()
    said = sender.chatty("say", receiver.name, text)
    assert said.returncode == 0 and "delivered" in said.stdout, said.stdout + said.stderr
    got = receiver.daemon.wait_for(lambda e: e["type"] == "message", timeout=10, since=mark)
    assert got["message"]["body"] == text
