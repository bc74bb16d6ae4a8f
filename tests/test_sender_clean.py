"""``presend clean --from ...`` end to end: sender findings folded into every row, in every engine.

The lab's root zone (real NSD behind real Unbound) serves the sender's records
(:mod:`tests.lab.senderzones`) and recipient domains whose MX names follow the big
providers' real patterns (``gmail-smtp-in.l.google.com``, ``mta5.am0.yahoodns.net``,
``*.mail.protection.outlook.com``), all on loopback: no real provider is ever asked.
"""

from __future__ import annotations

import csv
import json
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab
from tests.lab.senderzones import (
    BLOCKLIST,
    GOOD_IP,
    LAB_MX_IP,
    LISTED_IP,
    NO_PTR_IP,
    make_dkim_key,
    sender_records,
)
from tests.run_helpers import assert_same_outputs, clean_command, result_rows, run_cli

RECIPIENTS = [
    "gm.example. MX 5 gmail-smtp-in.l.google.com.",
    f"gmail-smtp-in.l.google.com. A {LAB_MX_IP}",
    "ya.example. MX 1 mta5.am0.yahoodns.net.",
    f"mta5.am0.yahoodns.net. A {LAB_MX_IP}",
    "ms.example. MX 0 ms-example.mail.protection.outlook.com.",
    f"ms-example.mail.protection.outlook.com. A {LAB_MX_IP}",
    "plain.example. MX 10 mx.plain.example.",
    f"mx.plain.example. A {LAB_MX_IP}",
]
DOMAINS = {"gm.example": "Google", "ya.example": "Yahoo", "ms.example": "Microsoft 365", "plain.example": ""}
#: rows per recipient domain (enough for several pieces at --chunk-size 50)
PER_DOMAIN = 60


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    _, public = make_dkim_key()
    with DnsLab(
        sender_records(public) + RECIPIENTS,
        tmp_path_factory.mktemp("sender-clean-dns"),
        nsd_binary=require_binary("nsd"),
        unbound_binary=require_binary("unbound"),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sender-list") / "campaign.csv"
    lines = ["id,email"]
    for n in range(PER_DOMAIN):
        for domain in DOMAINS:
            lines.append(f"{len(lines)},user{n}@{domain}")
    lines += [f"{len(lines)},not-an-address", f"{len(lines) + 1},user0@gm.example"]  # a 501 and a duplicate
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _clean(lab: DnsLab, listing: Path, out: Path, *sender: str) -> dict[str, object]:
    done = run_cli(
        clean_command(listing, out, "--nameserver", lab.nameserver, "--allow-private-mx", "--dnsbl", BLOCKLIST, *sender)
    )
    assert done.returncode == 0, done.stderr
    summary: dict[str, object] = json.loads((out / "campaign.summary.json").read_text(encoding="utf-8"))
    return summary


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "campaign.results.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _by_domain(out: Path) -> dict[str, set[tuple[str, str, str, str]]]:
    seen: dict[str, set[tuple[str, str, str, str]]] = {}
    for row in _rows(out):
        if row["presend_status"] in ("duplicate", "undeliverable"):
            continue
        domain = row["email"].rpartition("@")[2]
        key = (row["presend_status"], row["presend_code"], row["presend_enhanced"], row["presend_reason"])
        seen.setdefault(domain, set()).add(key)
    return seen


def test_a_ready_sender_changes_no_row(lab: DnsLab, listing: Path, tmp_path: Path) -> None:
    sender = ("--from", "news@good.example", "--ip", GOOD_IP, "--dkim-selector", "s1", "--bulk")
    summary = _clean(lab, listing, tmp_path / "ready", *sender)
    plain = _clean(lab, listing, tmp_path / "plain")
    assert summary["sender"]["ready"] is True  # type: ignore[index]
    assert all(f["state"] != "problem" for f in summary["sender"]["findings"])  # type: ignore[index]
    assert (
        _by_domain(tmp_path / "ready")
        == _by_domain(tmp_path / "plain")
        == {d: {("deliverable", "250", "2.0.0", "domain_accepts_mail")} for d in DOMAINS}
    )
    assert "sender" not in plain


def test_provider_codes_exactly_where_the_sender_misses_the_rule(lab: DnsLab, listing: Path, tmp_path: Path) -> None:
    # weak.example: SPF softfail, no DKIM key, no DMARC; the IP has no PTR; --bulk
    sender = ("--from", "news@weak.example", "--ip", NO_PTR_IP, "--dkim-selector", "s1", "--bulk")
    out = tmp_path / "weak"
    summary = _clean(lab, listing, out, *sender)
    assert _by_domain(out) == {
        "gm.example": {("unknown", "550", "5.7.26", "sending_gmail_unauthenticated")},
        "ya.example": {("unknown", "550", "5.7.9", "sending_yahoo_unauthenticated")},
        "ms.example": {("unknown", "550", "5.7.515", "sending_microsoft_bulk_spf")},
        "plain.example": {("deliverable", "250", "2.0.0", "domain_accepts_mail")},
    }
    findings = {f["reason"]: f for f in summary["sender"]["findings"] if f["state"] == "problem"}  # type: ignore[index]
    assert findings["sending_gmail_unauthenticated"]["rows_affected"] == PER_DOMAIN
    assert findings["sending_gmail_no_reverse_dns"]["rows_affected"] == 0  # Gmail's rows went to the first rule
    assert findings["sending_microsoft_bulk_spf"]["source"].startswith("https://techcommunity.microsoft.com/")
    # the rows keep the recipient side's own sentence after ours
    gmail = next(r for r in _rows(out) if r["email"] == "user1@gm.example")
    assert gmail["presend_detail"].startswith("A sender problem: Missed: Gmail requires every sender")
    # the HTML report opens with the sender readiness section, and `presend report` keeps it
    html = (out / "campaign.report.html").read_text(encoding="utf-8")
    assert html.index('id="sender-h"') < html.index('id="answer-h"')
    assert "Fix how you send before sending." in html and "5.7.515" in html
    again = tmp_path / "again.html"
    done = run_cli([sys.executable, "-m", "cli", "report", str(out / "campaign.results.csv"), "--out", str(again)])
    assert done.returncode == 0, done.stderr
    assert 'id="sender-h"' in again.read_text(encoding="utf-8")
    # the sender's problem is not the list's: those rows stay in the clean list (see outputs.py)
    clean = (out / "campaign.clean.csv").read_text(encoding="utf-8")
    assert "user1@gm.example" in clean and "not-an-address" not in clean


def test_without_bulk_only_the_rules_for_every_sender_apply(lab: DnsLab, listing: Path, tmp_path: Path) -> None:
    sender = ("--from", "news@quarantine.example", "--ip", NO_PTR_IP)
    out = tmp_path / "ptr"
    _clean(lab, listing, out, *sender)
    # SPF fails for this IP (a campaign-wide 550 5.7.1 before any provider rule)
    assert {key for keys in _by_domain(out).values() for key in keys} == {
        ("unknown", "550", "5.7.1", "sending_spf_fail")
    }
    out = tmp_path / "ptr-good-spf"
    _clean(lab, listing, out, "--from", "news@none.example", "--ip", NO_PTR_IP)
    assert _by_domain(out) == {
        "gm.example": {("unknown", "550", "5.7.25", "sending_gmail_no_reverse_dns")},
        "ya.example": {("unknown", "553", "5.7.2", "sending_yahoo_no_reverse_dns")},
        "ms.example": {("deliverable", "250", "2.0.0", "domain_accepts_mail")},
        "plain.example": {("deliverable", "250", "2.0.0", "domain_accepts_mail")},
    }


def test_a_listed_ip_makes_every_row_unknown(lab: DnsLab, listing: Path, tmp_path: Path) -> None:
    out = tmp_path / "listed"
    _clean(lab, listing, out, "--from", "news@good.example", "--ip", LISTED_IP, "--dkim-selector", "s1")
    counts = Counter(
        (r["presend_status"], r["presend_code"], r["presend_enhanced"], r["presend_reason"]) for r in _rows(out)
    )
    assert counts[("unknown", "554", "5.7.1", "sending_ip_blocklisted")] == PER_DOMAIN * len(DOMAINS)
    assert counts[("undeliverable", "501", "5.1.3", "invalid_syntax")] + counts[("duplicate", "", "", "duplicate")] >= 1


@pytest.mark.parametrize("engine", ["processes", "dask", "plain"])
def test_every_engine_folds_the_same_findings(lab: DnsLab, listing: Path, tmp_path: Path, engine: str) -> None:
    """Every engine, and the reference that decides every row alone (no templates), agree."""
    sender = ("--from", "news@weak.example", "--ip", NO_PTR_IP, "--dkim-selector", "s1", "--bulk")
    reference, other = tmp_path / "local", tmp_path / engine
    expected = _clean(lab, listing, reference, *sender, "--engine", "local", "--chunk-size", "50")
    how = ("--engine", "local", "--plain-syntax") if engine == "plain" else ("--engine", engine, "--workers", "2")
    summary = _clean(lab, listing, other, *sender, *how, "--chunk-size", "50")
    assert summary["engine"] == ("local" if engine == "plain" else engine)
    assert summary["sender"] == expected["sender"]  # the same findings (a lookup that timed out would show here)
    theirs, ours = result_rows(reference / "campaign.results.csv"), result_rows(other / "campaign.results.csv")
    assert [(a, b) for a, b in zip(theirs, ours, strict=True) if a != b][:3] == []
    assert_same_outputs(other, reference, "campaign")
    assert {r["presend_reason"] for r in _rows(other)} >= {
        "sending_gmail_unauthenticated",
        "sending_microsoft_bulk_spf",
    }


def test_the_python_api_keeps_the_same_rows(lab: DnsLab, listing: Path, tmp_path: Path) -> None:
    import pipeline

    out = tmp_path / "cli"
    _clean(lab, listing, out, "--from", "news@none.example", "--ip", NO_PTR_IP)
    done = pipeline.clean(
        listing,
        nameserver=[lab.nameserver],
        allow_private_mx=True,
        dnsbl=[BLOCKLIST],
        from_addr="news@none.example",
        ip=[NO_PTR_IP],
        no_cache=True,
    )
    with (out / "campaign.clean.csv").open(newline="", encoding="utf-8") as handle:
        kept = [row["email"] for row in csv.DictReader(handle)]
    assert list(done.clean["email"]) == kept and "user1@gm.example" in kept
