"""Worker processes (pipeline.engine.processes) give exactly what the one-process run gives.

The file is cut into pieces of whole lines by a process that does not parse CSV; these
tests put quoted fields across the cuts, blank lines before the header, Excel's sep= line,
every line-end style and ragged rows in the way, and compare rows, outputs and summaries
with the one-process path, for piece sizes down to one line.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import InputError
from pipeline.io import textfile
from pipeline.io.ingest import TableInfo, open_table, record_reader
from pipeline.io.outputs import CsvLines
from pipeline.io.pieces import (
    FilePiece,
    PieceError,
    TextPiece,
    after_breaks,
    cut_as_bytes,
    file_pieces,
    join_pieces,
    parse_piece,
    text_pieces,
    written_as_is,
)
from pipeline.io.textfile import DecodeStats, TextFormat
from pipeline.options import DnsOptions, HygieneOptions, RunOptions
from pipeline.run import run

REPO = Path(__file__).resolve().parent.parent

TRICKY = (
    "name,email,note\r\n"
    '"Ann, A",ann@acme-co.com,"two\r\nlines"\r\n'
    "\r\n"
    "Bob,BOB@acme-co.com,plain\r\n"
    'Cy,"cy@acme-co.com","a ""quoted"" word, and\nmore\nlines"\r\n'
    "Dee,not an address,x\r\n"
    "Eve,eve@acme-co.com\r\n"
    "Fay,fay@acme-co.com,x,extra\r\n"
    "Gus,gus@acme-co.com,x,,\r\n"
    'Ann again,ann@EXAMPLE.com,"5\'11"" tall"\r\n'
    'Hal,hal@acme-co.com,"ends at the end of the file'
)


def _write(tmp_path: Path, text: str, name: str = "list.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _cut(path: Path, size: int) -> tuple[TextFormat, TableInfo, list[TextPiece] | list[FilePiece]]:
    """The file cut as the run cuts it: as bytes where the encoding allows, else as text.

    Pieces cut as bytes must read back as the pieces cut as text, line for line.
    """
    with open_table(path) as table:
        text = table.text_format
        assert text is not None
        info = table.info
    head = int(info.has_header) + int(text.sep_line)
    as_text = list(text_pieces(path, text, size, DecodeStats(), head_lines=head))
    if not cut_as_bytes(text.encoding):
        return text, info, as_text
    as_bytes = list(file_pieces(path, text, size, head_lines=head))
    with path.open("rb") as handle:
        assert [piece.read(handle.fileno(), text.encoding)[0] for piece in as_bytes] == as_text
    return text, info, as_bytes


def _rows_by_pieces(path: Path, size: int) -> tuple[list[tuple[int, list[str], str]], dict[str, int]]:
    """Parse the file piece by piece, joining a piece with the next while it ends unclean,
    as the run's scheduler does (reading each byte piece as a worker does)."""
    text, info, pieces = _cut(path, size)
    rows: list[tuple[int, list[str], str]] = []
    blank = malformed = 0
    header = info.has_header
    first = True
    queue: list[TextPiece | FilePiece] = list(pieces)
    handle = path.open("rb")
    while queue:
        piece = queue.pop(0)
        while True:
            readable = piece.read(handle.fileno(), text.encoding)[0] if isinstance(piece, FilePiece) else piece
            parsed = parse_piece(readable, text, info.width, info.email_index, header_pending=header, first=first,
                                 start_line=info.start_line)
            if parsed.clean_end:
                break
            piece = join_pieces(piece, queue.pop(0))
        first = False
        for cells, email, raw in zip(parsed.cells, parsed.emails, parsed.raw, strict=True):
            assert email == (cells[info.email_index] if len(cells) > info.email_index else "")
            assert raw in ("", CsvLines(text.delimiter).parts([cells])[0])
        header = parsed.header_pending
        blank += parsed.stats.blank_rows
        malformed += parsed.stats.malformed_rows
        rows.extend(
            (line, cells, parsed.problems.get(i, ""))
            for i, (line, cells) in enumerate(zip(parsed.lines, parsed.cells, strict=True))
        )
    handle.close()
    return rows, {"blank": blank, "malformed": malformed}


def _rows_in_one_pass(path: Path) -> tuple[list[tuple[int, list[str], str]], dict[str, int]]:
    with open_table(path) as table:
        rows = [(row.line, list(row.cells), row.problem) for row in table.rows()]
        return rows, {"blank": table.stats.blank_rows, "malformed": table.stats.malformed_rows}


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 50_000])
def test_pieces_give_the_rows_of_one_pass(tmp_path: Path, ending: str, size: int) -> None:
    text = "\n\n" + TRICKY.replace("\r\n", "\n").replace("\n", ending)
    path = _write(tmp_path, text)
    expected = _rows_in_one_pass(path)
    assert len(expected[0]) == 9 and expected[1] == {"blank": 3, "malformed": 2}
    assert _rows_by_pieces(path, size) == expected


def test_pieces_with_sep_line_utf16_and_no_header(tmp_path: Path) -> None:
    sep = _write(tmp_path, "sep=;\nname;email\nA;a@acme-co.com\n\nB;b@acme-co.com\n", "sep.csv")
    wide = _write(tmp_path, 'a@acme-co.com\tx\nb@acme-co.com\t"y\ny"\nc@acme-co.com\tz\n', "u16.txt", "utf-16")
    for path in (sep, wide):
        for size in (1, 2, 4):
            assert _rows_by_pieces(path, size) == _rows_in_one_pass(path)


@pytest.mark.parametrize("alphabet", ['ab@.x ,"\r\n', "ab@.x ,\t\x0b\r\n"], ids=["quotes", "no-quotes"])
@settings(max_examples=150, deadline=None)
@given(
    rows=st.data(),
    size=st.integers(min_value=1, max_value=6),
)
def test_pieces_match_one_pass_on_any_text(
    tmp_path_factory: pytest.TempPathFactory, alphabet: str, rows: st.DataObject, size: int
) -> None:
    cells = st.text(alphabet=st.sampled_from(list(alphabet)), max_size=8)
    drawn = rows.draw(st.lists(st.lists(cells, min_size=1, max_size=4), max_size=12))
    body = "\n".join(",".join(line) for line in drawn)
    path = _write(tmp_path_factory.mktemp("any"), "email,b,c\nx@acme-co.com,1,2\n" + body)
    try:
        expected = _rows_in_one_pass(path)
    except InputError:
        assert '"' in body  # only a broken quote makes such a file unreadable
        return
    assert _rows_by_pieces(path, size) == expected


@pytest.mark.parametrize("size", [1, 2, 3, 50_000])
def test_pieces_without_quotes_give_the_rows_of_one_pass(tmp_path: Path, size: int) -> None:
    # No quote anywhere: blank and ragged lines, blanks around fields, odd line-break characters.
    text = "\n\n" + TRICKY.replace('"', "") + "\n\n,,\n x ,   \t,y\nIvy,\x0bivy@acme-co.com\x0c,x\r\n"
    path = _write(tmp_path, text)
    expected = _rows_in_one_pass(path)
    assert len(expected[0]) == 14 and expected[1] == {"blank": 5, "malformed": 7}
    assert _rows_by_pieces(path, size) == expected
    single = _write(tmp_path, "email\n\na@acme-co.com\n \nb@acme-co.com\n", "single.csv")
    assert _rows_by_pieces(single, 2) == _rows_in_one_pass(single)


def test_pieces_without_quotes_keep_the_csv_field_limit(tmp_path: Path) -> None:
    import csv

    long_line = "B" * (csv.field_size_limit() + 1) + ",b@acme-co.com\n"
    path = _write(tmp_path, "name,email\nA,a@acme-co.com\n" + long_line)
    with pytest.raises(InputError, match="line 3"):
        _rows_in_one_pass(path)
    small = _write(tmp_path, "name,email\nA,a@acme-co.com\n", "small.csv")
    with open_table(small) as table:
        text = table.text_format
        assert text is not None
        piece = TextPiece(2, "A,a@acme-co.com\n" + long_line, 2, final=True)
        with pytest.raises(PieceError) as caught:
            parse_piece(piece, text, 2, 1, header_pending=False, first=False, start_line=1)
    assert caught.value.line == 3


@pytest.mark.parametrize("block", [1, 2, 5, 64])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_byte_pieces_read_back_as_text_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, bom: bytes
) -> None:
    # Tiny reads put CRLFs and multi-byte characters across block ends; stray Windows-1252
    # bytes in UTF-8 are counted by the workers as the one-pass reader counts them.
    monkeypatch.setattr(textfile, "_BLOCK_BYTES", block)
    body = "name,email\r\nZoë Ørsted-Ünal,zoe@acme-co.com\r\nAl,al@acme-co.com\rBo,\"b\r\no\"@acme-co.com\n".encode()
    body += b"Caf\xe9,cafe@acme-co.com\r\n\r\nD\x93q\x94,d@acme-co.com\nEnd,end@acme-co.com"
    path = tmp_path / "mixed.csv"
    path.write_bytes(bom + body)
    for size in (1, 2, 3, 100):
        text, _info, pieces = _cut(path, size)
        assert text.encoding == ("utf-8-sig" if bom else "utf-8") and all(isinstance(p, FilePiece) for p in pieces)
        assert pieces[0].start == len(bom) and pieces[-1].start + pieces[-1].size == len(bom + body)
        with path.open("rb") as handle:
            found = [piece.read(handle.fileno(), text.encoding)[1] for piece in pieces]  # type: ignore[union-attr]
        one_pass = DecodeStats()
        list(text_pieces(path, text, size, one_pass, head_lines=1))
        assert sum(stats.fallback_bytes for stats in found) == one_pass.fallback_bytes == 3
        assert next(s.fallback_first_line for s in found if s.fallback_first_line) == one_pass.fallback_first_line == 6
        assert _rows_by_pieces(path, size) == _rows_in_one_pass(path)


def test_a_byte_piece_past_the_end_of_the_file_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "email\na@acme-co.com\n")
    with path.open("rb") as handle:
        with pytest.raises(OSError, match="changed during the run"):
            FilePiece(2, 6, 40, 1, final=True).read(handle.fileno(), "utf-8")
        with pytest.raises(ValueError, match="cut as text"):
            list(file_pieces(path, TextFormat("utf-16", ","), 10))


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_line_passes_written_as_is_only_when_the_outputs_write_it_so(delimiter: str, data: st.DataObject) -> None:
    # Sound: a line that passes is exactly what the outputs write for the cells read from it.
    # Complete: every line the outputs write (one line, no line break inside) passes.
    as_written = written_as_is(delimiter)
    lines = CsvLines(delimiter)
    line = data.draw(st.text(alphabet=st.sampled_from(["a", " ", '"', delimiter, "é"]), max_size=14))
    records = list(record_reader([line], TextFormat("utf-8", delimiter)))
    if as_written(line):
        assert len(records) == 1 and lines.parts(records)[0] == line
    cells = data.draw(st.lists(st.text(alphabet=st.sampled_from(["b", '"', delimiter, " "]), max_size=5), min_size=2))
    assert as_written(lines.parts([cells])[0])


def test_after_breaks_counts_every_line_end_style() -> None:
    assert after_breaks("a\r\nb\r\nc", 1) == 3
    assert after_breaks("a\rb\rc", 2) == 4
    assert after_breaks("a\nb\rc\r\nd", 3) == 7
    assert after_breaks("a\nb", 0) == 0
    assert after_breaks("ab\r\ncd\r\nef\r\n", 3) == 12 and after_breaks("x\ny\n" * 6000, 10_000) == 20_000
    with pytest.raises(ValueError):
        after_breaks("a\nb\n", 3)


def _run(path: Path, out: Path, workers: int, **extra: object) -> dict[str, object]:
    options = RunOptions(input=path, out_dir=out, dns=DnsOptions(enabled=False), workers=workers)
    result = run(replace(options, **extra))  # type: ignore[arg-type]
    return result.summary


def _outputs(out: Path, stem: str) -> tuple[list[str], bytes, str]:
    results = (out / f"{stem}.results.csv").read_bytes().decode("utf-8-sig").split("\r\n")
    # presend_checked_at (the last column) is the time of each chunk's check: left out.
    cut = [line.rsplit(",", 1)[0] for line in results]
    return cut, (out / f"{stem}.clean.csv").read_bytes(), (out / f"{stem}.report.html").read_text("utf-8")


def _same_summary(one: dict[str, object], many: dict[str, object]) -> None:
    skip = {"timings_seconds", "started_at", "finished_at", "syntax", "workers", "options"}
    assert {k: v for k, v in one.items() if k not in skip} == {k: v for k, v in many.items() if k not in skip}
    assert many["workers"] == 2 and one["workers"] == 1


@pytest.mark.parametrize("report_rows", [5_000, 2])
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 50_000])
def test_workers_write_what_one_process_writes(tmp_path: Path, chunk_size: int, report_rows: int) -> None:
    # With few report rows, the later pieces' duplicates are written and counted as text.
    path = _write(tmp_path, TRICKY + '"\n' + "".join(f"P{i},p{i % 7}@acme-co.com,x\n" for i in range(40)))
    one = _run(path, tmp_path / "one", 1, chunk_size=chunk_size, report_row_cap=report_rows)
    many = _run(path, tmp_path / "many", 2, chunk_size=chunk_size, report_row_cap=report_rows)
    _same_summary(one, many)
    a, b = _outputs(tmp_path / "one", "list"), _outputs(tmp_path / "many", "list")
    assert a[0] == b[0] and a[1] == b[1]
    by_status = many["by_status"]
    assert isinstance(by_status, dict) and by_status["duplicate"] >= 33 and many["rows"] == 49


@pytest.mark.parametrize("report_rows", [5_000, 1])
def test_workers_quote_addresses_holding_the_delimiter(tmp_path: Path, report_rows: int) -> None:
    # "|" is atext: a pre-checked address may hold the delimiter and must be quoted (in its
    # duplicates' detail too); ";" is in every duplicate's detail.
    for delimiter in ("|", ";"):
        cells = [f"a{delimiter * (i % 2)}b{i % 20}@Acme-co.com" for i in range(30)]
        quoted = ['"' + cell + '"' if delimiter in cell else cell for cell in cells]
        rows = [f"N{i}{delimiter}{cell}{delimiter}x" for i, cell in enumerate(quoted)]
        rows += [
            f"R{delimiter}info@gmail.com{delimiter}y",
            f"T{delimiter}t@gmial.com{delimiter}z",
            f"D{delimiter}d@mailinator.com{delimiter}w",
            f'S{delimiter}"a{delimiter}{delimiter}b0@acme-co.com"{delimiter}v',
        ]
        path = _write(
            tmp_path, f"name{delimiter}email{delimiter}note\n" + "\n".join(rows) + "\n", f"d{ord(delimiter)}.csv"
        )
        one = _run(path, tmp_path / f"one{ord(delimiter)}", 1, chunk_size=4, report_row_cap=report_rows)
        many = _run(path, tmp_path / f"many{ord(delimiter)}", 2, chunk_size=4, report_row_cap=report_rows)
        _same_summary(one, many)
        a = _outputs(tmp_path / f"one{ord(delimiter)}", path.stem)
        b = _outputs(tmp_path / f"many{ord(delimiter)}", path.stem)
        # _outputs cuts presend_checked_at at the last comma: cut it at the last delimiter here.
        assert [line.rsplit(delimiter, 1)[0] for line in a[0]] == [line.rsplit(delimiter, 1)[0] for line in b[0]]
        assert a[1] == b[1]
        if delimiter == "|":
            assert any(f'"a{delimiter}b1@acme-co.com"' in line for line in b[0])
            assert any('|"Same address as row 2 (this row: a|b1@acme-co.com); only' in line for line in b[0])
        else:  # "a;b1@..." is no address; the duplicates of "ab0@..." hold ";" in their detail
            assert any(';"Same address as row 1 (this row: ab0@acme-co.com); only' in line for line in b[0])


@pytest.mark.parametrize(
    "hygiene", [{"canonical_duplicates": True}, {"role_is_risky": True}, {"disposable_block": ("acme-co.org",)}]
)
@pytest.mark.parametrize("keep_risky", [False, True])
def test_workers_follow_the_hygiene_options(tmp_path: Path, hygiene: dict[str, object], keep_risky: bool) -> None:
    rows = ["email,name"] + [
        f"{local}@{domain},n{i}"
        for i, (local, domain) in enumerate(
            [
                ("a.b+x", "gmail.com"),
                ("ab", "gmail.com"),
                ("info", "acme-co.com"),
                ("x", "acme-co.org"),
                ("Sales", "Example.COM"),
                ("y+1", "acme-co.com"),
                ("y", "acme-co.com"),
                ("z", "gmial.com"),
            ]
            * 3
        )
    ]
    path = _write(tmp_path, "\n".join(rows) + "\n")
    options = {"chunk_size": 5, "keep_risky": keep_risky, "hygiene": replace(HygieneOptions(), **hygiene)}
    one = _run(path, tmp_path / "one", 1, **options)
    many = _run(path, tmp_path / "many", 2, **options)
    _same_summary(one, many)
    assert _outputs(tmp_path / "one", "list")[:2] == _outputs(tmp_path / "many", "list")[:2]


def test_workers_count_stray_windows_1252_bytes_as_one_process_does(tmp_path: Path) -> None:
    lines = [b"name,email"] + [f"Né{i},n{i % 40}@acme-co.com".encode() for i in range(300)]
    lines[120] = b"Caf\xe9,cafe@acme-co.com"
    lines[250] = b"\x93Quoted\x94,q@acme-co.com"
    path = tmp_path / "stray.csv"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")
    one = _run(path, tmp_path / "one", 1, chunk_size=25)
    many = _run(path, tmp_path / "many", 2, chunk_size=25)
    _same_summary(one, many)
    read = many["input"]
    assert isinstance(read, dict) and read["bytes_read_as_cp1252"] == 3 and read["encoding"] == "utf-8"
    assert _outputs(tmp_path / "one", "stray")[:2] == _outputs(tmp_path / "many", "stray")[:2]


@pytest.mark.parametrize(
    "name", ["demo.csv", "mailchimp_export.csv", "hubspot_export.csv", "excel_semicolon_cp1252.csv"]
)
@pytest.mark.parametrize("report_rows", [5_000, 3])
def test_workers_on_the_sample_lists(tmp_path: Path, name: str, report_rows: int) -> None:
    path = REPO / "sample_lists" / name
    if not path.exists():
        pytest.fail(f"sample list {name} is missing")
    one = _run(path, tmp_path / "one", 1, chunk_size=7, report_row_cap=report_rows)
    many = _run(path, tmp_path / "many", 2, chunk_size=7, report_row_cap=report_rows)
    _same_summary(one, many)
    assert _outputs(tmp_path / "one", path.stem)[:2] == _outputs(tmp_path / "many", path.stem)[:2]


@pytest.mark.parametrize("report_rows", [5_000, 10])
def test_workers_on_a_generated_list_with_many_domains(tmp_path: Path, report_rows: int) -> None:
    rng = random.Random(5)
    lines = ["id,email,city"]
    for i in range(6000):
        domain = f"d{rng.randrange(3000)}.example" if rng.random() < 0.7 else rng.choice(["gmail.com", "gmial.com"])
        local = rng.choice(["info", "sales", f"user{rng.randrange(4000)}", "bad address", "a..b"])
        lines.append(f'{i},{local}@{domain},"City {i % 13}"')
    path = _write(tmp_path, "\n".join(lines) + "\n")
    one = _run(path, tmp_path / "one", 1, chunk_size=500, report_row_cap=report_rows)
    many = _run(path, tmp_path / "many", 2, chunk_size=500, report_row_cap=report_rows)
    _same_summary(one, many)
    assert _outputs(tmp_path / "one", "list")[:2] == _outputs(tmp_path / "many", "list")[:2]
    assert json.loads((tmp_path / "many" / "list.summary.json").read_text())["rows"] == 6000


def test_a_broken_quote_is_reported_with_its_line_by_the_workers(tmp_path: Path) -> None:
    import csv

    limit = csv.field_size_limit()
    csv.field_size_limit(1000)
    try:
        path = _write(tmp_path, "email,note\na@acme-co.com,x\n" + 'b@acme-co.com,"' + "y" * 2000 + "\n" + "c@x.com,z\n")
        with pytest.raises(InputError) as one:
            _run(path, tmp_path / "one", 1, chunk_size=1)
        with pytest.raises(InputError) as many:
            _run(path, tmp_path / "many", 2, chunk_size=1)
    finally:
        csv.field_size_limit(limit)
    assert str(one.value) == str(many.value)
    assert "line 3" in str(many.value)


def test_workers_commit_every_chunk_size_rows(tmp_path: Path) -> None:
    path = _write(tmp_path, "email\n" + "".join(f"u{i}@acme-co.com\n" for i in range(25_000)))
    seen: list[tuple[int, int]] = []

    def events(name: str, fields: dict[str, object]) -> None:
        if name == "chunk_committed":
            seen.append((int(fields["rows_done"]), int(fields["chunk_rows"])))  # type: ignore[call-overload]

    options = RunOptions(
        input=path, out_dir=tmp_path / "out", dns=DnsOptions(enabled=False), workers=2, chunk_size=12_000
    )
    result = run(options, events=events)
    assert result.summary["workers"] == 2 and result.summary["rows"] == 25_000
    assert seen == [(12_000, 12_000), (24_000, 12_000), (25_000, 1_000)]


def test_a_worker_that_cannot_write_stops_the_run_with_the_outputs_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from pipeline.engine import processes as parallel
    from pipeline.errors import OutputError

    def full(*args: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    path = _write(tmp_path, "email\n" + "".join(f"u{i}@acme-co.com\n" for i in range(3000)))
    monkeypatch.setattr(parallel.os, "pwrite", full)  # the workers are forked with it
    with pytest.raises(OutputError, match=r"writing the outputs failed \(No space left on device\); free some"):
        _run(path, tmp_path / "many", 2, chunk_size=700)
    assert not (tmp_path / "many" / "list.results.csv").exists()


@pytest.mark.parametrize("encoding", ["cp1251", "koi8-r", "mac-roman", "shift_jis", "gb18030"])
def test_workers_read_legacy_encodings_as_one_process_does(tmp_path: Path, encoding: str) -> None:
    # 8-bit encodings are cut as bytes and decoded by the workers; Shift-JIS and GB18030 are
    # decoded and cut as text by the run's process.
    names = {
        "cp1251": ["Иван Петров", "Мария Смирнова", "Алексей Кузнецов", "Ольга Попова"],
        "koi8-r": ["Иван Петров", "Мария Смирнова", "Алексей Кузнецов", "Ольга Попова"],
        "mac-roman": ["Jürgen Müller", "Hélène Lefèvre", "François Dupont", "Jérôme Bœuf"],
        "shift_jis": ["山田太郎", "佐藤花子", "鈴木一郎", "高橋美咲"],
        "gb18030": ["张伟", "王芳", "李娜", "刘洋"],
    }[encoding]
    lines = ["Name,Email,Note"] + [
        f'{names[i % 4]},n{i % 30}@acme-co.com,"{names[(i + 1) % 4]}\r\n{i}"' for i in range(120)
    ]
    path = _write(tmp_path, "\r\n".join(lines) + "\r\n", "legacy.csv", encoding)
    for size in (1, 7):
        assert _rows_by_pieces(path, size) == _rows_in_one_pass(path)
    one = _run(path, tmp_path / "one", 1, chunk_size=9)
    many = _run(path, tmp_path / "many", 2, chunk_size=9)
    _same_summary(one, many)
    assert _outputs(tmp_path / "one", "legacy")[:2] == _outputs(tmp_path / "many", "legacy")[:2]
    clean = (tmp_path / "many" / "legacy.clean.csv").read_bytes().decode("utf-8-sig")
    assert clean.startswith(f"Name,Email,Note\r\n{names[0]},n0@acme-co.com,\"{names[1]}\r\n0\"\r\n")


@pytest.mark.parametrize(
    ("text", "first", "count"),
    [
        # A header after white space; lines of blanks or control characters are rows.
        (" \t\n\nname,email\n   \n,\nAnn,ann@acme-co.com\n\x01,\nBob,bob@acme-co.com\n \n", ["   "], 5),
        # No header: the first contact's address is broken, or empty.
        ("\n  \nAnn,ann@@acme-co.com\nBob,bob@acme-co.com\n\t,\nCy,cy@acme-co.org\n", ["Ann", "ann@@acme-co.com"], 4),
        (",\nAnn,\nBob,bob@acme-co.com\nCy,cy@acme-co.org\n", ["Ann", ""], 3),
    ],
    ids=["header", "broken-first", "empty-first"],
)
def test_workers_agree_on_blank_lines_and_the_header(tmp_path: Path, text: str, first: list[str], count: int) -> None:
    path = _write(tmp_path, text, "blank.csv")
    expected = _rows_in_one_pass(path)
    assert expected[0][0][1] == first and len(expected[0]) == count
    for size in (1, 2, 3):
        assert _rows_by_pieces(path, size) == expected
    one = _run(path, tmp_path / "one", 1, chunk_size=2)
    many = _run(path, tmp_path / "many", 2, chunk_size=2)
    _same_summary(one, many)
    assert many["rows"] == count
    assert _outputs(tmp_path / "one", "blank")[:2] == _outputs(tmp_path / "many", "blank")[:2]
