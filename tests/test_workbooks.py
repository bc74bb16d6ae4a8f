"""Workbooks in each format (.xlsx, .xls, .ods), written by the tests themselves, read as text.

openpyxl writes the .xlsx files, xlwt the .xls files and pandas (odfpy) the .ods files; an
.xlsx with formulas' cached values and an error cell is made by filling in the values openpyxl
leaves empty, as Excel would have saved them.
"""

from __future__ import annotations

import csv
import datetime as dt
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from pipeline.errors import InputError
from pipeline.io.ingest import open_table
from pipeline.io.workbook import Workbook, calamine_would_lose_cells, cell_text, duration_text
from pipeline.options import DnsOptions, RunOptions
from pipeline.run import run

HEADER = ["Name", "Email", "Zip", "Amount", "Joined", "Active", "Ratio"]
ROWS: list[list[Any]] = [
    ["José", "jose@example.com", "00123", 123, dt.datetime(2024, 1, 31), True, 1.5],
    ["NA", "Ann <ann@example.com>", 501, -0.25, dt.datetime(2024, 5, 6, 7, 8, 9), False, 0.1 + 0.2],
    ["Big", "big@example.com", None, 442079460000.0, None, None, 1e20],
]
# What a person sees: no ".0", ISO dates, TRUE/FALSE, 15 significant digits; trailing empties dropped.
EXPECTED = [
    HEADER,
    ["José", "jose@example.com", "00123", "123", "2024-01-31", "TRUE", "1.5"],
    ["NA", "Ann <ann@example.com>", "501", "-0.25", "2024-05-06T07:08:09", "FALSE", "0.3"],
    ["Big", "big@example.com", "", "442079460000", "", "", "1e+20"],
]


def _xlsx(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Contacts"
    for row in [HEADER, *ROWS]:
        sheet.append(row)
    book.create_sheet("Notes").append(["not read"])
    book.save(path)
    return path


def _xls(path: Path) -> Path:
    xlwt = pytest.importorskip("xlwt", reason="xlwt (the test extra) writes the .xls files")
    book = xlwt.Workbook()
    sheet = book.add_sheet("Contacts")
    formats = {dt.datetime: xlwt.easyxf(num_format_str="yyyy-mm-dd hh:mm:ss")}
    for r, row in enumerate([HEADER, *ROWS]):
        for c, value in enumerate(row):
            if value is not None:
                style = formats.get(type(value))
                sheet.write(r, c, value, style) if style else sheet.write(r, c, value)
    book.add_sheet("Notes").write(0, 0, "not read")
    book.save(str(path))
    return path


def _ods(path: Path) -> Path:
    pytest.importorskip("odf", reason="odfpy (the test extra) writes the .ods files")
    import pandas as pd

    with pd.ExcelWriter(path, engine="odf") as writer:
        pd.DataFrame(ROWS, columns=HEADER, dtype=object).to_excel(writer, sheet_name="Contacts", index=False)
        pd.DataFrame([["not read"]]).to_excel(writer, sheet_name="Notes", index=False)
    return path


WRITERS = {"xlsx": _xlsx, "xls": _xls, "ods": _ods}


def _cells(path: Path) -> list[list[str]]:
    book = Workbook(path)
    try:
        return [cells for _, cells in book.records()]
    finally:
        book.close()


def _reader(path: Path) -> str:
    book = Workbook(path)
    book.close()
    return book.reader


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_each_format_reads_every_value_as_the_promised_text(tmp_path: Path, kind: str) -> None:
    source = WRITERS[kind](tmp_path / f"book.{kind}")
    book = Workbook(source)
    assert (book.kind, book.sheet, book.sheets, book.misnamed) == (kind, "Contacts", 2, False)
    assert book.reader == "calamine"
    book.close()
    assert _cells(source) == EXPECTED


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_each_format_runs_end_to_end_with_its_kind_in_the_summary(tmp_path: Path, kind: str) -> None:
    source = WRITERS[kind](tmp_path / f"book.{kind}")
    result = run(RunOptions(input=source, out_dir=tmp_path / "out", dns=DnsOptions(enabled=False)))
    assert result.summary["input"]["format"] == kind
    with result.paths["results"].open(encoding="utf-8-sig", newline="") as handle:
        results = list(csv.reader(handle))  # a workbook's outputs use commas
    assert [row[: len(HEADER)] for row in results] == [
        row + [""] * (len(HEADER) - len(row)) for row in EXPECTED
    ]
    assert any("only the first, 'Contacts', was read" in note for note in result.notes)


@pytest.mark.parametrize(("kind", "said"), [("xls", "an Excel workbook"), ("ods", "an OpenDocument spreadsheet")])
def test_a_workbook_under_a_text_name_is_read_by_its_content(tmp_path: Path, kind: str, said: str) -> None:
    source = WRITERS[kind](tmp_path / f"export.{kind}").rename(tmp_path / "export.csv")
    table = open_table(source)
    assert table.info.format == kind
    assert [list(row.cells) for row in table.rows()] == [
        row + [""] * (len(HEADER) - len(row)) for row in EXPECTED[1:]
    ]
    assert any(f"{said} under another name" in note for note in table.notes())
    table.close()


def _with_cached_values(source: Path, target: Path, values: dict[str, bytes]) -> Path:
    """Copy an openpyxl .xlsx, filling in the formula results Excel would have saved."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                for ref, cell in values.items():
                    start = data.index(f'<c r="{ref}"'.encode())
                    end = data.index(b"</c>", start) + len(b"</c>")
                    data = data[:start] + cell + data[end:]
            new.writestr(item, data)
    return target


def _formula_book(path: Path, *, with_error: bool) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Name", "Email", "Total"])
    sheet.append(["Ann", '=LOWER("ANN@EXAMPLE.COM")', "=1+2"])
    sheet.append(["Bob", '=VLOOKUP("bob",Z1:Z2,1)', "=2/4"])
    book.save(path.with_suffix(".plain.xlsx"))
    values = {
        "B2": b'<c r="B2" t="str"><f>LOWER("ANN@EXAMPLE.COM")</f><v>ann@example.com</v></c>',
        "C2": b'<c r="C2"><f>1+2</f><v>3</v></c>',
        "C3": b'<c r="C3"><f>2/4</f><v>0.5</v></c>',
    }
    if with_error:
        values["B3"] = b'<c r="B3" t="e"><f>VLOOKUP("bob",Z1:Z2,1)</f><v>#N/A</v></c>'
    else:
        values["B3"] = b'<c r="B3" t="str"><f>VLOOKUP("bob",Z1:Z2,1)</f><v>bob@example.com</v></c>'
    return _with_cached_values(path.with_suffix(".plain.xlsx"), path, values)


def test_formulas_read_as_their_last_computed_value(tmp_path: Path) -> None:
    source = _formula_book(tmp_path / "formulas.xlsx", with_error=False)
    assert not calamine_would_lose_cells(source)
    assert _reader(source) == "calamine"
    assert _cells(source) == [["Name", "Email", "Total"], ["Ann", "ann@example.com", "3"],
                              ["Bob", "bob@example.com", "0.5"]]


def test_an_error_cell_keeps_its_text_rather_than_reading_empty(tmp_path: Path) -> None:
    # calamine reads an error cell as empty; such a sheet goes to openpyxl, which keeps "#N/A".
    source = _formula_book(tmp_path / "errors.xlsx", with_error=True)
    assert calamine_would_lose_cells(source)
    assert _reader(source) == "openpyxl"
    assert _cells(source) == [["Name", "Email", "Total"], ["Ann", "ann@example.com", "3"], ["Bob", "#N/A", "0.5"]]
    table = open_table(source)
    assert [row.cells[1] for row in table.rows()] == ["ann@example.com", "#N/A"]  # a value, not a blank
    table.close()


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_cell_of_white_space_only_keeps_it(tmp_path: Path, kind: str) -> None:
    # openpyxl writes " " without xml:space="preserve", which calamine would read as empty:
    # the .xlsx goes to openpyxl; calamine keeps the white space of .xls and .ods itself.
    source = tmp_path / f"blanks.{kind}"
    if kind == "xlsx":
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        for row in [["Name", "Email"], [" ", "ann@example.com"], ["Bob", "\t"]]:
            sheet.append(row)
        book.save(source)
    elif kind == "xls":
        xlwt = pytest.importorskip("xlwt", reason="xlwt (the test extra) writes the .xls files")
        xbook = xlwt.Workbook()
        xsheet = xbook.add_sheet("s")
        for r, row in enumerate([["Name", "Email"], [" ", "ann@example.com"], ["Bob", "\t"]]):
            for c, value in enumerate(row):
                xsheet.write(r, c, value)
        xbook.save(str(source))
    else:
        pytest.importorskip("odf", reason="odfpy (the test extra) writes the .ods files")
        import pandas as pd

        pd.DataFrame([[" ", "ann@example.com"], ["Bob", "\t"]], columns=["Name", "Email"]).to_excel(
            source, engine="odf", index=False
        )
    assert _cells(source) == [["Name", "Email"], [" ", "ann@example.com"], ["Bob", "\t"]]
    assert _reader(source) == ("openpyxl" if kind == "xlsx" else "calamine")


def test_rows_and_columns_count_from_a1_when_the_data_starts_further_in(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["C3"] = "Email"
    sheet["C5"] = "ann@example.com"
    sheet["E5"] = dt.time(9, 30)
    sheet["D6"] = dt.timedelta(hours=30, minutes=5)
    book.save(tmp_path / "offset.xlsx")
    records = list(Workbook(tmp_path / "offset.xlsx").records())
    assert records == [(1, []), (2, []), (3, ["", "", "Email"]), (4, []),
                       (5, ["", "", "ann@example.com", "", "09:30:00"]), (6, ["", "", "", "30:05:00"])]


def test_durations_read_as_excel_shows_them() -> None:
    assert duration_text(dt.timedelta(hours=30)) == "30:00:00"
    assert duration_text(dt.timedelta(minutes=-90)) == "-1:30:00"
    assert duration_text(dt.timedelta(seconds=1, microseconds=500000)) == "0:00:01.5"
    assert cell_text(dt.timedelta(0)) == "0:00:00"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "old.xls: not a readable workbook"),
        ("sheet.ods", b"PK\x03\x04broken", "sheet.ods: not a readable workbook"),
        ("text.ods", b"email\na@example.com\n", "named .ods but is not a workbook"),
    ],
)
def test_a_damaged_workbook_is_one_clear_input_error(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        open_table(source)
    assert "\n" not in str(caught.value)
    assert source.read_bytes() == content  # the input is never touched
