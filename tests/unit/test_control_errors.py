"""An error the node raised comes back to a face through the control socket by its
class name and its words: every class in ``errors`` is rebuilt, with those words."""

from __future__ import annotations

import inspect

import pytest

from chatty_p2p import errors
from chatty_p2p.control import rebuilt

KINDS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.ChattyError)
]


@pytest.mark.parametrize("kind", KINDS, ids=lambda c: c.__name__)
def test_every_error_comes_back_with_its_words(kind: type[errors.ChattyError]) -> None:
    error = rebuilt(kind.__name__, "cannot connect to 10.0.0.2 port 47000: connection refused")
    assert str(error) == "cannot connect to 10.0.0.2 port 47000: connection refused"
    assert isinstance(error, errors.ChattyError)


def test_an_error_that_carries_more_than_words_comes_back_as_its_parent() -> None:
    error = rebuilt("DialFailed", "cannot connect to 10.0.0.2 port 47000: refused")
    assert isinstance(error, errors.PeerError)


@pytest.mark.parametrize("kind", ["ValueError", "SystemExit", "no such thing", ""])
def test_a_name_that_is_not_ours_is_a_plain_chatty_error(kind: str) -> None:
    assert type(rebuilt(kind, "x")) is errors.ChattyError
