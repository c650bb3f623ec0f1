"""Every command the parser knows runs a function that exists.

The parser names each command's function by module and name, as strings, so that
``chatty --version`` imports none of the command modules; a typo there passes every
parsing test and fails only when someone runs that command.
"""

from __future__ import annotations

import argparse
import inspect
from importlib import metadata

import pytest

from chatty_p2p.cli.parser import LazyCommand, build_parser, later, parse


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_the_parser_knows_commands() -> None:
    assert "daemon" in subparsers()


@pytest.mark.parametrize("command", sorted(subparsers()))
def test_every_command_resolves_to_a_coroutine_function(command: str) -> None:
    func = subparsers()[command].get_default("func")
    assert isinstance(func, LazyCommand)
    target = func.resolve()
    assert callable(target)
    assert inspect.iscoroutinefunction(target), f"{func.module}.{func.name}"
    inspect.signature(target).bind(argparse.Namespace())  # it takes the parsed args


def test_a_misspelt_command_fails_to_resolve() -> None:
    with pytest.raises(AttributeError):
        later("node", "cmd_diamon").resolve()


def test_the_version_shown_is_the_installed_package_s(capsys: pytest.CaptureFixture[str]) -> None:
    """One place for the version: the package's metadata (pyproject.toml)."""
    with pytest.raises(SystemExit):
        parse(["--version"])
    assert capsys.readouterr().out == f"chatty {metadata.version('chatty_p2p')}\n"
