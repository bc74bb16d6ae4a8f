"""The sender checks against the real DNS lab (NSD behind Unbound): SPF, DKIM, DMARC, PTR, block lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.options import DnsOptions, SenderOptions
from pipeline.sender.dkimkey import look_up_key
from pipeline.sender.dmarc import aligned, look_up_policy, organizational_domain
from pipeline.sender.findings import Scope
from pipeline.sender.ips import dnsbl_name, listing, reverse_dns
from pipeline.sender.lookup import SenderDns
from pipeline.sender.readiness import check_sender
from pipeline.sender.spf import SpfResult, check_spf
from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab
from tests.lab.senderzones import BLOCKLIST, GOOD_IP, LISTED_IP, MISMATCH_IP, NO_PTR_IP, make_dkim_key, sender_records


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    _, public = make_dkim_key()
    with DnsLab(
        sender_records(public),
        tmp_path_factory.mktemp("sender-dns"),
        nsd_binary=require_binary("nsd"),
        unbound_binary=require_binary("unbound"),
    ) as running:
        yield running


@pytest.fixture
def dns(lab: DnsLab) -> SenderDns:
    return SenderDns((lab.nameserver,), timeout=2.0)


@pytest.mark.parametrize(
    ("ip", "domain", "result"),
    [
        (GOOD_IP, "good.example", SpfResult.PASS),  # ip4 after the includes
        (MISMATCH_IP, "good.example", SpfResult.PASS),  # through include → include
        ("127.0.4.77", "good.example", SpfResult.FAIL),  # -all (the includes' ~all does not leak)
        (GOOD_IP, "news.good.example", SpfResult.PASS),  # redirect=
        ("127.0.4.77", "weak.example", SpfResult.SOFTFAIL),
        (GOOD_IP, "none.example", SpfResult.PASS),  # exists:%{i}.allow.example (a macro)
        (MISMATCH_IP, "none.example", SpfResult.PASS),  # mx
        (NO_PTR_IP, "none.example", SpfResult.PASS),  # a
        ("127.0.4.77", "none.example", SpfResult.FAIL),
        (GOOD_IP, "toomany.example", SpfResult.PERMERROR),  # 11 includes
        (GOOD_IP, "twice.example", SpfResult.PERMERROR),  # two records
        (GOOD_IP, "nullmx.example", SpfResult.NONE),
        (GOOD_IP, "nowhere.example", SpfResult.NONE),
        ("2001:db8::25", "v6.example", SpfResult.PASS),  # ip6
        ("2001:db9::25", "v6.example", SpfResult.FAIL),
        ("127.0.4.1", "v6.example", SpfResult.PASS),  # a/24
        ("127.0.5.1", "v6.example", SpfResult.FAIL),
    ],
)
def test_spf_results(dns: SenderDns, ip: str, domain: str, result: SpfResult) -> None:
    outcome = check_spf(dns, ip, domain, f"news@{domain}")
    assert outcome.result is result, outcome.why


def test_spf_lookup_limit_is_named(dns: SenderDns) -> None:
    outcome = check_spf(dns, GOOD_IP, "toomany.example", "news@toomany.example")
    assert "10 DNS-querying terms" in outcome.why and outcome.lookups == 11


def test_dkim_keys(dns: SenderDns) -> None:
    good = look_up_key(dns, "s1", "good.example")
    assert good.ok and good.key_type == "rsa" and good.bits == 1024
    assert look_up_key(dns, "old", "good.example").state == "revoked"
    assert look_up_key(dns, "nope", "good.example").state == "missing"


def test_dmarc_policies_and_the_organizational_fallback(dns: SenderDns) -> None:
    good = look_up_policy(dns, "good.example")
    assert (good.policy, good.adkim, good.aspf, good.found_at) == ("reject", "s", "r", "good.example")
    news = look_up_policy(dns, "news.good.example")
    assert (news.policy, news.found_at) == ("reject", "good.example")
    assert look_up_policy(dns, "quarantine.example").policy == "quarantine"
    assert look_up_policy(dns, "none.example").policy == "none"
    assert look_up_policy(dns, "weak.example").state == "missing"


def test_alignment_relaxed_and_strict() -> None:
    assert organizational_domain("a.b.example.co.uk") == "example.co.uk"
    assert aligned("bounce.good.example", "good.example", "r")
    assert not aligned("bounce.good.example", "good.example", "s")
    assert not aligned("other.example", "good.example", "r")


def test_reverse_dns(dns: SenderDns) -> None:
    assert reverse_dns(dns, GOOD_IP).state == "confirmed"
    assert reverse_dns(dns, MISMATCH_IP).state == "mismatch"
    assert reverse_dns(dns, NO_PTR_IP).state == "missing"


def test_block_list(dns: SenderDns) -> None:
    assert dnsbl_name("127.0.4.13", "bl.example") == "13.4.0.127.bl.example"
    listed = listing(dns, LISTED_IP, BLOCKLIST)
    assert listed.state == "listed" and "listed for the lab" in listed.why
    assert listing(dns, GOOD_IP, BLOCKLIST).state == "clear"


def test_only_the_configured_resolver_is_asked(lab: DnsLab) -> None:
    """A resolver that never answers leaves every check unchecked: nothing falls back to the system's."""
    options = SenderOptions(
        from_addr="news@good.example", ips=(GOOD_IP,), dkim_selectors=("s1",), dnsbl_zones=(BLOCKLIST,)
    )
    report = check_sender(options, DnsOptions(nameservers=(lab.blackhole,), timeout=0.2))
    assert report.resolvers == (lab.blackhole,)
    assert report.findings and {f.state for f in report.findings} == {"unchecked"}
    assert report.ready  # nothing learned, so no row would change


def test_a_ready_sender(lab: DnsLab) -> None:
    options = SenderOptions(
        from_addr="news@good.example", ips=(GOOD_IP,), dkim_selectors=("s1",), dnsbl_zones=(BLOCKLIST,), bulk=True
    )
    report = check_sender(options, DnsOptions(nameservers=(lab.nameserver,), timeout=2.0))
    assert report.ready, [f.detail for f in report.impact.problems]
    assert {f.check for f in report.findings} >= {"domain", "dnsbl", "spf", "dkim", "ptr", "dmarc", "provider"}


def test_a_sender_with_problems(lab: DnsLab) -> None:
    options = SenderOptions(from_addr="news@weak.example", ips=(LISTED_IP, NO_PTR_IP), dnsbl_zones=(BLOCKLIST,))
    report = check_sender(options, DnsOptions(nameservers=(lab.nameserver,), timeout=2.0))
    problems = {f.reason: f for f in report.impact.problems}
    assert problems["sending_ip_blocklisted"].code == "554" and problems["sending_ip_blocklisted"].enhanced == "5.7.1"
    assert problems["sending_ip_blocklisted"].scope is Scope.CAMPAIGN
    # softfail, no DKIM selector given: Gmail's "SPF or DKIM" is missed only if both are known to miss
    assert "sending_gmail_unauthenticated" not in problems
    assert problems["sending_gmail_no_reverse_dns"].providers == ("Google",)
    assert problems["sending_yahoo_no_reverse_dns"].code == "553"
    # the campaign-wide block-list finding comes first: it decides every row it touches
    assert report.impact.problems[0].reason == "sending_ip_blocklisted"


def test_a_from_domain_that_takes_no_mail(lab: DnsLab, tmp_path: Path) -> None:
    for address in ("news@nullmx.example", "news@nomail.example", "news@nowhere.example"):
        report = check_sender(SenderOptions(from_addr=address), DnsOptions(nameservers=(lab.nameserver,)))
        first = report.impact.problems[0]
        assert (first.code, first.enhanced, first.reason) == ("553", "5.1.8", "sending_domain_invalid"), address


def test_an_enforcing_dmarc_policy_that_mail_would_fail(lab: DnsLab) -> None:
    options = SenderOptions(
        from_addr="news@reject.example", ips=(GOOD_IP,), dkim_selectors=("s1",), dnsbl_zones=(BLOCKLIST,)
    )
    report = check_sender(options, DnsOptions(nameservers=(lab.nameserver,), timeout=2.0))
    problems = [(f.reason, f.code, f.enhanced, str(f.scope)) for f in report.impact.problems]
    assert problems == [
        ("sending_gmail_unauthenticated", "550", "5.7.26", "provider"),
        ("sending_gmail_dmarc_fail", "550", "5.7.26", "provider"),
        ("sending_yahoo_unauthenticated", "550", "5.7.9", "provider"),
        ("sending_yahoo_dmarc_fail", "554", "5.7.9", "provider"),
        ("sending_dmarc_fail", "550", "5.7.1", "campaign"),
    ]
