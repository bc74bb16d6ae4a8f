"""The DNS rules without I/O: answers in, verdict and cache lifetime out (table-driven)."""

from __future__ import annotations

import pytest

from pipeline.dns.decide import (
    AddressLookup,
    MxLookup,
    Outcome,
    apply_private_policy,
    decide,
    hosts_to_look_up,
    is_public_address,
    mail_hosts,
    merge_addresses,
)
from pipeline.models import Status
from pipeline.rules.providers import identify_provider

AT = "2026-01-02T03:04:05Z"
A = Outcome.ANSWER
NODATA = Outcome.NODATA
NX = Outcome.NXDOMAIN


def addr(*addresses: str, ttl: int = 300) -> AddressLookup:
    return AddressLookup(A, addresses, ttl)


def test_mail_hosts_sorted_by_preference_dedup_and_null_dropped() -> None:
    mx = MxLookup(A, ((20, "b.example."), (10, "C.example"), (5, "b.example"), (0, ".")), 600)
    assert mail_hosts(mx) == [(5, "b.example"), (10, "c.example")]
    assert hosts_to_look_up("d.example", mx) == ["b.example", "c.example"]
    assert hosts_to_look_up("d.example", MxLookup(NODATA, ttl=60)) == ["d.example"]
    assert hosts_to_look_up("d.example", MxLookup(NX, ttl=60)) == []
    assert hosts_to_look_up("d.example", MxLookup(Outcome.TIMEOUT, failure="x")) == []


@pytest.mark.parametrize(
    ("mx", "addresses", "status", "code", "enhanced", "reason", "ttl", "mx_name"),
    [
        # NXDOMAIN: 550 5.1.2, cached for the negative TTL.
        (MxLookup(NX, ttl=300), {}, Status.UNDELIVERABLE, "550", "5.1.2", "nxdomain", 300, ""),
        # Null MX: 556 5.1.10.
        (MxLookup(A, ((0, "."),), 3600), {}, Status.UNDELIVERABLE, "556", "5.1.10", "null_mx", 3600, ""),
        # No MX, no address: 550 5.1.2.
        (
            MxLookup(NODATA, ttl=300),
            {"d.example": AddressLookup(NODATA, ttl=120)},
            Status.UNDELIVERABLE, "550", "5.1.2", "no_mail_host", 120, "",
        ),
        # MX hosts, none with an address: 550 5.4.4, named after the preferred host.
        (
            MxLookup(A, ((10, "a.d.example"), (20, "b.d.example")), 600),
            {"a.d.example": AddressLookup(NX, ttl=200), "b.d.example": AddressLookup(NODATA, ttl=100)},
            Status.UNDELIVERABLE, "550", "5.4.4", "mx_unresolvable", 100, "a.d.example",
        ),
        # MX lookup failed twice: 451 4.4.3 unknown, never cached.
        (
            MxLookup(Outcome.SERVFAIL, failure="the resolver answered SERVFAIL, twice"),
            {},
            Status.UNKNOWN, "451", "4.4.3", "dns_error", 0, "",
        ),
        (MxLookup(Outcome.TIMEOUT, failure="no answer"), {}, Status.UNKNOWN, "451", "4.4.3", "dns_error", 0, ""),
        # MX fine, the only host's address lookup failed: unknown, not 5.4.4.
        (
            MxLookup(A, ((10, "a.d.example"),), 600),
            {"a.d.example": AddressLookup(Outcome.TIMEOUT, failure="no answer", complete=False)},
            Status.UNKNOWN, "451", "4.4.3", "dns_error", 0, "a.d.example",
        ),
        # No MX, address lookup failed: unknown.
        (
            MxLookup(NODATA, ttl=300),
            {"d.example": AddressLookup(Outcome.SERVFAIL, failure="SERVFAIL", complete=False)},
            Status.UNKNOWN, "451", "4.4.3", "dns_error", 0, "",
        ),
    ],
)
def test_verdicts_decided_by_dns(
    mx: MxLookup,
    addresses: dict[str, AddressLookup],
    status: Status,
    code: str,
    enhanced: str,
    reason: str,
    ttl: int,
    mx_name: str,
) -> None:
    decision = decide("d.example", mx, addresses, AT)
    verdict = decision.domain.verdict
    assert verdict is not None
    assert (verdict.status, verdict.code, verdict.enhanced, verdict.reason) == (status, code, enhanced, reason)
    assert verdict.mx == mx_name
    assert verdict.checked_at == AT
    assert decision.ttl == ttl
    assert "d.example" in verdict.detail and verdict.detail.endswith(".")
    assert not decision.domain.accepts_mail


def test_failure_detail_says_what_failed() -> None:
    decision = decide("d.example", MxLookup(Outcome.TIMEOUT, failure="no answer within 2s, twice"), {}, AT)
    assert decision.domain.verdict is not None
    assert "no answer within 2s, twice" in decision.domain.verdict.detail


def test_accepting_domain_lists_usable_hosts_in_order_and_min_ttl() -> None:
    mx = MxLookup(A, ((30, "c.example"), (10, "a.example"), (20, "b.example")), 900)
    decision = decide(
        "d.example",
        mx,
        {
            "a.example": AddressLookup(NX, ttl=60),
            "b.example": addr("192.0.2.2", ttl=500),
            "c.example": addr("192.0.2.3", ttl=400),
        },
        AT,
    )
    domain = decision.domain
    assert domain.accepts_mail and not domain.implicit_mx
    # a.example has no address: a sender skips it, so does the prober.
    assert [h.host for h in domain.mx_hosts] == ["b.example", "c.example"]
    assert domain.preferred_mx == "b.example"
    assert decision.ttl == 60  # the shortest answer the verdict rests on


def test_partial_failure_still_accepts_but_is_not_cached() -> None:
    mx = MxLookup(A, ((10, "a.example"), (20, "b.example")), 900)
    decision = decide(
        "d.example",
        mx,
        {"a.example": AddressLookup(Outcome.TIMEOUT, failure="x", complete=False), "b.example": addr("192.0.2.2")},
        AT,
    )
    assert decision.domain.accepts_mail
    assert decision.domain.preferred_mx == "b.example"
    assert decision.ttl == 0


def test_implicit_mx() -> None:
    decision = decide("d.example", MxLookup(NODATA, ttl=300), {"d.example": addr("192.0.2.9", ttl=3600)}, AT)
    assert decision.domain.accepts_mail and decision.domain.implicit_mx
    assert decision.domain.mx_hosts[0].host == "d.example"
    assert decision.domain.mx_hosts[0].preference == 0
    assert decision.ttl == 300


def test_null_mx_mixed_with_real_hosts_uses_the_real_ones() -> None:
    mx = MxLookup(A, ((0, "."), (10, "mx.d.example")), 600)
    decision = decide("d.example", mx, {"mx.d.example": addr("192.0.2.1")}, AT)
    assert decision.domain.accepts_mail
    assert decision.domain.preferred_mx == "mx.d.example"


def test_provider_from_mx_hosts() -> None:
    mx = MxLookup(A, ((1, "aspmx.l.google.com"), (5, "alt1.aspmx.l.google.com")), 600)
    decision = decide(
        "d.example", mx, {"aspmx.l.google.com": addr("1.2.3.4"), "alt1.aspmx.l.google.com": addr("1.2.3.5")}, AT
    )
    assert decision.domain.provider == "Google"


@pytest.mark.parametrize(
    ("a", "aaaa", "outcome", "addresses", "complete"),
    [
        (addr("192.0.2.1"), AddressLookup(NODATA, ttl=60), A, ("192.0.2.1",), True),
        (AddressLookup(NODATA, ttl=60), addr("2001:db8::1"), A, ("2001:db8::1",), True),
        (addr("192.0.2.1"), addr("2001:db8::1"), A, ("192.0.2.1", "2001:db8::1"), True),
        (addr("192.0.2.1"), AddressLookup(Outcome.TIMEOUT, failure="t"), A, ("192.0.2.1",), False),
        (AddressLookup(NODATA, ttl=60), AddressLookup(Outcome.TIMEOUT, failure="t"), Outcome.TIMEOUT, (), False),
        (AddressLookup(NX, ttl=60), AddressLookup(NX, ttl=60), NX, (), True),
        (AddressLookup(NX, ttl=60), AddressLookup(NODATA, ttl=60), NODATA, (), True),
    ],
)
def test_merge_a_and_aaaa(
    a: AddressLookup, aaaa: AddressLookup, outcome: Outcome, addresses: tuple[str, ...], complete: bool
) -> None:
    merged = merge_addresses(a, aaaa)
    assert (merged.outcome, merged.addresses, merged.complete) == (outcome, addresses, complete)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("1.2.3.4", True),
        ("2a00:1450:4001::1b", True),
        ("127.0.0.1", False),
        ("10.0.0.5", False),
        ("192.168.1.1", False),
        ("172.16.0.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.1.1", False),
        ("0.0.0.0", False),
        ("::1", False),
        ("fd00::1", False),
        ("192.0.2.1", False),  # documentation range
        ("not-an-ip", False),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(address) is public


def test_private_policy() -> None:
    private = decide("d.example", MxLookup(A, ((10, "mx.d.example"),), 600), {"mx.d.example": addr("10.1.2.3")}, AT)
    risky = apply_private_policy(private.domain, allow_private=False)
    assert risky.verdict is not None
    assert (risky.verdict.status, risky.verdict.code, risky.verdict.enhanced, risky.verdict.reason) == (
        Status.RISKY, "250", "2.0.0", "mx_private_address",
    )
    assert "10.1.2.3" in risky.verdict.detail and risky.verdict.mx == "mx.d.example"
    assert risky.mx_hosts == private.domain.mx_hosts
    assert apply_private_policy(private.domain, allow_private=True).accepts_mail
    public = decide("d.example", MxLookup(A, ((10, "mx.d.example"),), 600), {"mx.d.example": addr("1.2.3.4")}, AT)
    assert apply_private_policy(public.domain, allow_private=False).accepts_mail
    # A backup host on a private address does not matter while the preferred one is public.
    mixed = decide(
        "d.example",
        MxLookup(A, ((10, "a.d.example"), (20, "b.d.example")), 600),
        {"a.d.example": addr("1.2.3.4"), "b.d.example": addr("127.0.0.1")},
        AT,
    )
    assert apply_private_policy(mixed.domain, allow_private=False).accepts_mail
    # An implicit MX: the domain is its own mail host, and the sentence says so.
    implicit = decide("d.example", MxLookup(NODATA, ttl=60), {"d.example": addr("192.168.1.5")}, AT)
    verdict = apply_private_policy(implicit.domain, allow_private=False).verdict
    assert verdict is not None and verdict.mx == "d.example"
    assert verdict.detail.startswith("The domain d.example has no MX record and its own address is 192.168.1.5, ")
    # Verdicts already decided by DNS are left alone.
    nx = decide("d.example", MxLookup(NX, ttl=60), {}, AT).domain
    assert apply_private_policy(nx, allow_private=False) is nx


@pytest.mark.parametrize(
    ("host", "provider"),
    [
        ("aspmx.l.google.com", "Google"),
        ("ALT1.ASPMX.L.GOOGLE.COM.", "Google"),
        ("gmail-smtp-in.l.google.com", "Google"),
        ("smtp.google.com", "Google"),
        ("contoso-com.mail.protection.outlook.com", "Microsoft 365"),
        ("hotmail-com.olc.protection.outlook.com", "Microsoft 365"),
        ("mta5.am0.yahoodns.net", "Yahoo"),
        ("mx.zoho.com", "Zoho"),
        ("mx2.zoho.eu", "Zoho"),
        ("mx.zoho.com.au", "Zoho"),
        ("mail.protonmail.ch", "Proton"),
        ("eu-smtp-inbound-1.mimecast.com", "Mimecast"),
        ("mx0a-00123456.pphosted.com", "Proofpoint"),
        ("mxb-00123456.gslb.pphosted.com", "Proofpoint"),
        ("cluster1.eu.messagelabs.com", "Broadcom (Symantec)"),
        ("mx01.mail.icloud.com", "Apple iCloud"),
        ("mx.yandex.net", "Yandex"),
        ("smtp.secureserver.net", "GoDaddy"),
        ("mx1.mail.ovh.net", "OVHcloud"),
        ("mx00.ionos.de", "IONOS"),
        ("in1-smtp.messagingengine.com", "Fastmail"),
        ("d123.mx.barracudanetworks.com", "Barracuda"),
        ("route1.mx.cloudflare.net", "Cloudflare Email Routing"),
        ("mx.notgoogle.com", ""),
        ("google.com.evil.example", ""),
        ("zoho.example.com", ""),
        ("mx.d.example", ""),
        ("", ""),
    ],
)
def test_identify_provider(host: str, provider: str) -> None:
    assert identify_provider(host) == provider
