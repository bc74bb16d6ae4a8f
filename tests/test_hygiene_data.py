"""The shipped word lists hold together: every entry well formed, no list contradicting another."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from disposable_email_domains import blocklist

from pipeline.rules import wordlists
from pipeline.rules.typos import osa_distance

PUBLIC_SUFFIX_LIST = Path("/usr/share/publicsuffix/public_suffix_list.dat")


def test_lists_load_and_are_lower_case_ascii() -> None:
    domains = [*wordlists.free_providers(), *wordlists.popular_domains(), *wordlists.typo_domains()]
    assert len(wordlists.role_accounts()) >= 50
    assert len(wordlists.free_providers()) >= 100
    assert len(wordlists.popular_domains()) >= 80
    assert len(wordlists.typo_domains()) >= 50
    for domain in domains:
        assert domain == domain.lower().strip()
        assert domain.isascii() and "." in domain and " " not in domain, domain


@pytest.mark.parametrize("name", ["role_accounts.txt", "free_providers.txt", "popular_domains.txt", "typo_domains.txt"])
def test_no_entry_twice(name: str) -> None:
    keys = [row[0] for row in wordlists._entries(name)]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    assert repeated == []


def test_role_file_is_written_in_matching_form() -> None:
    for (name,) in wordlists._entries("role_accounts.txt"):
        assert wordlists.role_key(name) == name


def test_known_typos_point_from_a_non_provider_to_a_popular_one() -> None:
    popular = set(wordlists.popular_domains())
    free = wordlists.free_providers()
    for typo, meant in wordlists.typo_domains().items():
        assert typo not in popular and typo not in free, typo
        assert meant in popular, meant
        assert 1 <= osa_distance(typo, meant, 3) <= 2, (typo, meant)


def test_popular_providers_are_neither_disposable_nor_typos() -> None:
    popular = set(wordlists.popular_domains())
    free = wordlists.free_providers()
    assert sorted((popular | free) & blocklist) == []
    assert popular <= free  # every typo target is a provider people sign up with


def test_tld_slips_change_something() -> None:
    slips = wordlists.tld_slips()
    assert slips.absent and slips.real
    for typed, meant in [*slips.absent.items(), *slips.real.items()]:
        assert typed != meant


def test_absent_tld_slips_are_not_delegated() -> None:
    """An "absent" ending must really be absent from the root zone, or we would correct real mail."""
    if not PUBLIC_SUFFIX_LIST.exists():
        message = f"PUBLIC SUFFIX LIST MISSING: {PUBLIC_SUFFIX_LIST} (Debian package publicsuffix)"
        if os.environ.get("PRESEND_REQUIRE_LAB") == "1":
            pytest.fail(message)
        pytest.skip(message)
    suffixes = {
        line.strip()
        for line in PUBLIC_SUFFIX_LIST.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("//")
    }
    tlds = {s for s in suffixes if "." not in s}
    assert {"com", "net", "org", "uk", "co", "cm", "om"} <= tlds
    slips = wordlists.tld_slips()
    assert sorted(set(slips.absent) & tlds) == []
    assert set(slips.real) <= tlds
    assert {*slips.absent.values(), *slips.real.values()} <= suffixes
