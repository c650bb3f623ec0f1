"""The doctor's DNS-SD findings: facts in (a node's ``describe()["dns_sd"]``), findings out."""

from __future__ import annotations

from chatty_p2p.doctor.widearea import dns_sd_findings


def test_nothing_when_wide_area_dns_sd_is_not_in_use() -> None:
    assert dns_sd_findings([]) == []


def test_each_domain_says_how_it_went() -> None:
    found = dns_sd_findings(
        [
            {"domain": "sd.example", "state": "registered", "server": "198.18.1.254"},
            {"domain": "lan", "state": "browsing", "server": "", "reason": ""},
            {
                "domain": "corp.example",
                "state": "failed",
                "server": "10.0.0.53",
                "reason": "the DNS server for corp.example (10.0.0.53) refused ... (BADSIG)",
            },
        ]
    )
    assert [(f.level, f.title) for f in found] == [
        ("ok", "Registered in the DNS-SD domain sd.example"),
        ("ok", "Browsing the DNS-SD domain lan"),
        ("problem", "Not registered in the DNS-SD domain corp.example"),
    ]
    assert "198.18.1.254" in found[0].detail
    assert "BADSIG" in found[2].detail and "--tsig-key" in found[2].fix
