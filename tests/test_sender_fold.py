"""The sender findings in the one verdict path: decide() folds them, encode() and the clean list follow."""

from __future__ import annotations

from dataclasses import replace

from pipeline.columns import REASON, STATUS, encode
from pipeline.dns import decide as dns
from pipeline.io.outputs import RowFormat, held_for_sender
from pipeline.models import DomainVerdict, HygieneFlags, Status
from pipeline.rules.syntax import check_address
from pipeline.sender.findings import Scope, SenderFinding, SenderImpact
from pipeline.verdict import RowFacts, VerdictOptions, decide, shares_outcome

NOW = "2026-03-01T12:00:00Z"


def _domain(name: str, mx: str) -> DomainVerdict:
    lookup = dns.AddressLookup(dns.Outcome.ANSWER, ("192.0.2.25",), 300)
    return dns.decide(name, dns.MxLookup(dns.Outcome.ANSWER, ((10, mx),), 300), {mx: lookup}, NOW).domain


GMAIL = _domain("gm.example", "gmail-smtp-in.l.google.com")
PLAIN = _domain("plain.example", "mx.plain.example")
NOWHERE = dns.decide("nowhere.example", dns.MxLookup(dns.Outcome.NXDOMAIN, (), 300), {}, NOW).domain

GMAIL_RULE = SenderFinding(
    "provider",
    False,
    "550",
    "5.7.25",
    "sending_gmail_no_reverse_dns",
    "Missed: a PTR.",
    "Set a PTR.",
    scope=Scope.PROVIDER,
    providers=("Google",),
)
LISTED = SenderFinding("dnsbl", False, "554", "5.7.1", "sending_ip_blocklisted", "Listed.", "Delist.")
HOST = SenderFinding(
    "message",
    False,
    "552",
    "5.3.4",
    "sending_message_too_big",
    "Too big.",
    scope=Scope.HOST,
    hosts=("mx.plain.example",),
)
UNCHECKED = SenderFinding("spf", True, "", "", "", "Timed out.", checked=False)


def _decide(address: str, domain: DomainVerdict | None, impact: SenderImpact | None, **flags: bool) -> list[str]:
    check = check_address(address)
    facts = RowFacts(check, domain=domain, flags=HygieneFlags(**flags), checked_at=NOW)
    return encode(decide(facts, VerdictOptions(sender=impact)))


def test_the_provider_finding_touches_only_its_providers_rows() -> None:
    impact = SenderImpact((UNCHECKED, GMAIL_RULE))
    gmail = _decide("a@gm.example", GMAIL, impact)
    assert (gmail[STATUS], gmail[REASON]) == ("unknown", "sending_gmail_no_reverse_dns")
    assert gmail[1:3] == ["550", "5.7.25"]
    assert _decide("a@plain.example", PLAIN, impact) == _decide("a@plain.example", PLAIN, None)


def test_the_first_finding_that_touches_a_row_decides_it() -> None:
    impact = SenderImpact((LISTED, GMAIL_RULE))
    assert _decide("a@gm.example", GMAIL, impact)[REASON] == "sending_ip_blocklisted"
    assert _decide("a@plain.example", PLAIN, SenderImpact((HOST, LISTED)))[REASON] == "sending_message_too_big"
    assert _decide("a@gm.example", GMAIL, SenderImpact((HOST, LISTED)))[REASON] == "sending_ip_blocklisted"


def test_rows_the_recipient_side_refuses_keep_their_own_verdict() -> None:
    impact = SenderImpact((LISTED,))
    assert _decide("a@nowhere.example", NOWHERE, impact) == _decide("a@nowhere.example", NOWHERE, None)
    assert _decide("not an address", None, impact) == _decide("not an address", None, None)


def test_a_risky_row_stays_risky_with_the_senders_reply() -> None:
    row = _decide("a@gm.example", GMAIL, SenderImpact((LISTED,)), disposable=True)
    assert (row[STATUS], row[1], row[REASON]) == ("risky", "554", "sending_ip_blocklisted")
    assert "The recipient side:" in row[4]


def test_ok_and_unchecked_findings_change_nothing() -> None:
    ok = SenderFinding("spf", True, "", "", "", "Pass.")
    impact = SenderImpact((ok, UNCHECKED))
    assert impact.problems == ()
    assert _decide("a@gm.example", GMAIL, impact) == _decide("a@gm.example", GMAIL, None)
    assert (UNCHECKED.state, ok.state, replace(ok, remedy="x").state, LISTED.state) == (
        "unchecked",
        "ok",
        "advice",
        "problem",
    )


def test_templates_stay_per_domain() -> None:
    """A shared outcome is one per domain verdict: the fold reads the domain only (never the mailbox)."""
    impact = SenderImpact((GMAIL_RULE,))
    assert shares_outcome(None, HygieneFlags(), VerdictOptions(sender=impact))
    first, second = _decide("a@gm.example", GMAIL, impact), _decide("b@gm.example", GMAIL, impact)
    assert first[:5] == second[:5]


def test_the_clean_list_keeps_rows_held_back_only_by_the_sender() -> None:
    held = _decide("a@gm.example", GMAIL, SenderImpact((GMAIL_RULE,)))
    dns_unknown = list(held)
    dns_unknown[REASON] = "dns_timeout"
    risky = _decide("a@gm.example", GMAIL, SenderImpact((GMAIL_RULE,)), disposable=True)
    assert held_for_sender(held[STATUS], held[REASON]) and not held_for_sender(*dns_unknown[:1], "dns_timeout")
    _, clean = RowFormat(1, ",").format_columns([["a"], ["b"], ["c"]], [held, dns_unknown, risky])
    assert clean == ["a"]
    assert Status.UNKNOWN.value == held[STATUS]
