"""Identity files, the SQLite store across processes, and link detection."""

from __future__ import annotations

import hashlib
import multiprocessing
import stat
from pathlib import Path

from cryptography import x509

from chatty_p2p.identity import Identity, format_fingerprint
from chatty_p2p.links import find_links, is_safe_url
from chatty_p2p.protocol.messages import ChatMessage
from chatty_p2p.store import DELIVERED, QUEUED, SENT, PeerRecord, Store


def test_identity_is_created_once_with_a_private_key_file(tmp_path: Path) -> None:
    first = Identity.load_or_create(tmp_path)
    assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
    assert first.device_id == hashlib.sha256(first.cert_der).hexdigest()
    assert Identity.load_or_create(tmp_path).device_id == first.device_id
    cert = x509.load_der_x509_certificate(first.cert_der)
    assert cert.issuer == cert.subject  # self-signed
    assert Identity.load_or_create(tmp_path / "other").device_id != first.device_id
    assert format_fingerprint("abcd1234ef") == "abcd 1234 ef"


def _writer(path: str, peer: str, count: int) -> None:
    store = Store(Path(path))
    for i in range(count):
        store.add_message(peer, ChatMessage(f"{i:032x}", float(i), "text", f"{peer}-{i}"), False)
    store.close()


def test_store_survives_concurrent_writers_in_other_processes(tmp_path: Path) -> None:
    db = tmp_path / "chatty.db"
    Store(db).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db), p, 200)) for p in ("p1", "p2", "p3")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = Store(db)
    for peer in ("p1", "p2", "p3"):
        assert [m.body for m in store.history(peer, 1000)] == [f"{peer}-{i}" for i in range(200)]
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_duplicate_ids_are_ignored_and_status_only_moves_forward(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    m = ChatMessage("f" * 32, 1.0, "text", "hi")
    assert store.add_message("peer", m, outgoing=True) is not None
    assert store.add_message("peer", m, outgoing=True) is None
    assert store.add_message("other", m, outgoing=False) is not None  # ids are per peer
    assert [s.status for s in store.undelivered("peer")] == [QUEUED]
    assert store.set_status("peer", m.id, DELIVERED)
    assert not store.set_status("peer", m.id, SENT)  # a late "sent" never undoes delivery
    assert store.undelivered("peer") == []
    store.close()
    assert Store(tmp_path / "c.db").history("peer")[0].status == DELIVERED  # survives reopen


def test_links_are_found_and_unsafe_schemes_are_not_links() -> None:
    text = "see https://example.org/a_(b), www.python.org. and mailto:x@y.z or javascript:alert(1)"
    assert [url for _, _, url in find_links(text)] == [
        "https://example.org/a_(b)",
        "http://www.python.org",
        "mailto:x@y.z",
    ]
    start, end, _ = find_links(text)[0]
    assert text[start:end] == "https://example.org/a_(b)"
    assert is_safe_url("https://example.org")
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "https://", "http://a b", ""):
        assert not is_safe_url(bad)


def test_strangers_are_pruned_but_friends_and_conversations_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "chatty.db")
    for i in range(600):
        store.save_peer(PeerRecord(f"{i:064x}", f"stranger {i}", last_seen=float(i)))
    store.set_trusted(f"{0:064x}", True)  # the oldest, but paired
    store.set_blocked(f"{1:064x}", True)
    store.add_message(f"{2:064x}", ChatMessage("a" * 32, 1.0, "text", "hi"), outgoing=False)
    assert store.prune_strangers(keep=500) == 97  # 600 - 500 - the 3 kept for a reason
    kept = {p.id for p in store.peers()}
    assert {f"{i:064x}" for i in (0, 1, 2)} <= kept
    assert f"{599:064x}" in kept and f"{3:064x}" not in kept  # the newest stay
    assert len(kept) == 503
