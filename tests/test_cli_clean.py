"""``presend clean`` from the command line: the happy path, each error path, exit codes."""

from __future__ import annotations

import csv
import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
from typer.testing import CliRunner

import pipeline.run
from cli.main import app
from pipeline import __version__
from pipeline.errors import ResolverUnreachable

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()

LIST = "Name;E-mail\r\nJosé;jose@acme-co.com\r\nBad;bad@\r\nDup;JOSE@acme-co.com\r\n;\r\nAnn;Ann <ann@acme-co.org>\r\n"


@pytest.fixture
def listing(tmp_path: Path) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_bytes(LIST.encode("cp1252"))
    return path


def _error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("presend: error: ")
    assert "Traceback" not in stderr
    return lines[0]


def test_happy_path(listing: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--out", str(out)])
    assert result.exit_code == 0, result.output
    first, *outputs = result.stdout.splitlines()
    assert re.fullmatch(r"4 rows in \d+\.\d s: 2 unknown, 1 undeliverable, 1 duplicate", first)
    paths = " ".join(outputs)  # a long path goes on a line of its own
    for name in ("results.csv", "clean.csv", "summary.json", "report.html"):
        assert str(out / f"contacts.{name}") in paths
    assert sorted(p.name for p in out.iterdir()) == [
        "contacts.clean.csv", "contacts.duplicates.csv", "contacts.fixable.csv", "contacts.report.html",
        "contacts.results.csv", "contacts.risky.csv", "contacts.summary.json", "contacts.undeliverable.csv",
        "contacts.unknown.csv",
    ]
    with (out / "contacts.clean.csv").open(encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle, delimiter=";")) == [
            ["Name", "E-mail"], ["José", "jose@acme-co.com"], ["Ann", "Ann <ann@acme-co.org>"],
        ]


def test_outputs_go_beside_the_input_by_default(listing: Path) -> None:
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "-q"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert (listing.parent / "contacts.results.csv").is_file()


def test_email_column_option(tmp_path: Path) -> None:
    source = tmp_path / "two.csv"
    source.write_text("Primary,Other\na@acme-co.com,bad@\n", encoding="utf-8")
    result = runner.invoke(app, ["clean", str(source), "--no-dns", "--email-column", "Other"])
    assert result.exit_code == 0, result.output
    assert re.match(r"1 rows in \d+\.\d s: 1 undeliverable", result.stdout)


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        ("none", ["{dir}/missing.csv"], "missing.csv: no such file; check the path"),
        ("none", ["{dir}"], "not a file"),
        ("noemail", ["{dir}/noemail.csv"], "no column looks like email addresses (columns: 'name', 'phone'); "
                                           "name it with --email-column NAME"),
        ("list", ["{dir}/contacts.csv", "--email-column", "Mail"], "no column named 'Mail'"),
        ("empty", ["{dir}/empty.csv"], "the file is empty"),
        ("xls", ["{dir}/old.xls"], "old.xls: not a readable workbook ("),
        ("list", ["{dir}/contacts.csv", "--out", "{dir}/contacts.csv"], "the output folder is a file"),
        ("list", ["{dir}/contacts.csv", "--out", "{dir}/contacts.csv/sub"], "cannot create the output folder"),
        ("list", ["{dir}/contacts.csv", "--probe"], "--probe needs --mail-from"),
    ],
)
def test_user_mistakes_exit_2_with_one_line(tmp_path: Path, setup: str, args: list[str], message: str) -> None:
    if setup == "list":
        (tmp_path / "contacts.csv").write_text(LIST, encoding="utf-8")
    elif setup == "noemail":
        (tmp_path / "noemail.csv").write_text("name,phone\nAnn,123\n", encoding="utf-8")
    elif setup == "empty":
        (tmp_path / "empty.csv").write_bytes(b"")
    elif setup == "xls":
        (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, ["clean", *[a.format(dir=tmp_path) for a in args], "--no-dns"])
    assert result.exit_code == 2, result.output
    assert message in _error_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


@pytest.mark.skipif(not Path("/sys/kernel").is_dir() or not Path("/proc/self/mem").exists(), reason="needs Linux")
def test_unreadable_input_and_unwritable_folder(listing: Path) -> None:
    # Real refusals from the kernel, which hold even for root: /proc/self/mem cannot be read
    # from offset 0, and sysfs takes no new files.
    result = runner.invoke(app, ["clean", "/proc/self/mem", "--no-dns"])
    assert result.exit_code == 2
    assert "/proc/self/mem: cannot be read (" in _error_line(result.stderr)
    result = runner.invoke(app, ["clean", str(listing), "--no-dns", "--out", "/sys/kernel"])
    assert result.exit_code == 2
    # The run's lock file is the first thing written there (contacts.lock).
    assert "/sys/kernel: cannot write contacts." in _error_line(result.stderr)
    assert "choose another folder with --out" in result.stderr


def test_other_failures_exit_1_with_one_line(listing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(*args: object, **kwargs: object) -> None:
        raise ResolverUnreachable("no resolver answered (127.0.0.1:9); check --nameserver")

    monkeypatch.setattr(pipeline.run, "run", unreachable)
    result = runner.invoke(app, ["clean", str(listing), "--no-dns"])
    assert result.exit_code == 1
    assert "no resolver answered" in _error_line(result.stderr)


def _presend(*args: str, cwd: Path, stderr: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
        stderr=stderr, timeout=120, check=False,
    )


def test_entry_point_in_a_subprocess(listing: Path, tmp_path: Path) -> None:
    done = _presend("clean", str(listing), "--no-dns", "--out", str(tmp_path / "o"), cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("4 rows in ")
    # Not a terminal: no progress bar; only the notes on how the file was read.
    assert [line.split(": ")[:3] for line in done.stderr.splitlines()] == [
        ["presend", "note", "contacts.csv"], ["presend", "note", "contacts.csv"]
    ]
    assert "read as Windows-1252" in done.stderr and "first line read as a header: 'Name', 'E-mail'" in done.stderr
    missing = _presend("clean", str(tmp_path / "nope.csv"), "--no-dns", cwd=REPO)
    assert missing.returncode == 2
    assert "nope.csv: no such file" in _error_line(missing.stderr)
    # Every exit status passes through main() (which leaves without the interpreter's
    # tear-down), its output flushed into the pipes first.
    over = _presend("clean", str(listing), "--no-dns", "--fail-over", "10", "--out", str(tmp_path / "o2"), cwd=REPO)
    assert over.returncode == 3 and over.stdout.startswith("4 rows in "), over.stderr
    assert (tmp_path / "o2" / "contacts.summary.json").is_file()
    unknown = _presend("bogus", cwd=REPO)
    assert unknown.returncode == 2 and "no such command" in _error_line(unknown.stderr)
    version = _presend("version", cwd=REPO)
    assert version.returncode == 0 and version.stdout.strip() == __version__


def test_broken_file_midway_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "late.txt"
    good = "email\tn\r\n" + "".join(f"u{i}@acme-co.com\t{i}\r\n" for i in range(500))
    source.write_bytes(good.encode("utf-16") + b"\x00\xd8" + "x\r\n".encode("utf-16-le"))
    done = _presend("clean", str(source), "--no-dns", cwd=REPO)
    assert done.returncode == 2
    assert "late.txt: line 502: bytes that are not valid utf-16" in _error_line(done.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.txt"]


def _on_a_terminal(*args: str, cwd: Path) -> str:
    """Run presend with stderr on a pseudo-terminal; return what it wrote there."""
    primary, secondary = pty.openpty()
    # A fresh pseudo-terminal is 0 columns wide, and tqdm draws nothing in 0 columns.
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        done = _presend(*args, cwd=cwd, stderr=secondary)
        os.close(secondary)
        chunks = []
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(primary)
    assert done.returncode == 0
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_progress_on_a_terminal_only(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    source.write_text("email\n" + "".join(f"u{i}@acme-co.com\n" for i in range(3000)), encoding="utf-8")
    shown = _on_a_terminal("clean", str(source), "--no-dns", cwd=REPO)
    assert re.search(r"rows: +\d+%\|.*\| [\d,]+/~3,000 rows \[", shown)
    quiet = _on_a_terminal("clean", str(source), "--no-dns", "-q", cwd=REPO)
    # -q keeps the notes only: here the one saying how the first line was read.
    assert quiet.splitlines() == [
        "presend: note: big.csv: first line read as a header: 'email' ('email' names the email column); "
        "if it is a contact, add a header line to the file"
    ]


def test_syntax_verdicts_are_stamped(tmp_path: Path) -> None:
    """A 501 row carries the time of the check that decided it, like every judged row."""
    source = tmp_path / "stamp.csv"
    source.write_text("email\nok@acme-co.com\nbroken@@acme-co.com\nok@acme-co.com\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "cli", "clean", str(source), "--no-dns", "-q"],
        capture_output=True, text=True, cwd=REPO, check=False,
    )
    assert result.returncode == 0, result.stderr
    with (tmp_path / "stamp.results.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    stamps = [row["presend_checked_at"] for row in rows]
    assert [row["presend_code"] for row in rows] == ["", "501", ""]  # only syntax ran: no reply forecast
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", s) for s in stamps[:2]), stamps
    assert stamps[2] == ""  # a duplicate decides nothing of its own
