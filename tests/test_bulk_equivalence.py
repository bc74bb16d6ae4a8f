"""The bulk paths of the run loop give exactly what the one-row-at-a-time paths give."""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.columns import DETAIL, EMAIL, RESULT_COLUMNS, encode
from pipeline.io.ingest import InputRow, TableInfo, open_table
from pipeline.io.outputs import LINE_END, CsvLines, TableWriter
from pipeline.models import RowOutcome, Status, Verdict
from pipeline.report.tally import DomainCounter, Tally

_VALUES = st.text(alphabet=st.sampled_from(list('ab ,;|"\r\n\té')), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([",", ";", "\t", "|"]), st.lists(st.lists(_VALUES, min_size=1, max_size=5), max_size=20))
def test_csv_lines_match_csv_writer(delimiter: str, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quotechar='"', lineterminator=LINE_END).writerows(rows)
    lines = CsvLines(delimiter)
    assert "".join(lines.line(row) + LINE_END for row in rows) == buffer.getvalue()
    assert lines.parts(rows) == [delimiter.join(lines.field(v) for v in row) for row in rows]


def _row(rng: random.Random, number: int, with_mx: bool = True) -> tuple[str, list[str]]:
    status = rng.choice(["deliverable"] * 5 + ["risky", "undeliverable", "unknown", "duplicate"])
    domain = rng.choice(["a.example", "B.example", "c.example", "d.example", "", f"x{rng.randrange(60)}.example"])
    email = f"u{number}@{domain}" if domain else ""
    reason = rng.choice(["syntax_ok", "greylisted", "mailbox_not_found", "catch_all", "duplicate"])
    columns = [
        status,
        rng.choice(["250", "550", "", "451"]),
        rng.choice(["2.0.0", "5.1.1", ""]),
        reason,
        f"detail {number}",
        email,
        rng.choice(["", "", f"u{number}@gmail.com"]),
        rng.choice(["true", "false"]),
        rng.choice(["true", "false"]),
        rng.choice(["true", "false"]),
        rng.choice(["true", "false", "false"]),
        rng.choice(["", "", "mx1.example", "mx2.example"]) if with_mx else "",
        "2026-01-01T00:00:00Z",
    ]
    return f"cell {number}", columns


@pytest.mark.parametrize("with_mx", [True, False])
def test_tally_add_many_equals_add(with_mx: bool) -> None:
    rng = random.Random(11)
    for domain_cap in (3, 10, 20_000):
        one, bulk = Tally(row_cap=50, domain_cap=domain_cap), Tally(row_cap=50, domain_cap=domain_cap)
        number = 0
        for _ in range(40):
            size = rng.randrange(0, 60)
            block = [_row(rng, number + i + 1, with_mx) for i in range(size)]
            numbers = list(range(number + 1, number + 1 + size))
            number += size
            for n, (cell, columns) in zip(numbers, block, strict=True):
                one.add(n, cell, columns)
            bulk.add_many(numbers, [c for c, _ in block], [cols for _, cols in block])
        assert asdict(bulk) == asdict(one)
        assert list(bulk.reason_codes) == list(one.reason_codes)
        assert list(bulk.domain_rows) == list(one.domain_rows)
        assert bulk.counts() == one.counts()


def test_tally_merge_of_blocks_equals_one_tally() -> None:
    # What a run with worker processes does: a tally per piece, merged in file order, its rows
    # per domain counted by the workers (two here) and added at the end. Without MX values
    # (runs without DNS) and without pruning, the result is the one tally exactly.
    rng = random.Random(5)
    one = Tally(row_cap=80)
    merged = Tally(row_cap=80)
    workers = [DomainCounter(merged.domain_cap), DomainCounter(merged.domain_cap)]
    number = 0
    for _ in range(30):
        size = rng.randrange(0, 80)
        block = [_row(rng, number + i + 1, with_mx=False) for i in range(size)]
        for i, (cell, _cols) in enumerate(block):
            if rng.random() < 0.6:  # most rows of a real list are the common kind
                email = f"u{number + i}@{rng.choice(['a.example', 'B.example', f'x{rng.randrange(40)}.example'])}"
                block[i] = (cell, ["unknown", "", "", "domain_not_checked", "not checked", email, "", "false",
                                   rng.choice(["true", "false"]), rng.choice(["true", "false"]), "false", "", "t"])
        numbers = list(range(number + 1, number + 1 + size))
        number += size
        cells, rows = [c for c, _ in block], [cols for _, cols in block]
        one.add_many(numbers, cells, rows)
        # A piece keeps as many problem rows as the run's tally (a better-ranked row of a later
        # piece may push out a row of an earlier one), as the engines' pieces do.
        piece = Tally(row_cap=merged.row_cap, domain_cap=max(size, 1), suggestion_cap=max(size, 1))
        # The common rows (a syntax-only run's unchecked, clean ones) counted per combination;
        # duplicates only once the run's tally has no room left for them (the coordinator's room).
        alike = [i for i, cols in enumerate(rows) if cols[0] == "unknown" and cols[5] and not cols[6]
                 and cols[3] == "domain_not_checked" and not cols[1] and not cols[2] and cols[10] == "false"]
        # Counted per shape: the columns but for the address and the detail (a template's).
        shapes: Counter[tuple[str, ...]] = Counter(
            tuple("" if j in (DETAIL, EMAIL) else value for j, value in enumerate(rows[i])) for i in alike
        )
        others = [i for i in range(size) if i not in set(alike)]
        counter = rng.choice(workers)
        for shape, count in shapes.items():
            piece.count_alike(shape, count)
        counter.add([rows[i][5].rpartition("@")[2].lower() for i in alike])
        piece.add_many([numbers[i] for i in others], [cells[i] for i in others], [rows[i] for i in others])
        counter.add(piece.take_domain_rows())
        merged.merge(piece)
    merged.add_domain_rows(workers)
    assert merged.counts() == one.counts()
    assert merged.combos == one.combos and merged.suggestions == one.suggestions
    assert merged.domain_rows == one.domain_rows and merged.domain_problems == one.domain_problems
    assert merged.domain_marks == one.domain_marks and merged.domain_mx == one.domain_mx
    assert merged.problem_rows == one.problem_rows and merged.problem_rows_total == one.problem_rows_total
    assert merged.reason_codes.keys() == one.reason_codes.keys()
    assert one.by_reason["domain_not_checked"] > 500
    assert not merged.domains_pruned and len(merged.domain_rows) > 40


def test_domain_counts_of_workers_are_pruned_like_the_tally() -> None:
    # More domains than the cap: each worker keeps its largest, the run keeps the cap's largest
    # and says the smaller counts are approximate, as one tally does.
    counters = [DomainCounter(cap=5), DomainCounter(cap=5)]
    for i in range(30):
        counters[i % 2].add(["big.example"] * 10 + ["mid.example"] * 3 + [f"d{i}.example"])
    assert all(len(counter.rows) <= 10 and counter.pruned for counter in counters)
    tally = Tally(domain_cap=5)
    tally.domain_problems = {"big.example": 2, "d1.example": 1}
    tally.add_domain_rows(counters)
    assert tally.domains_pruned and len(tally.domain_rows) <= 10
    assert tally.domain_rows["big.example"] == 300 and tally.domain_rows["mid.example"] == 90
    assert tally.top_domains(2)[0][0] == "big.example"
    small = Tally(domain_cap=5)
    small.add_domain_rows([DomainCounter(cap=5)])
    assert not small.domains_pruned


def test_domain_counts_of_workers_are_summed_before_the_one_prune() -> None:
    # A domain that is small in each worker but large over the whole list stays: the run adds
    # every worker's counts first and prunes the sum once.
    first, second = DomainCounter(cap=100), DomainCounter(cap=100)
    first.add(["shared.example"] * 3 + [f"a{i}.example" for i in range(6) for _ in range(4)])
    second.add(["shared.example"] * 3 + [f"b{i}.example" for i in range(6) for _ in range(4)])
    second.add([f"c{i}.example" for i in range(20)])
    tally = Tally(domain_cap=4)
    tally.add_domain_rows([first, second])
    assert tally.domains_pruned and len(tally.domain_rows) == 4
    assert list(tally.domain_rows) == ["shared.example", "a0.example", "a1.example", "a2.example"]
    assert tally.domain_rows["shared.example"] == 6
    assert set(tally.domain_mx) == set(tally.domain_rows)


def test_write_columns_in_blocks_equals_resumed_writes(tmp_path: Path) -> None:
    info = TableInfo(tmp_path / "in.csv", "csv", "utf-8", ";", ("name", "email", "note"), 1)
    rng = random.Random(3)
    rows: list[InputRow] = []
    outcomes: list[RowOutcome] = []
    for number in range(1, 300):
        cells = [rng.choice(["Ann", "O'Brien; Jo", 'say "hi"', "", "é"]) for _ in range(rng.choice([3, 3, 3, 2, 4]))]
        problem = "" if len(cells) == 3 else "ragged"
        rows.append(InputRow(number, number + 1, tuple(cells), problem))
        status = rng.choice(list(Status))
        detail = 'd; with "quotes"\r\nand a break'
        outcomes.append(RowOutcome(Verdict(status, "250", "2.0.0", "r", detail), "a@b.example"))
    one_dir, bulk_dir = tmp_path / "one", tmp_path / "bulk"
    one_dir.mkdir()
    bulk_dir.mkdir()
    one = TableWriter(one_dir, "x", info, keep_risky=True)
    for start in range(0, len(rows), 70):
        block = rows[start : start + 70]
        one.write_columns([r.cells for r in block], [encode(o) for o in outcomes[start : start + 70]],
                          {i for i, r in enumerate(block) if r.problem})
    one.commit()
    bulk = TableWriter(bulk_dir, "x", info, keep_risky=True)
    bulk.write_columns([r.cells for r in rows[:100]], [encode(o) for o in outcomes[:100]],
                       {i for i, r in enumerate(rows[:100]) if r.problem})
    sizes = bulk.checkpoint()
    bulk.detach()
    resumed = TableWriter(bulk_dir, "x", info, keep_risky=True, resume=sizes)
    resumed.write_columns([r.cells for r in rows[100:]], [encode(o) for o in outcomes[100:]],
                          {i for i, r in enumerate(rows[100:]) if r.problem})
    resumed.commit()
    for kind in ("results", "clean"):
        assert (bulk_dir / f"x.{kind}.csv").read_bytes() == (one_dir / f"x.{kind}.csv").read_bytes()
    with (bulk_dir / "x.results.csv").open(newline="", encoding="utf-8") as handle:
        back = list(csv.reader(handle, delimiter=";"))
    assert back[0] == ["name", "email", "note", *RESULT_COLUMNS]
    assert len(back) == len(rows) + 1
    assert not list(bulk_dir.glob(".*partial"))


def test_row_chunks_match_rows(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        "name,email\nAnn,ann@acme-co.com\n\nBob,bob@acme-co.com,extra\nCy\n,\nDee,dee@acme-co.com,\n"
        + "".join(f"P{i},p{i}@acme-co.com\n" for i in range(40)),
        encoding="utf-8",
    )
    with open_table(path) as table:
        rows = list(table.rows())
        report = table.report()
        for size in (1, 3, 7, 100):
            for skip in (0, 2, 5):
                got = [row for chunk in table.row_chunks(size, skip=skip) for row in chunk.rows()]
                assert got == rows[skip:]
                assert table.report() == report
