"""The ``chatty`` command as a user runs it: real processes, plain errors."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from chatty_p2p.errors import RemoteProtocolError
from chatty_p2p.protocol.messages import Hello
from chatty_p2p.protocol.session import Session
from tests.support.cli import chatty, start_daemon


def test_help_lists_every_command(tmp_path: Path) -> None:
    out = chatty("--help", data_dir=tmp_path).stdout
    for command in (
        "daemon",
        "peers",
        "say",
        "link",
        "chat",
        "history",
        "id",
        "name",
        "add",
        "forget",
        "send",
        "transfers",
        "accept",
        "decline",
        "cancel",
        "resume",
        "pair",
        "unpair",
        "block",
        "unblock",
        "trusted-only",
        "auto-accept",
        "auto-copy",
        "clip",
        "download-dir",
    ):
        assert f"    {command}" in out


def test_id_and_rename_persist(tmp_path: Path) -> None:
    assert chatty("name", "Zoë's laptop", data_dir=tmp_path).returncode == 0
    info = json.loads(chatty("id", "--json", data_dir=tmp_path).stdout)
    assert info["name"] == "Zoë's laptop" and len(info["id"]) == 64
    assert info["fingerprint"].replace(" ", "") == info["id"]


def test_unknown_peer_is_one_plain_line(tmp_path: Path) -> None:
    result = chatty("history", "nobody", data_dir=tmp_path)
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "chatty: no peer matches 'nobody'; no peers found yet (try host:port)"
    )


def test_unsafe_link_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    result = chatty("link", "127.0.0.1:9", "javascript:alert(1)", data_dir=tmp_path)
    assert result.returncode == 1 and "not a link" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_address_is_a_plain_error(tmp_path: Path) -> None:
    result = chatty("say", "127.0.0.1:9", "hi", data_dir=tmp_path)
    assert result.returncode == 1
    assert "cannot connect to 127.0.0.1 port 9" in result.stderr


def accept_next_offer(daemon: subprocess.Popen[str], data_dir: Path, downloads: Path) -> None:
    """Wait for the daemon to report an offer, check nothing landed yet, accept it."""
    assert daemon.stdout is not None
    for line in daemon.stdout:
        event = json.loads(line)
        if event["type"] == "transfer-offered":
            assert not event["transfer"]["outgoing"]
            assert not downloads.exists() or not any(downloads.iterdir())  # asks first
            accepted = chatty("accept", event["transfer"]["id"][:8], data_dir=data_dir)
            assert accepted.returncode == 0, accepted.stderr
            return
    raise AssertionError("the daemon exited without reporting the offer")


def test_send_a_folder_with_the_cli(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    daemon, port = start_daemon(tmp_path / "desk", "--download-dir", str(downloads))
    try:
        folder = tmp_path / "notes"
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "a.txt").write_text("alpha\n")
        (folder / "b.txt").write_text("bravo\n")
        sender = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chatty_p2p",
                "send",
                f"127.0.0.1:{port}",
                str(folder),
                "--data-dir",
                str(tmp_path / "me"),
                "--no-discovery",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # An unverified sender: the daemon asks even though nothing limits it otherwise.
        accept_next_offer(daemon, tmp_path / "desk", downloads)
        out, err = sender.communicate(timeout=60)
        sent = subprocess.CompletedProcess(sender.args, sender.returncode, out, err)
        assert sent.returncode == 0, sent.stderr
        assert "sent 2 items" in sent.stdout and "verified by the receiver" in sent.stdout
        assert (downloads / "notes" / "sub" / "a.txt").read_text() == "alpha\n"
        listing = chatty("transfers", data_dir=tmp_path / "me").stdout
        assert "-> desk" in listing and "done" in listing and "100%" in listing
        missing = chatty(
            "send", f"127.0.0.1:{port}", str(tmp_path / "nope"), data_dir=tmp_path / "me"
        )
        assert missing.returncode == 1 and "cannot send" in missing.stderr
    finally:
        daemon.terminate()
        daemon.wait(10)


def test_chat_session_with_slash_commands(tmp_path: Path) -> None:
    """`chatty chat` against a daemon on loopback: /nick, /history, a message, /quit."""
    daemon, port = start_daemon(tmp_path / "desk")
    try:
        assert daemon.stdout is not None
        chat = subprocess.run(
            [
                sys.executable,
                "-m",
                "chatty_p2p",
                "chat",
                f"127.0.0.1:{port}",
                "--data-dir",
                str(tmp_path / "me"),
                "--no-discovery",
            ],
            input="/nick laptop\nhello desk\n/help\n/history\n/quit\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert chat.returncode == 0, chat.stderr
        assert "Chatting with desk" in chat.stdout
        assert "you are now 'laptop'" in chat.stdout
        assert "/link URL" in chat.stdout
        assert "me: hello desk" in chat.stdout  # /history shows the message just sent
        for line in daemon.stdout:
            event = json.loads(line)
            if event["type"] == "message":
                assert event["message"]["body"] == "hello desk"
                assert event["peer"]["name"] == "laptop"
                break
    finally:
        daemon.terminate()
        daemon.wait(10)


@given(st.binary(max_size=300))
def test_session_never_raises_anything_but_protocol_errors(data: bytes) -> None:
    session = Session(Hello("a" * 64, "a", "0" * 16, 1))
    for chunk in (data, data[::-1]):
        with contextlib.suppress(RemoteProtocolError):
            session.receive_data(chunk)


def test_slash_send_in_chat(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    daemon, port = start_daemon(tmp_path / "desk", "--download-dir", str(downloads))
    note = tmp_path / "a note.txt"
    note.write_text("sent from the chat\n")
    me = ["--data-dir", str(tmp_path / "me"), "--no-discovery"]
    chat = subprocess.Popen(
        [sys.executable, "-m", "chatty_p2p", "chat", f"127.0.0.1:{port}", *me],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert chat.stdin is not None and chat.stdout is not None
    try:
        chat.stdin.write(f"/send '{note}\n")  # an unclosed quote: said, and the chat goes on
        chat.stdin.write(f"/send '{note}'\n")
        chat.stdin.flush()
        accept_next_offer(daemon, tmp_path / "desk", downloads)
        seen = []
        for line in chat.stdout:
            seen.append(line)
            if ": done" in line or ": failed" in line:
                break
        assert any("offered a note.txt" in line for line in seen), seen
        assert any("error: cannot read the paths" in line for line in seen), seen
        assert "done, verified by the receiver" in seen[-1]
        assert (downloads / "a note.txt").read_text() == "sent from the chat\n"
        chat.stdin.write("/quit\n")
        chat.stdin.flush()
        assert chat.wait(20) == 0
    finally:
        chat.kill()
        daemon.terminate()
        daemon.wait(10)
