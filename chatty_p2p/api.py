"""The operations a face can ask of a node by name, with JSON in and out.

The CLI uses these both in-process and, through ``control``, against the
daemon or window that already owns the data dir; one table serves both. The
faces' own checks of a typed address (``parse_address``, ``format_address``) are
re-exported here, so a face needs nothing of ``net``.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from chatty_p2p.errors import ChattyError, UnknownPeer
from chatty_p2p.files.model import TransferInfo
from chatty_p2p.net.addresses import format_address as format_address
from chatty_p2p.net.addresses import parse_address as parse_address
from chatty_p2p.node import Node, Peer

Op = Callable[..., Awaitable[dict[str, Any]]]


async def _id(node: Node) -> dict[str, Any]:
    return node.describe()


async def _peers(node: Node) -> dict[str, Any]:
    return {"peers": [p.to_dict() for p in node.peers()]}


async def _find(node: Node, spec: str) -> Peer:
    """``node.resolve``, saying why a short run of hex digits matched nothing: ids are
    matched from their fourth character on, so ``07`` could only ever be a name."""
    try:
        return await node.resolve(spec)
    except UnknownPeer as exc:
        typed = spec.strip().lower()
        if 0 < len(typed) < 4 and all(c in "0123456789abcdef" for c in typed):
            raise UnknownPeer(f"an id prefix needs at least four characters: {exc}") from None
        raise


async def _resolve(node: Node, peer: str) -> dict[str, Any]:
    return {"peer": (await _find(node, peer)).to_dict()}


async def _say(node: Node, peer: str, text: str, kind: str = "text") -> dict[str, Any]:
    target = await _find(node, peer)
    stored = await node.send_text(target.id, text, kind)
    return {"peer": target.to_dict(), "message": stored.to_dict()}


async def _name(node: Node, name: str) -> dict[str, Any]:
    return {"name": await node.set_name(name)}


async def _add(node: Node, address: str) -> dict[str, Any]:
    pair = parse_address(address)
    if pair is None:
        raise ChattyError(f"not an address: {address!r} (expected host:port or [v6 address]:port)")
    return {"peer": (await node.add_peer(*pair)).to_dict()}


async def _known(node: Node, peer: str) -> Peer:
    if parse_address(peer) is not None:
        raise ChattyError("name the peer by its name or id, not by address")
    return await _find(node, peer)


async def _forget(node: Node, peer: str) -> dict[str, Any]:
    target = await _known(node, peer)
    node.forget(target.id)
    return {"peer": target.to_dict()}


async def _history(node: Node, peer: str, limit: int = 50) -> dict[str, Any]:
    target = await _known(node, peer)
    return {
        "peer": target.to_dict(),
        "messages": [m.to_dict() for m in node.history(target.id, limit)],
    }


async def _send(node: Node, peer: str, paths: list[str], pin: str = "") -> dict[str, Any]:
    target = await _find(node, peer)
    info = await node.send_files(target.id, [Path(p) for p in paths], pin)
    return {"peer": target.to_dict(), "transfer": info.to_dict()}


async def _transfers(node: Node) -> dict[str, Any]:
    return {"transfers": [t.to_dict() for t in node.transfers()]}


def _on_transfer(action: Callable[[Node, str], TransferInfo]) -> Op:
    async def run(node: Node, transfer: str) -> dict[str, Any]:
        return {"transfer": action(node, transfer).to_dict()}

    return run


async def _download_dir(node: Node, folder: str | None = None) -> dict[str, Any]:
    if folder is not None:
        node.set_download_dir(Path(folder))
    return {"folder": str(node.download_dir())}


async def _pair(node: Node, peer: str) -> dict[str, Any]:
    target = await _known(node, peer)
    return {"peer": target.to_dict(), "pairing": (await node.pair(target.id)).to_dict()}


async def _pair_confirm(node: Node, peer: str, code: str | None = None) -> dict[str, Any]:
    target = await _known(node, peer)
    return {"pairing": node.confirm_pairing(target.id, code).to_dict()}


async def _pair_reject(node: Node, peer: str, reason: str = "the codes differ") -> dict[str, Any]:
    """``reason`` goes to the peer: a user who stopped is not a code that differed."""
    target = await _known(node, peer)
    return {"pairing": node.reject_pairing(target.id, reason).to_dict()}


async def _pair_fingerprint(node: Node, peer: str, fingerprint: str) -> dict[str, Any]:
    """``peer`` may be a whole device id never seen yet: trusted ahead of its first visit."""
    whole = peer.strip().lower()
    if len(whole) == 64 and all(c in "0123456789abcdef" for c in whole):
        peer_id = whole
    else:
        peer_id = (await _known(node, peer)).id
    node.pair_by_fingerprint(peer_id, fingerprint)
    return {"peer": node.peer(peer_id).to_dict()}


async def _pairings(node: Node) -> dict[str, Any]:
    return {"pairings": [p.to_dict() for p in node.active_pairings()]}


async def _unpair(node: Node, peer: str) -> dict[str, Any]:
    target = await _known(node, peer)
    node.unpair(target.id)
    return {"peer": node.peer(target.id).to_dict()}


async def _block(node: Node, peer: str, blocked: bool = True) -> dict[str, Any]:
    target = await _known(node, peer)
    node.block(target.id, blocked)
    return {"peer": node.peer(target.id).to_dict()}


async def _trusted_only(node: Node, on: bool | None = None) -> dict[str, Any]:
    """Each setting's op sets it when given ``on``, and reports it either way."""
    if on is not None:
        node.set_trusted_only(on)
    return {"trusted_only": node.trusted_only}


async def _auto_accept(node: Node, on: bool | None = None) -> dict[str, Any]:
    if on is not None:
        node.set_auto_accept_trusted(on)
    return {"auto_accept_trusted": node.auto_accept_trusted}


async def _auto_copy(node: Node, on: bool | None = None) -> dict[str, Any]:
    if on is not None:
        node.set_auto_copy_trusted(on)
    return {"auto_copy_trusted": node.auto_copy_trusted}


async def _localsend(node: Node, on: bool | None = None, pin: str | None = None) -> dict[str, Any]:
    """On or off, and the PIN asked of LocalSend devices ("" for none)."""
    if on is not None:
        await node.localsend.turn(on)
    if pin is not None:
        node.localsend.set_pin(pin)
    return {"localsend": node.localsend.on, "pin": bool(node.localsend.pin)}


async def _dns_sd(node: Node, domain: str | None = None, key_file: str = "") -> dict[str, Any]:
    """The wide-area DNS-SD domain ("" for none) and its TSIG key file, stored and used
    at once; and how registering goes in each domain (``state``: registering,
    registered, failed with its ``reason``, or browsing)."""
    if domain is not None:
        await node.announcing.configure(domain, key_file)
    stored, key = node.announcing.setting()
    return {"domain": stored, "key_file": key, "domains": node.announcing.status()}


OPS: dict[str, Op] = {
    "id": _id,
    "peers": _peers,
    "resolve": _resolve,
    "say": _say,
    "name": _name,
    "add": _add,
    "forget": _forget,
    "history": _history,
    "send": _send,
    "transfers": _transfers,
    "accept": _on_transfer(Node.accept),
    "decline": _on_transfer(Node.decline),
    "cancel": _on_transfer(Node.cancel),
    "resume": _on_transfer(Node.resume),
    "download_dir": _download_dir,
    "pair": _pair,
    "pair_confirm": _pair_confirm,
    "pair_reject": _pair_reject,
    "pair_fingerprint": _pair_fingerprint,
    "pairings": _pairings,
    "unpair": _unpair,
    "block": _block,
    "trusted_only": _trusted_only,
    "auto_accept": _auto_accept,
    "auto_copy": _auto_copy,
    "localsend": _localsend,
    "dns_sd": _dns_sd,
}


async def call(node: Node, op: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run ``op``. Arguments that do not fit it are the caller's error; a TypeError
    from inside the operation is a bug, and is left to show as one."""
    handler = OPS.get(op)
    if handler is None:
        raise ChattyError(f"unknown operation {op!r}")
    try:
        inspect.signature(handler).bind(node, **args)
    except TypeError as exc:
        raise ChattyError(f"bad arguments for {op}: {exc}") from exc
    return await handler(node, **args)
