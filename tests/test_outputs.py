"""The output files: atomic writes, the CSV dialect (values read back exactly), summary.json."""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from pipeline.columns import RESULT_COLUMNS, encode
from pipeline.errors import InputError, OutputError
from pipeline.io.ingest import InputRow, TableInfo
from pipeline.io.outputs import TableWriter, atomic_write_json, atomic_write_text, ensure_writable_dir
from pipeline.models import RowOutcome, Status, Verdict
from pipeline.options import DnsOptions, RunOptions
from pipeline.run import run

NASTY = ["plain", "", " spaced ", 'q"uo""te', "com,ma", "semi;colon", "tab\there", "pipe|bar",
         "lf\nin", "cr\rin", "crlf\r\nin", "José €", "😀", "nul\x00in", "NA", "00123", "=1+1", '"', "\\"]


def _info(tmp_path: Path, *, delimiter: str = ",", encoding: str = "utf-8", fmt: str = "csv",
          has_header: bool = True) -> TableInfo:
    header = tuple(f"c{i}" for i in range(len(NASTY)))
    return TableInfo(tmp_path / "in.csv", fmt, encoding, delimiter, header, 0, has_header=has_header)


def _outcome(status: Status) -> RowOutcome:
    return RowOutcome(Verdict(status, "250", "2.0.0", "syntax_ok", "fine, \"quoted\"\nand two lines"), "a@b.com")


def _write(writer: TableWriter, rows: list[InputRow], outcomes: list[RowOutcome]) -> None:
    """Append rows with their outcomes, as the run does: encoded, ill-formed rows held back."""
    writer.write_columns([row.cells for row in rows], [encode(outcome) for outcome in outcomes],
                         {index for index, row in enumerate(rows) if row.problem})


def _temps(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def _read(path: Path, delimiter: str) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_values_read_back_exactly(tmp_path: Path, delimiter: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    info = _info(tmp_path, delimiter=delimiter)
    writer = TableWriter(out, "in", info)
    rows = [InputRow(1, 2, tuple(NASTY)), InputRow(2, 3, tuple(reversed(NASTY)))]
    _write(writer, rows, [_outcome(Status.DELIVERABLE), _outcome(Status.UNDELIVERABLE)])
    writer.commit()
    results = _read(writer.paths["results"], delimiter)
    assert results[0] == [*info.header, *RESULT_COLUMNS]
    assert results[1][: len(NASTY)] == NASTY
    assert results[2][: len(NASTY)] == list(reversed(NASTY))
    assert results[1][len(NASTY) + RESULT_COLUMNS.index("presend_detail")] == 'fine, "quoted"\nand two lines'
    assert _read(writer.paths["clean"], delimiter) == [list(info.header), NASTY]
    assert _temps(out) == []


def test_pandas_reads_the_results_as_written(tmp_path: Path) -> None:
    info = _info(tmp_path)
    writer = TableWriter(tmp_path, "in", info)
    _write(writer, [InputRow(1, 2, tuple(NASTY))], [_outcome(Status.DELIVERABLE)])
    writer.commit()
    frame = pd.read_csv(writer.paths["results"], dtype=str, keep_default_na=False, encoding="utf-8")
    assert list(frame.iloc[0])[: len(NASTY)] == NASTY
    assert list(frame.columns) == [*info.header, *RESULT_COLUMNS]


@pytest.mark.parametrize(
    ("encoding", "fmt", "bom"),
    [("utf-8", "csv", False), ("utf-8-sig", "csv", True), ("utf-16", "csv", True), ("cp1252", "csv", True),
     ("", "xlsx", True)],
)
def test_bom_follows_the_input(tmp_path: Path, encoding: str, fmt: str, bom: bool) -> None:
    info = _info(tmp_path, encoding=encoding, fmt=fmt, delimiter="" if fmt == "xlsx" else ";")
    writer = TableWriter(tmp_path, "in", info)
    writer.commit()
    for kind in ("results", "clean"):
        raw = writer.paths[kind].read_bytes()
        assert raw.startswith(codecs.BOM_UTF8) is bom
        first_line = raw.decode("utf-8-sig").split("\r\n")[0]
        assert first_line.split("," if fmt == "xlsx" else ";")[0] == "c0"


def test_clean_has_no_header_when_the_input_had_none(tmp_path: Path) -> None:
    writer = TableWriter(tmp_path, "in", _info(tmp_path, has_header=False))
    _write(writer, [InputRow(1, 1, tuple(NASTY))], [_outcome(Status.DELIVERABLE)])
    writer.commit()
    assert _read(writer.paths["clean"], ",") == [NASTY]


def test_ragged_rows_are_fitted_to_the_header(tmp_path: Path) -> None:
    info = TableInfo(tmp_path / "in.csv", "csv", "utf-8", ",", ("a", "b", "c"), 0)
    writer = TableWriter(tmp_path, "in", info)
    _write(
        writer,
        [InputRow(1, 2, ("x",), "short"), InputRow(2, 3, ("1", "2", "3", "4"), "long")],
        [_outcome(Status.UNKNOWN), _outcome(Status.UNKNOWN)],
    )
    writer.commit()
    results = _read(writer.paths["results"], ",")
    assert [row[:4] for row in results[1:]] == [["x", "", "", "unknown"], ["1", "2", "3", "unknown"]]
    assert _read(writer.paths["clean"], ",") == [["a", "b", "c"]]


def test_clean_takes_risky_only_when_asked(tmp_path: Path) -> None:
    rows = [InputRow(1, 2, tuple(NASTY)), InputRow(2, 3, tuple(NASTY)), InputRow(3, 4, tuple(NASTY))]
    outcomes = [_outcome(Status.DELIVERABLE), _outcome(Status.RISKY), _outcome(Status.DUPLICATE)]
    for keep_risky, expected in ((False, 1), (True, 2)):
        writer = TableWriter(tmp_path, f"k{keep_risky}", _info(tmp_path), keep_risky=keep_risky)
        _write(writer, rows, outcomes)
        writer.commit()
        assert len(_read(writer.paths["clean"], ",")) == 1 + expected


def test_abort_leaves_previous_outputs_untouched(tmp_path: Path) -> None:
    previous = tmp_path / "in.results.csv"
    previous.write_text("old run\n", encoding="utf-8")
    writer = TableWriter(tmp_path, "in", _info(tmp_path))
    _write(writer, [InputRow(1, 2, tuple(NASTY))], [_outcome(Status.DELIVERABLE)])
    writer.abort()
    assert previous.read_text(encoding="utf-8") == "old run\n"
    assert not (tmp_path / "in.clean.csv").exists()
    assert _temps(tmp_path) == []


def test_outputs_get_the_usual_file_mode(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        writer = TableWriter(tmp_path, "in", _info(tmp_path))
        writer.commit()
    finally:
        os.umask(old)
    for path in (tmp_path / "a.txt", writer.paths["results"], writer.paths["clean"]):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600


def test_atomic_write_replaces_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    target.write_text("old", encoding="utf-8")
    atomic_write_json(target, {"josé": [1, 2]})
    assert json.loads(target.read_text(encoding="utf-8")) == {"josé": [1, 2]}
    assert _temps(tmp_path) == []
    (tmp_path / "d.json").mkdir()
    with pytest.raises(OutputError, match=r"d\.json: cannot be written"):
        atomic_write_json(tmp_path / "d.json", {})
    assert _temps(tmp_path) == []


def test_output_folder_errors(tmp_path: Path) -> None:
    ensure_writable_dir(tmp_path / "new" / "nested")
    assert (tmp_path / "new" / "nested").is_dir()
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    with pytest.raises(OutputError, match="afile: the output folder is a file; choose a folder with --out"):
        ensure_writable_dir(afile)
    with pytest.raises(OutputError, match=r"cannot create the output folder .*--out"):
        ensure_writable_dir(afile / "sub")


def test_summary_json(tmp_path: Path) -> None:
    source = tmp_path / "list.csv"
    source.write_text(
        "email,name\nann@acme-co.com,Ann\nANN@acme-co.com,Dup\nbad@,Bad\n,Empty\nbob@acme-co.org,Bob\nx,y,z\n",
        encoding="utf-8",
    )
    result = run(RunOptions(input=source, out_dir=tmp_path / "out", dns=DnsOptions(enabled=False)))
    summary = json.loads(result.paths["summary"].read_text(encoding="utf-8"))
    assert summary == result.summary
    assert summary["presend_version"]
    assert summary["input"]["name"] == "list.csv"
    assert summary["input"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    assert summary["input"]["email_column"] == "email"
    assert summary["levels"] == ["syntax"]
    assert summary["rows"] == 6
    assert summary["rows_with_problems"] == 4
    # Only syntax ran: the two new well-formed addresses forecast no code (and are no problem).
    assert summary["by_status"] == {"unknown": 3, "undeliverable": 2, "duplicate": 1}
    assert summary["by_code"] == {"501": 2}
    assert summary["by_reason"] == {
        "domain_not_checked": 2, "duplicate": 1, "missing_domain": 1, "missing_address": 1, "malformed_row": 1,
    }
    assert summary["options"]["dns"]["enabled"] is False
    assert set(summary["timings_seconds"]) >= {"syntax", "total"}
    assert summary["started_at"].endswith("Z") and summary["finished_at"].endswith("Z")
    for kind in ("results", "clean", "summary", "report"):
        assert result.paths[kind].parent == tmp_path / "out"
        assert result.paths[kind].name.startswith("list.")


def test_a_run_that_fails_midway_leaves_no_output(tmp_path: Path) -> None:
    # A UTF-16 list whose broken character comes after the rows opening looks at.
    source = tmp_path / "late.txt"
    good = "email\tn\r\n" + "".join(f"u{i}@acme-co.com\t{i}\r\n" for i in range(500))
    source.write_bytes(good.encode("utf-16") + b"\x00\xd8" + "x\r\n".encode("utf-16-le"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "late.results.csv").write_text("previous\n", encoding="utf-8")
    with pytest.raises(InputError, match="line 502: bytes that are not valid utf-16"):
        run(RunOptions(input=source, out_dir=out, dns=DnsOptions(enabled=False), chunk_size=100))
    assert sorted(p.name for p in out.iterdir()) == ["late.results.csv"]
    assert (out / "late.results.csv").read_text(encoding="utf-8") == "previous\n"


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252"])
def test_blocks_written_by_other_processes_land_where_they_were_reserved(tmp_path: Path, encoding: str) -> None:
    # Reserved in file order, written in any order (with pwrite, as the worker processes do);
    # a checkpoint records only what is known to be written; the writer appends after them.
    info = TableInfo(tmp_path / "in.csv", "csv", encoding, ",", ("email",), 0)
    writer = TableWriter(tmp_path, "in", info)
    fds = writer.open_for_others()
    blocks = [[f"r{b}{i}@acme-co.com,x" for i in range(b + 1)] for b in range(4)]
    data = [("\r\n".join(lines) + "\r\n").encode() for lines in blocks]
    places = [writer.reserve({"results": (len(d), len(lines))}) for d, lines in zip(data, blocks, strict=True)]
    ends = writer.reserved_up_to()
    for number in (2, 0, 3):
        os.pwrite(fds["results"], data[number], places[number]["results"])
    writer.complete_up_to({"results": places[1]["results"], "clean": ends["clean"]})
    sizes = writer.checkpoint()
    assert sizes["results"] == places[1]["results"] < os.fstat(fds["results"]).st_size
    os.pwrite(fds["results"], data[1], places[1]["results"])
    writer.close_for_others()
    _write(writer, [InputRow(9, 10, ("last@acme-co.com",))], [_outcome(Status.DELIVERABLE)])
    writer.commit()
    lines = writer.paths["results"].read_bytes().decode("utf-8-sig").split("\r\n")
    assert writer.paths["results"].read_bytes().startswith(b"\xef\xbb\xbf") is (encoding == "cp1252")
    assert lines[1:11] == [line for lines in blocks for line in lines]
    assert lines[11].startswith("last@acme-co.com,deliverable,") and lines[12] == ""
    assert writer.rows_written["results"] == 11
