"""Verdicts that say only what was checked, offline knowledge, typos, downloads, ranked rows.

Every test runs the real command (``python -m cli clean``) or the real run on generated lists
and reads back the files a user gets: the results, clean list, summary.json, the report's text
and the downloads by category. No DNS runs here (``--no-dns``), so nothing leaves the machine.
"""

from __future__ import annotations

import csv
import json
import random
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.columns import RESULT_COLUMNS
from pipeline.io.downloads import DOWNLOAD_COLUMNS, GROUPS
from pipeline.options import CacheOptions, DnsOptions, HygieneOptions, RunOptions
from pipeline.report.ranked import rank_of
from pipeline.run import run
from tests.run_helpers import clean_command, run_cli

#: Real-looking domains (none special-use), a slipped ending, typo and disposable domains.
_GOOD = ["acme-corp.com", "northwind.net", "contoso.org", "fabrikam.io", "tailspin.co.uk", "gmail.com"]
_CELLS = {
    "good": lambda rng, i: f"user{i}@{rng.choice(_GOOD)}",
    "tld": lambda rng, i: f"user{i}@acme.con",
    "special": lambda rng, i: f"user{i}@{rng.choice(['lab.example', 'example.com', 'intra.internal'])}",
    "typo": lambda rng, i: f"user{i}@{rng.choice(['gmial.com', 'hotmial.com'])}",
    "disposable": lambda rng, i: f"user{i}@mailinator.com",
    "bad": lambda rng, i: rng.choice(["not an address", "user@", "a..b@acme-corp.com", ""]),
}


def _generated(path: Path, rows: int, seed: int = 7) -> Path:
    """A list of ``rows`` rows of every kind above (repeats included), with a second column."""
    rng = random.Random(seed)
    kinds = list(_CELLS)
    weights = [60, 5, 5, 8, 4, 6]
    cells: list[str] = []
    for i in range(rows):
        if cells and rng.random() < 0.08:
            cells.append(rng.choice(cells))  # a repeat of an earlier row
        else:
            cells.append(_CELLS[rng.choices(kinds, weights)[0]](rng, i))
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "note"])
        # Every 97th row has a field too many: not judged (unknown, malformed_row).
        writer.writerows([cell, f"n{i}", *(["extra"] if i % 97 == 50 else [])] for i, cell in enumerate(cells))
    return path


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _results(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


class _Text(HTMLParser):
    """The text a reader sees: everything outside <style> and <script>."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def _report_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return " ".join(" ".join(parser.parts).split())


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One syntax-only CLI run on a generated list of 1,200 rows; its output folder."""
    folder = tmp_path_factory.mktemp("offline")
    listing = _generated(folder / "list.csv", 1_200)
    done = run_cli(clean_command(listing, folder / "out", "--no-dns"))
    assert done.returncode == 0, done.stderr
    return folder / "out"


def test_a_syntax_only_run_claims_no_250_and_nothing_safe(offline_run: Path) -> None:
    results = _results(offline_run / "list.results.csv")
    assert len(results) == 1_200
    assert {row["presend_code"] for row in results} <= {"", "501", "550", "556"}
    assert "deliverable" not in {row["presend_status"] for row in results}
    unchecked = [row for row in results if row["presend_reason"] == "domain_not_checked"]
    assert len(unchecked) > 500
    assert all(row["presend_status"] == "unknown" and not row["presend_code"] and not row["presend_enhanced"]
               for row in unchecked)
    assert all("were not checked" in row["presend_detail"] for row in unchecked)
    summary = json.loads((offline_run / "list.summary.json").read_text(encoding="utf-8"))
    assert summary["levels"] == ["syntax"]
    assert "250" not in summary["by_code"] and "deliverable" not in summary["by_status"]
    assert summary["tld_list"]["labels"] > 1000 and re.match(r"\d{4}-\d{2}-\d{2}", summary["tld_list"]["date"])
    text = _report_text(offline_run / "list.report.html")
    for claim in ("safe to send", "working mail hosts", "host said yes", "Mailbox confirmed", "domain takes mail"):
        assert claim.lower() not in text.lower(), claim
    # No 250 anywhere as a code (with its enhanced code or its title; row numbers aside).
    assert not re.search(r"\b250 (2\.|[A-Z])", text)
    assert "Domains and mailboxes were not checked" in text
    # The unchecked rows are the clean list (nothing was found against them), and only they.
    clean = _rows(offline_run / "list.clean.csv")
    assert clean[0] == ["email", "note"]
    assert [row[1] for row in clean[1:]] == [row["note"] for row in unchecked]
    assert summary["rows_with_problems"] == len(results) - len(unchecked)


def test_an_ending_that_is_no_top_level_domain_is_undeliverable_offline(offline_run: Path) -> None:
    rows = [row for row in _results(offline_run / "list.results.csv") if row["email"].endswith("@acme.con")]
    assert rows
    for row in rows:
        if row["presend_reason"] in ("duplicate", "malformed_row"):
            continue
        assert (row["presend_status"], row["presend_code"], row["presend_enhanced"], row["presend_reason"]) == (
            "undeliverable", "550", "5.1.2", "unknown_tld")
        assert row["presend_suggestion"] == row["email"].replace("@acme.con", "@acme.com")
        assert f"Did you mean {row['presend_suggestion']}?" in row["presend_detail"]
    special = {row["email"].partition("@")[2]: row for row in _results(offline_run / "list.results.csv")
               if row["presend_reason"] == "special_use_domain"}
    assert special["lab.example"]["presend_code"] == "550" and special["example.com"]["presend_code"] == "556"
    assert special["intra.internal"]["presend_status"] == "undeliverable"


def test_a_known_typo_is_a_typo_not_a_disposable(offline_run: Path) -> None:
    rows = [row for row in _results(offline_run / "list.results.csv")
            if row["email"].endswith(("@gmial.com", "@hotmial.com"))
            and row["presend_reason"] not in ("duplicate", "malformed_row")]
    assert rows
    for row in rows:
        assert (row["presend_status"], row["presend_reason"], row["presend_disposable"]) == (
            "undeliverable", "typo_domain", "false")
        fixed = row["email"].replace("@gmial.", "@gmail.").replace("@hotmial.", "@hotmail.")
        assert row["presend_suggestion"] == fixed and f"Did you mean {fixed}?" in row["presend_detail"]
        assert not row["presend_code"]  # no level that forecasts a reply ran
    reasons = {row["presend_reason"] for row in _results(offline_run / "list.results.csv")}
    assert "disposable_domain" in reasons  # mailinator.com still is one


def test_a_typo_stays_a_typo_on_the_users_disposable_list(tmp_path: Path) -> None:
    listing = tmp_path / "l.csv"
    listing.write_text("email\nann@gmial.com\nbob@throwaway-mail.com\n", encoding="utf-8")
    options = RunOptions(input=listing, out_dir=tmp_path / "out", dns=DnsOptions(enabled=False),
                         cache=CacheOptions(enabled=False),
                         hygiene=HygieneOptions(disposable_block=("gmial.com", "throwaway-mail.com")))
    result = run(options)
    rows = _results(result.paths["results"])
    assert (rows[0]["presend_reason"], rows[0]["presend_disposable"]) == ("typo_domain", "false")
    assert (rows[1]["presend_reason"], rows[1]["presend_disposable"]) == ("disposable_domain", "true")
    assert result.summary["flags"]["disposable"] == 1


def _expected_group(group: str, row: dict[str, str]) -> bool:
    status = row["presend_status"]
    if group == "fixable":
        return bool(row["presend_suggestion"]) and status != "duplicate"
    if group == "unknown":
        return status == "unknown" and row["presend_reason"] != "domain_not_checked"
    return status == {"undeliverable": "undeliverable", "risky": "risky", "duplicates": "duplicate"}[group]


def _check_downloads(folder: Path, stem: str, summary: dict[str, object]) -> None:
    results = _results(folder / f"{stem}.results.csv")
    header = list(results[0].keys())
    originals = header[: len(header) - len(RESULT_COLUMNS)]
    downloads = summary["downloads"]
    assert isinstance(downloads, dict) and list(downloads) == list(GROUPS)
    for group in GROUPS:
        rows = _rows(folder / f"{stem}.{group}.csv")
        assert rows[0] == [*originals, *DOWNLOAD_COLUMNS]
        expected = [[row[name] for name in (*originals, *DOWNLOAD_COLUMNS)]
                    for row in results if _expected_group(group, row)]
        assert rows[1:] == expected, group
        assert downloads[group] == {"file": f"{stem}.{group}.csv", "rows": len(expected)}


@pytest.mark.parametrize("engine", ["local", "processes"])
def test_the_downloads_are_the_results_filtered_by_group(tmp_path: Path, engine: str) -> None:
    listing = _generated(tmp_path / "list.csv", 3_000, seed=11)
    out = tmp_path / "out"
    done = run_cli(clean_command(listing, out, "--no-dns", "--engine", engine, "--chunk-size", "700"))
    assert done.returncode == 0, done.stderr
    summary = json.loads((out / "list.summary.json").read_text(encoding="utf-8"))
    _check_downloads(out, "list", summary)
    counts = {group: item["rows"] for group, item in summary["downloads"].items()}
    assert all(counts.values()), counts  # every group has rows on this list
    assert counts["unknown"] == 0 or summary["by_status"].get("unknown", 0) > 0


def test_empty_groups_get_a_header_only_file_and_no_file_lingers(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("email\nann@gmial.com\nann@gmial.com\nzed@mailinator.com\n", encoding="utf-8")
    out = tmp_path / "out"
    assert run_cli(clean_command(listing, out, "--no-dns")).returncode == 0
    assert len(_rows(out / "list.risky.csv")) == 2
    listing.write_text("email\nkim@acme-corp.com\n", encoding="utf-8")
    assert run_cli(clean_command(listing, out, "--no-dns")).returncode == 0
    summary = json.loads((out / "list.summary.json").read_text(encoding="utf-8"))
    for group in GROUPS:
        assert _rows(out / f"list.{group}.csv") == [["email", *DOWNLOAD_COLUMNS]]
        assert summary["downloads"][group]["rows"] == 0
    assert _rows(out / "list.clean.csv") == [["email"], ["kim@acme-corp.com"]]


def test_the_report_ranks_fixable_and_bouncing_rows_first(tmp_path: Path) -> None:
    # The fixable and bouncing rows come last in the file; the report holds 40 rows.
    lines = ["email"] + ["dup@acme-corp.com" for _ in range(60)] + [f"u{i}@mailinator.com" for i in range(30)]
    lines += [f"b{i}@example.com" for i in range(15)] + [f"t{i}@gmial.com" for i in range(10)]
    listing = tmp_path / "list.csv"
    listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
    kept = {}
    for engine in ("local", "processes"):
        options = RunOptions(input=listing, out_dir=tmp_path / engine, dns=DnsOptions(enabled=False),
                             cache=CacheOptions(enabled=False), report_row_cap=40, chunk_size=20, engine=engine)
        tally = run(options).tally
        ranks = [rank_of(row.status, row.suggestion) for row in tally.problem_rows]
        assert len(ranks) == 40 and ranks == sorted(ranks)
        assert [row.reason for row in tally.problem_rows[:10]] == ["typo_domain"] * 10
        assert [row.reason for row in tally.problem_rows[10:25]] == ["special_use_domain"] * 15
        assert {row.reason for row in tally.problem_rows[25:]} == {"disposable_domain"}
        for rank in set(ranks):  # file order within a rank
            numbers = [row.row for row, r in zip(tally.problem_rows, ranks, strict=True) if r == rank]
            assert numbers == sorted(numbers)
        assert tally.problem_rows_total == 59 + 30 + 15 + 10
        kept[engine] = tally.problem_rows
    assert kept["local"] == kept["processes"]


def test_a_tld_list_of_ones_own_replaces_the_shipped_one(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("email\nann@acme.con\nbob@acme.com\n", encoding="utf-8")
    tlds = tmp_path / "tlds.txt"
    tlds.write_text("# my own list, 2026-01-01\ncom\ncon\n", encoding="utf-8")
    out = tmp_path / "out"
    done = run_cli(clean_command(listing, out, "--no-dns", "--tld-list", str(tlds)))
    assert done.returncode == 0, done.stderr
    rows = _results(out / "list.results.csv")
    assert [row["presend_reason"] for row in rows] == ["domain_not_checked", "domain_not_checked"]
    tlds.write_text("net\n", encoding="utf-8")
    done = run_cli(clean_command(listing, tmp_path / "out2", "--no-dns", "--tld-list", str(tlds)))
    assert [row["presend_reason"] for row in _results(tmp_path / "out2" / "list.results.csv")] == [
        "unknown_tld", "unknown_tld"]
    missing = run_cli(clean_command(listing, tmp_path / "out3", "--no-dns", "--tld-list", str(tmp_path / "no.txt")))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "--tld-list" in missing.stderr and "cannot be read" in (
        missing.stderr)


def test_a_tld_list_line_that_is_no_label_is_refused_naming_its_line(tmp_path: Path) -> None:
    from pipeline.errors import UsageError
    from pipeline.rules.tlds import tld_list

    bad = tmp_path / "tlds.txt"
    bad.write_text("# mine\ncom\nco.uk\n", encoding="utf-8")
    with pytest.raises(UsageError, match=r"--tld-list .*line 3 is not one top-level label"):
        tld_list(bad)
    shipped = tld_list()
    assert {"com", "uk", "xn--p1ai"} <= shipped.labels and "con" not in shipped.labels
    assert shipped.standing("ann.example.COM.") == "special_use_domain"
    assert shipped.standing("mail.acme.con") == "unknown_tld" and shipped.standing("acme.co.uk") == ""


def test_ranked_rows_keep_the_first_of_each_rank_within_the_cap() -> None:
    from pipeline.report.ranked import RankedRows

    whole, first, second = RankedRows[int](5), RankedRows[int](5), RankedRows[int](5)
    arrivals = [(4, 1), (3, 2), (4, 3), (1, 4), (2, 5), (0, 6), (4, 7), (1, 8), (0, 9), (3, 10)]
    for rank, row in arrivals:
        whole.add(rank, row)
    for rank, row in arrivals[:4]:
        first.add(rank, row)
    for rank, row in arrivals[4:]:
        second.add(rank, row)
    first.merge(second)
    assert whole.rows() == first.rows() == [6, 9, 4, 8, 5]
    assert whole.room(4) == 0 and len(whole) == 5
