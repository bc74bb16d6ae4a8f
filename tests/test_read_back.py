"""Whatever presend writes, presend reads back: long fields, resumed runs, re-saved results.

A long row's extra fields go into ``presend_detail`` whole, so a results field can be longer
than the csv module's default limit (131,072 characters), which still guards the input. The
resumed run's tally and ``presend report`` read such files; ``presend report`` also reads a
results file a spreadsheet saved again (Windows-1252, UTF-16) and refuses a binary file or
a summary.json of the wrong shape in one line, never with a traceback.
"""

from __future__ import annotations

import csv
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from pipeline.options import DnsOptions, RunOptions
from pipeline.report.tally import read_results
from pipeline.run import RunResult, run

runner = CliRunner()
LIMIT = 131_072  # the csv module's default field-size limit


def _long_list(path: Path) -> tuple[Path, list[str]]:
    # Each extra field fits the input's limit; together, in presend_detail, they do not.
    extras = [f"{n}" * 60_000 for n in range(3)]
    lines = ["Name,Email", "Ann,ann@acme-co.com," + ",".join(extras)]
    lines += [f"P{i},p{i}@acme-co.com" for i in range(12)]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return path, extras


def _run(path: Path, out: Path, events: Any = None, **extra: Any) -> RunResult:
    options = RunOptions(input=path, out_dir=out, dns=DnsOptions(enabled=False), **extra)
    return run(options, events=events or (lambda name, fields: None))


def _results(path: Path) -> list[list[str]]:
    limit = csv.field_size_limit()
    csv.field_size_limit(10 * LIMIT)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return [row[:-1] for row in csv.reader(handle)]  # presend_checked_at left out
    finally:
        csv.field_size_limit(limit)


def _report(results: Path) -> str:
    done = runner.invoke(app, ["report", str(results)])
    assert done.exit_code == 0, done.output
    assert csv.field_size_limit() == LIMIT  # lifted only while presend reads its own file
    return results.with_name(results.name.replace(".results.csv", ".report.html")).read_text(encoding="utf-8")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_detail_past_the_field_limit_reads_back(tmp_path: Path, workers: int) -> None:
    source, extras = _long_list(tmp_path / "long.csv")
    result = _run(source, tmp_path / "out", workers=workers)
    rows = _results(result.paths["results"])
    detail = rows[1][2 + 4]
    assert len(detail) > LIMIT and f"kept here: {json.dumps(extras)}. " in detail
    tally, _ = read_results(result.paths["results"])
    assert tally.rows == 13 and tally.by_reason["malformed_row"] == 1
    assert "long.csv" in _report(result.paths["results"])


def test_resume_and_report_read_a_detail_past_the_field_limit(tmp_path: Path) -> None:
    source, _ = _long_list(tmp_path / "long.csv")
    reference = _run(source, tmp_path / "reference", workers=1)

    def interrupt(name: str, fields: dict[str, Any]) -> None:
        if name == "chunk_committed" and fields["rows_done"] >= 3:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, once the long row is committed

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _run(source, out, workers=1, chunk_size=1, events=interrupt)
    state = json.loads((out / "long.resume.json").read_text(encoding="utf-8"))
    assert 3 <= state["rows_done"] < 13
    resumed = _run(source, out, workers=1, chunk_size=1, resume=True)
    assert resumed.summary["resumed"] is True and resumed.summary["resumed_from_row"] == state["rows_done"]
    assert _results(resumed.paths["results"]) == _results(reference.paths["results"])
    for key in ("rows", "by_status", "by_reason"):
        assert resumed.summary[key] == reference.summary[key]
    assert "Row does not match the header" in _report(resumed.paths["results"])


def _saved_again(tmp_path: Path, encoding: str, delimiter: str) -> Path:
    """A run's results, read and written again as a spreadsheet would save them."""
    source = tmp_path / "list.csv"
    source.write_text("Name,Email\nJosé,jose@acme-co.com\nBad,bad@\nZoë,ZOE@acme-co.com\nZoë,zoe@acme-co.com\n",
                      encoding="utf-8")
    result = _run(source, tmp_path / "run")
    with result.paths["results"].open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    saved = tmp_path / "saved" / "list.results.csv"
    saved.parent.mkdir()
    with saved.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return saved


@pytest.mark.parametrize(("encoding", "delimiter"), [("cp1252", ";"), ("utf-16", "\t"), ("utf-8-sig", ",")])
def test_report_reads_results_a_spreadsheet_saved_again(tmp_path: Path, encoding: str, delimiter: str) -> None:
    saved = _saved_again(tmp_path, encoding, delimiter)
    tally, info = read_results(saved)
    assert info.delimiter == delimiter
    assert tally.rows == 4 and dict(tally.by_status) == {"unknown": 2, "undeliverable": 1, "duplicate": 1}
    assert [row.input for row in tally.problem_rows] == ["bad@", "zoe@acme-co.com"]
    page = _report(saved)
    assert "zoe@acme-co.com" in page and "Re-rendered from list.results.csv" in page


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)) * 40, b"\x1f\x8b\x08\x00" + bytes(200), b"\x00" * 500, b"PK\x03\x04" + os.urandom(300)],
    ids=["all-bytes", "gzip", "nul", "zip"],
)
def test_report_on_a_binary_file_is_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.results.csv"
    path.write_bytes(content)
    done = runner.invoke(app, ["report", str(path)])
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"presend: error: {path}: "), done.stderr
    assert not (tmp_path / "x.report.html").exists()


def test_report_leaves_out_summary_fields_of_the_wrong_type(tmp_path: Path) -> None:
    saved = _saved_again(tmp_path, "utf-8-sig", ",")
    wrong = {
        "rows": 4,
        "input": ["not", "an", "object"],
        "notes": "one string",
        "levels": 3,
        "timings_seconds": {"total": "fast", "syntax": 0.5},
        "options": {"dns": {"nameservers": 53, "timeout": 2}, "probe": [], "cache": {"enabled": True}},
        "probe_greylisting_domains": [1, 2],
        "dns": "none",
        "mailboxes_probed": "yes",
        "presend_version": 1,
    }
    saved.with_name("list.summary.json").write_text(json.dumps(wrong), encoding="utf-8")
    page = _report(saved)
    assert (
        "list.summary.json: left out field(s) of the wrong type: input, notes, levels, timings_seconds.total, "
        "options.dns.nameservers, options.probe, probe_greylisting_domains, dns, mailboxes_probed, presend_version"
    ) in page
    assert "syntax 0.5 s" in page  # the fields of the right type are still used
    # A summary that is not an object, or not JSON, is ignored as before.
    for text in ("[1, 2]", "{broken", "\x00\x01"):
        saved.with_name("list.summary.json").write_text(text, encoding="utf-8")
        assert "Re-rendered from list.results.csv without a matching summary.json" in _report(saved)
