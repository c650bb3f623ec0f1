"""Firewall rules read from their text: ``nft list ruleset`` and ``iptables-save``.

Each rule becomes the conditions a packet must meet (protocol, family,
destination port, input interface) and its verdict; what the reading cannot
judge (source addresses, marks, rates) is kept as words in ``limits``. The
parsers are pure functions, so they are tested on sample rule text.
"""

from __future__ import annotations

import re
import shlex
import socket
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Rule:
    text: str
    protos: set[str] | None = None
    families: set[int] | None = None
    dports: list[tuple[int, int]] | None = None
    dport_negated: bool = False
    ifaces: tuple[list[str], bool] | None = None
    limits: list[str] = field(default_factory=list)
    never: bool = False
    """Matches no new packet from the network (``ct state established``, ``iif lo``)."""
    verdict: str | None = None
    target: str | None = None
    handle: int | None = None


@dataclass
class Chain:
    tool: str
    """``nft``, ``iptables`` or ``ip6tables``."""
    family: str
    table: str
    name: str
    hook: str | None = None
    policy: str | None = None
    rules: list[Rule] = field(default_factory=list)

    @property
    def families(self) -> set[int]:
        return {"ip": {4}, "ip6": {6}, "inet": {4, 6}}.get(self.family, set())

    @property
    def where(self) -> str:
        if self.tool == "nft":
            return f"nftables table {self.family} {self.table}, chain {self.name}"
        return f"{self.tool} table {self.table}, chain {self.name}"


_SERVICES = {"mdns": 5353, "ssh": 22, "http": 80, "https": 443, "domain": 53}
_PROTOCOLS = {"6": "tcp", "17": "udp", "tcp": "tcp", "udp": "udp"}
_HEADS = {
    "tcp", "udp", "th", "meta", "ip", "ip6", "ct", "iif", "iifname", "oif", "oifname",
    "counter", "log", "limit", "comment", "accept", "drop", "reject", "jump", "goto",
    "return", "continue", "queue", "icmp", "icmpv6", "fib", "ether", "sctp", "dccp",
    "udplite", "mark", "notrack", "meter", "quota",
}  # fmt: skip
_OLD_STATES = {"established", "related", "invalid"}


def _ports(values: list[str]) -> list[tuple[int, int]] | None:
    """``4000``, ``5000-6000`` (nft), ``5000:6000`` (iptables), ``mdns``; ``None`` if any
    part is unknown (a named set we could not find, a service name)."""
    spans = []
    for value in values:
        text = value.strip()
        if text.startswith(("<", ">")):
            op = text[:2] if text[1:2] == "=" else text[:1]
            bound = _port(text[len(op) :])
            if bound is None:
                return None
            spans.append(
                {"<": (0, bound - 1), "<=": (0, bound), ">": (bound + 1, 65535)}.get(
                    op, (bound, 65535)
                )
            )
            continue
        low, sep, high = text.replace(":", "-").partition("-")
        a, b = _port(low), _port(high) if sep else _port(low)
        if a is None or b is None:
            return None
        spans.append((a, b))
    return spans


def _port(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text in _SERVICES:
        return _SERVICES[text]
    try:
        return socket.getservbyname(text)
    except OSError:
        return None


def _restrict(current: set[str] | None, values: list[str], negated: bool) -> set[str]:
    wanted = {_PROTOCOLS.get(v, "other") for v in values}
    if negated:
        wanted = {"tcp", "udp", "other"} - wanted
    return wanted if current is None else current & wanted


def _states(rule: Rule, values: list[str], negated: bool) -> None:
    """``ct state`` / ``--ctstate``: a rule for established or invalid packets says
    nothing about a new connection, so it is left out of the walk."""
    states = {v.lower() for v in values}
    if negated:
        rule.never = rule.never or "new" in states
    elif states <= _OLD_STATES:
        rule.never = True


# nft ---------------------------------------------------------------------------------------

_NFT_TOKEN = r'"[^"]*"|[{},]|[^\s{},]+'


def _nft_tokens(text: str) -> list[str]:
    return re.findall(_NFT_TOKEN, text)


def _nft_value(tokens: list[str], i: int) -> tuple[list[str], bool, int]:
    """The value after a match's field: ``!= x``, ``{ a, b }``, ``a,b`` or ``< 1024``."""
    negated = False
    if i < len(tokens) and tokens[i] in ("!=", "ne"):
        negated, i = True, i + 1
    elif i < len(tokens) and tokens[i] in ("==", "eq"):
        i += 1
    prefix = ""
    if i < len(tokens) and tokens[i] in ("<", ">", "<=", ">=", "lt", "gt", "le", "ge"):
        prefix = {"lt": "<", "gt": ">", "le": "<=", "ge": ">="}.get(tokens[i], tokens[i])
        i += 1
    values: list[str] = []
    if i < len(tokens) and tokens[i] == "{":
        i += 1
        while i < len(tokens) and tokens[i] != "}":
            if tokens[i] != ",":
                values.append(tokens[i].strip('"'))
            i += 1
        return values, negated, i + 1
    if i < len(tokens):
        values.append(prefix + tokens[i].strip('"'))
        i += 1
        while i + 1 < len(tokens) and tokens[i] == ",":
            values.append(tokens[i + 1].strip('"'))
            i += 2
    return values, negated, i


def _past_set(tokens: list[str], i: int) -> int:
    """Past the ``{ … }`` at ``i`` (a verdict map's elements hold verdict words)."""
    if i < len(tokens) and tokens[i] == "{":
        while i < len(tokens) and tokens[i] != "}":
            i += 1
        return i + 1
    return i


def _skip_to_head(tokens: list[str], i: int) -> int:
    while i < len(tokens) and tokens[i] not in _HEADS:
        i += 1
    return i


def parse_nft_rule(text: str, sets: dict[str, list[str]] | None = None) -> Rule:
    """One rule line of ``nft list ruleset`` (with or without ``# handle N``)."""
    body, _, handle = text.partition("# handle ")
    rule = Rule(text=body.strip())
    if handle.strip().isdigit():
        rule.handle = int(handle.strip())
    tokens = _nft_tokens(body)
    i = 0
    while i < len(tokens):
        if i + 2 < len(tokens) and tokens[i + 2] == "set":  # a statement: meta mark set 1
            i += 4
            continue
        reader = _NFT_READERS.get(tokens[i])
        end = reader(rule, tokens, i, sets) if reader is not None else None
        i = _nft_unjudged(rule, tokens, i) if end is None else end
    return rule


_Sets = dict[str, list[str]] | None
_NftReader = Callable[[Rule, list[str], int, _Sets], int | None]
"""Reads the match or statement at ``tokens[i]`` into the rule and returns where the
next one starts, or ``None`` when it is one this reading does not judge."""


def _word(tokens: list[str], i: int) -> str:
    """A word past the end is empty, so a rule cut short reads as one that says no more."""
    return tokens[i] if i < len(tokens) else ""


def _nft_transport(rule: Rule, tokens: list[str], i: int, sets: _Sets) -> int:
    """A bare protocol narrows the rule to it; its ports, if named, are read apart."""
    tok = tokens[i]
    if tok in ("tcp", "udp", "th") and _word(tokens, i + 1) in ("dport", "sport"):
        return _nft_port(rule, tokens, i, sets)
    proto = {"th": "tcp", "tcp": "tcp", "udp": "udp"}.get(tok, "other")
    rule.protos = _restrict(rule.protos, [proto] if tok != "th" else ["tcp", "udp"], False)
    return _skip_to_head(tokens, i + 1)


def _nft_port(rule: Rule, tokens: list[str], i: int, sets: _Sets) -> int:
    """Only a destination port the reading can spell out decides a packet; a source
    port, a verdict map or an unknown set is kept as a limit to say instead."""
    tok, field = tokens[i], tokens[i + 1]
    rule.protos = _restrict(rule.protos, ["tcp", "udp"] if tok == "th" else [tok], False)
    values, negated, i = _nft_value(tokens, i + 2)
    if field == "sport":
        rule.limits.append(f"{tok} sport {' '.join(values)}")
        return i
    if values and values[0] == "vmap":  # a verdict map: too rich for this reading
        rule.limits.append(f"{tok} dport vmap")
        return _past_set(tokens, i)
    if len(values) == 1 and values[0].startswith("@") and sets is not None:
        values = sets.get(values[0][1:], [values[0]])
    ports = _ports(values)
    if ports is None:
        rule.limits.append(f"{tok} dport {' '.join(values)}")
    else:
        rule.dports, rule.dport_negated = ports, negated
    return i


def _nft_meta(rule: Rule, tokens: list[str], i: int, sets: _Sets) -> int | None:
    """The ``meta`` fields that narrow the protocol, family or input interface count as
    those matches do; ``pkttype`` is stepped over, the rest (mark, …) are unjudged."""
    field = _word(tokens, i + 1)
    if field in ("l4proto", "protocol", "nfproto", "iifname", "iif"):
        values, negated, end = _nft_value(tokens, i + 2)
        _nft_match(rule, field, values, negated)
        return end
    if field == "pkttype":
        return _nft_value(tokens, i + 2)[2]
    return None


def _nft_address(rule: Rule, tokens: list[str], i: int, sets: _Sets) -> int:
    """An ``ip``/``ip6`` match ties the rule to one family whatever it says; a source
    address or a link-layer match cannot be judged from here, so it becomes a limit."""
    tok, field = tokens[i], _word(tokens, i + 1)
    values, negated, end = _nft_value(tokens, i + 2)
    if tok != "ether":
        rule.families = {4 if tok == "ip" else 6}
        if field in ("protocol", "nexthdr"):
            rule.protos = _restrict(rule.protos, values, negated)
            return end
        if field == "daddr":
            return end
    rule.limits.append(f"{tok} {field} {'!= ' if negated else ''}{' '.join(values)}")
    return end


def _nft_conntrack(rule: Rule, tokens: list[str], i: int, sets: _Sets) -> int | None:
    """Connection tracking decides whether the rule can see a new connection at all."""
    field = _word(tokens, i + 1)
    if field == "state":
        values, negated, end = _nft_value(tokens, i + 2)
        if values and values[0] == "vmap":
            rule.never = True  # ct state vmap { established : accept, invalid : drop }
            return _past_set(tokens, end)
        _states(rule, values, negated)
        return end
    if field == "status":
        rule.never = True  # dnat/snat: NATed flows, not a new packet to this machine
        return _nft_value(tokens, i + 2)[2]
    return None


def _nft_interface(rule: Rule, tokens: list[str], i: int, sets: _Sets) -> int:
    """The input interface decides who can reach us; the output one never matters to a
    packet coming in."""
    values, negated, end = _nft_value(tokens, i + 1)
    if tokens[i] in ("iifname", "iif"):
        _nft_match(rule, tokens[i], values, negated)
    return end


def _nft_annotation(rule: Rule, tokens: list[str], i: int, sets: _Sets) -> int:
    """Counters, logs and comments change no verdict: step over them."""
    return _skip_to_head(tokens, i + 1) if tokens[i] != "comment" else i + 2


def _nft_verdict(rule: Rule, tokens: list[str], i: int, sets: _Sets) -> int:
    """What the rule does with a packet it matches, and for a jump the chain to follow."""
    tok = tokens[i]
    if tok in ("jump", "goto"):
        rule.verdict, rule.target = tok, _word(tokens, i + 1)
        return i + 2
    rule.verdict, i = tok, i + 1
    if tok == "reject":  # reject [with icmp type port-unreachable | with tcp reset]
        while i < len(tokens) and tokens[i] != "comment":
            i += 1
    return i


def _nft_unjudged(rule: Rule, tokens: list[str], i: int) -> int:
    """limit rate, fib, meta mark, ct mark, queue, …: a condition we do not judge is
    kept in words, so a finding can say the rule may not apply."""
    end = _skip_to_head(tokens, i + 1)
    rule.limits.append(" ".join(tokens[i:end]) or tokens[i])
    return max(end, i + 1)


_NFT_READERS: dict[str, _NftReader] = {
    **dict.fromkeys(
        ("tcp", "udp", "th", "sctp", "dccp", "udplite", "icmp", "icmpv6"), _nft_transport
    ),
    "meta": _nft_meta,
    **dict.fromkeys(("ip", "ip6", "ether"), _nft_address),
    "ct": _nft_conntrack,
    **dict.fromkeys(("iifname", "iif", "oifname", "oif"), _nft_interface),
    **dict.fromkeys(("counter", "log", "comment", "notrack"), _nft_annotation),
    **dict.fromkeys(
        ("accept", "drop", "return", "continue", "reject", "jump", "goto"), _nft_verdict
    ),
}
"""The reader of each word a match or statement starts with; any other is unjudged."""


def _nft_match(rule: Rule, key: str, values: list[str], negated: bool) -> None:
    if key in ("l4proto", "protocol"):
        rule.protos = _restrict(rule.protos, values, negated)
    elif key == "nfproto":
        wanted = {4 if v == "ipv4" else 6 for v in values if v in ("ipv4", "ipv6")}
        rule.families = ({4, 6} - wanted) if negated else wanted
    else:
        _iface(rule, values, negated)


def _iface(rule: Rule, values: list[str], negated: bool) -> None:
    if not negated and values and all(v in ("lo", "lo0") for v in values):
        rule.never = True  # loopback traffic: not a packet from another machine
    else:
        rule.ifaces = (values, negated)


def parse_nft(text: str) -> list[Chain]:
    """The filter chains of ``nft list ruleset`` (``-a`` output too).

    Tables that ``iptables-nft`` manages (nft prints a warning about each) are
    marked with tool ``iptables-nft`` so a caller that also reads
    ``iptables-save`` can skip them.
    """
    managed = set(re.findall(r"table (\w+ \S+) is managed by iptables-nft", text))
    chains: list[Chain] = []
    family = table = ""
    chain: Chain | None = None
    set_name: str | None = None
    set_text: list[str] = []
    sets: dict[str, list[str]] = {}
    pending: list[tuple[Chain, str]] = []
    for raw in text.splitlines():
        line = re.sub(r"\s*# handle \d+\s*$", "", raw).strip()
        if not line or line.startswith("#"):
            continue
        if set_name is not None:
            if line == "}":
                joined = " ".join(set_text)
                found = re.search(r"elements\s*=\s*\{(.*)\}", joined)
                sets[f"{family} {table} {set_name}"] = (
                    [v.strip() for v in found.group(1).split(",") if v.strip()] if found else []
                )
                set_name = None
            else:
                set_text.append(line)
            continue
        head = line.split()
        if head[0] == "table" and len(head) >= 3:
            family, table = head[1], head[2]
            continue
        if head[0] in ("set", "map") and line.endswith("{") and chain is None:
            set_name, set_text = head[1], []
            continue
        if head[0] == "chain" and line.endswith("{"):
            tool = "iptables-nft" if f"{family} {table}" in managed else "nft"
            chain = Chain(tool, family, table, head[1])
            chains.append(chain)
            continue
        if line == "}":
            chain = None
            continue
        if chain is None:
            continue
        if line.startswith("type "):
            found = re.search(r"type (\w+) hook (\w+)", line)
            policy = re.search(r"policy (\w+)", line)
            if found and found.group(1) == "filter":
                chain.hook = found.group(2)
            chain.policy = policy.group(1) if policy else "accept"
            continue
        pending.append((chain, raw.strip()))
    for owner, line in pending:  # after every set is known: a rule may name one (@set)
        prefix = f"{owner.family} {owner.table} "
        scoped = {k[len(prefix) :]: v for k, v in sets.items() if k.startswith(prefix)}
        owner.rules.append(parse_nft_rule(line, scoped))
    return chains


# iptables ------------------------------------------------------------------------------

_NON_TERMINAL = {
    "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT", "NOTRACK",
    "TCPMSS", "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "SET", "CHECKSUM", "CONNSECMARK",
    "SECMARK", "NFQUEUE", "QUEUE",
}  # fmt: skip
_BASE = {"filter": ("INPUT",), "raw": ("PREROUTING",), "mangle": ("PREROUTING", "INPUT")}


def parse_iptables_rule(text: str) -> tuple[str, Rule]:
    """One ``-A CHAIN ...`` line of ``iptables-save``: the chain's name and the rule."""
    args = shlex.split(text)
    if args and args[0].startswith("["):  # iptables-save -c: [packets:bytes]
        args = args[1:]
    name = args[1] if len(args) > 1 else ""
    rule = Rule(text=" ".join(shlex.quote(a) for a in args))
    i, negated = 2, False
    while i < len(args):
        opt = args[i]
        value = args[i + 1] if i + 1 < len(args) else ""
        if opt == "!":
            negated, i = True, i + 1
            continue
        if opt in ("-p", "--protocol"):
            if value not in ("all", "0"):
                rule.protos = _restrict(rule.protos, [value.lower()], negated)
            i += 2
        elif opt in ("-m", "--match", "--comment", "-o", "--out-interface"):
            i += 2
        elif opt in ("--dport", "--destination-port", "--dports", "--destination-ports", "--ports"):
            ports = _ports(value.split(","))
            if ports is None:
                rule.limits.append(f"{opt} {value}")
            else:
                rule.dports, rule.dport_negated = ports, negated
            i += 2
        elif opt in ("--ctstate", "--state"):
            _states(rule, value.split(","), negated)
            i += 2
        elif opt in ("-i", "--in-interface"):
            _iface(rule, [value.replace("+", "*")], negated)
            i += 2
        elif opt in ("-d", "--destination", "--dst-type", "--pkt-type", "--dst-range"):
            i += 2
        elif opt in ("-j", "--jump", "-g", "--goto"):
            target = value
            i = len(args)  # what follows the target are its own options
            if target in ("ACCEPT", "DROP", "REJECT", "RETURN"):
                rule.verdict = {"RETURN": "return"}.get(target, target.lower())
            elif target not in _NON_TERMINAL:
                rule.verdict = "goto" if opt in ("-g", "--goto") else "jump"
                rule.target = target
        else:  # -s, --sport, -m set, -m limit, -m recent, …
            end = i + 1
            while end < len(args) and not args[end].startswith("-") and args[end] != "!":
                end += 1
            rule.limits.append(("! " if negated else "") + " ".join(args[i:end]))
            i = end
        negated = False
    return name, rule


def parse_iptables(text: str, tool: str = "iptables") -> list[Chain]:
    """The chains of ``iptables-save`` (or ``ip6tables-save`` with ``tool="ip6tables"``)."""
    chains: dict[tuple[str, str], Chain] = {}
    table = ""
    family = "ip6" if tool == "ip6tables" else "ip"
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith(":"):
            parts = line[1:].split()
            base = parts[0] in _BASE.get(table, ())
            chains[(table, parts[0])] = Chain(
                tool,
                family,
                table,
                parts[0],
                hook=parts[0].lower() if base else None,
                policy=parts[1].lower() if base and len(parts) > 1 else None,
            )
        elif line.startswith(("-A", "[")):
            name, rule = parse_iptables_rule(line)
            chain = chains.setdefault((table, name), Chain(tool, family, table, name))
            chain.rules.append(rule)
    return list(chains.values())
