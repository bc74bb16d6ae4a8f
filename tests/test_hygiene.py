"""Hygiene flags: role accounts, free providers, disposable domains, table-driven."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.models import DomainVerdict, HygieneFlags, MxHost, Status
from pipeline.options import HygieneOptions
from pipeline.rules.disposable import DisposableDomains, normalize_domain, parent_domains
from pipeline.rules.hygiene import Hygiene, is_role
from pipeline.rules.syntax import check_address
from pipeline.verdict import forecast


def flags_of(address: str, options: HygieneOptions | None = None, domain: DomainVerdict | None = None) -> HygieneFlags:
    check = check_address(address)
    assert check.ok, check.detail
    return Hygiene(options or HygieneOptions()).flags(check, domain)


@pytest.mark.parametrize(
    ("local", "role"),
    [
        ("info", True),
        ("INFO", True),
        ("admin", True),
        ("sales", True),
        ("support", True),
        ("noreply", True),
        ("no-reply", True),
        ("No_Reply", True),
        ("no.reply", True),
        ("do-not-reply", True),
        ("postmaster", True),
        ("abuse", True),
        ("webmaster", True),
        ("billing", True),
        ("contact", True),
        ("hello", True),
        ("team", True),
        ("info+newsletter", True),
        ("info2", True),
        ("mailer-daemon", True),
        # people, and words that merely contain a role
        ("ann", False),
        ("ann.lee", False),
        ("information.desk", False),
        ("salesforce", False),
        ("teams.bot", False),
        ("hellokitty", False),
        ("j.smith+info", False),
        ("infoann", False),
    ],
)
def test_role_accounts(local: str, role: bool) -> None:
    assert is_role(local) is role
    assert flags_of(f"{local}@company.example").role is role


@pytest.mark.parametrize(
    ("domain", "free"),
    [
        ("gmail.com", True),
        ("googlemail.com", True),
        ("yahoo.com", True),
        ("yahoo.co.uk", True),
        ("outlook.com", True),
        ("hotmail.com", True),
        ("live.com", True),
        ("msn.com", True),
        ("aol.com", True),
        ("icloud.com", True),
        ("me.com", True),
        ("mac.com", True),
        ("gmx.de", True),
        ("web.de", True),
        ("mail.ru", True),
        ("yandex.ru", True),
        ("qq.com", True),
        ("163.com", True),
        ("proton.me", True),
        ("protonmail.com", True),
        ("zoho.com", True),
        ("libero.it", True),
        ("orange.fr", True),
        ("GMAIL.COM", True),
        # companies, including ones that use a provider for their own mail
        ("company.example", False),
        ("google.com", False),
        ("mail.google.com", False),
        ("sub.gmail.com", False),
        ("orange.com", False),
    ],
)
def test_free_providers(domain: str, free: bool) -> None:
    assert flags_of(f"ann@{domain}").free is free


@pytest.mark.parametrize(
    ("domain", "allow", "block", "disposable"),
    [
        ("mailinator.com", (), (), True),
        ("guerrillamail.com", (), (), True),
        ("10minutemail.com", (), (), True),
        ("yopmail.com", (), (), True),
        ("sub.mailinator.com", (), (), True),
        ("a.b.mailinator.com", (), (), True),
        ("gmail.com", (), (), False),
        ("company.example", (), (), False),
        ("mailinator.com.example", (), (), False),  # a listed name as a prefix is no parent
        # the user's allow list wins, for the domain and its subdomains
        ("mailinator.com", ("mailinator.com",), (), False),
        ("sub.mailinator.com", ("mailinator.com",), (), False),
        ("mailinator.com", ("sub.mailinator.com",), (), True),
        ("mailinator.com", ("mailinator.com",), ("mailinator.com",), False),
        # the user's block list adds, subdomains included
        ("burner.example", (), ("burner.example",), True),
        ("x.burner.example", (), ("burner.example",), True),
        ("burner.example", (), ("x.burner.example",), False),
        # entries are forgiving: case, @, *., final dot, Unicode names
        ("burner.example", (), (" @Burner.Example. ",), True),
        ("x.burner.example", (), ("*.burner.example",), True),
        ("xn--bcher-kva.example", (), ("bücher.example",), True),
    ],
)
def test_disposable(domain: str, allow: tuple[str, ...], block: tuple[str, ...], disposable: bool) -> None:
    options = HygieneOptions(disposable_allow=allow, disposable_block=block)
    assert flags_of(f"ann@{domain}", options).disposable is disposable


_LABELS = st.sampled_from(["a", "b", "mail", "x1", "example"])
_NAMES = st.lists(_LABELS, min_size=1, max_size=4).map(".".join)


@settings(max_examples=300, deadline=None)
@given(domain=_NAMES, listed=st.lists(_NAMES, max_size=4), allow=st.lists(_NAMES, max_size=2),
       block=st.lists(_NAMES, max_size=2))
def test_disposable_answers_as_a_walk_over_every_parent(
    domain: str, listed: list[str], allow: list[str], block: list[str]
) -> None:
    # The quick ending check never changes an answer, one-label entries included.
    parents = [".".join(domain.split(".")[i:]) for i in range(domain.count(".") + 1)]
    expected = not any(p in allow for p in parents) and any(p in listed or p in block for p in parents)
    assert (domain in DisposableDomains(allow, block, listed=set(listed))) is expected


def test_disposable_list_is_the_maintained_package() -> None:
    from disposable_email_domains import blocklist

    domains = DisposableDomains()
    assert domains.listed is blocklist
    assert len(blocklist) > 1000
    sample = sorted(blocklist)[:: max(1, len(blocklist) // 50)]
    assert all(d in domains for d in sample)


def test_disposable_unicode_address() -> None:
    options = HygieneOptions(disposable_block=("xn--bcher-kva.example",))
    assert flags_of("ann@bücher.example", options).disposable


@pytest.mark.parametrize(
    ("entry", "normalized"),
    [
        ("Example.COM", "example.com"),
        ("@example.com", "example.com"),
        ("*.example.com", "example.com"),
        ("example.com.", "example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("   ", ""),
    ],
)
def test_normalize_domain(entry: str, normalized: str) -> None:
    assert normalize_domain(entry) == normalized


def test_parent_domains() -> None:
    assert parent_domains("a.b.example") == ["a.b.example", "b.example", "example"]


@pytest.mark.parametrize(
    ("address", "options", "status", "reason"),
    [
        ("ann@mailinator.com", HygieneOptions(), Status.RISKY, "disposable_domain"),
        ("info@company.example", HygieneOptions(), Status.DELIVERABLE, "domain_accepts_mail"),
        ("info@company.example", HygieneOptions(role_is_risky=True), Status.RISKY, "role_account"),
        ("ann@gmail.com", HygieneOptions(role_is_risky=True), Status.DELIVERABLE, "domain_accepts_mail"),
    ],
)
def test_flags_lower_the_forecast(address: str, options: HygieneOptions, status: Status, reason: str) -> None:
    """A disposable address is at best risky; a role account only when the option says so."""
    check = check_address(address)
    domain = DomainVerdict(check.ascii_domain, None, (MxHost(10, f"mx.{check.ascii_domain}"),))
    flags = Hygiene(options).flags(check, domain)
    verdict = forecast(check, domain, None, flags, role_is_risky=options.role_is_risky)
    assert (verdict.status, verdict.reason) == (status, reason)


def test_flags_are_a_record_per_combination() -> None:
    hygiene = Hygiene(HygieneOptions())
    one = hygiene.flags(check_address("info@gmail.com"), None)
    two = hygiene.flags(check_address("sales@gmail.com"), None)
    assert one == two
    assert (one.role, one.free, one.disposable, one.suggestion) == (True, True, False, "")
