"""Provider-aware duplicate keys, and hygiene end to end through a real --no-dns run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from pipeline.options import CacheOptions, DnsOptions, HygieneOptions, RunOptions
from pipeline.rules.hygiene import Hygiene, canonical_key
from pipeline.rules.syntax import check_address
from pipeline.run import run


@pytest.mark.parametrize(
    ("first", "second", "plain_same", "canonical_same"),
    [
        ("Ann@Acme-co.com", "ann@acme-co.COM", True, True),
        ("ann.lee@gmail.com", "annlee@gmail.com", False, True),
        ("a.n.n.lee@gmail.com", "annlee@gmail.com", False, True),
        ("annlee+news@gmail.com", "annlee@gmail.com", False, True),
        ("Ann.Lee+x@GoogleMail.com", "annlee@gmail.com", False, True),
        ("ann.lee@googlemail.com", "annlee@googlemail.com", False, True),
        ("ann+news@outlook.com", "ann@outlook.com", False, True),
        ("ann+a@company.example", "ann+b@company.example", False, True),
        # only Gmail ignores dots
        ("ann.lee@outlook.com", "annlee@outlook.com", False, False),
        ("ann.lee@company.example", "annlee@company.example", False, False),
        # other separators are not subaddresses for everyone
        ("ann-news@yahoo.com", "ann@yahoo.com", False, False),
        # different people, different domains
        ("ann@gmail.com", "ann@hotmail.com", False, False),
        ("ann@gmail.com", "bob@gmail.com", False, False),
        # nothing before the +: the + is the name, not a tag
        ("+1@company.example", "+2@company.example", False, False),
        # one domain written in Unicode and in IDNA form
        ("ann+x@bücher.example", "ann@xn--bcher-kva.example", False, True),
    ],
)
def test_duplicate_keys(first: str, second: str, plain_same: bool, canonical_same: bool) -> None:
    a, b = check_address(first), check_address(second)
    assert a.ok and b.ok
    plain = Hygiene(HygieneOptions())
    canonical = Hygiene(HygieneOptions(canonical_duplicates=True))
    assert (plain.duplicate_key(a) == plain.duplicate_key(b)) is plain_same
    assert (canonical.duplicate_key(a) == canonical.duplicate_key(b)) is canonical_same


def test_canonical_key_form() -> None:
    assert canonical_key("A.Nn+Tag", "GoogleMail.com") == "ann@gmail.com"
    assert canonical_key("A.Nn+Tag", "outlook.com") == "a.nn@outlook.com"


ROWS = [
    ("name", "email"),
    ("Ann", "ann.lee@gmail.com"),  # row 1
    ("Bob", "info@company-corp.com"),  # row 2: role
    ("Cy", "cy@mailinator.com"),  # row 3: disposable
    ("Dee", "dee@gmial.com"),  # row 4: known typo, also on the disposable list
    ("Ann again", "AnnLee+promo@googlemail.com"),  # row 5: same mailbox as row 1
    ("Eve", "eve@hotmail.con"),  # row 6: impossible ending
    ("Fay", "fay@yahoo.co.uk"),  # row 7: free
    ("Gus", "gus@burner-mail.net"),  # row 8: disposable by the user's block list
    ("Hal", "hal@mailinator.com"),  # row 9: disposable, but the user allows it
    ("Ann third", "ann.lee@gmail.com"),  # row 10: exact repeat of row 1
]


def run_list(tmp_path: Path, hygiene: HygieneOptions) -> tuple[list[dict[str, str]], dict[str, object]]:
    source = tmp_path / "people.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(ROWS)
    out = tmp_path / "out"
    result = run(
        RunOptions(
            input=source,
            out_dir=out,
            dns=DnsOptions(enabled=False),
            hygiene=hygiene,
            cache=CacheOptions(enabled=False),
        )
    )
    with result.paths["results"].open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    summary = json.loads(result.paths["summary"].read_text(encoding="utf-8"))
    return rows, summary


def test_run_writes_flags_suggestions_and_duplicates(tmp_path: Path) -> None:
    hygiene = HygieneOptions(
        canonical_duplicates=True,
        role_is_risky=True,
        disposable_block=("burner-mail.net",),
        disposable_allow=("mailinator.com",),
    )
    rows, summary = run_list(tmp_path, hygiene)
    assert [r["email"] for r in rows] == [r[1] for r in ROWS[1:]]  # input untouched, in order
    by_name = {r["name"]: r for r in rows}

    def cols(name: str, *columns: str) -> tuple[str, ...]:
        return tuple(by_name[name][f"presend_{c}"] for c in columns)

    # Only syntax ran: a new address nothing was found against is unknown (domain_not_checked).
    assert cols("Ann", "status", "free", "role", "disposable") == ("unknown", "true", "false", "false")
    assert cols("Bob", "status", "reason", "role") == ("risky", "role_account", "true")
    assert cols("Cy", "status", "disposable") == ("unknown", "false")  # allowed by the user
    assert cols("Hal", "status", "disposable") == ("unknown", "false")
    assert cols("Gus", "status", "reason", "disposable") == ("risky", "disposable_domain", "true")
    # A known typo is a typo, never disposable, whatever list it is also on.
    assert cols("Dee", "suggestion", "email", "status", "reason", "disposable") == (
        "dee@gmail.com", "dee@gmial.com", "undeliverable", "typo_domain", "false")
    assert cols("Eve", "suggestion", "email") == ("eve@hotmail.com", "eve@hotmail.con")
    assert cols("Fay", "free", "suggestion") == ("true", "")
    assert cols("Ann again", "status", "code") == ("duplicate", "")
    assert "row 1" in by_name["Ann again"]["presend_detail"]
    assert "Gmail ignores dots and +tags" in by_name["Ann again"]["presend_detail"]
    assert cols("Ann third", "status") == ("duplicate",)
    assert "row 1" in by_name["Ann third"]["presend_detail"]

    assert summary["suggestions"] == 2
    flags = summary["flags"]
    assert isinstance(flags, dict)
    assert flags["role"] == 1
    assert flags["disposable"] == 1  # Gus; Dee's gmial.com is on the maintained list, but a typo
    assert flags["free"] == 4  # the three Ann rows and Fay; gmial.com is no provider
    by_status = summary["by_status"]
    assert isinstance(by_status, dict)
    assert by_status["duplicate"] == 2


def test_run_without_canonical_duplicates_keeps_gmail_variants(tmp_path: Path) -> None:
    rows, summary = run_list(tmp_path, HygieneOptions())
    by_name = {r["name"]: r for r in rows}
    assert by_name["Ann again"]["presend_status"] == "unknown"
    assert by_name["Ann third"]["presend_status"] == "duplicate"
    assert by_name["Ann third"]["presend_detail"].startswith("Same address as row 1 ")
    assert by_name["Bob"]["presend_status"] == "unknown"  # role is a flag only
    assert by_name["Bob"]["presend_role"] == "true"
    assert by_name["Cy"]["presend_status"] == "risky"
    assert by_name["Cy"]["presend_reason"] == "disposable_domain"
    assert by_name["Gus"]["presend_disposable"] == "false"
    by_status = summary["by_status"]
    assert isinstance(by_status, dict)
    assert by_status["duplicate"] == 1
