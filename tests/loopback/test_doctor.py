"""``chatty doctor``'s pure parts: the firewall reading, the interface verdict, the
wording for peers and clocks. No network, no root: rule text in, findings out."""

from __future__ import annotations

import json

from chatty_p2p import doctor
from chatty_p2p.cli.doctor import render
from chatty_p2p.net.netif import CONTAINER, LAN, LOOPBACK, VPN, Interface

PORT = 4000


def nft_input(*rules: str, policy: str = "accept") -> str:
    """``nft -a list ruleset`` text with one input chain holding ``rules``."""
    body = "\n".join(f"\t\t{rule} # handle {n}" for n, rule in enumerate(rules, start=10))
    return (
        "table inet filter { # handle 3\n"
        "\tset chatty_ports { # handle 4\n"
        "\t\ttype inet_service\n"
        "\t\telements = { 3999, 4000,\n"
        "\t\t\t     4001 }\n"
        "\t}\n"
        "\tchain input { # handle 1\n"
        f"\t\ttype filter hook input priority filter; policy {policy};\n"
        "\t\tct state established,related accept # handle 5\n"
        "\t\tct state invalid drop # handle 6\n"
        '\t\tiifname "lo" accept # handle 7\n'
        f"{body}\n"
        "\t}\n"
        "\tchain forward { # handle 2\n"
        "\t\ttype filter hook forward priority filter; policy drop;\n"
        "\t}\n"
        "}\n"
    )


def nft(*rules: str, policy: str = "accept") -> list[doctor.Finding]:
    return doctor.check_firewall(nft_input(*rules, policy=policy), None, None, PORT)


def problems(findings: list[doctor.Finding]) -> list[doctor.Finding]:
    return [f for f in findings if f.level == "problem"]


def test_nft_drop_of_the_port_is_named_with_its_rule_and_handle() -> None:
    [found] = nft("tcp dport 22 accept", "tcp dport 4000 counter packets 0 bytes 0 drop")
    assert found.level == "problem" and found.topic == "firewall"
    assert found.title == "The firewall here drops Chatty's port (TCP 4000)"
    assert '"tcp dport 4000 counter packets 0 bytes 0 drop"' in found.detail
    assert "table inet filter, chain input" in found.detail
    assert "(IPv4 and IPv6)" in found.detail
    assert "cannot connect to its port" in found.detail
    assert "nft delete rule inet filter input handle 11" in found.fix
    assert "nft insert rule inet filter input tcp dport 4000 accept" in found.fix


def test_nft_reject_of_mdns_is_not_mistaken_for_an_icmp_rule() -> None:
    [found] = nft("udp dport 5353 reject with icmp type port-unreachable")
    assert found.level == "problem"
    assert found.title == "The firewall here rejects mDNS (UDP 5353)"
    assert "finds no one" in found.detail
    assert "nft delete rule inet filter input handle 10" in found.fix


def test_nft_sets_ranges_named_sets_and_negation_that_contain_the_port() -> None:
    for rule in (
        "tcp dport { 22, 4000, 8080 } drop",
        "tcp dport { 22, 3000-5000 } drop",
        "tcp dport 3000-5000 drop",
        "tcp dport @chatty_ports drop",
        "tcp dport != 22 drop",
        "meta l4proto tcp th dport 4000 drop",
        'tcp dport 4000 drop comment "no chatty"',
    ):
        [found] = nft(rule)
        assert found.level == "problem", rule
        assert "Chatty's port (TCP 4000)" in found.title, rule


def test_nft_rules_that_must_not_be_flagged() -> None:
    for rule in (
        "tcp dport 4000 accept",
        "tcp dport 4001 drop",  # another port
        "tcp dport { 22, 8080 } drop",
        "tcp dport 4001-5000 drop",
        "tcp dport != 4000 drop",  # everything but Chatty
        "udp dport 4000 drop",  # another protocol
        "udp dport 5354 reject",
        "icmp type echo-request drop",
        "ip6 nexthdr icmpv6 drop",
    ):
        findings = nft(rule)
        assert [f.level for f in findings] == ["ok"], (rule, findings)
        assert findings[0].title.startswith("No firewall rule here blocks")


def test_nft_accept_ahead_of_a_catch_all_drop_lets_chatty_in() -> None:
    open_ = nft("udp dport 5353 accept", "tcp dport 4000 accept", "counter drop")
    assert [f.level for f in open_] == ["ok"]
    [closed] = nft("tcp dport 22 accept", "drop")
    assert closed.title == "The firewall here drops mDNS (UDP 5353) and Chatty's port (TCP 4000)"


def test_nft_policy_drop_without_an_accept_for_chatty() -> None:
    [found] = nft("tcp dport 22 accept", "udp dport 5353 accept", policy="drop")
    assert found.level == "problem"
    assert (
        found.title == "The firewall here drops Chatty's port (TCP 4000) by default (policy drop)"
    )
    assert "policy drop, and no rule accepts them" in found.detail
    assert "nft insert rule inet filter input tcp dport 4000 accept" in found.fix
    assert "chatty daemon --port 4000" in found.fix  # a random port cannot be allowed


def test_nft_drop_in_a_jumped_to_chain_is_found() -> None:
    text = (
        "table ip fw {\n"
        "\tchain input {\n"
        "\t\ttype filter hook input priority 0; policy accept;\n"
        '\t\tiifname "eth0" jump lan_in\n'
        "\t}\n"
        "\tchain lan_in {\n"
        "\t\tip daddr 224.0.0.251 udp dport 5353 accept\n"
        "\t\tudp dport 1-10000 drop\n"
        "\t}\n"
        "}\n"
    )
    ok = doctor.check_firewall(text, None, None, PORT, interfaces=["eth0"])
    assert [f.level for f in ok] == ["ok"]
    closed = text.replace("ip daddr 224.0.0.251 udp dport 5353", "udp dport 5354")
    [found] = doctor.check_firewall(closed, None, None, PORT, interfaces=["eth0"])
    assert found.level == "problem" and found.title.startswith("The firewall here drops mDNS")
    assert "(IPv4)" in found.detail and "chain lan_in" in found.detail
    # An accept only for some senders may or may not let the packet in: say so.
    some = text.replace("ip daddr", "ip saddr")
    [maybe] = doctor.check_firewall(some, None, None, PORT, interfaces=["eth0"])
    assert maybe.level == "warn" and maybe.title.startswith("The firewall here may drop mDNS")
    assert 'Unless an earlier rule lets them in: "ip saddr 224.0.0.251' in maybe.detail
    # The rule is for another interface: it does not apply here.
    assert [f.level for f in doctor.check_firewall(text, None, None, PORT, ["wlan0"])] == ["ok"]


def test_nft_conditional_drop_is_a_warning_not_a_verdict() -> None:
    [found] = nft("ip saddr 10.0.0.0/8 tcp dport 4000 drop")
    assert found.level == "warn"
    assert found.title == "The firewall here may drop Chatty's port (TCP 4000)"
    assert "ip saddr 10.0.0.0/8" in found.detail
    # A ban on one address, naming no port, is nobody's business here.
    assert [f.level for f in nft("ip saddr 192.0.2.7 drop")] == ["ok"]


def test_nft_without_a_known_port_checks_mdns_only() -> None:
    findings = doctor.check_firewall(nft_input("tcp dport 4000 drop"), None, None, None)
    assert [f.level for f in findings] == ["ok"]
    assert findings[0].title == "No firewall rule here blocks mDNS (UDP 5353)"


IPTABLES_SAVE = """\
# Generated by iptables-save v1.8.9 (nf_tables) on Wed Nov 25 12:03:17 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
{rules}
COMMIT
# Completed on Wed Nov 25 12:03:17 2026
"""


def ipt(*rules: str, policy: str = "ACCEPT") -> list[doctor.Finding]:
    text = IPTABLES_SAVE.replace("{rules}", "\n".join(rules)).replace(
        ":INPUT ACCEPT", f":INPUT {policy}"
    )
    return doctor.check_firewall(None, text, None, PORT)


def test_iptables_drop_and_reject_are_named_with_the_delete_command() -> None:
    [found] = ipt("-A INPUT -p tcp -m tcp --dport 4000 -j DROP")
    assert found.title == "The firewall here drops Chatty's port (TCP 4000)"
    assert '"-A INPUT -p tcp -m tcp --dport 4000 -j DROP"' in found.detail
    assert "iptables table filter, chain INPUT" in found.detail and "(IPv4)" in found.detail
    assert "iptables -D INPUT -p tcp -m tcp --dport 4000 -j DROP" in found.fix
    assert "iptables -I INPUT -p tcp --dport 4000 -j ACCEPT" in found.fix
    [found] = ipt(
        "-A INPUT -p udp -m udp --dport 5353 -j REJECT --reject-with icmp-port-unreachable"
    )
    assert found.title == "The firewall here rejects mDNS (UDP 5353)"


def test_iptables_multiport_sets_and_ranges() -> None:
    for rule in (
        "-A INPUT -p tcp -m multiport --dports 22,4000,8080 -j DROP",
        "-A INPUT -p tcp -m multiport --dports 22,3000:5000 -j DROP",
        "-A INPUT -p tcp -m tcp --dport 3000:5000 -j REJECT --reject-with tcp-reset",
        "-A INPUT -p tcp -m tcp ! --dport 22 -j DROP",
    ):
        [found] = ipt(rule)
        assert found.level == "problem" and "TCP 4000" in found.title, rule
    for rule in (
        "-A INPUT -p tcp -m tcp --dport 4000 -j ACCEPT",
        "-A INPUT -p tcp -m tcp --dport 4001 -j DROP",
        "-A INPUT -p tcp -m multiport --dports 22,4001:5000 -j DROP",
        "-A INPUT -p udp -m udp --dport 4000 -j DROP",
        "-A INPUT -p icmp -j DROP",
        '-A INPUT -s 192.0.2.7/32 -m comment --comment "a bad host" -j DROP',
        "-A INPUT -p tcp -m tcp --dport 4000 -j LOG --log-prefix dropping",
    ):
        assert [f.level for f in ipt(rule)] == ["ok"], rule


def test_iptables_ufw_style_policy_drop_names_the_port_and_ufw() -> None:
    rules = (
        "-A INPUT -j ufw-before-input",
        "-A INPUT -j ufw-user-input",
        "-A ufw-before-input -p udp -d 224.0.0.251/32 --dport 5353 -j ACCEPT",
        "-A ufw-before-input -j ufw-not-local",
        "-A ufw-not-local -m addrtype --dst-type LOCAL -j RETURN",
        "-A ufw-not-local -m addrtype --dst-type MULTICAST -j RETURN",
        "-A ufw-not-local -j DROP",
        "-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT",
    )
    chains = ":ufw-before-input - [0:0]\n:ufw-not-local - [0:0]\n:ufw-user-input - [0:0]\n"
    text = (
        IPTABLES_SAVE.replace("{rules}", "\n".join(rules))
        .replace(":INPUT ACCEPT", ":INPUT DROP")
        .replace(":OUTPUT ACCEPT [0:0]\n", ":OUTPUT ACCEPT [0:0]\n" + chains)
    )
    [found] = doctor.check_firewall(None, text, None, PORT)
    assert (
        found.title == "The firewall here drops Chatty's port (TCP 4000) by default (policy drop)"
    )
    assert "ufw allow 4000/tcp" in found.fix


def test_ip6tables_only_blocks_ipv6() -> None:
    text = IPTABLES_SAVE.replace(
        "{rules}", "-A INPUT -p tcp -m tcp --dport 4000 -j REJECT --reject-with tcp-reset"
    )
    [found] = doctor.check_firewall(None, None, text, PORT)
    assert "(IPv6)" in found.detail and "ip6tables -D INPUT" in found.fix


def test_a_table_of_iptables_nft_is_read_once() -> None:
    """iptables-nft's rules show in nft's listing too (with a warning): name them once,
    in iptables' words, since those are the commands that fix them."""
    ruleset = (
        "table ip filter {\n"
        "\tchain INPUT {\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        "\t\ttcp dport 4000 counter packets 0 bytes 0 drop\n"
        "\t}\n"
        "}\n"
        "# Warning: table ip filter is managed by iptables-nft, do not touch!\n"
    )
    save = IPTABLES_SAVE.replace("{rules}", "-A INPUT -p tcp -m tcp --dport 4000 -j DROP")
    [found] = doctor.check_firewall(ruleset, save, None, PORT)
    assert "iptables -D INPUT" in found.fix
    [alone] = doctor.check_firewall(ruleset, None, None, PORT)  # no iptables-save: read nft's
    assert "nftables table ip filter" in alone.detail


def test_interface_verdicts() -> None:
    lo = Interface("lo", 1, LOOPBACK, ("127.0.0.1", "::1"))
    eth = Interface("eth0", 2, LAN, ("192.168.1.20", "fe80::1%eth0"))
    docker = Interface("docker0", 3, CONTAINER, ("172.17.0.1",))
    tun = Interface("tun0", 4, VPN, ("10.8.0.2",))

    [ok] = doctor.interface_findings([lo, eth, docker, tun])
    assert ok.level == "ok" and "eth0" in ok.title
    assert "docker0" in ok.detail and "tun0" in ok.detail

    [only] = doctor.interface_findings([lo, docker, tun])
    assert only.level == "problem" and only.title == "Only a VPN/virtual interface is up"
    assert "connect to wi-fi/ethernet" in only.fix.lower() and "chatty add" in only.fix
    assert "VPN" in only.detail

    # Wi-Fi off keeps its address, but a down link is no network.
    [down] = doctor.interface_findings([lo, eth, tun], down={"eth0"})
    assert down.title == "Only a VPN/virtual interface is up" and "Down: eth0" in down.detail

    for bare in ([lo], []):
        [none] = doctor.interface_findings(bare)
        assert none.level == "problem"
        assert none.title == "No network interface is up with an address"


def seen(outcome: str, protocol: str = "2", **kw: object) -> doctor.SeenPeer:
    fields: dict[str, object] = {
        "name": "bravo",
        "device_id": "ab" * 32,
        "addresses": ("192.168.1.30", "fd00::30"),
        "port": 41000,
        "protocol": protocol,
        "app": "0.1.0",
        "outcome": outcome,
    }
    fields.update(kw)
    return doctor.SeenPeer(**fields)  # type: ignore[arg-type]


def test_peer_wording_for_each_outcome_and_version() -> None:
    [ok] = doctor.peer_findings(
        seen(
            "reachable",
            reached="[fd00::30]:41000",
            attempts=(("192.168.1.30", "timeout"), ("fd00::30", "reachable")),
        )
    )
    assert ok.level == "ok" and ok.title == "bravo (abababab) is reachable at [fd00::30]:41000"
    assert ok.detail == "Not at: 192.168.1.30 (no answer)."
    [refused] = doctor.peer_findings(seen("refused"))
    assert refused.title == "bravo (abababab) answers mDNS but nothing listens on its port 41000"
    [timeout] = doctor.peer_findings(seen("timeout"))
    assert "answers mDNS but its port 41000 is unreachable from here" in timeout.title
    assert "AP/client isolation" in timeout.detail and "firewall on bravo" in timeout.detail
    assert "chatty add" in timeout.fix
    old, _ = doctor.peer_findings(seen("reachable", protocol="0", reached="x"))
    assert old.level == "problem" and old.title == "Version mismatch: update Chatty on bravo"
    new, _ = doctor.peer_findings(seen("reachable", protocol="99", reached="x"))
    assert new.level == "warn" and "newer" in new.title


def test_clock_skew_beyond_two_minutes_is_a_warning() -> None:
    peers = [
        {"name": "bravo", "id": "b" * 64, "clock_skew": 3600.0},
        {"name": "charlie", "id": "c" * 64, "clock_skew": -30.0},
        {"name": "delta", "id": "d" * 64, "clock_skew": None},
    ]
    [found] = doctor.clock_findings(peers)
    assert found.level == "warn" and found.topic == "clock"
    assert "bravo's clock is 60 minutes ahead of this one" in found.detail


def test_report_renders_grouped_and_serialises() -> None:
    report = doctor.Report(
        findings=[
            doctor.Finding("ok", "Connected", topic="interfaces"),
            *nft("tcp dport 4000 drop"),
            doctor.Finding("warn", "No other Chatty answered mDNS", "why", "a\nb", "peers"),
        ],
        port=PORT,
    )
    text = render(report)
    assert text.index("Network interfaces") < text.index("Firewall on this machine")
    assert "  PROBLEM  The firewall here drops Chatty's port (TCP 4000)" in text
    assert "           fix: nft delete rule inet filter input handle 10" in text
    assert "                b" in text  # a second fix line, indented under the first
    assert text.endswith("1 problem, 1 warning: see the fixes above.")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["findings"][1]["level"] == "problem"


FIREWALLD = """\
table inet firewalld {
\tchain filter_INPUT {
\t\ttype filter hook input priority filter + 10; policy accept;
\t\tct state { established, related } accept
\t\tct status dnat accept
\t\tiifname "lo" accept
\t\tct state invalid drop
\t\tjump filter_INPUT_ZONES
\t\treject with icmpx admin-prohibited
\t}
\tchain filter_INPUT_ZONES {
\t\tiifname "eth0" goto filter_IN_public
\t\tgoto filter_IN_public
\t}
\tchain filter_IN_public {
\t\tjump filter_IN_public_allow
\t\tmeta l4proto { icmp, ipv6-icmp } accept
\t}
\tchain filter_IN_public_allow {
\t\ttcp dport 22 ct state { new, untracked } accept
\t\tudp dport 5353 ip daddr 224.0.0.251 ct state { new, untracked } accept
\t\tudp dport 5353 ip6 daddr ff02::fb ct state { new, untracked } accept
\t}
}
"""


def test_firewalld_lets_mdns_in_but_rejects_the_port_at_the_end() -> None:
    [found] = doctor.check_firewall(FIREWALLD, None, None, PORT, interfaces=["eth0"])
    assert found.level == "problem"
    assert found.title == "The firewall here rejects Chatty's port (TCP 4000)"
    assert '"reject with icmpx admin-prohibited"' in found.detail
    assert "firewall-cmd --add-port=4000/tcp" in found.fix
    allowed = FIREWALLD.replace("tcp dport 22 ", "tcp dport { 22, 4000 } ")
    assert [f.level for f in doctor.check_firewall(allowed, None, None, PORT)] == ["ok"]
