"""One line for each node event a person should see: messages, peers coming and
going, transfers and pairings. The daemon logs them; ``chat`` shows those of its peer.
``options`` (see :func:`chatty_p2p.cli.output.here`) go into the commands a line tells
the user to run."""

from __future__ import annotations

import time
from typing import Any

from chatty_p2p.cli.output import clock, peer_label
from chatty_p2p.files.model import human_size, items
from chatty_p2p.identity import short_id


def describe_event(event: dict[str, Any], options: str = "") -> str | None:
    """One line for an event; None for those a person need not see (progress ticks)."""
    kind = event["type"]
    if "transfer" in event:
        line = describe_transfer(event, options)
        return None if line is None else f"[{clock(event['time'])}] {line}"
    if "pairing" in event:
        return f"[{clock(event['time'])}] {describe_pairing(event, options)}"
    peer = event.get("peer")
    who = peer_label(peer) if peer else ""
    msg = event.get("message")
    stamp = clock(event.get("time", time.time()))
    if kind == "message" and msg:
        arrow = f"to {who}" if msg["outgoing"] else who
        tag = " [link]" if msg["kind"] == "link" else ""
        return f"[{stamp}] {arrow}{tag}: {msg['body']}"
    if kind == "message-status" and msg:
        return f"[{stamp}] message {msg['id'][:8]} to {who}: {msg['status']}"
    if kind == "peer-offline":
        return f"[{stamp}] {who} is offline ({event.get('text', '')})"
    if kind == "clipboard":
        return f"[{stamp}] copied {who}'s text to the clipboard"
    if kind in ("warning", "name-changed"):
        return f"[{stamp}] {kind}: {event.get('text', '')}"
    label = kind.removeprefix("peer-")
    return f"[{stamp}] {who} {label}"


def describe_transfer(event: dict[str, Any], options: str = "") -> str | None:
    """The line of a transfer event, without its time; None for progress ticks."""
    t = event["transfer"]
    short = t["id"][:8]
    what = f"{', '.join(t['names'][:3])} ({items(t['count'])}, {human_size(t['size'])})"
    if event["type"] == "transfer-offered":
        sender = t["peer_name"]
        if (event.get("peer") or {}).get("trust") == "unverified":
            sender += " (unverified: not paired, so it may not be who it says)"
        return (
            f"{sender} offers {what}. Accept with `chatty accept {short}{options}` "
            f"or decline with `chatty decline {short}{options}`"
        )
    if event["type"] != "transfer":
        return None
    way = f"to {t['peer_name']}" if t["outgoing"] else f"from {t['peer_name']}"
    line = f"transfer {short} {way}: {t['state']}"
    if t["state"] == "done" and not t["outgoing"]:
        line += f", verified, saved in {t['folder']}"
    elif t["state"] == "done":
        line += ", verified by the receiver"
    if t["error"]:
        line += f" ({t['error']})"
    return line


def describe_pairing(event: dict[str, Any], options: str = "") -> str:
    """The line of a pairing event, without its time."""
    p = event["pairing"]
    name, short = p["peer_name"], short_id(p["peer_id"])
    match p["state"]:
        case "compare" if not p["initiator"]:
            digits = p["code"].replace(" ", "")
            return (
                f"{name} asks to pair; code {p['code']}. If {name} shows the same code, "
                f"run: chatty pair {short} --code {digits}{options}"
            )
        case "compare":
            return f"pairing with {name}: code {p['code']}"
        case "waiting-peer":
            return f"pairing with {name}: waiting for {name} to confirm the code"
        case "paired":
            return f"paired with {name}: it is now trusted"
        case "failed":
            return f"pairing with {name} failed: {p['error']}"
    return f"pairing with {name}: {p['state']}"
