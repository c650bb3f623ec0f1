""" "Send with Chatty…" between two lab hosts: alpha's chooser, over alpha's running
daemon, lists bravo (found by mDNS), and picking it sends the file, byte for byte."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.lab import is_type
from tests.support.labfiles import transfer_state
from tests.support.netlab import Lab, sha256

pytestmark = [pytest.mark.netlab, pytest.mark.gui]


def test_the_chooser_lists_the_peer_in_the_other_host_and_sends_it_the_file(
    lab: Lab, tmp_path: Path
) -> None:
    downloads = tmp_path / "downloads"
    a, b = lab.host("alpha"), lab.host("bravo")
    a.start()
    b.start("--download-dir", str(downloads), "--accept-from", "alpha")
    a.daemon.wait_for(is_type("peer-online", b.id), timeout=5)  # type: ignore[union-attr]
    vouched = b.chatty("pair", "alpha", "--fingerprint", a.id)
    assert vouched.returncode == 0, vouched.stderr
    photo = tmp_path / "photo of the beach.jpg"
    photo.write_bytes(os.urandom(300_000))
    scenario = a.python(
        "tests.gui.chooser_scenario", "--data-dir", str(a.data_dir), "--peer", "bravo", str(photo)
    )
    out, _ = scenario.communicate(timeout=90)
    steps = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    log = lab.root / "alpha-tests.gui.chooser_scenario.log"
    assert scenario.returncode == 0, (steps, log.read_text()[-3000:])
    assert "bravo" in steps[0]["listed"] and steps[-1] == {"sent": True}
    b.daemon.wait_for(transfer_state("done"), timeout=30)  # type: ignore[union-attr]
    assert sha256(downloads / photo.name) == sha256(photo)
