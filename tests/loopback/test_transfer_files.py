"""``Node.transfer_files``: a batch's files, each with its state and the name it was
really saved under, on both sides of a transfer over loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatty_p2p.errors import ChattyError
from chatty_p2p.node import Node
from tests.support.transfers import ended, vouch, wait_transfer


async def test_a_batch_lists_its_files_with_the_name_each_was_saved_under(
    pair: tuple[Node, Node], tmp_path: Path
) -> None:
    a, b = pair
    b._guard.accept_from = ["*"]
    vouch(b, a)
    source = tmp_path / "src"
    source.mkdir()
    (source / "report.pdf").write_bytes(b"%PDF new")
    (source / "notes.txt").write_text("notes\n")
    (tmp_path / "b-dl").mkdir()
    (tmp_path / "b-dl" / "report.pdf").write_bytes(b"%PDF old")
    a_events, b_events = a.subscribe(), b.subscribe()
    sent = await a.send_files(b.device_id, [source / "report.pdf", source / "notes.txt"])
    assert [f.state for f in a.transfer_files(sent.id)] == ["pending", "pending"]
    done = await wait_transfer(b_events, lambda t: t.id == sent.id and ended(t))
    assert done.state == "done", done.error
    await wait_transfer(a_events, lambda t: t.id == sent.id and ended(t))

    received = b.transfer_files(sent.id[:8])
    assert [(f.path, f.state, f.size) for f in received] == [
        ("report.pdf", "done", 8),
        ("notes.txt", "done", 6),
    ]
    assert received[0].name == "report (1).pdf"
    assert received[0].local == str(tmp_path / "b-dl" / "report (1).pdf")
    assert Path(received[0].local).read_bytes() == b"%PDF new"
    assert (tmp_path / "b-dl" / "report.pdf").read_bytes() == b"%PDF old"

    sending = a.transfer_files(sent.id)
    assert [(f.name, f.state) for f in sending] == [("report.pdf", "done"), ("notes.txt", "done")]
    assert sending[0].local == str(source / "report.pdf")
    assert len(b.transfer_files(sent.id, limit=1)) == 1


async def test_an_unknown_transfer_is_an_error_in_words(pair: tuple[Node, Node]) -> None:
    a, _ = pair
    with pytest.raises(ChattyError, match="no single transfer"):
        a.transfer_files("feedface")
