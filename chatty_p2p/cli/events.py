"""One line for each node event a person should see: messages, peers coming and
going, transfers and pairings. The daemon logs them; ``chat`` shows those of its peer.
The events are the typed ones of :mod:`chatty_p2p.events`, from a node in this process
or decoded from a daemon's control socket. ``options`` (see
:func:`chatty_p2p.cli.output.here`) go into the commands a line tells the user to run."""

from __future__ import annotations

from chatty_p2p.cli.output import clock
from chatty_p2p.events import (
    CopyToClipboard,
    MessageStatus,
    NameChanged,
    NewMessage,
    NodeEvent,
    NodeWarning,
    PairingChanged,
    Peer,
    PeerOffline,
    TransferChanged,
    TransferOffered,
    human_size,
    items,
    short_id,
)


def _label(peer: Peer | None) -> str:
    return f"{peer.name} ({peer.short_id})" if peer is not None else ""


def describe_event(event: NodeEvent, options: str = "") -> str | None:
    """One line for an event; None for those a person need not see (progress ticks)."""
    if event.transfer is not None:
        line = describe_transfer(event, options)
        return None if line is None else f"[{clock(event.time)}] {line}"
    stamp = clock(event.time)
    if isinstance(event, PairingChanged):
        return f"[{stamp}] {describe_pairing(event, options)}"
    who = _label(event.peer)
    match event:
        case NewMessage(message=msg):
            arrow = f"to {who}" if msg.outgoing else who
            tag = " [link]" if msg.kind == "link" else ""
            return f"[{stamp}] {arrow}{tag}: {msg.body}"
        case MessageStatus(message=msg):
            return f"[{stamp}] message {msg.id[:8]} to {who}: {msg.status}"
        case PeerOffline():
            return f"[{stamp}] {who} is offline ({event.text})"
        case CopyToClipboard():
            return f"[{stamp}] copied {who}'s text to the clipboard"
        case NodeWarning() | NameChanged():
            return f"[{stamp}] {event.type}: {event.text}"
    label = event.type.removeprefix("peer-")
    return f"[{stamp}] {who} {label}"


def describe_transfer(event: NodeEvent, options: str = "") -> str | None:
    """The line of a transfer event, without its time; None for progress ticks."""
    t = event.transfer
    if t is None:
        return None
    short = t.id[:8]
    what = f"{', '.join(t.names[:3])} ({items(t.count)}, {human_size(t.size)})"
    if isinstance(event, TransferOffered):
        sender = t.peer_name
        if event.peer is not None and event.peer.trust == "unverified":
            sender += " (unverified: not paired, so it may not be who it says)"
        return (
            f"{sender} offers {what}. Accept with `chatty accept {short}{options}` "
            f"or decline with `chatty decline {short}{options}`"
        )
    if not isinstance(event, TransferChanged):
        return None
    way = f"to {t.peer_name}" if t.outgoing else f"from {t.peer_name}"
    line = f"transfer {short} {way}: {t.state}"
    if t.state == "done" and not t.outgoing:
        line += f", verified, saved in {t.folder}"
    elif t.state == "done":
        line += ", verified by the receiver"
    if t.error:
        line += f" ({t.error})"
    return line


def describe_pairing(event: PairingChanged, options: str = "") -> str:
    """The line of a pairing event, without its time."""
    p = event.pairing
    name, short = p.peer_name, short_id(p.peer_id)
    match p.state:
        case "compare" if not p.initiator:
            digits = p.code.replace(" ", "")
            return (
                f"{name} asks to pair; code {p.code}. If {name} shows the same code, "
                f"run: chatty pair {short} --code {digits}{options}"
            )
        case "compare":
            return f"pairing with {name}: code {p.code}"
        case "waiting-peer":
            return f"pairing with {name}: waiting for {name} to confirm the code"
        case "paired":
            return f"paired with {name}: it is now trusted"
        case "failed":
            return f"pairing with {name} failed: {p.error}"
    return f"pairing with {name}: {p.state}"
