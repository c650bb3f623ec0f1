"""The local firewall: does it drop mDNS or Chatty's port, and how to let them in.

The check is a heuristic *reading* of ``nft list ruleset`` and ``iptables-save``
text (parsed by :mod:`.rules`), not a simulation of netfilter: it follows the
input and prerouting chains (jumps and gotos included) for one mDNS packet and
one TCP connection to Chatty's port, and reports the first rule that would drop
them. Rules that depend on things it cannot know (source addresses, marks,
rates) are reported as "may block" rather than guessed at.
"""

from __future__ import annotations

import fnmatch
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from chatty_p2p import portable
from chatty_p2p.doctor.network import MDNS_PORT
from chatty_p2p.doctor.report import Finding, not_checked
from chatty_p2p.doctor.rules import Chain, Rule, parse_iptables, parse_nft

COMMAND_TIMEOUT = 5.0


@dataclass(frozen=True)
class Probe:
    """A packet the firewall is asked about: one for mDNS, one for Chatty's port."""

    proto: str
    port: int
    family: int

    @property
    def mdns(self) -> bool:
        return self.proto == "udp" and self.port == MDNS_PORT

    @property
    def label(self) -> str:
        return (
            f"mDNS (UDP {self.port})"
            if self.mdns
            else f"Chatty's port ({self.proto.upper()} {self.port})"
        )


@dataclass(frozen=True)
class Block:
    """A rule (or a chain's policy, ``rule is None``) that drops a probe."""

    chain: Chain
    rule: Rule | None
    probe: Probe
    certain: bool
    unless: Rule | None = None
    """An earlier accept whose conditions we cannot judge; it may let the probe in."""


def _match(rule: Rule, probe: Probe, interfaces: list[str] | None) -> str:
    """``yes``, ``no`` or ``maybe`` (conditions this reading cannot judge)."""
    if rule.never:
        return "no"
    if rule.families is not None and probe.family not in rule.families:
        return "no"
    if rule.protos is not None and probe.proto not in rule.protos:
        return "no"
    if rule.dports is not None:
        inside = any(low <= probe.port <= high for low, high in rule.dports)
        if inside == rule.dport_negated:
            return "no"
    maybe = bool(rule.limits)
    if rule.ifaces is not None:
        values, negated = rule.ifaces
        if interfaces is None:
            maybe = True
        else:
            hit = any(fnmatch.fnmatchcase(n, v) for n in interfaces for v in values)
            if hit == negated:
                return "no"
    return "maybe" if maybe else "yes"


def _specific(rule: Rule) -> bool:
    """Whether a rule names this probe's port (not a ban on some address)."""
    return rule.dports is not None and not rule.dport_negated


def _walk(
    chain: Chain,
    probe: Probe,
    table: dict[str, Chain],
    interfaces: list[str] | None,
    found: list[Block],
    certain: bool,
    unless: list[Rule],
    depth: int = 0,
) -> str | None:
    """Follow ``chain`` for ``probe``: ``accept``, ``block`` or ``None`` (fell through)."""
    for rule in chain.rules:
        hit = _match(rule, probe, interfaces)
        if hit == "no":
            continue
        sure = certain and hit == "yes"
        if rule.verdict in ("jump", "goto") and rule.target in table and depth < 16:
            result = _walk(
                table[rule.target], probe, table, interfaces, found, sure, unless, depth + 1
            )
            if result is not None and sure:
                return result
            if rule.verdict == "goto" and sure:
                return None
        elif rule.verdict == "return" and sure:
            return None
        elif rule.verdict == "accept":
            if sure:
                return "accept"
            unless.append(rule)
        elif rule.verdict in ("drop", "reject"):
            if sure:
                first = unless[0] if unless else None
                found.append(Block(chain, rule, probe, certain=first is None, unless=first))
                return "block"
            if _specific(rule):
                found.append(Block(chain, rule, probe, certain=False))
    return None


def firewall_blocks(
    chains: list[Chain], probes: list[Probe], interfaces: list[str] | None = None
) -> list[Block]:
    """Every base chain's first rule (or policy) that would drop each probe."""
    found: list[Block] = []
    for base in chains:
        if base.hook not in ("input", "prerouting"):
            continue
        families = base.families
        table = {
            c.name: c
            for c in chains
            if (c.tool, c.family, c.table) == (base.tool, base.family, base.table)
        }
        for probe in probes:
            if probe.family not in families:
                continue
            unless: list[Rule] = []
            result = _walk(base, probe, table, interfaces, found, True, unless)
            if result is None and base.policy == "drop":
                first = unless[0] if unless else None
                found.append(Block(base, None, probe, certain=first is None, unless=first))
    return found


def _fix(block: Block, probes: list[Probe]) -> str:
    chain = block.chain
    lines = []
    if chain.tool == "nft":
        where = f"{chain.family} {chain.table} {chain.name}"
        if block.rule is not None:
            handle = block.rule.handle
            lines.append(
                f"nft delete rule {where} handle {handle}"
                if handle is not None
                else f"nft -a list chain {where} shows its handle N; then: "
                f"nft delete rule {where} handle N"
            )
        allow = [f"nft insert rule {where} {p.proto} dport {p.port} accept" for p in probes]
    else:
        t = "" if chain.table == "filter" else f" -t {chain.table}"
        if block.rule is not None:
            spec = block.rule.text.split(" ", 2)[2] if block.rule.text.count(" ") >= 2 else ""
            lines.append(f"{chain.tool}{t} -D {chain.name} {spec}")
        allow = [
            f"{chain.tool}{t} -I {chain.name} -p {p.proto} --dport {p.port} -j ACCEPT"
            for p in probes
        ]
    lines.append(
        ("or allow Chatty ahead of it: " if lines else "allow Chatty: ") + "; ".join(allow)
    )
    return "\n".join(lines)


def firewall_findings(
    chains: list[Chain], port: int | None, interfaces: list[str] | None = None
) -> list[Finding]:
    """Findings for the rules that drop mDNS or Chatty's port, grouped by rule."""
    probes = [Probe("udp", MDNS_PORT, f) for f in (4, 6)]
    if port:
        probes += [Probe("tcp", port, f) for f in (4, 6)]
    grouped: dict[tuple[int, int], list[Block]] = {}
    for block in firewall_blocks(chains, probes, interfaces):
        grouped.setdefault((id(block.chain), id(block.rule)), []).append(block)
    findings = []
    managers = _managers(chains)
    for blocks in grouped.values():
        first = blocks[0]
        kinds: list[Probe] = []
        for b in blocks:
            if all((k.proto, k.port) != (b.probe.proto, b.probe.port) for k in kinds):
                kinds.append(b.probe)
        families = sorted({b.probe.family for b in blocks})
        what = " and ".join(k.label for k in kinds)
        certain = all(b.certain for b in blocks)
        verb = "rejects" if first.rule is not None and first.rule.verdict == "reject" else "drops"
        if first.rule is None:
            title = f"The firewall here {verb} {what} by default (policy drop)"
            rule = f"{first.chain.where}: policy drop, and no rule accepts them"
        else:
            title = f"The firewall here {verb} {what}"
            rule = f'{first.chain.where}: "{first.rule.text}"'
        if not certain:
            title = title.replace(f"here {verb}", f"here may {verb[:-1]}")
        effects = []
        if any(k.mdns for k in kinds):
            effects.append(
                "this machine does not hear the other machines' mDNS answers, so it finds "
                "no one (and may not be found)"
            )
        if any(not k.mdns for k in kinds):
            effects.append("other machines see this one on mDNS but cannot connect to its port")
        unless = next((b.unless for b in blocks if b.unless is not None), None)
        condition = f' Unless an earlier rule lets them in: "{unless.text}".' if unless else ""
        if first.rule is not None and first.rule.limits and not certain:
            condition += f" The rule applies only when: {'; '.join(first.rule.limits)}."
        fix = _fix(first, kinds)
        if managers:
            fix += "\n" + managers(kinds)
        if port and first.rule is None:
            fix += f"\nChatty picks a new port each start unless fixed: chatty daemon --port {port}"
        findings.append(
            Finding(
                "problem" if certain else "warn",
                title,
                f"{rule} ({' and '.join(f'IPv{f}' for f in families)}): "
                + "; ".join(effects)
                + "."
                + condition,
                fix,
                topic="firewall",
            )
        )
    return findings


def _managers(chains: list[Chain]) -> Callable[[list[Probe]], str] | None:
    """A tool's own words when ufw or firewalld writes the rules (they rewrite them)."""
    names = {c.name for c in chains} | {c.table for c in chains}
    if any(n.startswith("ufw") for n in names):
        return lambda probes: (
            "with ufw: " + " && ".join(f"ufw allow {p.port}/{p.proto}" for p in probes)
        )
    if "firewalld" in names:
        return lambda probes: (
            "with firewalld: firewall-cmd "
            + " ".join(
                "--add-service=mdns" if p.mdns else f"--add-port={p.port}/{p.proto}" for p in probes
            )
        )
    return None


def check_firewall(
    nft: str | None,
    iptables: str | None,
    ip6tables: str | None,
    port: int | None,
    interfaces: list[str] | None = None,
) -> list[Finding]:
    """Findings from the text of ``nft -a list ruleset``, ``iptables-save`` and
    ``ip6tables-save`` (``None`` for what could not be read). Pure: text in, findings out.

    Tables that iptables-nft made show up in both nft's and iptables' output; they
    are read once, from iptables' (whose commands then fix them).
    """
    chains: list[Chain] = []
    save_tables: set[str] = set()
    for text, tool in ((iptables, "iptables"), (ip6tables, "ip6tables")):
        if text:
            parsed = parse_iptables(text, tool)
            chains += parsed
            if "nf_tables" in text:
                save_tables |= {f"{c.family} {c.table}" for c in parsed}
    if nft:
        for chain in parse_nft(nft):
            both = chain.tool == "iptables-nft" or f"{chain.family} {chain.table}" in save_tables
            if both and (iptables or ip6tables):
                continue
            chain.tool = "nft"
            chains.append(chain)
    found = firewall_findings(chains, port, interfaces)
    if not found:
        bases = sum(1 for c in chains if c.hook in ("input", "prerouting"))
        what = "mDNS (UDP 5353)" + (f" or Chatty's port (TCP {port})" if port else "")
        found.append(
            Finding(
                "ok",
                f"No firewall rule here blocks {what}",
                (
                    f"Read from the rules ({bases} input/prerouting chain"
                    f"{'' if bases == 1 else 's'}): a reading of the rule text, not a test, so "
                    "an unusual setup may still block."
                )
                if bases
                else "There are no firewall rules here.",
                topic="firewall",
            )
        )
    return found


def _run(command: list[str]) -> tuple[str | None, str | None]:
    """``(output, None)`` or ``(None, why not)``; ``(None, None)`` if not installed."""
    if shutil.which(command[0]) is None:
        return None, None
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"{command[0]}: {exc}"
    if done.returncode != 0:
        return None, f"{command[0]}: {(done.stderr or done.stdout).strip()[:200]}"
    return done.stdout + done.stderr, None  # nft warns about iptables-nft tables on stderr


def read_firewall(port: int | None, interfaces: list[str] | None) -> list[Finding]:
    """Run the rule listings (only those installed; unprivileged, they just fail).
    Only Linux has them (and ``CHATTY_PORTABLE=1`` forgets it does)."""
    if not portable.linux_sources():
        ports = "UDP 5353 (mDNS)" + (f" and TCP {port} (Chatty)" if port else "")
        return [
            not_checked(
                "The firewall",
                "Chatty reads nftables and iptables rules, which only Linux has.",
                f"Check that the firewall here lets in {ports} from the local network.",
                "firewall",
            )
        ]
    nft, nft_error = _run(["nft", "-a", "list", "ruleset"])
    ipt, ipt_error = _run(["iptables-save"])
    ip6t, ip6t_error = _run(["ip6tables-save"])
    errors = [e for e in (nft_error, ipt_error, ip6t_error) if e]
    if nft is None and ipt is None and ip6t is None:
        if not errors:
            return [Finding("ok", "No firewall tools (nft, iptables) found", topic="firewall")]
        return [
            Finding(
                "warn",
                "Could not read the firewall rules",
                "; ".join(errors),
                "Run it as root to include them: sudo chatty doctor",
                topic="firewall",
            )
        ]
    return check_firewall(nft, ipt, ip6t, port, interfaces)
