"""The doctor's view of wide-area DNS-SD: for each unicast DNS domain the running Chatty
registers in or browses, whether that works, and if not, the reason the DNS server gave
(``net.widearea`` keeps it; the node's ``describe()`` carries it here)."""

from __future__ import annotations

from typing import Any

from chatty_p2p.doctor.report import Finding


def dns_sd_findings(statuses: list[dict[str, Any]]) -> list[Finding]:
    """One finding per domain; none when wide-area DNS-SD is not in use."""
    return [_finding(s) for s in statuses]


def _finding(status: dict[str, Any]) -> Finding:
    domain, server = str(status.get("domain", "")), str(status.get("server", ""))
    state = status.get("state")
    if state == "registered":
        return Finding(
            "ok",
            f"Registered in the DNS-SD domain {domain}",
            f"At {server}. Chattys that browse {domain} find this one, across routers.",
        )
    if state == "registering":
        return Finding(
            "ok",
            f"Registering in the DNS-SD domain {domain}",
            "Its DNS server has not answered yet; run the doctor again in a few seconds.",
        )
    if state == "browsing":
        return Finding(
            "ok",
            f"Browsing the DNS-SD domain {domain}",
            "This network's DNS names it for browsing; this Chatty is not registered in it "
            "(add --dns-sd-domain to be found there too).",
        )
    return Finding(
        "problem",
        f"Not registered in the DNS-SD domain {domain}",
        str(status.get("reason", "")),
        "Check the domain's name, the DNS server's address in this machine's settings, "
        "and the key: the server's update policy (BIND: allow-update or update-policy) "
        "must name the key given with --tsig-key",
    )
