"""The TCP control socket, as Windows has it (forced here with ``CHATTY_PORTABLE=1``):
a real daemon, real commands, and local processes that do not know the token.

Any local process, another user's included, can connect to a port on 127.0.0.1; only
one that can read the data dir's ``control.port`` may talk to the node, and none may
stall it or use up its descriptors.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatty_p2p.control import AUTH_TIMEOUT, MAX_UNPROVEN, PORT_FILE, SOCKET_NAME
from tests.support.daemons import Daemon, daemons


@pytest.fixture
def desk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    """A daemon started with the switch; commands run by the test go without it,
    unless a test sets it again."""
    monkeypatch.setenv("CHATTY_PORTABLE", "1")
    daemon = Daemon(tmp_path / "desk", "desk")
    monkeypatch.delenv("CHATTY_PORTABLE")
    with daemons(daemon):
        yield daemon


def announced(data_dir: Path) -> tuple[int, str]:
    found = json.loads((data_dir / PORT_FILE).read_text())
    return found["port"], found["token"]


def dial(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def until_closed(sock: socket.socket) -> bytes:
    """What the node said before it hung up (a reset counts as hanging up); a node
    that never does fails the test with the socket's timeout."""
    said = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            said += chunk
    return said


def token_sized(data: bytes) -> bytes:
    """``data`` as long as a token line: all the node reads before it answers."""
    return data.ljust(65, b" ")


def answers_id(daemon: Daemon) -> bool:
    done = daemon.chatty("id", "--json", "--no-discovery", timeout=30)
    return done.returncode == 0 and json.loads(done.stdout)["name"] == "desk"


def test_the_port_file_is_the_owners_alone_and_the_unix_socket_is_not_made(desk: Daemon) -> None:
    path = desk.data_dir / PORT_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (desk.data_dir / SOCKET_NAME).exists()
    port, token = announced(desk.data_dir)
    assert port > 0 and len(token) == 64
    assert sorted(p.name for p in desk.data_dir.iterdir() if "control" in p.name) == [PORT_FILE]


def test_a_command_with_or_without_the_switch_talks_to_it(
    desk: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client goes by what the owner made, not by its own environment."""
    assert answers_id(desk)
    monkeypatch.setenv("CHATTY_PORTABLE", "1")
    assert answers_id(desk)


def test_the_right_token_is_taken_and_requests_are_served(desk: Daemon) -> None:
    port, token = announced(desk.data_dir)
    with dial(port) as sock:
        stream = sock.makefile("rb")
        sock.sendall(token.encode() + b"\n" + b'{"id": 7, "op": "id"}\n')
        assert json.loads(stream.readline()) == {"ok": True}
        reply = json.loads(stream.readline())
        assert reply["id"] == 7 and reply["ok"] is True and reply["result"]["name"] == "desk"


@pytest.mark.parametrize(
    "first",
    [b"0" * 64 + b"\n", token_sized(b'{"id": 1, "op": "id"}\n'), b"\n" * 65],
    ids=["wrong token", "a request instead", "blank lines"],
)
def test_a_wrong_token_is_refused_and_the_connection_closed(desk: Daemon, first: bytes) -> None:
    port, _ = announced(desk.data_dir)
    with dial(port) as sock:
        sock.sendall(first)
        [refused] = [json.loads(line) for line in until_closed(sock).splitlines()]
        assert refused["ok"] is False and PORT_FILE in refused["error"]
    assert answers_id(desk)


def test_silent_slow_and_endless_clients_neither_stall_the_node_nor_stay(desk: Daemon) -> None:
    """No token at all, the token a byte at a time, 64 KiB with no newline: each is
    hung up on once its time is up (or at once), and meanwhile a command is served."""
    port, token = announced(desk.data_dir)
    silent, slow, endless = dial(port), dial(port), dial(port)
    endless.sendall(b"x" * (1 << 16))
    for byte in token.encode()[:3]:
        slow.sendall(bytes([byte]))
        time.sleep(0.2)
    assert answers_id(desk)  # while the first two wait for their time to be up
    with silent, slow, endless:
        assert b'"ok": false' in until_closed(silent)
        assert b'"ok": false' in until_closed(slow)
        until_closed(endless)
    assert answers_id(desk)


def test_past_the_cap_a_connection_is_closed_at_once_and_the_node_recovers(
    desk: Daemon,
) -> None:
    """Connections that have not sent a token take no more than ``MAX_UNPROVEN`` of
    the node's descriptors; the next is closed before it could send anything."""
    port, _ = announced(desk.data_dir)
    held = [dial(port) for _ in range(MAX_UNPROVEN)]
    try:
        with dial(port) as extra:
            # The node serves connections in the order it accepted them: by the time it
            # takes this one, the others wait for their token, for AUTH_TIMEOUT.
            extra.settimeout(AUTH_TIMEOUT - 1)
            assert until_closed(extra) == b""
    finally:
        for sock in held:
            sock.close()
    assert answers_id(desk)


def test_a_second_daemon_on_the_data_dir_is_refused_with_the_usual_error(
    desk: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data dir's lock through filelock (the switch) and through flock (none)
    exclude each other and say the same."""
    for switch in ("1", ""):
        monkeypatch.setenv("CHATTY_PORTABLE", switch)
        second = desk.chatty("daemon", "--no-discovery", timeout=30)
        assert second.returncode == 1
        assert f"another Chatty process is using {desk.data_dir}" in second.stderr
    assert os.path.exists(desk.data_dir / PORT_FILE)
