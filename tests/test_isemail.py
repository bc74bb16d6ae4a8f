"""The public isemail test set (Dominic Sayers, BSD licence: tests/data/isemail-LICENSE.md).

Each address carries a category. How presend forecasts each one, and why:

- ISEMAIL_ERR: 501 for every address (invalid by any reading of the RFCs).
- ISEMAIL_VALID_CATEGORY with a dotted domain: never 501 (plainly valid).
- ISEMAIL_VALID_CATEGORY with a single-label domain (``test@io``): 501 ``domain_without_dot``;
  valid by the RFCs, but no public mailbox lives on a bare TLD and email-validator refuses it.
- ISEMAIL_DNSWARN: never 501. The syntax is valid; whether the domain takes mail is the DNS
  level's question.
- ISEMAIL_RFC5321: 501. Quoted local parts, address literals, numeric or missing TLDs are
  allowed by SMTP but refused by email-validator's defaults, and are not addresses a
  campaign list should send to.
- ISEMAIL_RFC5322: 501. Valid only as message-header syntax, not for SMTP (too long,
  domain literals that are not IP addresses).
- ISEMAIL_DEPREC: 501. Obsolete syntax (comments, folding white space, quoted pairs).
- ISEMAIL_CFWS: 501, except when the only extra is spaces around the address, which is what
  presend's normalization strips. Comments and folded lines (CRLF) are refused.

Control characters are stored in the XML as U+2400 + their code (the file's own note).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from pipeline.models import HygieneFlags, Status
from pipeline.rules.syntax import check_address
from pipeline.verdict import forecast

DATA = Path(__file__).parent / "data" / "isemail-tests.xml"

NEVER_501 = {"ISEMAIL_DNSWARN"}
ALWAYS_501 = {"ISEMAIL_ERR", "ISEMAIL_RFC5321", "ISEMAIL_RFC5322", "ISEMAIL_DEPREC"}


def _decode(text: str) -> str:
    return "".join(chr(ord(ch) - 0x2400) if 0x2400 <= ord(ch) < 0x2420 else ch for ch in text)


def _load() -> list[tuple[str, str, str, str]]:
    cases = []
    for test in ET.parse(DATA).getroot().iter("test"):
        address = _decode(test.findtext("address") or "")
        cases.append((test.get("id") or "", test.findtext("category") or "", test.findtext("diagnosis") or "", address))
    return cases


CASES = _load()


def _expect_501(category: str, address: str) -> bool:
    if category in ALWAYS_501:
        return True
    if category in NEVER_501:
        return False
    if category == "ISEMAIL_VALID_CATEGORY":
        return "." not in address.rpartition("@")[2]
    if category == "ISEMAIL_CFWS":
        core = address.strip(" ")
        return core == address or any(ch in core for ch in " \t\r\n()")
    raise AssertionError(f"category {category} is not in the table of this module's docstring")


def test_the_corpus_is_complete() -> None:
    categories = Counter(category for _, category, _, _ in CASES)
    assert len(CASES) == 164
    assert categories["ISEMAIL_ERR"] == 66
    assert categories["ISEMAIL_VALID_CATEGORY"] == 14
    assert set(categories) == ALWAYS_501 | NEVER_501 | {"ISEMAIL_VALID_CATEGORY", "ISEMAIL_CFWS"}


@pytest.mark.parametrize(("test_id", "category", "diagnosis", "address"), CASES, ids=[c[0] for c in CASES])
def test_isemail_forecast(test_id: str, category: str, diagnosis: str, address: str) -> None:
    check = check_address(address)
    verdict = forecast(check, None, None, HygieneFlags())
    if _expect_501(category, address):
        assert (verdict.code, verdict.enhanced, verdict.status) == ("501", "5.1.3", Status.UNDELIVERABLE), (
            f"#{test_id} {diagnosis} {address!r} was accepted as {check.email!r}"
        )
        assert verdict.reason and verdict.reason != "domain_not_checked"
    else:
        assert check.ok, f"#{test_id} {diagnosis} {address!r}: {check.reason} {check.detail}"
        # Syntax passed; with no other level run, no reply is forecast (never a 250).
        assert (verdict.code, verdict.status, verdict.reason) == ("", Status.UNKNOWN, "domain_not_checked")


def test_every_err_is_501_and_every_dotted_valid_is_not() -> None:
    """The issue's two headline claims, counted over the whole corpus."""
    err = [a for _, c, _, a in CASES if c == "ISEMAIL_ERR"]
    valid = [a for _, c, _, a in CASES if c == "ISEMAIL_VALID_CATEGORY" and "." in a.rpartition("@")[2]]
    assert len(valid) == 13
    assert all(not check_address(a).ok for a in err)
    assert all(check_address(a).ok for a in valid)
