"""Fuzzing the reading side: any table, written any way a spreadsheet writes it, comes back whole.

Hypothesis draws a table (cells with quotes, delimiters, line breaks, blanks, odd line-break
characters and any Unicode), ragged rows and blank lines (before the header too), and
writes it with a delimiter, a line end, quoting and an encoding of its choice (UTF-8 with
or without BOM, UTF-16, Windows-1252 named with ``encoding``), after Excel's ``sep=`` line
or not. presend runs on it (one process or workers); every
input cell must come back identical in results.csv (a long row's extra fields in its
detail), the clean list must hold the deliverable rows' cells, and every file presend wrote
must read back through presend: the results (as ``presend report`` reads them), the clean
list (as an input) and summary.json.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.columns import RESULT_COLUMNS
from pipeline.io.ingest import open_table
from pipeline.options import DnsOptions, RunOptions
from pipeline.report.tally import read_results
from pipeline.run import run

HEADER = ["Name", "Email", "Note", "Zip"]
_ODD = "\x0b\x0c\x1c\x1d\x1e\u2028\u2029\x85"
_SHARED = 'ab Z09@.-_,;\t|"\r\n\xa0'
ALPHABETS = {
    "utf-8": _SHARED + _ODD + "éßЖ中😀\u200b\U0001f600ñ",
    "utf-8-sig": _SHARED + _ODD + "éßЖ中😀ñ",
    "utf-16": _SHARED + _ODD + "éßЖ中😀ñ",
    "cp1252": _SHARED + "\x0b\x0céßñ€œŠ…“”",
}
ENCODINGS = sorted(ALPHABETS)


@dataclass(frozen=True)
class Written:
    """A table as written: its rows (header first) and how the file was written."""

    rows: list[list[str]]
    delimiter: str
    line_end: str
    encoding: str
    quote_all: bool
    sep_line: bool
    final_end: bool
    lead: str = ""  # blank lines (or lines of blanks) before the header


def _cell(alphabet: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(alphabet=alphabet, max_size=8),
        st.builds(lambda n, tail: f"user{n}{tail}@example.com", st.integers(0, 5), st.sampled_from(["", ".x", "+t"])),
    )


@st.composite
def tables(draw: st.DrawFn) -> Written:
    encoding = draw(st.sampled_from(ENCODINGS))
    width = draw(st.integers(2, 4))
    cell = _cell(ALPHABETS[encoding])
    rows: list[list[str]] = [HEADER[:width]]
    for _ in range(draw(st.integers(0, 8))):
        size = draw(st.sampled_from([width] * 4 + [0, 1, width - 1, width + 1, width + 2]))
        rows.append(draw(st.lists(cell, min_size=size, max_size=size)))
    return Written(
        rows=rows,
        delimiter=draw(st.sampled_from([",", ";", "\t", "|"])),
        line_end=draw(st.sampled_from(["\r\n", "\n", "\r"])),
        encoding=encoding,
        quote_all=draw(st.booleans()),
        sep_line=draw(st.booleans()),
        final_end=draw(st.booleans()),
        lead=draw(st.sampled_from(["", "\n", " \n\n", "\t \n"])),
    )


def _field(value: str, delimiter: str, quote_all: bool) -> str:
    if quote_all or any(ch in value for ch in (delimiter, '"', "\r", "\n")):
        return '"' + value.replace('"', '""') + '"'
    return value


def _encode(table: Written) -> bytes:
    lines = [table.delimiter.join(_field(v, table.delimiter, table.quote_all) for v in row) for row in table.rows]
    lines[:0] = table.lead.splitlines()
    if table.sep_line:
        lines.insert(0, f"sep={table.delimiter}")
    text = table.line_end.join(lines) + (table.line_end if table.final_end else "")
    return text.encode(table.encoding)


def _read(path: Path, delimiter: str) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


def _check_results(table: Written, results: list[list[str]]) -> list[list[str]]:
    """Every input cell is in the results, in place; the deliverable rows' cells (for the clean list)."""
    width = len(table.rows[0])
    data = [row for row in table.rows[1:] if any(row)]  # a line with every field empty is blank
    assert results[0] == table.rows[0] + list(RESULT_COLUMNS)
    assert len(results) == len(data) + 1
    deliverable = []
    for row, got in zip(data, results[1:], strict=True):
        assert len(got) == width + len(RESULT_COLUMNS)
        status, reason, detail = got[width], got[width + 3], got[width + 4]
        assert got[:width] == (row + [""] * width)[:width]
        extra = row[width:]
        if len(row) < width or any(extra):
            assert reason == "malformed_row"
        if any(extra):
            assert f"kept here: {json.dumps(extra, ensure_ascii=False)}" in detail
        if status == "deliverable":
            deliverable.append(got[:width])
    return deliverable


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), workers=st.sampled_from([1, 2]), chunk_size=st.sampled_from([1, 3, 50_000]))
def test_every_cell_comes_back_and_every_output_reads_back(table: Written, workers: int, chunk_size: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "fuzz.csv"
        source.write_bytes(_encode(table))
        named = "cp1252" if table.encoding == "cp1252" else None  # a random cp1252 text is no language to guess
        result = run(RunOptions(input=source, out_dir=Path(folder) / "out", dns=DnsOptions(enabled=False),
                                encoding=named, workers=workers, chunk_size=chunk_size))
        assert source.read_bytes() == _encode(table)  # the input is never touched
        assert result.summary["input"]["delimiter"] == table.delimiter
        assert result.summary["input"]["encoding"].replace("-sig", "") == table.encoding.replace("-sig", "")

        results = _read(result.paths["results"], table.delimiter)
        deliverable = _check_results(table, results)
        clean = _read(result.paths["clean"], table.delimiter)
        assert clean[0] == table.rows[0]
        assert sorted(map(tuple, clean[1:])) == sorted(set(map(tuple, clean[1:])))  # no row twice
        assert all(row in deliverable for row in clean[1:])

        # Every file presend wrote reads back through presend.
        tally, info = read_results(result.paths["results"])
        assert (tally.rows, info.delimiter) == (len(results) - 1, table.delimiter)
        assert dict(tally.by_status) == result.summary["by_status"]
        summary = json.loads(result.paths["summary"].read_text(encoding="utf-8"))
        assert summary["rows"] == result.summary["rows"] == tally.rows
        with open_table(result.paths["clean"]) as again:
            assert again.info.header == tuple(table.rows[0])
            assert [list(row.cells) for row in again.rows()] == clean[1:]
        assert result.paths["report"].read_text(encoding="utf-8").lower().startswith("<!doctype html>")


def test_the_writer_here_writes_what_csv_reads() -> None:
    # The test's own writer against the csv module: a check on the check.
    table = Written([["Name", "Email"], ['a"b', "x\r\ny"], ["", "c,d"]], ",", "\r\n", "utf-8", False, False, True)
    assert list(csv.reader(io.StringIO(_encode(table).decode(), newline=""))) == table.rows
