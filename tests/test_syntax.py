"""Normalization and syntax reasons, table-driven."""

from __future__ import annotations

import pytest

from pipeline.syntax import check_address, normalize


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("  a@b.com  ", "a@b.com"),
        ("\u00a0a@b.com\t", "a@b.com"),
        ("mailto:a@b.com", "a@b.com"),
        ("MAILTO:a@b.com?subject=hi", "a@b.com"),
        ("Ann Lee <ann@b.com>", "ann@b.com"),
        ('"Lee, Ann" <ann@b.com>', "ann@b.com"),
        ("<mailto:ann@b.com>", "ann@b.com"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize(cell: str, expected: str) -> None:
    assert normalize(cell) == expected


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("", "missing_address"),
        ("plainaddress", "missing_at_sign"),
        ("@example.com", "missing_local_part"),
        ("user@", "missing_domain"),
        ("a..b@example.com", "consecutive_dots"),
        (".a@example.com", "leading_dot"),
        ("a.@example.com", "trailing_dot"),
        ("user@localhost", "domain_without_dot"),
        ("user@example.123", "invalid_tld"),
        ("a b@example.com", "invalid_local_part"),
        ("user@exa mple.com", "invalid_domain"),
        ("x" * 65 + "@example.com", "local_part_too_long"),
        ("user@" + "a" * 64 + ".com", "domain_label_too_long"),
        ('"quoted"@example.com', "quoted_local_part"),
        ("user@[192.0.2.1]", "domain_literal"),
        ("user@invalid", "domain_without_dot"),
        ("user@foo.invalid", "reserved_domain"),
    ],
)
def test_syntax_reasons(cell: str, reason: str) -> None:
    check = check_address(cell)
    assert not check.ok
    assert check.reason == reason
    assert check.detail


@pytest.mark.parametrize(
    ("cell", "email", "ascii_domain", "smtputf8"),
    [
        ("User@Example.COM", "User@example.com", "example.com", False),
        ("josé@example.com", "josé@example.com", "example.com", True),
        ("ann@bücher.example", "ann@bücher.example", "xn--bcher-kva.example", False),
        ("Ann <ann+tag@example.org>", "ann+tag@example.org", "example.org", False),
    ],
)
def test_valid_addresses(cell: str, email: str, ascii_domain: str, smtputf8: bool) -> None:
    check = check_address(cell)
    assert check.ok, check.detail
    assert check.email == email
    assert check.ascii_domain == ascii_domain
    assert check.smtputf8 is smtputf8
