"""Arguments of the wrong form are refused before any network, in one line, status 1;
and the small commands say what they did (or what is set) rather than something else.

Real processes, loopback only, never mDNS (``--no-discovery`` everywhere).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemons import (
    Daemon,
    daemons,
    one_line_error,
    run,
    running_pairings,
    two_daemons,
)

WRONG = [
    (["pair", "desk", "--code", "abcdef"], "the code is six digits"),
    (["pair", "desk", "--code", "12345"], "the code is six digits"),
    (["pair", "desk", "--code", "1"], "the code is six digits"),
    (["pair", "desk", "--fingerprint", "xyz"], "16 to 64 hex digits"),
    (["say", "127.0.0.1:99999", "hi"], "the port must be 1-65535"),
    (["send", "127.0.0.1:0", "f"], "the port must be 1-65535"),
    (["add", "[fe80::1]:4000"], "a link-local address needs the interface it is on"),
    (["add", "[fe80::1%nosuch0]:4000"], "no interface named 'nosuch0'"),
    (["add", "desk"], "not an address"),
    (["daemon", "--port", "70000"], "not a port"),
    (["history", "desk", "--limit", "-1"], "not a count"),
    (["history", "desk", "--limit", "0"], "not a count"),
    (["peers", "--wait", "99999999999"], "not a wait"),
    (["say", "desk", "hi", "--wait", "nan"], "not a wait"),
    (["accept", "abcd", "--wait", "-1"], "not a wait"),
    (["name", ""], "a name is needed"),
    (["name", " "], "a name is needed"),
    (["daemon", "--name", " "], "a name is needed"),
    (["peers", "--interface", "nosuch0"], "no interface named nosuch0; interfaces here: lo"),
    (["send", "--choose", "/nowhere/f", "g"], "no such file or folder: /nowhere/f, g"),
]


@pytest.mark.parametrize(("command", "said"), WRONG, ids=[" ".join(c) for c, _ in WRONG])
def test_a_malformed_argument_is_one_line_before_any_network(
    tmp_path: Path, command: list[str], said: str
) -> None:
    """`pair --code abcdef` ran a real pairing, told the user someone might be in
    between, and spent one of the peer's five tries; `say H:99999` looked for a peer
    by that name, `history --limit -1` listed everything, `name ""` renamed the device
    to "unnamed", `--interface nosuch0` ran on, announcing nowhere."""
    started = time.monotonic()
    done = run(*command, "--data-dir", str(tmp_path / "me"), "--no-discovery", timeout=30)
    assert said in one_line_error(done)
    assert time.monotonic() - started < 5
    assert not (tmp_path / "me").exists() or command[0] == "name"  # no node started


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["send", "desk"], "the following arguments are required: PEER, PATH (or --choose)"),
        (
            ["send", "desk", "--choose", "f"],
            "--choose picks the peers in a window; give it no PEER",
        ),
    ],
)
def test_send_without_paths_or_with_both_a_peer_and_choose_is_a_usage_error(
    tmp_path: Path, command: list[str], said: str
) -> None:
    """PEER and PATH became optional for ``--choose``; without it they are still needed."""
    done = run(*command, "--data-dir", str(tmp_path / "me"), "--no-discovery", timeout=30)
    assert done.returncode == 2 and f"chatty: error: send: {said}" in done.stderr


def test_a_malformed_code_starts_no_pairing(tmp_path: Path) -> None:
    desk = Daemon(tmp_path / "desk", "desk")
    me = Daemon(tmp_path / "me", "me", "--peer", desk.address)
    with daemons(desk, me):
        me.proc.wait_for("desk .*online")
        done = me.chatty("pair", "desk", "--code", "abcdef")
        assert "the code is six digits" in one_line_error(done)
        time.sleep(0.5)
        assert "asks to pair" not in desk.proc.text
        assert running_pairings(me) == running_pairings(desk) == []


def test_a_bare_nick_in_chat_keeps_the_name(tmp_path: Path) -> None:
    """A bare `/nick` renamed the device "unnamed"."""
    desk, me = two_daemons(tmp_path)
    with daemons(desk, me):
        chat = me.chatty("chat", "desk", input="/nick\n/nick   \n/quit\n")
        assert chat.returncode == 0, chat.stderr
        assert chat.stdout.count("error: a name is needed") == 2, chat.stdout
        named = me.chatty("id")
    assert "name:        me" in named.stdout


@pytest.mark.parametrize("setting", ["trusted-only", "auto-accept", "auto-copy"])
def test_a_setting_without_on_or_off_shows_it(tmp_path: Path, setting: str) -> None:
    """`chatty auto-accept` was a usage error: there was no way to see the setting."""
    me = ["--data-dir", str(tmp_path), "--no-discovery"]
    shown = run(setting, *me)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"{setting} is off: ")
    assert run(setting, "on", *me).stdout.startswith(f"{setting} is now on: ")
    assert run(setting, *me).stdout.startswith(f"{setting} is on: ")


def test_name_without_a_name_shows_it(tmp_path: Path) -> None:
    me = ["--data-dir", str(tmp_path), "--no-discovery"]
    assert run("name", "desk", *me).returncode == 0
    shown = run("name", *me)
    assert shown.returncode == 0 and shown.stdout == "this device is called 'desk'\n", shown


def headless(**env: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "XDG_RUNTIME_DIR")
    }
    return {**keep, **env}


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"DISPLAY": ":{n}"}, "DISPLAY=:{n} cannot be reached"),
        ({"DISPLAY": "127.0.0.1:{n}"}, "DISPLAY=127.0.0.1:{n} cannot be reached"),
        ({"WAYLAND_DISPLAY": "wayland-9"}, "WAYLAND_DISPLAY=wayland-9 has no socket"),
    ],
    ids=["x11", "x11-tcp", "wayland"],
)
def test_a_display_that_does_not_answer_is_one_line(
    tmp_path: Path, env: dict[str, str], why: str
) -> None:
    """`DISPLAY=:99 chatty` aborted (SIGABRT) inside Qt, blaming libxcb-cursor0. The
    display is one nobody uses: ``:99`` was taken by an Xvfb (``xvfb-run -a``'s first
    choice) running beside the suite, and the test saw a server that asked for a key."""
    with socket.socket(socket.AF_UNIX) as probe:
        n = _free_display(probe)
    env = {key: value.format(n=n) for key, value in env.items()}
    why = why.format(n=n)
    done = run(
        "--data-dir",
        str(tmp_path),
        "--no-discovery",
        env=headless(**env, XDG_RUNTIME_DIR=str(tmp_path)),
    )
    assert one_line_error(done) == (
        f"chatty: no display found ({why}); run `chatty daemon` for a headless node"
    )


def _free_display(sock: socket.socket) -> int:
    """Bind ``sock`` where an X server of a display nobody uses would listen: a real
    one (a test's Xvfb, say) may hold any given number."""
    for display in range(700, 800):
        try:
            sock.bind(f"\0/tmp/.X11-unix/X{display}")
        except OSError:
            continue
        return display
    raise AssertionError("no free X display number between 700 and 799")


def test_a_display_that_answers_is_found(tmp_path: Path) -> None:
    """The probe is not a refusal of every display: an X socket or a Wayland one counts."""
    from chatty_p2p.cli.entry import missing_display

    with contextlib.closing(socket.socket(socket.AF_UNIX)) as x_server:
        display = _free_display(x_server)  # the abstract socket an X server opens
        x_server.listen()
        assert missing_display({"DISPLAY": f":{display}"}) is None
        assert missing_display({"DISPLAY": f"unix:{display}.0"}) is None
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as compositor:
        compositor.bind(str(tmp_path / "wayland-1"))
        env = {"WAYLAND_DISPLAY": "wayland-1", "XDG_RUNTIME_DIR": str(tmp_path)}
        assert missing_display(env) is None
    assert missing_display({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert missing_display({}) == ""


LOG = (
    "import logging, sys; from chatty_p2p.cli.entry import configure_logging; "
    "from chatty_p2p.cli.parser import parse; "
    "configure_logging(parse(sys.argv[1:])); "
    "logging.getLogger('chatty_p2p.files.manager')"
    ".warning('declined an offer from abcd: no space'); "
    "logging.getLogger('chatty_p2p.node').error('background task failed')"
)


@pytest.mark.parametrize(
    ("command", "shown"),
    [
        (["daemon"], "chatty: background task failed\n"),
        (
            ["say", "desk", "hi"],
            "chatty: declined an offer from abcd: no space\nchatty: background task failed\n",
        ),
        (
            ["daemon", "-v"],
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ chatty_p2p.files.manager: declined",
        ),
    ],
    ids=["daemon", "say", "daemon -v"],
)
def test_the_log_is_plain_and_the_daemon_does_not_repeat_its_events(
    command: list[str], shown: str
) -> None:
    """The daemon printed `2026-11-30 18:04:09,265 chatty_p2p.files.manager: …` lines repeating
    its own event lines."""
    done = subprocess.run(
        [sys.executable, "-c", LOG, *command], capture_output=True, text=True, timeout=30
    )
    if command[-1] == "-v":
        assert re.match(shown, done.stderr), done.stderr
    else:
        assert done.stderr == shown
