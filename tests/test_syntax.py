"""Normalization and syntax reasons, table-driven."""

from __future__ import annotations

import pytest

from pipeline.rules.syntax import REASONS, check_address, normalize, reason_for


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("  a@b.com  ", "a@b.com"),
        ("\u00a0a@b.com\t", "a@b.com"),
        ("\ufeffa@b.com", "a@b.com"),  # a stray byte-order mark
        ("\u200ba@b.com\u200d", "a@b.com"),  # zero-width characters around
        ("\u3000a@b.com\u3000", "a@b.com"),  # ideographic space
        ("mailto:a@b.com", "a@b.com"),
        ("MAILTO:a@b.com?subject=hi", "a@b.com"),
        ("mailto:j%C3%B6rg@b.com", "jörg@b.com"),  # RFC 6068 percent-encoding
        ("mailto:a%ZZ@b.com", "a%ZZ@b.com"),  # not percent-encoding: left as written
        ("mailto:a%FF@b.com", "a%FF@b.com"),  # not UTF-8 once decoded: left as written
        ("Ann Lee <ann@b.com>", "ann@b.com"),
        ('"Lee, Ann" <ann@b.com>', "ann@b.com"),
        ("<ann@b.com>", "ann@b.com"),
        ("<mailto:ann@b.com>", "ann@b.com"),
        ("Ann\n<ann@b.com>", "ann@b.com"),  # a line break in the name goes with the name
        ("  Ann < ann@b.com >  ", "ann@b.com"),
        ("a@b.com\n", "a@b.com\n"),  # line breaks are not blanks: kept, then refused
        ("\r\na@b.com", "\r\na@b.com"),
        ("Ann <a@b.com", "Ann <a@b.com"),  # unclosed: left for the validator to refuse
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize(cell: str, expected: str) -> None:
    assert normalize(cell) == expected


# One or more examples per reason slug; test_every_reason_is_reachable checks the table
# covers REASONS.
REASON_CASES: list[tuple[str, str]] = [
    ("", "missing_address"),
    ("  \t ", "missing_address"),
    ("mailto:", "missing_address"),
    ("a@b.com\n", "line_break"),
    ("a@b.com\r", "line_break"),
    ("\r\n a@b.com", "line_break"),
    ("a@b.\u2028com", "line_break"),
    ("a@b.com, c@d.com", "multiple_addresses"),
    ("a@b.com;c@d.com", "multiple_addresses"),
    ("a@b.com c@d.com", "multiple_addresses"),
    ("plainaddress", "missing_at_sign"),
    ("ann.example.com", "missing_at_sign"),
    ("user\uff20example.com", "lookalike_at_sign"),
    ("user\ufe6bexample.com", "lookalike_at_sign"),
    ("@example.com", "missing_local_part"),
    ("user@", "missing_domain"),
    ("a..b@example.com", "consecutive_dots"),
    ("a@example..com", "consecutive_dots"),
    (".a@example.com", "leading_dot"),
    ("a@.example.com", "leading_dot"),
    ("a.@example.com", "trailing_dot"),
    ("a@example.com.", "trailing_dot"),
    ("a@-example.com", "domain_hyphen"),
    ("a@example-.com", "domain_hyphen"),
    ("a@example.com-", "domain_hyphen"),
    ("a@ex-.ample.com", "domain_hyphen"),
    ("a@ab--cd.com", "domain_hyphen"),
    ("x" * 65 + "@example.com", "local_part_too_long"),
    ("\u00e9" * 33 + "@example.com", "local_part_too_long"),  # 33 characters, 66 octets
    ("a@" + ".".join(["a" * 63] * 4) + ".com", "domain_too_long"),
    ("user@" + "a" * 64 + ".com", "domain_label_too_long"),
    ("x" * 64 + "@" + ".".join(["a" * 63] * 3) + "." + "b" * 10, "address_too_long"),
    ("user@localhost", "domain_without_dot"),
    ("user@invalid", "domain_without_dot"),
    ("user@example.123", "invalid_tld"),
    ("user@foo.invalid", "reserved_domain"),
    ("user@b.test", "reserved_domain"),
    ("user@[192.0.2.1]", "domain_literal"),
    ("user@[IPv6:2001:db8::1]", "domain_literal"),
    ('"quoted"@example.com', "quoted_local_part"),
    ('"a b"@example.com', "quoted_local_part"),
    ("Ann <a@b.com", "display_name"),
    ('"Ann" <a@b.com> and more', "trailing_text"),
    ("a\u200eb@example.com", "unsafe_characters"),
    ("a\u200bb@example.com", "unsafe_characters"),
    ("a b@example.com", "invalid_local_part"),
    ('"test"test@example.com', "invalid_local_part"),
    ("(comment)test@example.com", "invalid_local_part"),
    ("user@exa mple.com", "invalid_domain"),
    ("user@exa_mple.com", "invalid_domain"),
    ("ann@b.com;", "invalid_domain"),
    ("a@b@c.com", "invalid_domain"),
    ("a@xn--cd.com", "invalid_domain"),
]


@pytest.mark.parametrize(("cell", "reason"), REASON_CASES)
def test_syntax_reasons(cell: str, reason: str) -> None:
    check = check_address(cell)
    assert not check.ok
    assert check.reason == reason, check.detail
    assert check.reason in REASONS
    assert check.detail.startswith(REASONS[reason])
    assert "\n" not in check.detail and "\r" not in check.detail  # one line
    assert len(check.detail) < 300
    assert not check.email


def test_every_reason_is_reachable() -> None:
    covered = {reason for _, reason in REASON_CASES}
    # No input reaches these two with email-validator 2.x: "invalid_character" is its
    # message for strings that cannot be UTF-8 encoded (surrogates are refused earlier as
    # unsafe), "invalid_syntax" is the fallback for a message a later version may add.
    unreachable = {"invalid_character", "invalid_syntax"}
    assert covered | unreachable == set(REASONS)
    assert reason_for("The email address contains an invalid character.") == "invalid_character"
    assert reason_for("Some message email-validator has not written yet.") == "invalid_syntax"


def test_detail_names_the_offending_characters() -> None:
    check = check_address("a b@example.com")
    assert "SPACE" in check.detail
    assert "'a b@example.com'" in check.detail


def test_detail_of_a_long_cell_is_cut() -> None:
    check = check_address("x" * 500 + "@@example.com")
    assert not check.ok
    assert len(check.detail) < 200
    assert "…" in check.detail


@pytest.mark.parametrize(
    ("cell", "email", "ascii_domain", "smtputf8"),
    [
        ("User@Example.COM", "User@example.com", "example.com", False),
        ("josé@example.com", "josé@example.com", "example.com", True),
        ("ann@bücher.example", "ann@bücher.example", "xn--bcher-kva.example", False),
        ("ann@xn--bcher-kva.example", "ann@bücher.example", "xn--bcher-kva.example", False),
        ("Ann <ann+tag@example.org>", "ann+tag@example.org", "example.org", False),
        (" mailto:ann@example.org ", "ann@example.org", "example.org", False),
        ("x" * 64 + "@example.com", "x" * 64 + "@example.com", "example.com", False),
        ("Postmaster@Example.com", "postmaster@example.com", "example.com", False),
        ("!#$%&'*+/=?^_`{|}~-@example.com", "!#$%&'*+/=?^_`{|}~-@example.com", "example.com", False),
    ],
)
def test_valid_addresses(cell: str, email: str, ascii_domain: str, smtputf8: bool) -> None:
    check = check_address(cell)
    assert check.ok, check.detail
    assert check.email == email
    assert check.ascii_domain == ascii_domain
    assert check.smtputf8 is smtputf8
    assert check.reason == "" and check.detail == ""
    assert check.key == email.casefold()


def test_check_is_pure_and_deterministic() -> None:
    cells = ["a@b.com", "bad", "", "Ann <ann@b.com>"]
    assert [check_address(c) for c in cells] == [check_address(c) for c in cells]
