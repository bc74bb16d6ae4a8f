"""Provider knowledge: what a probe at Yahoo, Microsoft 365 and Google can tell, and how gently to ask.

The pure rules first, then end to end: lab domains whose MX names match the providers' real MX
patterns (``mta5.am0.yahoodns.net``, ``*.mail.protection.outlook.com``, ``*.l.google.com``),
published by the DNS lab's own root zone (NSD + Unbound on loopback; no real provider is ever
asked), point at scripted aiosmtpd hosts on 127.0.3.210-213 that answer the way each provider
documents: Yahoo accepts every recipient, an Exchange Online tenant with directory-based edge
blocking refuses unknown ones with 5.4.1, another tenant accepts all (the catch-all check must
catch it), Gmail refuses unknown, disabled and full mailboxes in its own words.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pandas as pd
import pytest

import pipeline
from pipeline.models import MxHost, Status, Verdict
from pipeline.ports import ProbeTarget
from pipeline.probe.plan import plan_batches
from pipeline.rules.probe_trust import RULES, fold_provider, gentle_batch_size, gentle_per_host, probe_trust
from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab
from tests.lab.smtphosts import HostScript, ScriptedHosts

SENDER = "probe@presend-lab.example"
YAHOO_MX, MS_MX, MS_OPEN_MX, GOOGLE_MX = (
    "mta5.am0.yahoodns.net", "ms-lab-example.mail.protection.outlook.com",
    "ms-open-example.mail.protection.outlook.com", "gmail-smtp-in.l.google.com",
)
# 127.0.3.0/24 is the scripted hosts' block; .210-.213 are used by no other test
YAHOO_IP, MS_IP, MS_OPEN_IP, GOOGLE_IP = "127.0.3.210", "127.0.3.211", "127.0.3.212", "127.0.3.213"


def accepted(mx: str, reason: str = "mailbox_exists", status: Status = Status.DELIVERABLE) -> Verdict:
    return Verdict(status, "250", "2.1.5", reason, f"{mx} accepted the address.", mx=mx)


def test_an_acceptance_at_yahoo_proves_nothing_but_a_refusal_still_counts() -> None:
    folded = fold_provider(accepted(YAHOO_MX))
    assert (folded.status, folded.code, folded.reason) == (Status.RISKY, "250", "rcpt_accepts_all")
    assert "Yahoo" in folded.detail and "says nothing about this mailbox" in folded.detail
    assert fold_provider(accepted(YAHOO_MX, "catch_all", Status.RISKY)).reason == "rcpt_accepts_all"
    refused = Verdict(Status.UNDELIVERABLE, "554", "5.0.0", "mailbox_not_found", "gone", mx=YAHOO_MX)
    assert fold_provider(refused) is refused
    for mx in (MS_MX, GOOGLE_MX, "mx.lab.example"):
        same = accepted(mx)
        assert fold_provider(same) is same


def test_gentler_plans_lower_never_raise() -> None:
    assert gentle_batch_size(YAHOO_MX, 25) == 5 and gentle_batch_size(YAHOO_MX, 3) == 3
    assert gentle_per_host(YAHOO_MX, 4) == 1 and gentle_per_host(GOOGLE_MX, 4) == 2
    assert gentle_per_host("mx.lab.example", 4) == 4 and gentle_batch_size("mx.lab.example", 25) == 25
    route = (MxHost(10, YAHOO_MX, (YAHOO_IP,)),)
    targets = [ProbeTarget(f"u{i}@y.example", f"u{i}", "y.example", "y.example", False, route) for i in range(12)]
    assert [len(b.targets) for b in plan_batches(targets, 25)] == [5, 5, 2]


def test_every_rule_names_a_public_source() -> None:
    for rule in RULES.values():
        assert rule.sources and all(s.startswith("https://") for s in rule.sources), rule.provider
        assert rule.what


def test_probe_trust_names_only_providers_met_with_a_rule() -> None:
    trust = probe_trust({"Yahoo": 2, "Google": 1, "other": 5, "Fastmail": 1})
    assert set(trust) == {"Yahoo", "Google"}
    assert trust["Yahoo"]["trust"] == "refusals_only" and trust["Yahoo"]["domains"] == 2
    assert trust["Yahoo"]["rcpt_accepts_all"] is True
    assert trust["Google"]["trust"] == "mailbox"
    unchecked = probe_trust({"Microsoft 365": 1}, catch_all_check=False)["Microsoft 365"]
    assert unchecked["trust"] == "refusals_only" and "--no-catch-all-check" in unchecked["what_a_probe_tells"]
    assert probe_trust(None) == {}


# --- end to end ---------------------------------------------------------------------------

RECORDS = [
    f"yahoo-lab.example. MX 1 {YAHOO_MX}.",
    f"{YAHOO_MX}. A {YAHOO_IP}",
    f"ms-lab.example. MX 0 {MS_MX}.",
    f"{MS_MX}. A {MS_IP}",
    f"ms-open.example. MX 0 {MS_OPEN_MX}.",
    f"{MS_OPEN_MX}. A {MS_OPEN_IP}",
    f"gmail-lab.example. MX 5 {GOOGLE_MX}.",
    f"{GOOGLE_MX}. A {GOOGLE_IP}",
]
YAHOO_ADDRESSES = [f"user{i}@yahoo-lab.example" for i in range(7)]
GONE_AT_YAHOO = "gone@yahoo-lab.example"


def scripts() -> list[HostScript]:
    dbeb = "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)"
    return [
        # Yahoo: every recipient accepted, bar the odd one it does refuse
        HostScript(YAHOO_IP, name=YAHOO_MX, mailboxes=None, replies={
            GONE_AT_YAHOO: "554 delivery error: dd Sorry, this user doesn't have a yahoo-lab.example account"}),
        # Exchange Online with directory-based edge blocking: unknown recipients refused with 5.4.1;
        # our IP refused for one address (a per-recipient block answer)
        HostScript(MS_IP, name=MS_MX, mailboxes={"ann@ms-lab.example"}, replies={
            "zed@ms-lab.example": dbeb,
            "ban@ms-lab.example": "550 5.7.606 Access denied, banned sending IP [127.0.0.1]. Ask for removal."}),
        # a tenant that accepts everything: only the catch-all check can tell
        HostScript(MS_OPEN_IP, name=MS_OPEN_MX, mailboxes=None),
        # Gmail: refusals in its own words (multi-line, the enhanced code on every line)
        HostScript(GOOGLE_IP, name=GOOGLE_MX, mailboxes={"ann@gmail-lab.example"}, replies={
            "zed@gmail-lab.example": "550-5.1.1 The email account you asked for is not there.\r\n"
                                     "550 5.1.1 Check the spelling and try again.",
            "off@gmail-lab.example": "550 5.2.1 The email account you asked for is disabled.",
            "full@gmail-lab.example": "452 4.2.2 The email account you asked for is over quota."}),
    ]


EXPECTED = {
    **{email: ("risky", "250", "rcpt_accepts_all") for email in YAHOO_ADDRESSES},
    GONE_AT_YAHOO: ("undeliverable", "554", "mailbox_not_found"),
    "ann@ms-lab.example": ("deliverable", "250", "mailbox_exists"),
    "zed@ms-lab.example": ("undeliverable", "550", "mailbox_not_found"),
    "ban@ms-lab.example": ("unknown", "550", "sender_blocked"),
    "ann@ms-open.example": ("risky", "250", "catch_all"),
    "ann@gmail-lab.example": ("deliverable", "250", "mailbox_exists"),
    "zed@gmail-lab.example": ("undeliverable", "550", "mailbox_not_found"),
    "off@gmail-lab.example": ("undeliverable", "550", "mailbox_disabled"),
    "full@gmail-lab.example": ("risky", "452", "mailbox_full"),
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((YAHOO_IP, 0))
        return int(probe.getsockname()[1])


@pytest.mark.lab
def test_provider_rules_end_to_end_against_lab_hosts_with_provider_mx_names(tmp_path: Path) -> None:
    port = _free_port()
    frame = pd.DataFrame({"Email": list(EXPECTED)})
    with (
        DnsLab(RECORDS, tmp_path / "dns", nsd_binary=require_binary("nsd"),
               unbound_binary=require_binary("unbound")) as lab,
        ScriptedHosts(scripts(), port) as hosts,
    ):
        options = {"nameserver": [lab.nameserver], "no_cache": True, "engine": "local", "probe": True,
                   "mail_from": SENDER, "smtp_port": port, "smtp_timeout": 3, "allow_private_mx": True,
                   "per_host": 4, "retry_after": 0.2}
        done = pipeline.clean(frame, out_dir=tmp_path / "out", **options)
        yahoo_log = hosts.log(YAHOO_IP)
        unchecked = pipeline.clean(pd.DataFrame({"Email": ["ann@ms-open.example"]}), no_catch_all_check=True,
                                   **options)
        open_log = hosts.log(MS_OPEN_IP)
    rows = done.results.set_index("Email")
    got = {email: (rows.loc[email].presend_status, rows.loc[email].presend_code, rows.loc[email].presend_reason)
           for email in EXPECTED}
    assert got == EXPECTED
    # the host's own words are kept; a refusal of our IP never reads as a missing mailbox
    assert "banned sending IP" in rows.loc["ban@ms-lab.example"].presend_detail
    assert "does not exist" not in rows.loc["ban@ms-lab.example"].presend_detail
    assert "Check the spelling" in rows.loc["zed@gmail-lab.example"].presend_detail
    assert "Yahoo" in rows.loc["user0@yahoo-lab.example"].presend_detail
    # the gentler plan for Yahoo: batches of 5, one session at a time (--per-host 4 notwithstanding)
    assert len(yahoo_log.sessions) == 2 and yahoo_log.open_max == 1
    # no made-up address at a provider that accepts every recipient: it would tell nothing
    assert not any("presend-check-" in line for session in yahoo_log.sessions for line in session)
    assert "DATA" not in yahoo_log.commands()
    # summary.json and the report name how far a probe can be trusted at each provider met
    trust = done.summary["probe_trust"]
    assert set(trust) == {"Yahoo", "Microsoft 365", "Google"}
    assert trust["Microsoft 365"]["domains"] == 2 and trust["Yahoo"]["trust"] == "refusals_only"
    report = (tmp_path / "out" / "list.report.html").read_text(encoding="utf-8")
    assert "How far a probe can be trusted" in report and 'data-trust="refusals_only"' in report
    assert "Provider accepts every address at RCPT" in report
    # --no-catch-all-check: no made-up RCPT, and the row claims no catch-all knowledge
    last_session = open_log.sessions[-1]
    assert not any("presend-check-" in line for line in last_session)
    row = unchecked.results.iloc[0]
    assert (row.presend_status, row.presend_reason, row.presend_catch_all) == ("deliverable", "mailbox_exists",
                                                                              "false")
    assert "--no-catch-all-check" in row.presend_detail
    assert unchecked.summary["probe_trust"]["Microsoft 365"]["trust"] == "refusals_only"
