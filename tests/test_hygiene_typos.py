"""Typo suggestions: edit distance, known typos, TLD slips, and the DNS gate."""

from __future__ import annotations

import pytest

from pipeline.models import DomainVerdict, MxHost, Status, Verdict
from pipeline.options import HygieneOptions
from pipeline.rules.hygiene import Hygiene, dns_failed
from pipeline.rules.syntax import check_address
from pipeline.rules.typos import TypoSuggester, max_distance, osa_distance


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("gmail.com", "gmail.com", 0),
        ("gmial.com", "gmail.com", 1),  # swap
        ("gamil.com", "gmail.com", 1),  # swap
        ("gmai.com", "gmail.com", 1),  # drop
        ("gmaill.com", "gmail.com", 1),  # double
        ("gnail.com", "gmail.com", 1),  # neighbour key
        ("gmail.cmo", "gmail.com", 1),
        ("hotmial.com", "hotmail.com", 1),
        ("yaho.com", "yahoo.com", 1),
        ("outlok.com", "outlook.com", 1),
        ("ab", "ba", 1),
        ("abc", "ca", 3),  # OSA: no edit of a swapped pair (true Damerau would be 2)
        ("", "abc", 3),
        ("kitten", "sitting", 3),
    ],
)
def test_osa_distance(a: str, b: str, distance: int) -> None:
    assert osa_distance(a, b, 10) == distance
    assert osa_distance(b, a, 10) == distance


def test_osa_distance_stops_at_the_limit() -> None:
    assert osa_distance("gmail.com", "yahoo.co.jp", 1) == 2
    assert osa_distance("kitten", "sitting", 2) == 3
    assert osa_distance("kitten", "sitting", 3) == 3


@pytest.mark.parametrize(("length", "limit"), [(5, 0), (6, 1), (9, 1), (10, 2), (20, 2)])
def test_max_distance(length: int, limit: int) -> None:
    assert max_distance("x" * length) == limit


NXDOMAIN = Verdict(Status.UNDELIVERABLE, "550", "5.1.2", "domain_not_found", "The domain does not exist.")
NULL_MX = Verdict(Status.UNDELIVERABLE, "556", "5.1.10", "null_mx", "The domain refuses all mail.")
SERVFAIL = Verdict(Status.UNKNOWN, "451", "4.4.3", "dns_servfail", "The name server failed.")
PRIVATE = Verdict(Status.RISKY, "250", "2.0.0", "mx_private_address", "The MX is on a private address.")


def domain_verdict(domain: str, verdict: Verdict | None) -> DomainVerdict:
    hosts = (MxHost(10, f"mx.{domain}", ("192.0.2.1",)),) if verdict is None else ()
    return DomainVerdict(domain, verdict, hosts)


# (address, DNS verdict or "none" when DNS did not run / "ok" when the domain takes mail,
#  expected suggestion)
CASES: list[tuple[str, str | Verdict, str]] = [
    # known typo domains: suggested without DNS and even when they resolve and take mail
    ("ann@gmial.com", "none", "ann@gmail.com"),
    ("ann@gamil.com", "none", "ann@gmail.com"),
    ("ann@hotmial.com", "none", "ann@hotmail.com"),
    ("ann@yaho.com", "none", "ann@yahoo.com"),
    ("ann@outlok.com", "none", "ann@outlook.com"),
    ("ann@gmial.com", "ok", "ann@gmail.com"),
    ("ann@yaho.com", "ok", "ann@yahoo.com"),
    ("Ann.Lee@GMIAL.com", "none", "Ann.Lee@gmail.com"),
    # endings that are no top-level domain at all
    ("ann@gmail.con", "none", "ann@gmail.com"),
    ("ann@gmail.cmo", "none", "ann@gmail.com"),
    ("ann@yahoo.ocm", "none", "ann@yahoo.com"),
    ("ann@hotmail.couk", "none", "ann@hotmail.co.uk"),
    ("ann@comcast.nte", "none", "ann@comcast.net"),
    ("ann@acme.con", "none", "ann@acme.com"),
    ("ann@gmial.con", "none", "ann@gmail.com"),  # two slips: ending fixed, then the known typo
    ("ann@gmaiil.con", NXDOMAIN, "ann@gmail.com"),  # ending fixed, then the nearest popular domain
    # a real country code one key away, only for a popular provider's name
    ("ann@gmail.co", "none", "ann@gmail.com"),
    ("ann@gmail.cm", "none", "ann@gmail.com"),
    ("ann@yahoo.cm", "ok", "ann@yahoo.com"),
    ("ann@hotmail.co", "none", "ann@hotmail.com"),
    ("ann@acme.co", "none", ""),
    ("ann@acme.co", NXDOMAIN, ""),
    ("ann@me.co", "none", ""),
    # edit distance: only when DNS says the domain cannot take mail
    ("ann@gmaiil.com", NXDOMAIN, "ann@gmail.com"),
    ("ann@gmaiil.com", NULL_MX, "ann@gmail.com"),
    ("ann@gmaiil.com", "none", ""),
    ("ann@gmaiil.com", SERVFAIL, ""),
    ("ann@gmaiil.com", PRIVATE, ""),
    ("ann@yahooo.co.uk", NXDOMAIN, "ann@yahoo.co.uk"),
    ("ann@hotmaiil.co", NXDOMAIN, "ann@hotmail.com"),  # 2 edits on a long domain
    ("ann@outlookk.fr", NXDOMAIN, "ann@outlook.fr"),
    # false positives that must not happen: a real domain close to a popular one
    ("ann@tmail.com", "ok", ""),  # one edit from gmail.com, but it resolves and takes mail
    ("ann@hmail.com", "ok", ""),
    ("ann@gmaiil.com", "ok", ""),
    ("ann@gmx.com", NXDOMAIN, ""),  # popular itself (3 edits from gmail.com would not do anyway)
    ("ann@mail.com", NXDOMAIN, ""),  # one edit from gmail.com, but a real provider
    ("ann@email.com", "ok", ""),
    ("ann@ymail.com", "ok", ""),
    ("ann@yahoo.co.jp", "ok", ""),
    ("ann@live.nl", "ok", ""),
    ("ann@gmail.com", "ok", ""),
    ("ann@company.example", NXDOMAIN, ""),  # nothing popular nearby
    ("ann@qq.cm", NXDOMAIN, ""),  # too short to guess
    ("ann@gmx.de", "none", ""),
]


@pytest.mark.parametrize(("address", "dns", "suggestion"), CASES)
def test_suggestions(address: str, dns: str | Verdict, suggestion: str) -> None:
    check = check_address(address)
    assert check.ok, check.detail
    if dns == "none":
        domain = None
    elif dns == "ok":
        domain = domain_verdict(check.ascii_domain, None)
    else:
        assert isinstance(dns, Verdict)
        domain = domain_verdict(check.ascii_domain, dns)
    flags = Hygiene(HygieneOptions()).flags(check, domain)
    assert flags.suggestion == suggestion


def test_suggestion_never_changes_the_address() -> None:
    from pipeline.verdict import forecast

    check = check_address("ann@gmial.com")
    flags = Hygiene(HygieneOptions()).flags(check, None)
    verdict = forecast(check, None, None, flags)
    assert flags.suggestion == "ann@gmail.com" and flags.typo
    assert check.email == "ann@gmial.com"
    # The suggestion is named in the detail (and its column), never written over the address.
    assert "Did you mean ann@gmail.com?" in verdict.detail and verdict.reason == "typo_domain"


def test_dns_failed() -> None:
    assert not dns_failed(None)
    assert not dns_failed(domain_verdict("a.example", None))
    assert not dns_failed(domain_verdict("a.example", SERVFAIL))
    assert dns_failed(domain_verdict("a.example", NXDOMAIN))
    assert dns_failed(domain_verdict("a.example", NULL_MX))


def test_tie_goes_to_the_more_popular_domain() -> None:
    # "gemail.example" is one edit from both: the earlier (more popular) one wins.
    suggester = TypoSuggester(popular=("gmail.example", "email.example"), known={})
    assert suggester.suggest("gemail.example", dns_failed=True) == "gmail.example"
    suggester = TypoSuggester(popular=("email.example", "gmail.example"), known={})
    assert suggester.suggest("gemail.example", dns_failed=True) == "email.example"


def test_suggestions_are_memoized_per_domain() -> None:
    hygiene = Hygiene(HygieneOptions())
    calls: list[str] = []
    original = hygiene.typos.suggest_typo

    def counting(domain: str, dns_failed: bool) -> tuple[str, bool]:
        calls.append(domain)
        return original(domain, dns_failed)

    hygiene.typos.suggest_typo = counting  # type: ignore[method-assign]
    for local in ("ann", "bob", "cy", "dee"):
        assert hygiene.flags(check_address(f"{local}@gmial.com"), None).suggestion == f"{local}@gmail.com"
    assert calls == ["gmial.com"]
