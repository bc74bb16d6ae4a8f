"""`presend demo`: the whole pipeline against the embedded lab, checked row by row.

The demo needs the DNS level (pipeline.dns.resolver.make_resolver) and the mailbox level
(pipeline.probe.prober.make_prober). If either is missing the demo raises and this test FAILS on
purpose: it must never be skipped in a tree that ships the demo.
"""

from __future__ import annotations

import csv
from pathlib import Path

import dns.zone

from pipeline.codes import CATALOGUE
from pipeline.lab import DEMO_EXPECTED, DEMO_LIST, DEMO_ZONE
from pipeline.lab.hosts import DEMO_HOSTS
from pipeline.models import Status

REPO = Path(__file__).resolve().parent.parent


def _expected() -> list[dict[str, str]]:
    with DEMO_EXPECTED.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_sample_lists_point_at_the_shipped_demo_files() -> None:
    assert (REPO / "sample_lists" / "demo.csv").read_bytes() == DEMO_LIST.read_bytes()
    assert (REPO / "sample_lists" / "demo.expected.csv").read_bytes() == DEMO_EXPECTED.read_bytes()


def test_expectations_line_up_with_the_demo_list_and_cover_the_forecast_table() -> None:
    with DEMO_LIST.open(encoding="utf-8", newline="") as handle:
        emails = [row["Email"] for row in csv.DictReader(handle)]
    expected = _expected()
    assert [row["email"] for row in expected] == emails
    assert [int(row["row"]) for row in expected] == list(range(1, len(emails) + 1))
    assert {row["status"] for row in expected} == {s.value for s in Status}
    codes = {row["code"] for row in expected if row["code"]}
    assert codes == set(CATALOGUE), set(CATALOGUE) - codes


def test_zone_addresses_match_the_scripted_hosts() -> None:
    zone = dns.zone.from_file(str(DEMO_ZONE), relativize=False)
    addresses = {rdata.address for _, _, rdata in zone.iterate_rdatas("A")}
    hosts = {script.address for script in DEMO_HOSTS}
    # 127.0.0.1 is the name server itself; 127.0.0.10 sits behind a null MX and is never used.
    assert addresses - {"127.0.0.1", "127.0.0.10"} == hosts


def test_demo_run_matches_its_expectations_row_by_row(tmp_path: Path) -> None:
    from pipeline.lab.demo import run_demo

    result = run_demo(tmp_path)  # raises PresendError when a level is not built: a failure
    with result.paths["results"].open(encoding="utf-8-sig", newline="") as handle:
        got = list(csv.DictReader(handle))
    expected = _expected()
    assert len(got) == len(expected)
    mismatches = []
    for want, row in zip(expected, got, strict=True):
        have = (row["presend_status"], row["presend_code"], row["presend_reason"])
        if have != (want["status"], want["code"], want["reason"]):
            mismatches.append(
                f"row {want['row']} {want['email']!r}: expected {want['status']}/{want['code']}/{want['reason']} "
                f"({want['why']}), got {'/'.join(have)}: {row['presend_detail']}"
            )
    assert mismatches == [], "\n".join(mismatches)
    assert result.summary["mailboxes_probed"] is True
    assert {p.name for p in tmp_path.iterdir()} >= {
        "demo.results.csv", "demo.clean.csv", "demo.summary.json", "demo.report.html"
    }
    page = result.paths["report"].read_text(encoding="utf-8")
    assert "Mailboxes were probed with RCPT TO" in page
    # The demo sender's one deliberate problem (no PTR for its IP) opens the report.
    assert page.index('id="sender-h"') < page.index('id="answer-h"')
    problems = [f for f in result.summary["sender"]["findings"] if f["state"] == "problem"]
    assert [(f["reason"], f.get("rows_affected")) for f in problems if f.get("rows_affected")] == [
        ("sending_gmail_no_reverse_dns", 1)
    ]
