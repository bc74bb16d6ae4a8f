"""Ingestion of real-world exports: every encoding, delimiter and quirk the issue lists.

Each test writes its own input file, runs presend (syntax level only) or opens the table,
and compares what comes back with what was written, cell by cell.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
from pathlib import Path

import openpyxl
import pytest

from pipeline.columns import RESULT_COLUMNS
from pipeline.errors import InputError
from pipeline.io import textfile
from pipeline.io.ingest import decide_header, find_email_column, open_table
from pipeline.options import DnsOptions, RunOptions
from pipeline.run import RunResult, run

HEADER = ["Name", "Email", "Zip", "Note"]
# Values that break naive readers: delimiters, quotes, line breaks, leading zeros, NA,
# accents, formulas, blanks around values, an empty email cell, a duplicate.
ROWS = [
    ["José Núñez", "jose@acme-co.com", "00123", "NA"],
    ["Lee, Ann", "Ann Lee <ann@acme-co.com>", "0", 'said "hi"; left'],
    ["Multi\nLine", "mailto:bob@acme-co.org", "", "a|b\tc"],
    ["CR\r\nLF", "  carol@acme-co.net ", "007", "=1+1"],
    ["", "", "", "x"],
    ["Ünïcödé €", "bad@", "NULL", " lead and trail "],
    ["Zoë", "ZOE@ACME-CO.COM", "1.0", "None"],
    ["dup", "zoe@acme-co.com", "-5", "'quoted'"],
    ["semi;colon", "dan@acme-co.com", "1e5", '""'],
]
EXPECTED_STATUS = [
    "unknown", "unknown", "unknown", "unknown", "undeliverable",
    "undeliverable", "unknown", "duplicate", "unknown",
]

# (encoding written, delimiter, line end, suffix, encoding presend should report, output BOM)
DIALECTS = [
    ("utf-8", ",", "\r\n", ".csv", "utf-8", False),
    ("utf-8", ",", "\n", ".csv", "utf-8", False),
    ("utf-8", ",", "\r", ".csv", "utf-8", False),
    ("utf-8-sig", ";", "\r\n", ".csv", "utf-8-sig", True),
    ("utf-8", "\t", "\n", ".tsv", "utf-8", False),
    ("utf-8", "|", "\n", ".csv", "utf-8", False),
    ("utf-16", "\t", "\r\n", ".txt", "utf-16", True),  # Excel "Unicode text"
    ("utf-16-le", "\t", "\r\n", ".txt", "utf-16-le", True),  # the same without its BOM
    ("utf-16-be", ",", "\n", ".csv", "utf-16-be", True),
    ("cp1252", ";", "\r\n", ".csv", "cp1252", True),
    ("cp1252", ",", "\r\n", ".csv", "cp1252", True),
]


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8", delimiter: str = ",",
              line_end: str = "\r\n") -> Path:
    buffer = io.StringIO(newline="")
    # csv quotes a value holding a character of the line end; with a bare CR line end, a
    # value holding LF would go out unquoted, so quote everything then.
    quoting = csv.QUOTE_ALL if line_end == "\r" else csv.QUOTE_MINIMAL
    csv.writer(buffer, delimiter=delimiter, lineterminator=line_end, quoting=quoting).writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def run_syntax(path: Path, out: Path, **kwargs: object) -> RunResult:
    return run(RunOptions(input=path, out_dir=out, dns=DnsOptions(enabled=False), **kwargs))  # type: ignore[arg-type]


def read_output(path: Path, delimiter: str) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


@pytest.mark.parametrize(
    ("encoding", "delimiter", "line_end", "suffix", "reported", "bom"),
    DIALECTS,
    ids=[f"{d[0]}-{d[1]!r}-{d[2]!r}" for d in DIALECTS],
)
def test_round_trip_every_dialect(
    tmp_path: Path, encoding: str, delimiter: str, line_end: str, suffix: str, reported: str, bom: bool
) -> None:
    source = write_csv(tmp_path / f"list{suffix}", [HEADER, *ROWS], encoding=encoding, delimiter=delimiter,
                       line_end=line_end)
    before = source.read_bytes()
    table = open_table(source)
    assert (table.info.encoding, table.info.delimiter, table.info.email_column) == (reported, delimiter, "Email")
    assert [list(r.cells) for r in table.rows()] == ROWS
    assert [r.number for r in table.rows()] == list(range(1, len(ROWS) + 1))

    result = run_syntax(source, tmp_path / "out")
    assert source.read_bytes() == before  # the input is never modified
    raw = result.paths["results"].read_bytes()
    assert raw.startswith(codecs.BOM_UTF8) is bom
    results = read_output(result.paths["results"], delimiter)
    assert results[0] == HEADER + list(RESULT_COLUMNS)
    assert len(results) == len(ROWS) + 1
    for written, got in zip(ROWS, results[1:], strict=True):
        assert got[: len(HEADER)] == written  # cell by cell, unchanged
        assert len(got) == len(HEADER) + len(RESULT_COLUMNS)
    status = [row[len(HEADER)] for row in results[1:]]
    assert status == EXPECTED_STATUS
    email = [row[len(HEADER) + RESULT_COLUMNS.index("presend_email")] for row in results[1:]]
    assert email[:4] == ["jose@acme-co.com", "ann@acme-co.com", "bob@acme-co.org", "carol@acme-co.net"]
    reasons = [row[len(HEADER) + RESULT_COLUMNS.index("presend_reason")] for row in results[1:]]
    assert reasons[4] == "missing_address"

    clean = read_output(result.paths["clean"], delimiter)
    assert clean[0] == HEADER
    assert clean[1:] == [row for row, s in zip(ROWS, EXPECTED_STATUS, strict=True) if s == "unknown"]


def test_line_numbers_follow_the_file(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "l.csv", [HEADER, *ROWS])
    lines = [row.line for row in open_table(source).rows()]
    # Row 3 ("Multi\nLine") and row 4 ("CR\r\nLF") each span two lines.
    assert lines == [2, 3, 4, 6, 8, 9, 10, 11, 12]


def test_only_empty_lines_are_blank(tmp_path: Path) -> None:
    # Blank means every field empty; a line of blanks or control characters is a row and
    # keeps its cells. White space before the header is not a header: it is blank.
    source = tmp_path / "b.csv"
    source.write_text(
        "\n \t\nemail,name\n\na@acme-co.com,A\n   \n,\n\t\n \x01, \nb@acme-co.com,B\n\n", encoding="utf-8"
    )
    table = open_table(source)
    assert table.info.header == ("email", "name") and table.info.start_line == 3
    rows = list(table.rows())
    assert [(r.number, r.line, r.cells) for r in rows] == [
        (1, 5, ("a@acme-co.com", "A")),
        (2, 6, ("   ",)),
        (3, 8, ("\t",)),
        (4, 9, (" \x01", " ")),
        (5, 10, ("b@acme-co.com", "B")),
    ]
    assert [bool(r.problem) for r in rows] == [False, True, True, False, False]
    assert table.stats.blank_rows == 5
    assert table.report()["blank_rows_skipped"] == 5
    result = run_syntax(source, tmp_path / "out")
    results = read_output(result.paths["results"], ",")
    assert [row[:2] for row in results[1:]] == [["a@acme-co.com", "A"], ["   ", ""], ["\t", ""], [" \x01", " "],
                                               ["b@acme-co.com", "B"]]
    verdicts = [(row[2], row[3], row[5]) for row in results[1:]]  # status, code, reason
    assert verdicts == [
        ("unknown", "", "domain_not_checked"),
        ("unknown", "", "malformed_row"),
        ("unknown", "", "malformed_row"),
        ("undeliverable", "501", "missing_at_sign"),  # a control character is no address
        ("unknown", "", "domain_not_checked"),
    ]


def test_empty_email_cell_is_a_row(tmp_path: Path) -> None:
    source = tmp_path / "e.csv"
    source.write_text("email,name\n,Ann\n  ,Bob\n", encoding="utf-8")
    result = run_syntax(source, tmp_path / "out")
    assert result.summary["by_reason"] == {"missing_address": 2}
    assert result.summary["by_code"] == {"501": 2}


def test_ragged_rows_keep_every_cell_and_stay_aligned(tmp_path: Path) -> None:
    source = tmp_path / "r.csv"
    source.write_text(
        "name,email,zip\n"
        "Ann,ann@acme-co.com,1\n"
        "Lee, Ann,lee@acme-co.com,2\n"  # unquoted comma: one field too many
        "Bob,bob@acme-co.com\n"  # one too few
        "Cy,cy@acme-co.com,3,,\n"  # trailing delimiters: empty extras are dropped silently
        'Di,di@acme-co.com,4,"x,y",\n',
        encoding="utf-8",
    )
    table = open_table(source)
    rows = list(table.rows())
    assert [r.problem == "" for r in rows] == [True, False, False, True, False]
    assert rows[1].problem.startswith("line 3 has 4 fields where the header has 3")
    assert rows[1].cells == ("Lee", " Ann", "lee@acme-co.com", "2")
    assert rows[2].problem == "line 4 has 2 fields where the header has 3"
    assert rows[3].cells == ("Cy", "cy@acme-co.com", "3")

    result = run_syntax(source, tmp_path / "out")
    results = read_output(result.paths["results"], ",")
    width = 3 + len(RESULT_COLUMNS)
    assert all(len(row) == width for row in results)
    status_at = 3 + RESULT_COLUMNS.index("presend_status")
    detail_at = 3 + RESULT_COLUMNS.index("presend_detail")
    reason_at = 3 + RESULT_COLUMNS.index("presend_reason")
    assert [row[status_at] for row in results[1:]] == ["unknown", "unknown", "unknown", "unknown", "unknown"]
    assert results[2][:3] == ["Lee", " Ann", "lee@acme-co.com"]
    assert results[2][reason_at] == "malformed_row"
    # The field that did not fit is kept, verbatim, in the detail (a JSON list).
    extra = results[2][detail_at].split("kept here: ", 1)[1].split("]", 1)[0] + "]"
    assert json.loads(extra) == ["2"]
    extra = results[5][detail_at].split("kept here: ", 1)[1].rsplit("]", 1)[0] + "]"
    assert json.loads(extra) == ["x,y", ""]
    assert results[3][:3] == ["Bob", "bob@acme-co.com", ""]  # padded
    assert "line 4" in results[3][detail_at]
    clean = read_output(result.paths["clean"], ",")
    assert clean == [["name", "email", "zip"], ["Ann", "ann@acme-co.com", "1"], ["Cy", "cy@acme-co.com", "3"]]
    assert result.summary["input"]["malformed_rows"] == 3
    assert any("3 row(s) do not have the header's 3 fields (first on line 3)" in n for n in result.notes)


def test_late_cp1252_byte_after_the_sample_is_kept(tmp_path: Path) -> None:
    head = b"email,name\r\n" + b"".join(b"user%06d@acme-co.com,Name %d\r\n" % (i, i) for i in range(12000))
    assert len(head) > textfile.SAMPLE_BYTES
    line = head.count(b"\n") + 1
    body = head + b"jos\xe9@acme-co.com,Jos\xe9 \x80 \x81\r\n" + b"last@acme-co.com,Last\r\n"
    source = tmp_path / "late.csv"
    source.write_bytes(body)
    table = open_table(source)
    assert table.info.encoding == "utf-8"
    rows = list(table.rows())
    assert rows[-2].cells == ("josé@acme-co.com", "José € \x81")
    assert rows[-2].line == line
    assert table.stats.decode.fallback_bytes == 4
    assert table.stats.decode.fallback_first_line == line

    result = run_syntax(source, tmp_path / "out")
    results = read_output(result.paths["results"], ",")
    assert results[-2][:2] == ["josé@acme-co.com", "José € \x81"]
    assert results[-2][2] == "unknown"
    assert result.summary["input"]["bytes_read_as_cp1252"] == 4
    assert any(f"not valid UTF-8 (first on line {line})" in note for note in result.notes)


def test_utf8_with_a_stray_cp1252_byte_in_the_sample(tmp_path: Path) -> None:
    source = tmp_path / "mixed.csv"
    source.write_bytes("email,name\nzoë@acme-co.com,Zoë Ärger\n".encode() + b"ren\xe9@acme-co.com,Ren\xe9\n")
    table = open_table(source)
    assert table.info.encoding == "utf-8"
    assert [r.cells for r in table.rows()] == [("zoë@acme-co.com", "Zoë Ärger"), ("rené@acme-co.com", "René")]
    assert table.stats.decode.fallback_first_line == 3


@pytest.mark.parametrize("encoding", ["cp1252", "cp1250", "iso8859-2", "cp1251", "koi8-r", "cp1253", "mac-roman"])
def test_an_8_bit_file_keeps_every_byte(tmp_path: Path, encoding: str) -> None:
    # Every byte from 0x80 to 0xFF, including those the encoding leaves undefined (read as
    # the Latin-1 character of the same value).
    high = bytes(range(0x80, 0x100))
    source = tmp_path / "w.csv"
    source.write_bytes(b"email;note\r\na@acme-co.com;" + high + b"\r\n")
    table = open_table(source, encoding=encoding)
    assert (table.info.encoding, table.info.encoding_guessed) == (encoding, False)
    note = next(iter(table.rows())).cells[1]
    assert len(note) == len(high)
    assert "\ufffd" not in note
    assert note == "".join(bytes([b]).decode(encoding, errors="ignore") or chr(b) for b in high)
    if encoding == "cp1252":
        assert note[0] == "€" and "\x81" in note and note[-1] == "ÿ"
    assert table.report()["bytes_read_as_cp1252"] == 0  # the whole file is in that encoding: nothing to flag


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 64])
def test_read_lines_across_block_boundaries(monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(textfile, "_BLOCK_BYTES", block)
    text = "a,é\r\nb,\u2028€\rc,😀\n\nlast"
    expected = ["a,é\r\n", "b,\u2028€\r", "c,😀\n", "\n", "last"]
    for encoding in ("utf-8", "utf-16", "cp1252"):
        if encoding == "cp1252":
            sample = "a,é\r\nb,x€\rc,y\n\nlast"
            wanted = ["a,é\r\n", "b,x€\r", "c,y\n", "\n", "last"]
        else:
            sample, wanted = text, expected
        stats = textfile.DecodeStats()
        lines = list(textfile.read_lines(io.BytesIO(sample.encode(encoding)), encoding, stats))
        assert lines == wanted, encoding
        assert stats.fallback_bytes == 0


@pytest.mark.parametrize("block", [1, 2, 3, 7])
def test_fallback_decoder_matches_whole_decoding(block: int) -> None:
    data = "zoë, €, 😀 ".encode() + b"\xe9\xff\xc3(" + "ok é".encode() + b"\xe2\x82"
    decoder = textfile.Utf8Cp1252Decoder()
    pieces = [decoder.decode(data[i : i + block]) for i in range(0, len(data), block)]
    pieces.append(decoder.decode(b"", final=True))
    assert "".join(pieces) == "zoë, €, 😀 éÿÃ(ok éâ‚"
    assert decoder.fallback_bytes == 5


@pytest.mark.parametrize(
    ("text", "suffix", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ".csv", ","),
        ("a;b;c\n1,5;2,5;3\n", ".csv", ";"),  # decimal commas
        ("a\tb\n1,2\t3\n", ".csv", "\t"),
        ("a|b\n1|2\n", ".csv", "|"),
        ('name;email\n"Lee, Ann; Jr";ann@acme-co.com\n"x, y, z";b@acme-co.com\n', ".csv", ";"),
        ('name,email\n"a;b;c;d",ann@acme-co.com\n', ".csv", ","),
        ("email\nann@acme-co.com\n", ".csv", ","),  # one column
        ("email\nann@acme-co.com\n", ".tsv", "\t"),
        ("sep=;\nname,x;email\nAnn,1;a@acme-co.com\n", ".csv", ";"),  # Excel's sep= line
    ],
)
def test_delimiter_sniffing(tmp_path: Path, text: str, suffix: str, delimiter: str) -> None:
    source = tmp_path / f"s{suffix}"
    source.write_text(text, encoding="utf-8")
    assert open_table(source, email_column="1").info.delimiter == delimiter


def test_sep_line_is_not_a_row(tmp_path: Path) -> None:
    source = tmp_path / "sep.csv"
    source.write_text("sep=;\r\nname;email\r\nAnn;a@acme-co.com\r\n", encoding="utf-8")
    table = open_table(source)
    assert table.info.header == ("name", "email")
    assert [(r.line, r.cells) for r in table.rows()] == [(3, ("Ann", "a@acme-co.com"))]


def test_file_without_header_row(tmp_path: Path) -> None:
    source = tmp_path / "bare.csv"
    source.write_text("ann@acme-co.com\nbob@example\nann@acme-co.com\n", encoding="utf-8")
    table = open_table(source)
    assert table.info.has_header is False
    assert table.info.header == ("column_1",)
    result = run_syntax(source, tmp_path / "out")
    assert result.summary["rows"] == 3
    assert read_output(result.paths["clean"], ",") == [["ann@acme-co.com"]]  # no invented header
    results = read_output(result.paths["results"], ",")
    assert results[0] == ["column_1", *RESULT_COLUMNS]
    assert [r[1] for r in results[1:]] == ["unknown", "undeliverable", "duplicate"]
    assert any("no header row" in note for note in result.notes)


@pytest.mark.parametrize(
    ("header", "rows", "index"),
    [
        (["Name", "Email"], [], 1),
        (["Name", "E-mail Address"], [], 1),
        (["name", "EMAIL_ADDRESS"], [], 1),
        (["Nom", "Courriel"], [], 1),
        (["Nombre", "Correo electrónico"], [], 1),
        (["Name", "E-Mail-Adresse"], [], 1),
        (["First", "E-mail 1 - Value"], [], 1),  # Google Contacts
        (["Mail", "Name"], [], 0),
        # Two email-named columns: the one whose values are addresses wins.
        (["Email", "Email Address"], [["yes", "a@acme-co.com"], ["no", "b@acme-co.com"]], 1),
        # "Mailing Address" is postal: not taken when its values are not addresses.
        (["Mailing Address", "Contact"], [["1 Main St", "a@acme-co.com"], ["2 Side Rd", "b@acme-co.com"]], 1),
        (["Work Email", "Home Email"], [["", "a@acme-co.com"], ["", "Ann <b@acme-co.com>"]], 1),
        (["A", "B", "C"], [["x", "1", "a@acme-co.com"], ["y", "2", "bad"], ["z", "3", "mailto:c@acme-co.com"]], 2),
        (["A", "B"], [["x", "1"], ["y", "2"]], None),
        (["A", "B"], [["x", "a@acme-co.com"], ["y", "no"], ["z", "no"]], None),  # under half
    ],
)
def test_find_email_column(header: list[str], rows: list[list[str]], index: int | None) -> None:
    assert find_email_column(header, rows) == index


def test_email_column_option(tmp_path: Path) -> None:
    source = tmp_path / "o.csv"
    source.write_text("Primary,Backup Mail\na@acme-co.com,b@acme-co.com\n", encoding="utf-8")
    assert open_table(source).info.email_column == "Backup Mail"  # named like mail, holds addresses
    assert open_table(source, "Primary").info.email_index == 0
    assert open_table(source, "PRIMARY ").info.email_index == 0  # case, blanks and punctuation ignored
    assert open_table(source, "backup_mail").info.email_index == 1
    assert open_table(source, "1").info.email_index == 0  # a column number
    with pytest.raises(InputError, match=r"no column named 'nope' \(columns: 'Primary', 'Backup Mail'\)"):
        open_table(source, "nope")


def test_no_email_column_is_an_input_error(tmp_path: Path) -> None:
    source = tmp_path / "n.csv"
    source.write_text("name,phone\nAnn,123\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no column looks like email addresses.*--email-column"):
        open_table(source)


def _workbook(path: Path) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Contacts"
    sheet.append(["Name", "Email", "Zip", "Amount", "Joined", "Active", "At"])
    sheet.append(["José", "jose@acme-co.com", "00123", 123, dt.datetime(2024, 1, 31), True, dt.time(9, 30)])
    sheet.append(["NA", "Ann <ann@acme-co.com>", 501, 1.5, dt.date(2023, 12, 1), False, None])
    # row 4 left empty: a blank row
    sheet.append([])
    sheet.append(["Big", "big@acme-co.com", None, 442079460000.0, dt.datetime(2024, 5, 6, 7, 8, 9), None, None])
    sheet.append(["Over", "over@acme-co.com", None, None, None, None, None, "beyond"])
    sheet.append(["Neg", "neg@acme-co.com", -0.25, 1e20, 0.1 + 0.2])
    book.create_sheet("Notes").append(["not read"])
    book.save(path)
    return path


def test_xlsx_values_come_back_as_text(tmp_path: Path) -> None:
    source = _workbook(tmp_path / "book.xlsx")
    table = open_table(source)
    assert (table.info.format, table.info.sheet, table.info.email_column) == ("xlsx", "Contacts", "Email")
    rows = list(table.rows())
    assert [(r.number, r.line) for r in rows] == [(1, 2), (2, 3), (3, 5), (4, 6), (5, 7)]
    assert rows[0].cells == ("José", "jose@acme-co.com", "00123", "123", "2024-01-31", "TRUE", "09:30:00")
    assert rows[1].cells == ("NA", "Ann <ann@acme-co.com>", "501", "1.5", "2023-12-01", "FALSE", "")
    assert rows[2].cells == ("Big", "big@acme-co.com", "", "442079460000", "2024-05-06T07:08:09", "", "")
    assert rows[3].problem.startswith("row 6 has 8 fields where the header has 7")
    assert rows[4].cells == ("Neg", "neg@acme-co.com", "-0.25", "1e+20", "0.3", "", "")
    assert table.stats.blank_rows == 1

    result = run_syntax(source, tmp_path / "out")
    raw = result.paths["results"].read_bytes()
    assert raw.startswith(codecs.BOM_UTF8)  # Excel users get a BOM
    results = read_output(result.paths["results"], ",")  # a workbook's outputs use commas
    assert results[1][:7] == list(rows[0].cells)
    assert results[3][:7] == list(rows[2].cells)
    assert results[4][:7] == ["Over", "over@acme-co.com", "", "", "", "", ""]
    assert '["beyond"]' in results[4][7 + RESULT_COLUMNS.index("presend_detail")]
    assert result.summary["input"]["format"] == "xlsx"
    assert any("only the first, 'Contacts', was read" in note for note in result.notes)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "the file is empty"),
        ("blank.csv", b"\r\n \r\n,,\r\n", "holds no rows"),
        ("zip.csv.gz", b"\x1f\x8b\x08\x00rest", "compressed"),
        ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "old.xls: not a readable workbook"),
        ("fake.xlsx", b"email\na@acme-co.com\n", "named .xlsx but is not a workbook"),
        ("broken.xlsx", b"PK\x03\x04broken", "broken.xlsx: not a readable workbook"),
        ("bin.csv", b"email\x00\x01\x02\x00\x00\x00\x03" * 50, "binary file"),
    ],
)
def test_unusable_files_are_input_errors(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    with pytest.raises(InputError, match=message):
        open_table(source)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        open_table(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="not a file"):
        open_table(tmp_path)


def test_unclosed_quote_names_its_line(tmp_path: Path) -> None:
    source = tmp_path / "q.csv"
    lines = ["email,name", "a@acme-co.com,Ann", 'b@acme-co.com,"Bob never closes'] + [
        f"user{i}@acme-co.com,{'x' * 40}" for i in range(5000)
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 3: a field runs past .* never closed"):
        list(open_table(source).rows())


@pytest.mark.parametrize(("head", "line"), [("", 3), ("sep=\t\r\n", 4)])
def test_broken_utf16_is_an_input_error_on_its_line(tmp_path: Path, head: str, line: int) -> None:
    # The sep= line counts as a line of the file.
    source = tmp_path / "u.txt"
    good = (head + "email\tname\r\na@acme-co.com\tAnn\r\n").encode("utf-16")
    source.write_bytes(good + "b@acme-co.com\t".encode("utf-16-le") + b"\x00\xd8" + "x\r\n".encode("utf-16-le"))
    with pytest.raises(InputError, match=f"line {line}: bytes that are not valid utf-16"):
        list(open_table(source).rows())


def test_chunks_cover_every_row_once(tmp_path: Path) -> None:
    rows = [[f"u{i}@acme-co.com", str(i)] for i in range(1, 26)]
    source = write_csv(tmp_path / "c.csv", [["email", "n"], *rows])
    chunks = list(open_table(source).row_chunks(7))
    assert [len(c) for c in chunks] == [7, 7, 7, 4]
    assert [c.start for c in chunks] == [1, 8, 15, 22]
    assert [list(r.cells) for c in chunks for r in c.rows()] == rows


BELOW = [["Bob", "bob@acme-co.com"], ["Cy", "cy@acme-co.org"], ["Dee", "dee@acme-co.net"]]


@pytest.mark.parametrize(
    ("first", "below", "wanted", "header"),
    [
        (["Name", "Email"], BELOW, None, True),  # an email header name
        (["Name", "Contact"], BELOW, None, True),  # another word over the addresses
        (["Nom", "Adresse électronique"], BELOW, None, True),
        (["Name", "Electronic mail"], BELOW, None, True),
        (["Ann", "ann@acme-co.com"], BELOW, None, False),  # an address
        (["Ann", "mailto:ann@acme-co.com"], BELOW, None, False),
        (["Ann", "ann@@acme-co.com"], BELOW, None, False),  # a broken address
        (["Ann", "ann@example"], BELOW, None, False),
        (["Ann", "ann.acme-co.com"], BELOW, None, False),  # no @, but a domain's dots
        (["Ann", "ann2example"], BELOW, None, False),  # a digit: no column name
        (["Ann", ""], BELOW, None, False),  # an empty address
        (["Ann", "   "], BELOW, None, False),
        (["Ann"], BELOW, None, False),  # too short to reach the address column
        (["Mailchimp Inc", "bob@"], BELOW, None, False),  # a company named like a header
        (["Name", "Login"], BELOW, "Login", True),  # --email-column names it
        (["Ann", "x"], BELOW, "2", True),  # a column number: the cell is read as its name
        (["Ann", "ann@"], [], None, False),  # nothing below: an @ is data
        (["Name", "Email"], [], None, True),
        (["Name", "Note"], [["Bob", "not an address"]], None, True),
        # Found by the fuzz test: addresses in a long row's extra field do not unmake a header.
        (["Name", "Email"], [["", "", "a@acme-co.com"]], None, True),
        (["Name", "Contact", "Zip"], [["", "a@acme-co.com", "", "b@acme-co.com"], ["", "0", ""],
                                      ["", "c@acme-co.com", ""]], None, True),
    ],
)
def test_decide_header(first: list[str], below: list[list[str]], wanted: str | None, header: bool) -> None:
    decided, why = decide_header(first, below, wanted)
    assert decided is header, why
    assert why


@pytest.mark.parametrize("first", ["Ann Lee,ann@@acme-co.com", "Ann Lee,", "Ann Lee,ann.acme-co.com", " Ann Lee ,  "])
def test_a_headerless_list_keeps_its_first_contact(tmp_path: Path, first: str) -> None:
    source = tmp_path / "bare.csv"
    source.write_text(f"{first}\nBob,bob@acme-co.com\nCy,cy@acme-co.org\n", encoding="utf-8")
    result = run_syntax(source, tmp_path / "out")
    assert result.summary["input"]["has_header"] is False
    assert result.summary["rows"] == 3
    results = read_output(result.paths["results"], ",")
    assert results[0] == ["column_1", "column_2", *RESULT_COLUMNS]
    assert results[1][:2] == first.split(",")  # the first contact, judged
    assert (results[1][2], results[1][3]) == ("undeliverable", "501")
    assert [note for note in result.notes if "header" in note] == [
        next(note for note in result.notes if note.startswith("bare.csv: no header row: the first line is data ("))
    ]


def test_the_header_decision_is_always_a_note(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "h.csv", [HEADER, *ROWS])
    result = run_syntax(source, tmp_path / "out")
    assert (
        "h.csv: first line read as a header: 'Name', 'Email', 'Zip', 'Note' ('Email' names the email column); "
        "if it is a contact, add a header line to the file"
    ) in result.notes
    assert json.loads(result.paths["summary"].read_text(encoding="utf-8"))["notes"] == result.notes
