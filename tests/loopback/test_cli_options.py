"""Every command takes the common options before or after its name, and means them.

The parser is checked for every subcommand in both places (parsing only, so an
option that is dropped cannot send mDNS onto the machine's network); then a few
real runs show the options before the command reach the node.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatty_p2p.cli.parser import build_parser, parse
from tests.support.cli import chatty

CHATTY = [sys.executable, "-m", "chatty_p2p"]

# The smallest valid arguments of each command; a command missing here fails the test.
POSITIONALS: dict[str, list[str]] = {
    "daemon": [],
    "peers": [],
    "say": ["desk", "hi"],
    "link": ["desk", "https://example.org"],
    "clip": ["desk"],
    "chat": ["desk"],
    "history": ["desk"],
    "id": [],
    "name": ["laptop"],
    "add": ["127.0.0.1:9"],
    "forget": ["desk"],
    "send": ["desk", "file.txt"],
    "transfers": [],
    "download-dir": [],
    "accept": ["abcd"],
    "decline": ["abcd"],
    "cancel": ["abcd"],
    "resume": ["abcd"],
    "doctor": [],
    "share": ["file.txt"],
    "pair": ["desk"],
    "unpair": ["desk"],
    "block": ["desk"],
    "unblock": ["desk"],
    "trusted-only": ["on"],
    "auto-accept": ["on"],
    "auto-copy": ["on"],
    "localsend": ["off"],
    "dns-sd": ["sd.example"],
    "desktop": ["install"],
}
COMMON = [
    *("--data-dir", "/tmp/elsewhere", "--json", "--no-discovery", "--interface", "lo", "-v"),
    *("--dns-sd-domain", "sd.example", "--tsig-key", "chatty.key"),
]


def commands() -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def test_every_command_has_an_entry_here() -> None:
    assert sorted(POSITIONALS) == commands()


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("command", sorted(POSITIONALS))
def test_common_options_count_before_and_after_the_command(command: str, where: str) -> None:
    words = [command, *POSITIONALS[command]]
    argv = [*COMMON, *words] if where == "before" else [*words, *COMMON]
    args = parse(argv)
    assert args.command == command
    assert args.data_dir == "/tmp/elsewhere"
    assert args.json is True
    assert args.no_discovery is True
    assert args.interface == ["lo"]
    assert args.verbose == 1
    assert (args.dns_sd_domain, args.tsig_key) == (["sd.example"], "chatty.key")


def test_repeatable_options_add_up_across_the_command() -> None:
    argv = ["--interface", "eth0", "-v", "--dns-sd-domain", "a.example", "peers"]
    argv += ["--interface", "wlan0", "-v", "--dns-sd-domain", "b.example"]
    args = parse(argv)
    assert args.interface == ["eth0", "wlan0"]
    assert args.verbose == 2
    assert args.dns_sd_domain == ["a.example", "b.example"]


def test_defaults_without_options() -> None:
    args = parse(["peers"])
    assert (args.data_dir, args.json, args.no_discovery, args.interface, args.verbose) == (
        None,
        False,
        False,
        [],
        0,
    )


def default_home(tmp_path: Path) -> dict[str, str]:
    """An environment whose default data dir is under ``tmp_path``, to see it untouched."""
    env = {k: v for k, v in os.environ.items() if k != "CHATTY_HOME"}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return env


def test_data_dir_and_json_before_the_command_reach_the_node(tmp_path: Path) -> None:
    """`chatty --data-dir D --json id` used the default data dir (another identity!)
    and printed text."""
    env = default_home(tmp_path)
    mine = tmp_path / "mine"
    done = subprocess.run(
        [*CHATTY, "--data-dir", str(mine), "--json", "id"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data_dir"] == str(mine)
    assert not (tmp_path / "xdg").exists()


def test_a_name_with_spaces(tmp_path: Path) -> None:
    """The README's `chatty name My Laptop` said "unrecognized arguments"."""
    renamed = chatty("name", "My", "Laptop", data_dir=tmp_path)
    assert renamed.returncode == 0, renamed.stderr
    assert "'My Laptop'" in renamed.stdout
    info = json.loads(chatty("id", "--json", data_dir=tmp_path).stdout)
    assert info["name"] == "My Laptop"


@pytest.mark.parametrize(
    "command",
    [
        ["id"],
        ["name", "laptop"],
        ["transfers"],
        ["download-dir"],
        ["trusted-only", "on"],
        ["auto-accept", "off"],
        ["auto-copy", "on"],
        ["peers", "--wait", "0"],
    ],
    ids=lambda c: c[0],
)
def test_json_and_data_dir_before_any_command(tmp_path: Path, command: list[str]) -> None:
    """Each prints JSON and uses the data dir given before it; ``--no-discovery`` goes
    after as well, so that an old parser dropping it could not reach the network."""
    env = default_home(tmp_path)
    mine = tmp_path / "mine"
    done = subprocess.run(
        [*CHATTY, "--json", "--data-dir", str(mine), *command, "--no-discovery"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)
    assert (mine / "chatty.db").exists() and not (tmp_path / "xdg").exists()
