"""What Windows and macOS run, forced on Linux with ``CHATTY_PORTABLE=1``: the data
dir's lock through filelock, opening files without ``O_NOFOLLOW``, reading without
``preadv``, and the Linux-only sources (rtnetlink, /sys, /proc, nftables) left alone
with the doctor saying so. Each on real files, sockets and processes."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatty_p2p import config, device, portable
from chatty_p2p.doctor import network as doctor_network
from chatty_p2p.doctor.firewall import read_firewall
from chatty_p2p.errors import NodeAlreadyRunning
from chatty_p2p.files.landing import Landing, hashed_prefix
from chatty_p2p.net import ktls, netif
from chatty_p2p.node import acquire_lock
from chatty_p2p.protocol.bulk.wire import Want


@pytest.fixture(params=["linux", "portable"])
def paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test once as Linux runs it and once as Windows would."""
    if request.param == "portable":
        monkeypatch.setenv(portable.SWITCH, "1")
    else:
        monkeypatch.delenv(portable.SWITCH, raising=False)
    return str(request.param)


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(portable.SWITCH, "1")


# ----- the data dir's lock ---------------------------------------------------------------


def test_a_held_data_dir_is_seen_and_refused_then_free_again(paths: str, tmp_path: Path) -> None:
    held = acquire_lock(tmp_path)
    try:
        assert config.lock_is_held(tmp_path)
        with pytest.raises(NodeAlreadyRunning, match=f"another Chatty process is using {tmp_path}"):
            acquire_lock(tmp_path)
    finally:
        held.close()
    assert not config.lock_is_held(tmp_path)
    acquire_lock(tmp_path).close()


@pytest.mark.parametrize("holder", ["1", ""], ids=["holder portable", "holder linux"])
def test_the_two_locks_exclude_each_other_across_processes(
    paths: str, holder: str, tmp_path: Path
) -> None:
    """A daemon with the switch and a command without (or the other way round) must
    still agree on who owns the data dir."""
    script = (
        "import sys; from pathlib import Path; from chatty_p2p.node import acquire_lock; "
        "held = acquire_lock(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()"
    )
    env = {**os.environ, portable.SWITCH: holder}
    other = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert other.stdout is not None and other.stdout.readline() == "held\n"
        assert config.lock_is_held(tmp_path)
        with pytest.raises(NodeAlreadyRunning):
            acquire_lock(tmp_path)
    finally:
        other.communicate("", timeout=30)
    assert not config.lock_is_held(tmp_path)


def test_a_data_dir_that_does_not_exist_is_owned_by_nobody(paths: str, tmp_path: Path) -> None:
    assert not config.lock_is_held(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()


# ----- files ---------------------------------------------------------------------------


def test_a_symlink_is_refused_for_reading_and_for_writing(paths: str, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_bytes(b"secret")
    link = tmp_path / "link"
    link.symlink_to(target)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "nowhere")
    for path, flags in [
        (link, os.O_RDONLY),
        (link, os.O_RDWR | os.O_CREAT),
        (dangling, os.O_WRONLY | os.O_CREAT),
    ]:
        with pytest.raises(OSError) as refused:
            portable.open_nofollow(path, flags, 0o600)
        assert refused.value.errno == errno.ELOOP
    assert target.read_bytes() == b"secret"
    assert not (tmp_path / "nowhere").exists()


def test_a_plain_file_is_opened_and_created_with_its_mode(paths: str, tmp_path: Path) -> None:
    made = tmp_path / "made"
    fd = portable.open_nofollow(made, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, b"a\nb\r\n")
    os.close(fd)
    assert made.read_bytes() == b"a\nb\r\n"
    assert made.stat().st_mode & 0o777 == 0o600


def test_a_received_partial_is_hashed_from_where_it_was_left(paths: str, tmp_path: Path) -> None:
    """``read_at`` (``preadv`` on Linux, a seek and a read elsewhere) on a resumed
    partial, and the refusal of a partial that became a link."""
    import blake3

    landing = Landing(tmp_path / "in", "t1")
    landing.prepare()
    data = os.urandom(3 * 1024 * 1024 + 17)
    landing.partial(0).write_bytes(data)
    ticks: list[None] = []
    want = Want(index=0, start=5, offset=len(data) - 9, end=len(data))
    hasher = landing.hashed(want, lambda: ticks.append(None))
    assert hasher.hexdigest() == blake3.blake3(data[5:-9]).hexdigest() and ticks
    fd = os.open(landing.partial(0), os.O_RDONLY)
    try:
        whole = hashed_prefix(fd, 0, len(data), lambda: None)
    finally:
        os.close(fd)
    assert whole.hexdigest() == blake3.blake3(data).hexdigest()
    landing.partial(1).symlink_to(landing.partial(0))
    with pytest.raises(OSError):
        landing.hashed(Want(index=1, start=0, offset=4, end=10), lambda: None)


# ----- what only Linux has ----------------------------------------------------------------


def test_linux_sources_are_left_alone(forced: None) -> None:
    assert not portable.linux_sources()
    assert netif.change_socket() is None
    assert all(i.multicast for i in netif.interfaces())  # unknown counts as able
    assert device.detect({"DISPLAY": ":0"}) == device.UNKNOWN
    support = ktls.platform_support()
    assert not support.usable and "Linux only" in support.why and portable.SWITCH in support.why
    assert not doctor_network.link_down("lo")


def test_the_linux_paths_still_read_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the switch this Linux keeps its fast paths."""
    monkeypatch.delenv(portable.SWITCH, raising=False)
    assert portable.linux_sources()
    sock = netif.change_socket()
    assert sock is not None
    sock.close()


def test_the_doctor_says_what_it_did_not_check(forced: None) -> None:
    [firewall] = read_firewall(4000, None)
    assert firewall.level == "warn" and firewall.topic == "firewall"
    assert firewall.title == "The firewall: not checked on this system"
    assert "UDP 5353" in firewall.fix and "TCP 4000" in firewall.fix
    lan = netif.Interface("eth0", 2, netif.LAN, ("127.0.0.1",))  # an address that is here
    findings = doctor_network.multicast_findings([lan])
    titles = [f.title for f in findings]
    assert "Links, multicast flags and reverse-path filtering: not checked on this system" in (
        titles
    )
    assert not any(t.startswith("mDNS can be sent and answered") for t in titles)
