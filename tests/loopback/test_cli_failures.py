"""The ``chatty`` command when things go wrong: each failure ends, in one plain line.

Real processes on loopback, never with mDNS. Each test names the failure a user
met: what they see (the message, the exit status, no traceback) and that the
command ends, within its ``--wait`` or when its transfer does.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.daemons import (
    CHATTY,
    Daemon,
    control_exchange,
    daemons,
    one_line_error,
    run,
    running_pairings,
    spawn,
    two_daemons,
)
from tests.support.processes import ShareProcess as Running


def offer_id(daemon: Daemon) -> str:
    return daemon.proc.wait_for(r"accept ([0-9a-f]{8})").group(1)


def note(tmp_path: Path, size: int = 6) -> Path:
    path = tmp_path / "note.txt"
    path.write_bytes(b"hello\n" if size == 6 else os.urandom(size))
    return path


# ----- the data dir ---------------------------------------------------------------

COMMANDS = [
    ["id"],
    ["name", "laptop"],
    ["history", "desk"],
    ["transfers"],
    ["download-dir"],
    ["say", "127.0.0.1:9", "hi"],
    ["peers", "--wait", "0"],
    ["daemon"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_data_dir_that_cannot_be_made_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """Every command, `id` included, printed a traceback."""
    (tmp_path / "a file").write_text("")
    where = tmp_path / "a file" / "chatty"
    done = run(*command, "--data-dir", str(where), "--no-discovery")
    line = one_line_error(done)
    assert f"cannot use the data folder {where}" in line and "--data-dir" in line


def readonly_mount_available() -> str | None:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs root and unshare for a read-only mount"
    return None


@pytest.mark.skipif(readonly_mount_available() is not None, reason="needs root and unshare")
@pytest.mark.parametrize("command", COMMANDS[:4], ids=lambda c: c[0])
def test_a_read_only_data_dir_is_one_line(tmp_path: Path, command: list[str]) -> None:
    """The data dir exists, with an identity, on a file system mounted read-only."""
    data = tmp_path / "data"
    assert run("id", "--data-dir", str(data), "--no-discovery").returncode == 0
    chatty = shlex.join([*CHATTY, *command, "--data-dir", str(data), "--no-discovery"])
    script = f"mount --bind {data} {data} && mount -o remount,ro,bind {data} && exec {chatty}"
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=60
    )
    line = one_line_error(done)
    assert f"cannot use the data folder {data} (Read-only file system)" in line


# ----- output and input ----------------------------------------------------------------


def closed_pipe_run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run with stdout a pipe nobody reads any more, as `chatty … | head` after head quit."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            [*CHATTY, *args], stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(writer)


def test_history_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`chatty history PEER | head` ended in a BrokenPipe traceback."""
    desk = Daemon(tmp_path / "desk", "desk")
    me = ["--data-dir", str(tmp_path / "me"), "--no-discovery"]
    with daemons(desk):
        for i in range(3):
            assert run("say", desk.address, f"hello {i}", *me).returncode == 0
    for args in (["history", "desk", *me], ["id", *me], ["transfers", *me], ["--help"]):
        done = closed_pipe_run(*args)
        assert done.stderr == "", (args, done.stderr)
        assert done.returncode in (0, 1)


def test_typed_text_that_is_not_utf8_is_sent_with_replacement_characters(
    tmp_path: Path,
) -> None:
    """argv holds bytes that are not UTF-8 as lone surrogates, which no message carries."""
    desk = Daemon(tmp_path / "desk", "desk")
    me = ["--data-dir", str(tmp_path / "me"), "--no-discovery"]
    with daemons(desk):
        said = run("say", desk.address, "caf\udce9", *me)
        assert said.returncode == 0 and "delivered" in said.stdout, said.stderr
        desk.proc.wait_for("caf\ufffd")


# ----- the control socket -------------------------------------------------------------


def test_the_control_socket_answers_malformed_requests(tmp_path: Path) -> None:
    """A request the node could not serve killed that client's connection unanswered."""
    desk = Daemon(tmp_path / "desk", "desk")
    with daemons(desk):
        bad = [
            b"\xff\xfe\n",
            b"[1, 2]\n",
            b'{"op": ["id"]}\n',
            b'{"id": 1, "op": "say", "args": [1]}\n',
            b'{"id": 2, "op": "nope"}\n',
            b'{"id": 3, "op": "name", "args": {"name": "\\ud800"}}\n',
            b'{"id": 4, "op": "send", "args": {"peer": "x", "paths": 5}}\n',
        ]
        replies = control_exchange(desk.data_dir, [*bad, b'{"id": 9, "op": "id"}\n'])
        assert [r["ok"] for r in replies] == [False] * len(bad) + [True], replies
        assert all(isinstance(r.get("error"), str) for r in replies[:-1])
        assert replies[-1]["id"] == 9
        assert desk.chatty("id").returncode == 0  # and the daemon lives on


def test_a_file_name_that_is_not_utf8_crosses_the_control_socket(tmp_path: Path) -> None:
    """`chatty send` of such a file gave a traceback inside the control client."""
    desk = Daemon(tmp_path / "desk", "desk")
    with daemons(desk):
        me = Daemon(tmp_path / "me", "me", "--peer", desk.address)
        with daemons(me):
            me.proc.wait_for("desk .*online")
            name = os.fsdecode(b"caf\xe9.txt")
            (tmp_path / name).write_bytes(b"latin-1 name\n")
            sent = me.chatty("send", "desk", str(tmp_path / name), "--no-follow")
            assert "Traceback" not in sent.stderr
            assert sent.returncode == 0 or len(sent.stderr.strip().splitlines()) == 1
            assert me.chatty("id").returncode == 0  # the control socket still serves


# ----- transfers that wait ------------------------------------------------------------------


def offline_peer(tmp_path: Path) -> tuple[Daemon, Path]:
    """A daemon ``me`` that knows ``desk``, which is now offline (stopped), and a file."""
    desk = Daemon(tmp_path / "desk", "desk")
    me = Daemon(tmp_path / "me", "me", "--peer", desk.address)
    me.proc.wait_for("desk .*online")
    desk.stop()
    me.proc.wait_for("desk .*offline")
    return me, note(tmp_path)


def test_send_to_an_offline_peer_ends_within_its_wait(tmp_path: Path) -> None:
    """It said "waiting for it to accept" and blocked for ever."""
    me, path = offline_peer(tmp_path)
    with daemons(me):
        started = time.monotonic()
        sent = me.chatty("send", "desk", str(path), "--wait", "1", timeout=30)
        assert time.monotonic() - started < 10
        assert sent.returncode == 0, sent.stderr
        assert re.search(r"desk is offline: the offer \(\w+\) is kept and made when", sent.stdout)
        assert "it is offline" in sent.stdout.splitlines()[0]


def test_send_without_a_daemon_to_an_offline_peer_ends_within_its_wait(tmp_path: Path) -> None:
    me, path = offline_peer(tmp_path)
    me.stop()
    done = run(
        "send", "desk", str(path), "--wait", "1", "--data-dir", str(me.data_dir), "--no-discovery"
    )
    assert done.returncode == 0, done.stderr
    assert "kept and made the next time Chatty runs here" in done.stdout


def test_adding_an_address_that_refuses_says_why_through_a_daemon(tmp_path: Path) -> None:
    """With a daemon running, the dial's error came back over the control socket as a
    ``DialFailed`` that could not be rebuilt from its words: a traceback."""
    me = Daemon(tmp_path / "me", "me")
    with daemons(me), socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
        port = closed.getsockname()[1]
        added = me.chatty("add", f"127.0.0.1:{port}", timeout=30)
    assert added.returncode == 1 and "Traceback" not in added.stderr, added.stderr
    assert f"127.0.0.1 port {port}" in added.stderr and "refused" in added.stderr, added.stderr


def test_a_cli_whose_daemon_dies_says_so(tmp_path: Path) -> None:
    """Its progress bar froze for ever."""
    me, path = offline_peer(tmp_path)
    with daemons(me):
        sender = spawn("send", "desk", str(path), "--wait", "600", "--data-dir", str(me.data_dir))
        try:
            sender.wait_for("offered note.txt")
            me.stop(signal.SIGKILL)
            code, _, err = sender.finish(15)
        finally:
            sender.kill()
    assert code == 1 and "Traceback" not in err
    assert f"the Chatty daemon (or window) that owns {me.data_dir} stopped" in err


def test_a_chat_whose_daemon_dies_says_so(tmp_path: Path) -> None:
    """The chat went on reading lines for a node that was gone."""
    desk = Daemon(tmp_path / "desk", "desk")
    me = Daemon(tmp_path / "me", "me", "--peer", desk.address)
    with daemons(desk, me):
        me.proc.wait_for("desk .*online")
        reader, writer = os.pipe()  # a terminal that stays open and silent
        chat = spawn("chat", "desk", "--data-dir", str(me.data_dir), stdin=reader)
        os.close(reader)
        try:
            chat.wait_for("Chatting with desk")
            me.stop(signal.SIGKILL)
            code, _, err = chat.finish(15)
        finally:
            chat.kill()
            os.close(writer)
    assert code == 1 and "Traceback" not in err
    assert f"the Chatty daemon (or window) that owns {me.data_dir} stopped" in err


def one_shot_send(tmp_path: Path, desk: Daemon, path: Path) -> Running:
    return spawn(
        "send", desk.address, str(path), "--data-dir", str(tmp_path / "me"), "--no-discovery"
    )


def test_the_rate_leaves_out_the_wait_for_consent(tmp_path: Path) -> None:
    """The closing "… in 3.1 s, 0.3 MB/s" counted the seconds the receiver took to say yes."""
    desk = Daemon(tmp_path / "desk", "desk", "--download-dir", str(tmp_path / "in"))
    with daemons(desk):
        sender = one_shot_send(tmp_path, desk, note(tmp_path, 1_000_000))
        try:
            transfer = offer_id(desk)
            time.sleep(4)  # the receiver's user thinks it over
            assert desk.chatty("accept", transfer).returncode == 0
            code, out, err = sender.finish(30)
        finally:
            sender.kill()
    assert code == 0, err
    seconds = float(re.search(r"verified by the receiver in ([\d.]+) s", out).group(1))
    assert seconds < 3.5, out


def test_the_offer_line_is_a_command_that_works_and_says_unverified(tmp_path: Path) -> None:
    """It printed `chatty accept ID` without the --data-dir needed to run it."""
    desk = Daemon(tmp_path / "my desk", "desk", "--download-dir", str(tmp_path / "in"))
    with daemons(desk):
        sender = one_shot_send(tmp_path, desk, note(tmp_path))
        try:
            line = desk.proc.wait_for(r".* offers .*").group(0)
            assert "(unverified: not paired" in line
            command = re.search(r"Accept with `([^`]+)`", line).group(1)
            words = shlex.split(command)
            assert words[:2] == ["chatty", "accept"]
            assert words[-2:] == ["--data-dir", str(tmp_path / "my desk")]
            accepted = run(*words[1:])
            assert accepted.returncode == 0, accepted.stderr
            code, out, err = sender.finish(30)
        finally:
            sender.kill()
    assert code == 0 and "verified by the receiver" in out, err
    assert (tmp_path / "in" / "note.txt").read_text() == "hello\n"


def test_a_declined_offer_reads_plainly(tmp_path: Path) -> None:
    """The sender read "transfer … declined: desk declined: declined"."""
    desk = Daemon(tmp_path / "desk", "desk")
    with daemons(desk):
        sender = one_shot_send(tmp_path, desk, note(tmp_path))
        try:
            assert desk.chatty("decline", offer_id(desk)).returncode == 0
            code, out, err = sender.finish(30)
        finally:
            sender.kill()
    assert code == 1, err
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"transfer \w{8}: desk declined", last), last


def test_chat_accepts_and_declines_offers(tmp_path: Path) -> None:
    """`chatty chat` had no /accept or /decline."""
    desk = Daemon(tmp_path / "desk", "desk", "--download-dir", str(tmp_path / "in"))
    me = ["--data-dir", str(tmp_path / "me"), "--no-discovery"]
    assert run("name", "laptop", *me).returncode == 0
    laptop = json.loads(run("id", "--json", *me).stdout)["id"]
    with daemons(desk):
        sender = one_shot_send(tmp_path, desk, note(tmp_path))
        try:
            offer_id(desk)
            chat = desk.chatty("chat", laptop[:8], input="/accept\n/decline\n/quit\n")
            code, out, err = sender.finish(30)
        finally:
            sender.kill()
    assert chat.returncode == 0, chat.stderr
    assert re.search(r"transfer \w{8} from laptop: running", chat.stdout), chat.stdout
    assert "error: no offer from laptop is waiting for an answer" in chat.stdout
    assert code == 0 and "verified by the receiver" in out, err


def test_the_pairing_prompt_stops_when_the_other_side_leaves(tmp_path: Path) -> None:
    """The [y/N] question waited for the terminal after the pairing was over."""
    desk = Daemon(tmp_path / "desk", "desk")
    terminal, stdin = pty.openpty()
    with daemons(desk):
        pairing = spawn(
            "pair",
            desk.address,
            "--data-dir",
            str(tmp_path / "me"),
            "--no-discovery",
            stdin=stdin,
        )
        os.close(stdin)
        try:
            pairing.wait_for(r"^Code: ")
            desk.stop()
            code, _, err = pairing.finish(20)
        finally:
            pairing.kill()
            os.close(terminal)
    assert code == 1 and "Traceback" not in err
    assert "chatty: not paired with desk: the peer went offline" in err


# ----- peers that cannot be found -----------------------------------------------------------


def test_a_short_id_prefix_says_prefixes_need_four_characters(tmp_path: Path) -> None:
    done = run("say", "07", "hi", "--data-dir", str(tmp_path), "--no-discovery")
    assert "an id prefix needs at least four characters" in one_line_error(done)


def test_an_unknown_peer_is_reported_at_once_when_none_can_appear(tmp_path: Path) -> None:
    """It took the whole --wait (5.8 s) even when nobody new could turn up."""
    started = time.monotonic()
    alone = run("say", "abcdef12", "hi", "--data-dir", str(tmp_path / "me"), "--no-discovery")
    assert "no peer matches 'abcdef12'" in one_line_error(alone)
    assert time.monotonic() - started < 4
    desk = Daemon(tmp_path / "desk", "desk")
    with daemons(desk):
        time.sleep(2)  # the daemon has been up longer than discovery needs
        started = time.monotonic()
        through = desk.chatty("say", "nobody", "hi")
        assert "no peer matches 'nobody'" in one_line_error(through)
        assert time.monotonic() - started < 2.5


# ----- other commands -------------------------------------------------------------------


def test_no_display_says_to_run_the_daemon(tmp_path: Path) -> None:
    """Qt aborted, blaming a missing libxcb-cursor0."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    done = run("--data-dir", str(tmp_path), "--no-discovery", env=env)
    assert one_line_error(done) == (
        "chatty: no display found; run `chatty daemon` for a headless node"
    )


def test_share_on_a_taken_port_is_one_short_line_and_status_1(tmp_path: Path) -> None:
    """It exited 2 with "[Errno 98] error while attempting to bind on address ('127.0.0.1', …)"."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = run(
            "share",
            str(note(tmp_path)),
            "--interface",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "data"),
        )
    assert one_line_error(done) == (
        f"chatty share: cannot listen on 127.0.0.1 port {port}: address already in use"
    )


def test_socket_failures_are_plain_words() -> None:
    """Users read "connection lost (SSLEOFError)", and nothing after "cannot connect to …:"."""
    from chatty_p2p.errors import why_failed

    assert why_failed(ssl.SSLEOFError(8, "EOF occurred")) == "the other side closed the connection"
    assert why_failed(TimeoutError()) == "timed out"
    assert why_failed(ConnectionResetError(104, "x")) == "connection reset by peer"
    bind = OSError(98, "error while attempting to bind on address ('::', 80, 0, 0): in use")
    assert why_failed(bind) == "address already in use"
    unknown = socket.gaierror(-2, "Name or service not known")  # not "unknown error -2"
    assert why_failed(unknown) == "name or service not known"


# ----- the failure matrix: pair -------------------------------------------------------------


def test_pair_without_a_terminal_cancels_the_pairing_on_both_sides(tmp_path: Path) -> None:
    """`echo n | chatty pair desk` said "no terminal" and exited, but the pairing stayed
    open on both sides: desk's `chatty pair me --code …` then waited for ever."""
    desk, me = two_daemons(tmp_path)
    with daemons(desk, me):
        started = time.monotonic()
        asked = me.chatty("pair", "desk", input="n\n", timeout=30)
        assert "no terminal to ask" in one_line_error(asked)
        code = re.search(r"Code: (\d{3} \d{3})", asked.stdout).group(1)
        desk.proc.wait_for("pairing with me failed: the peer cancelled: `chatty pair` there")
        assert running_pairings(me) == running_pairings(desk) == []
        late = desk.chatty("pair", "me", "--code", code.replace(" ", ""), timeout=30)
        assert "no pairing with me is running here" in one_line_error(late)
        assert time.monotonic() - started < 20


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP, signal.SIGKILL], ids=str)
def test_pair_interrupted_cancels_the_pairing_on_both_sides(tmp_path: Path, sig: int) -> None:
    """Ctrl-C at the [y/N] question left the pairing open on both sides; so did a
    closed terminal (SIGHUP) or a kill, which the command cannot answer itself."""
    desk, me = two_daemons(tmp_path)
    terminal, stdin = pty.openpty()
    with daemons(desk, me):
        pairing = spawn("pair", "desk", "--data-dir", str(me.data_dir), stdin=stdin)
        os.close(stdin)
        try:
            pairing.wait_for(r"^Code: ")
            pairing.proc.send_signal(sig)
            code, _, err = pairing.finish(20)
        finally:
            pairing.kill()
            os.close(terminal)
        assert code == (130 if sig == signal.SIGINT else -sig) and "Traceback" not in err
        desk.proc.wait_for("pairing with me failed: the peer cancelled: `chatty pair` there")
        assert running_pairings(me) == running_pairings(desk) == []


def test_pair_confirmed_here_ends_when_the_initiator_gives_up(tmp_path: Path) -> None:
    """desk typed the code and waited "for me to confirm" after me's command had ended."""
    desk, me = two_daemons(tmp_path)
    terminal, stdin = pty.openpty()
    with daemons(desk, me):
        asking = spawn("pair", "desk", "--data-dir", str(me.data_dir), stdin=stdin)
        os.close(stdin)
        try:
            shown = asking.wait_for(r"^Code: (\d{3} \d{3})").group(1)
            confirming = spawn("pair", "me", "--code", shown, "--data-dir", str(desk.data_dir))
            confirming.wait_for("Waiting for me to confirm")
            os.write(terminal, b"\x04")  # Ctrl-D: the end of input, no answer
            asked_code, _, asked_err = asking.finish(20)
            code, _, err = confirming.finish(20)
        finally:
            asking.kill()
            os.close(terminal)
    assert asked_code == 1 and "no answer (the input ended)" in asked_err, asked_err
    assert code == 1 and "Traceback" not in err
    assert "Not paired: the peer cancelled: `chatty pair` there ended" in err, err


@pytest.mark.parametrize("fault", ["peer offline", "peer killed", "own daemon killed"])
def test_pair_matrix(tmp_path: Path, fault: str) -> None:
    """`chatty pair desk` on ``me`` meets each fault: it ends, in one plain line, and
    neither side keeps a pairing."""
    desk, me = two_daemons(tmp_path)
    terminal, stdin = pty.openpty()
    with daemons(desk, me):
        if fault == "peer offline":
            desk.stop()
            me.proc.wait_for("desk .*offline")
        started = time.monotonic()
        pairing = spawn("pair", "desk", "--data-dir", str(me.data_dir), stdin=stdin)
        os.close(stdin)
        try:
            if fault != "peer offline":
                pairing.wait_for(r"^Code: ")
                (desk if fault == "peer killed" else me).stop(signal.SIGKILL)
            code, out, err = pairing.finish(30)
        finally:
            pairing.kill()
            os.close(terminal)
        assert code == 1 and "Traceback" not in out + err, (out, err)
        assert len(err.strip().splitlines()) == 1, err
        assert time.monotonic() - started < 25
        expected = {
            "peer offline": "chatty: cannot reach desk to pair with it",
            "peer killed": "chatty: not paired with desk: the peer went offline",
            "own daemon killed": f"the Chatty daemon (or window) that owns {me.data_dir} stopped",
        }[fault]
        assert expected in err, err
        survivor = me if fault != "own daemon killed" else desk
        if fault == "own daemon killed":
            survivor.proc.wait_for("pairing with me failed: the peer went offline")
        assert running_pairings(survivor) == []
        assert "Traceback" not in survivor.proc.text


# ----- chat: back-pressure --------------------------------------------------------------


def test_a_piped_flood_in_chat_waits_for_room_and_loses_nothing(tmp_path: Path) -> None:
    """1,402 of 3,000 piped lines got "500 messages already wait for desk; send more once
    it is back online" (desk was online), and chat exited 0."""
    desk, me = two_daemons(tmp_path)
    lines = 3000
    with daemons(desk, me):
        flood = "".join(f"flood {i}\n" for i in range(lines))
        chat = me.chatty("chat", "desk", input=flood, timeout=240)
        assert chat.returncode == 0, chat.stderr
        assert "error:" not in chat.stdout and "Traceback" not in chat.stderr
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            history = json.loads(
                desk.chatty("history", "me", "--limit", str(2 * lines), "--json").stdout
            )
            if len(history) == lines:
                break
            time.sleep(0.5)
    assert [m["body"] for m in history] == [f"flood {i}" for i in range(lines)]


# ----- the failure matrix: say ---------------------------------------------------------------


def history_bodies(daemon: Daemon, peer: str) -> list[str]:
    done = daemon.chatty("history", peer, "--json")
    assert done.returncode == 0, done.stderr
    return [m["body"] for m in json.loads(done.stdout)]


def test_say_json_reports_the_final_status(tmp_path: Path) -> None:
    """`say --json` answered "status": "queued" beside "delivered": true."""
    desk, me = two_daemons(tmp_path)
    with daemons(desk, me):
        said = me.chatty("say", "desk", "hi", "--json")
    assert said.returncode == 0, said.stderr
    out = json.loads(said.stdout)
    assert out["delivered"] is True and out["message"]["status"] == "delivered", out


@pytest.mark.parametrize("fault", ["peer offline", "peer killed", "own daemon killed"])
def test_say_matrix(tmp_path: Path, fault: str) -> None:
    """`chatty say desk …` on ``me`` meets each fault: it ends within its wait saying
    where the message is, and the message reaches desk once both run again."""
    desk, me = two_daemons(tmp_path)
    with daemons(desk, me):
        if fault != "own daemon killed":
            desk.stop(signal.SIGTERM if fault == "peer offline" else signal.SIGKILL)
        if fault == "peer offline":
            me.proc.wait_for("desk .*offline")
        started = time.monotonic()
        if fault == "own daemon killed":
            desk.stop()
            me.proc.wait_for("desk .*offline")
            saying = spawn("say", "desk", "hello", "--wait", "60", "--data-dir", str(me.data_dir))
            try:
                time.sleep(1.5)  # it waits for a receipt that cannot come yet
                assert saying.proc.poll() is None
                me.stop(signal.SIGKILL)
                code, out, err = saying.finish(20)
            finally:
                saying.kill()
            assert code == 1, (out, err)
            assert f"the Chatty daemon (or window) that owns {me.data_dir} stopped" in err
            assert len(err.strip().splitlines()) == 1, err
            me = Daemon(me.data_dir, "me")
        else:
            said = me.chatty("say", "desk", "hello", "--wait", "2", timeout=30)
            code, out, err = said.returncode, said.stdout, said.stderr
            assert code == 0, (out, err)
            assert re.fullmatch(
                r"(queued for desk \(\w+\): it is delivered as soon as that peer is back"
                r"|sent to desk \(\w+\), but no receipt came within 2 s: it is sent again "
                r"until one comes)\n",
                out,
            ), out
        assert "Traceback" not in out + err
        assert time.monotonic() - started < 15
        desk = Daemon(desk.data_dir, "desk", "--port", str(desk.port))
        with daemons(desk, me):
            me.chatty("add", desk.address)
            deadline = time.monotonic() + 30
            while "hello" not in history_bodies(desk, "me") and time.monotonic() < deadline:
                time.sleep(0.5)
            assert history_bodies(desk, "me") == ["hello"]
            assert "Traceback" not in desk.proc.text + me.proc.text


# ----- following a transfer: Ctrl-C and resume ------------------------------------------------


def transfer_state(daemon: Daemon, short: str, *states: str, timeout: float = 30) -> dict:
    """The transfer as ``chatty transfers`` shows it, once in one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        rows = json.loads(daemon.chatty("transfers", "--json").stdout)
        t = next((r for r in rows if r["id"].startswith(short)), None)
        if (t is not None and t["state"] in states) or time.monotonic() > deadline:
            assert t is not None and t["state"] in states, t
            return t
        time.sleep(0.2)


@pytest.mark.parametrize("action", ["send", "resume"])
def test_ctrl_c_on_a_followed_transfer_says_it_goes_on(tmp_path: Path, action: str) -> None:
    """Ctrl-C on an attached `chatty send` exited 130 saying nothing, while the daemon
    went on with the transfer."""
    desk, me = two_daemons(tmp_path)
    with daemons(desk, me):
        path = note(tmp_path)
        if action == "send":
            following = spawn("send", "desk", str(path), "--data-dir", str(me.data_dir))
            following.wait_for("offered note.txt")
            short = offer_id(desk)
        else:
            short = interrupted_by_the_sender(desk, me, path)
            following = spawn("resume", short, "--wait", "60", "--data-dir", str(desk.data_dir))
            following.wait_for(f"transfer {short} with me: interrupted")
        try:
            following.proc.send_signal(signal.SIGINT)
            code, _, err = following.finish(20)
        finally:
            following.kill()
        owner = me if action == "send" else desk
        assert code == 130 and "Traceback" not in err, err
        assert err.strip() == (
            "the transfer continues in the background; "
            f"`chatty cancel {short} --data-dir {owner.data_dir}` stops it"
        )
        transfer_state(owner, short, "offered" if action == "send" else "interrupted")


def test_ctrl_c_on_a_one_shot_send_says_how_to_go_on(tmp_path: Path) -> None:
    desk = Daemon(tmp_path / "desk", "desk")
    with daemons(desk):
        sender = one_shot_send(tmp_path, desk, note(tmp_path))
        try:
            offer_id(desk)
            sender.proc.send_signal(signal.SIGINT)
            code, _, err = sender.finish(20)
        finally:
            sender.kill()
    assert code == 130 and "Traceback" not in err, err
    assert err.strip() == "interrupted: the offer is kept and made the next time Chatty runs here"


def interrupted_by_the_sender(desk: Daemon, me: Daemon, path: Path) -> str:
    """A transfer from ``me`` to ``desk`` that ``desk`` accepted and ``me`` died in
    (frozen first, so that no byte moved); the transfer's short id."""
    assert me.chatty("send", "desk", str(path), "--no-follow").returncode == 0
    short = offer_id(desk)
    me.proc.proc.send_signal(signal.SIGSTOP)
    assert desk.chatty("accept", short).returncode == 0
    me.stop(signal.SIGKILL)
    transfer_state(desk, short, "interrupted")
    return short


def test_resume_with_the_peer_offline_says_so_within_its_wait(tmp_path: Path) -> None:
    """The receiver's `chatty resume ID --wait 3` printed "running" at once and exited 0
    with the sender offline."""
    desk, me = two_daemons(tmp_path)
    with daemons(desk, me):
        short = interrupted_by_the_sender(desk, me, note(tmp_path, 4_000_000))
        started = time.monotonic()
        resumed = desk.chatty("resume", short, "--wait", "3", timeout=30)
        took = time.monotonic() - started
    assert resumed.returncode == 1, (resumed.stdout, resumed.stderr)
    assert 3 <= took < 10
    assert resumed.stdout.splitlines()[-1] == (
        f"me is offline: transfer {short} resumes when it is back"
    )


def test_resume_follows_the_transfer_to_its_end(tmp_path: Path) -> None:
    """`chatty resume ID` printed "interrupted" and exited 0, and the transfer then
    completed unseen."""
    desk, me = two_daemons(tmp_path)
    with daemons(desk, me):
        path = note(tmp_path, 4_000_000)
        short = interrupted_by_the_sender(desk, me, path)
        resuming = spawn("resume", short, "--wait", "60", "--data-dir", str(desk.data_dir))
        try:
            resuming.wait_for(f"transfer {short} with me: interrupted")
            me = Daemon(me.data_dir, "me", "--peer", desk.address)
            with daemons(me):
                code, out, err = resuming.finish(60)
        finally:
            resuming.kill()
    assert code == 0, (out, err)
    assert out.splitlines()[-1] == f"received 1 item (4.0 MB), verified, saved in {tmp_path / 'in'}"
    assert (tmp_path / "in" / "note.txt").read_bytes() == path.read_bytes()
