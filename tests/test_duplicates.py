"""Duplicates: the same address after normalization, case-insensitive; table-driven."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline.columns import RESULT_COLUMNS
from pipeline.options import DnsOptions, RunOptions
from pipeline.run import run

STATUS = 2 + RESULT_COLUMNS.index("presend_status")
DETAIL = 2 + RESULT_COLUMNS.index("presend_detail")
EMAIL = 2 + RESULT_COLUMNS.index("presend_email")

# Only syntax runs here: a new well-formed address is unknown (domain_not_checked), never deliverable.
D, U, DUP = "unknown", "undeliverable", "duplicate"


@pytest.mark.parametrize(
    ("cells", "statuses"),
    [
        (["a@acme-co.com", "b@acme-co.com"], [D, D]),
        (["a@acme-co.com", "A@ACME-CO.COM"], [D, DUP]),
        (["Ann <a@acme-co.com>", "mailto:a@acme-co.com", " a@acme-co.com\t"], [D, DUP, DUP]),
        (["josé@acme-co.com", "JOSÉ@Acme-co.com"], [D, DUP]),
        (["a@bücher.de", "a@xn--bcher-kva.de", "A@BÜCHER.DE"], [D, DUP, DUP]),
        # Provider-specific rules (dots, +tags) are not applied by default.
        (["a.b@acme-co.com", "ab@acme-co.com", "ab+x@acme-co.com"], [D, D, D]),
        # Invalid or empty cells are never duplicates of each other: each is its own 501.
        (["bad@", "bad@", "", ""], [U, U, U, U]),
        (["bad@", "a@acme-co.com", "a@acme-co.com", "a@acme-co.com"], [U, D, DUP, DUP]),
    ],
)
def test_duplicates(tmp_path: Path, cells: list[str], statuses: list[str]) -> None:
    source = tmp_path / "d.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "n"])
        writer.writerows([cell, str(i)] for i, cell in enumerate(cells, start=1))
    result = run(RunOptions(input=source, out_dir=tmp_path, dns=DnsOptions(enabled=False)))
    with result.paths["results"].open(encoding="utf-8", newline="") as handle:
        results = list(csv.reader(handle))[1:]
    assert [row[STATUS] for row in results] == statuses
    first_of: dict[str, str] = {}
    for row in results:
        key = row[EMAIL].casefold()
        if row[STATUS] == DUP:
            assert f"Same address as row {first_of[key]} " in row[DETAIL]
        elif row[STATUS] == D:
            first_of.setdefault(key, row[1])
    with result.paths["clean"].open(encoding="utf-8", newline="") as handle:
        clean = list(csv.reader(handle))[1:]
    assert [row[1] for row in clean] == [row[1] for row in results if row[STATUS] == D]
    assert result.summary["by_status"].get(DUP, 0) == statuses.count(DUP)
