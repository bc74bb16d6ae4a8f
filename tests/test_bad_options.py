"""Wrong option values from every source, odd file names and the messages they get (issue 19, items 6, 8, 12).

Every case ends in one line naming the option or file and the fix, exit 2, no traceback.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from pipeline.errors import UsageError
from pipeline.options import MAX_WORKERS, CacheOptions, DnsOptions, ProbeOptions, RunOptions, check_options
from pipeline.run import run
from tests.run_helpers import one_error_line

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture
def listing(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text("Name,Email\r\nAnn,ann@acme-co.com\r\nBob,bob@acme-co.org\r\n", encoding="utf-8")
    return path


def _presend(*args: str | bytes, cwd: Path = REPO) -> subprocess.CompletedProcess[bytes]:
    """The real entry point (cli.main:main), as a user runs it."""
    command: list[str | bytes] = [sys.executable, "-c", "from cli.main import main; main()", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, cwd=cwd, capture_output=True, timeout=120, env=env)


# -- item 6: one set of ranges for every source -------------------------------------------------

FLAG_CASES = [
    ("--chunk-size", "0"), ("--chunk-size", "-1"), ("--dns-concurrency", "0"), ("--dns-timeout", "0"),
    ("--dns-timeout", "inf"), ("--dns-timeout", "nan"), ("--workers", "100000"), ("--workers", "-1"),
    ("--fail-over", "101"), ("--report-rows", "-5"), ("--smtp-timeout", "inf"), ("--per-host", "0"),
]


@pytest.mark.parametrize(("flag", "value"), FLAG_CASES)
def test_an_out_of_range_flag_isone_error_line(listing: Path, tmp_path: Path, flag: str, value: str) -> None:
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--no-cache", "--out", str(tmp_path / "o"),
                                 flag, value])
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert flag in line and "expected" in line
    assert not (tmp_path / "o").exists()


CONFIG_CASES = [
    ("chunk_size = 0", "--chunk-size"), ("[dns]\nconcurrency = 0", "--dns-concurrency"),
    ("[dns]\nconcurrency = -1", "--dns-concurrency"), ("[dns]\ntimeout = 0", "--dns-timeout"),
    ("[dns]\ntimeout = inf", "--dns-timeout"), ("fail_over = 250", "--fail-over"),
    ("report_rows = -1", "--report-rows"), (f"workers = {MAX_WORKERS + 1}", "--workers"),
    ("[probe]\nbatch_size = 0", "--batch-size"),
]


@pytest.mark.parametrize(("text", "flag"), CONFIG_CASES)
def test_an_out_of_range_config_value_names_the_file(listing: Path, tmp_path: Path, text: str, flag: str) -> None:
    config = tmp_path / "presend.toml"
    config.write_text(text + "\n", encoding="utf-8")
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--no-cache", "--config", str(config)])
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert flag in line and str(config) in line


def test_a_flag_wins_over_a_bad_config_value(listing: Path, tmp_path: Path) -> None:
    config = tmp_path / "presend.toml"
    config.write_text("chunk_size = 0\n", encoding="utf-8")
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--no-cache", "-q", "--config", str(config),
                                 "--chunk-size", "10"])
    assert result.exit_code == 0, result.output


def test_a_config_file_that_is_not_utf8_isone_error_line(listing: Path, tmp_path: Path) -> None:
    config = tmp_path / "presend.toml"
    config.write_bytes("# réglages\nchunk_size = 10\n".encode("cp1252"))
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--config", str(config)])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert str(config) in line and "UTF-8" in line


@pytest.mark.parametrize("record", [
    RunOptions(Path("x.csv"), chunk_size=0),
    RunOptions(Path("x.csv"), workers=MAX_WORKERS + 1),
    RunOptions(Path("x.csv"), dns=DnsOptions(timeout=float("inf"))),
    RunOptions(Path("x.csv"), probe=ProbeOptions(concurrency=0)),
    RunOptions(Path("x.csv"), cache=CacheOptions(max_age=-1.0)),
])
def test_the_library_holds_its_callers_to_the_same_ranges(record: RunOptions) -> None:
    with pytest.raises(UsageError, match="expected"):
        check_options(record)
    with pytest.raises(UsageError, match="expected"):
        run(record)


def test_the_defaults_are_in_range() -> None:
    check_options(RunOptions(Path("x.csv")))


def test_many_workers_on_a_tiny_file_start_few_processes(listing: Path, tmp_path: Path) -> None:
    """--workers at its bound on a two-row file: the run starts no more workers than pieces."""
    from pipeline.engine.processes import pieces_at_most

    assert pieces_at_most(listing, 10_000) == 1
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--no-cache", "-q", "--out", str(tmp_path / "o"),
                                 "--workers", str(MAX_WORKERS)])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "contacts.summary.json").read_text())
    assert summary["rows"] == 2


# -- item 12: messages that name the true cause ----------------------------------------------------


@pytest.mark.parametrize(("args", "expected"), [
    (["clean"], "missing argument"),
    (["clean", "x.csv", "--no-such-flag"], "no such option: --no-such-flag"),
    (["clean", "x.csv", "--chunk-size", "many"], "--chunk-size"),
    (["nosuch"], "no such command"),
])
def test_command_line_errors_areone_error_line(args: list[str], expected: str) -> None:
    done = _presend(*args)
    assert done.returncode == 2
    line = one_error_line(done.stderr.decode())
    assert expected in line and "--help" in line


def test_command_line_errors_respect_json_logs() -> None:
    done = _presend("clean", "x.csv", "--no-such-flag", "--log-format", "json")
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event"] == "error" and event["exit"] == 2 and "--no-such-flag" in event["message"]


def test_a_cell_longer_than_the_limit_is_not_blamed_on_a_quote(tmp_path: Path) -> None:
    source = tmp_path / "long.csv"
    source.write_text("Name,Email\n" + "a," + "x" * 140_000 + "@b.example\nb,b@c.example\n", encoding="utf-8")
    for workers in ("1", "2"):
        result = runner.invoke(app, ["clean", str(source), "--no-dns", "--no-cache", "--workers", workers])
        assert result.exit_code == 2
        line = one_error_line(result.stderr)
        assert "line 2" in line and "longer than" in line and "quote" not in line


def test_an_unclosed_quote_is_still_named(tmp_path: Path) -> None:
    source = tmp_path / "quote.csv"
    rows = "".join(f"n{i},{'y' * 100}{i}@c.example\n" for i in range(3_000))
    source.write_text('Name,Email\na,"oops@b.example\n' + rows, encoding="utf-8")
    result = runner.invoke(app, ["clean", str(source), "--no-dns", "--no-cache", "--workers", "1"])
    assert result.exit_code == 2
    assert "quote" in one_error_line(result.stderr)


def test_a_workbook_named_csv_is_read_as_a_workbook(tmp_path: Path) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.Workbook()
    book.active.append(["Name", "Email"])
    book.active.append(["Ann", "ann@acme-co.com"])
    source = tmp_path / "export.csv"
    book.save(tmp_path / "export.xlsx")
    (tmp_path / "export.xlsx").rename(source)
    result = runner.invoke(app, ["clean", str(source), "--no-dns", "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "an Excel workbook under another name" in result.stderr
    with (tmp_path / "export.results.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert next(csv.reader(handle))[:2] == ["Name", "Email"]


def test_a_zip_named_csv_says_so(tmp_path: Path) -> None:
    source = tmp_path / "export.csv"
    with zipfile.ZipFile(source, "w") as archive:
        archive.writestr("contacts.csv", "Name,Email\nAnn,ann@acme-co.com\n")
    result = runner.invoke(app, ["clean", str(source), "--no-dns", "--no-cache"])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "zip archive" in line and "contacts.csv" in line and "openpyxl" not in line


def test_an_email_column_number_past_the_last_says_how_many_there_are(listing: Path) -> None:
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--no-cache", "--email-column", "999"])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "only 2 column" in line and "1 to 2" in line


def test_a_name_too_long_for_the_outputs_says_to_shorten_it(tmp_path: Path) -> None:
    source = tmp_path / ("n" * 245 + ".csv")
    source.write_text("Name,Email\nAnn,ann@acme-co.com\n", encoding="utf-8")
    result = runner.invoke(app, ["clean", str(source), "--no-dns", "--no-cache"])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "shorter name" in line and "--out" not in line


@pytest.mark.parametrize("kind", ["folder", "loop"])
def test_a_config_path_that_is_no_file_says_what_it_is(listing: Path, tmp_path: Path, kind: str) -> None:
    target = tmp_path / "conf"
    if kind == "folder":
        target.mkdir()
    else:
        target.symlink_to(tmp_path / "conf2")
        (tmp_path / "conf2").symlink_to(target)
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--config", str(target)])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert ("is a folder" in line) if kind == "folder" else ("loop of symbolic links" in line)


def test_resume_takes_the_same_input_spelt_another_way(listing: Path, tmp_path: Path) -> None:
    """An absolute path after a relative one names the same input: not 'options differ'."""
    out = tmp_path / "out"
    from pipeline.options import DnsOptions as Dns

    options = RunOptions(listing, out_dir=out, chunk_size=1, workers=1, dns=Dns(enabled=False),
                         cache=CacheOptions(enabled=False))

    def stop(name: str, fields: dict[str, object]) -> None:
        if name == "chunk_committed":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(options, events=stop)
    relative = os.path.relpath(listing, REPO)
    done = _presend("clean", relative, "--no-dns", "--no-cache", "-q", "--chunk-size", "1", "--workers", "1",
                    "--out", os.path.relpath(out, REPO), "--resume")
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "contacts.summary.json").read_text())["resumed"] is True


# -- item 8: file names that are not UTF-8, or hold line breaks and escape codes ------------------


def test_a_file_name_that_is_not_utf8_runs_to_the_end(tmp_path: Path) -> None:
    folder = os.fsencode(tmp_path)
    source = folder + b"/caf\xe9\x1b[31m.csv"
    with open(source, "wb") as handle:
        handle.write(b"Name,Email\nAnn,ann@acme-co.com\nBad,bad@\n")
    done = _presend(b"clean", source, b"--no-dns", b"--no-cache")
    assert done.returncode == 0, done.stderr
    names = sorted(name for name in os.listdir(folder) if name != os.path.basename(source))
    assert [name.rsplit(b".", 2)[-2:] for name in names] == [
        [b"clean", b"csv"], [b"duplicates", b"csv"], [b"fixable", b"csv"], [b"report", b"html"], [b"results", b"csv"],
        [b"risky", b"csv"], [b"summary", b"json"], [b"undeliverable", b"csv"], [b"unknown", b"csv"],
    ]
    with open(folder + b"/caf\xe9\x1b[31m.summary.json", "rb") as handle:
        summary = json.loads(handle.read().decode("utf-8"))
    assert summary["input"]["name"] == "caf\\xe9\x1b[31m.csv"
    assert summary["downloads"]["undeliverable"] == {"file": "caf\\xe9\x1b[31m.undeliverable.csv", "rows": 1}
    for stream in (done.stdout, done.stderr):
        assert b"\x1b" not in stream and b"\xe9" not in stream
    assert b"caf\\xe9\\x1b[31m" in done.stdout


def test_an_error_naming_a_file_with_a_line_break_staysone_error_line(tmp_path: Path) -> None:
    done = _presend("clean", str(tmp_path / "no\nsuch\x1b]0;title\x07.csv"), "--no-dns")
    assert done.returncode == 2
    line = one_error_line(done.stderr.decode())
    assert "\\n" in line and "\\x1b" in line and "\\x07" in line


# -- issue 13: the engine options ------------------------------------------------------------------

ENGINE_CHOICES = ("auto", "local", "processes", "dask")


def test_an_unknown_engine_is_one_line_listing_the_choices() -> None:
    done = _presend("clean", "x.csv", "--no-dns", "--engine", "spark")
    assert done.returncode == 2
    line = one_error_line(done.stderr.decode())
    assert "--engine" in line and "spark" in line and all(choice in line for choice in ENGINE_CHOICES)


def test_an_unknown_engine_in_the_config_file_names_the_file(listing: Path, tmp_path: Path) -> None:
    config = tmp_path / "presend.toml"
    config.write_text('engine = "spark"\n', encoding="utf-8")
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--no-cache", "--config", str(config)])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert f"{config}: engine must be" in line and all(f'"{choice}"' in line for choice in ENGINE_CHOICES)


@pytest.mark.parametrize(("flag", "value"), [("--scheduler", "tcp://127.0.0.1:8786"), ("--input-url", "file:///x.csv")])
@pytest.mark.parametrize("engine", [[], ["--engine", "local"], ["--engine", "processes"], ["--engine", "auto"]])
def test_dask_only_options_without_the_dask_engine_are_refused(
    listing: Path, tmp_path: Path, flag: str, value: str, engine: list[str]
) -> None:
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--no-cache", "--out", str(tmp_path / "o"),
                                 flag, value, *engine])
    assert result.exit_code == 2, result.output
    line = one_error_line(result.stderr)
    assert f"{flag} is for the dask engine only" in line and "--engine dask" in line
    assert not (tmp_path / "o").exists()


def test_a_dask_only_option_from_the_file_names_the_file(listing: Path, tmp_path: Path) -> None:
    config = tmp_path / "presend.toml"
    config.write_text('scheduler = "tcp://127.0.0.1:8786"\n', encoding="utf-8")
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--no-cache", "--config", str(config)])
    assert result.exit_code == 2
    line = one_error_line(result.stderr)
    assert "--scheduler is for the dask engine only" in line and f"(set in {config})" in line


def test_the_engine_options_reach_the_run_options() -> None:
    from cli.main import read_options

    command = typer_command()
    args = ["x.csv", "--engine", "dask", "--scheduler", "tcp://127.0.0.1:8786", "--input-url", "memory://x.csv",
            "--workers", "3"]
    with command.make_context("clean", args) as ctx:
        _, options = read_options(ctx, ctx.params)
    assert (options.engine, options.scheduler, options.input_url, options.workers) == (
        "dask", "tcp://127.0.0.1:8786", "memory://x.csv", 3)
    with command.make_context("clean", ["x.csv"]) as ctx:
        _, options = read_options(ctx, ctx.params)
    assert (options.engine, options.scheduler, options.input_url) == ("auto", None, None)


def typer_command() -> Any:
    """The click command behind ``presend clean``."""
    import typer

    return typer.main.get_command(app).commands["clean"]  # type: ignore[attr-defined]


@pytest.mark.parametrize("record", [
    RunOptions(Path("x.csv"), engine="spark"),
    RunOptions(Path("x.csv"), scheduler="tcp://127.0.0.1:8786"),
    RunOptions(Path("x.csv"), engine="local", input_url="file:///x.csv"),
])
def test_the_library_holds_its_callers_to_the_engine_choices(record: RunOptions) -> None:
    with pytest.raises(UsageError, match=r"--engine: expected|is for the dask engine only"):
        check_options(record)
    check_options(RunOptions(Path("x.csv"), engine="dask", scheduler="tcp://127.0.0.1:8786", input_url="memory://x"))


def test_an_engine_given_on_the_command_line_is_carried_into_the_run(listing: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--no-cache", "-q", "--out", str(tmp_path / "o"),
                                 "--engine", "local"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "o" / "contacts.summary.json").read_text())
    assert summary["options"]["engine"] == "local" and summary["rows"] == 2
