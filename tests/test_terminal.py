"""``presend clean`` on a real pseudo-terminal: the progress line, a resumed run, the closing lines.

The command runs as a subprocess with stdout and stderr on the terminal (80 columns), as a
person would see it; the test reads what was drawn, frame by frame.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import time
from dataclasses import dataclass
from pathlib import Path

from cli.closing import closing_lines, duration
from cli.progress import estimate_rows
from tests.run_helpers import REPO, clean_command, killed_on_failure, start_cli, wait_for_rows

#: One frame of the rows bar: percentage, done/~total, elapsed<remaining, rate.
BAR = re.compile(
    r"rows(?: \(resuming\))?:\s+(?P<pct>\d+)%\|[^|]*\| (?P<done>[\d,]+)/~(?P<total>[\d,]+) rows "
    r"\[\d\d:\d\d<(?:\d\d:\d\d|\?), (?:(?P<rate>[\d,]+)|\?) rows/s\]"
)
#: A rate no run of this machine reaches (the old first frame said hundreds of millions a second).
SANE_RATE = 20_000_000


@dataclass
class Screen:
    """What a command drew on the terminal, and when its first bytes came."""

    text: str
    first_output_after: float
    took: float
    returncode: int

    @property
    def frames(self) -> list[str]:
        """Every line and every redraw of a line (carriage returns split them too)."""
        plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.text)
        return [part for part in re.split(r"[\r\n]", plain) if part.strip()]


def on_a_terminal(*args: str, columns: int = 80) -> Screen:
    """Run ``presend`` with stdout and stderr on a fresh pseudo-terminal ``columns`` wide."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        stdout=secondary,
        stderr=secondary,
        env={**os.environ, "COLUMNS": str(columns)},
    )
    os.close(secondary)
    chunks: list[bytes] = []
    first = 0.0
    try:
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            first = first or time.monotonic() - started
            chunks.append(chunk)
    finally:
        os.close(primary)
        process.wait(timeout=120)
    took = time.monotonic() - started
    return Screen(b"".join(chunks).decode("utf-8", errors="replace"), first, took, process.returncode)


def write_list(path: Path, rows: int) -> Path:
    """A list of ``rows`` well-formed addresses with a header."""
    path.write_text(
        "email,name\n" + "".join(f"person{i}@example.com,Person {i}\n" for i in range(rows)), encoding="utf-8"
    )
    return path


def test_progress_line_and_closing_summary(tmp_path: Path) -> None:
    listing = write_list(tmp_path / "list.csv", 60_000)
    out = tmp_path / "out"
    screen = on_a_terminal("clean", str(listing), "--no-dns", "--no-cache", "--chunk-size", "4000", "--out", str(out))
    assert screen.returncode == 0, screen.text
    bars = [match for frame in screen.frames if (match := BAR.search(frame))]
    assert bars, screen.frames
    (total,) = {int(match["total"].replace(",", "")) for match in bars}  # from the file's size, before a row is read
    assert abs(total - 60_000) < 3_000
    shown = [int(match["done"].replace(",", "")) for match in bars]
    assert shown == sorted(shown) and shown[-1] >= 4_000
    assert any(0 < int(match["pct"]) < 100 for match in bars)
    rates = [int(match["rate"].replace(",", "")) for match in bars if match["rate"]]
    assert rates and max(rates) < SANE_RATE, rates
    assert all(len(frame) <= 80 for frame in screen.frames if BAR.search(frame))

    closing = screen.frames[screen.frames.index(next(f for f in screen.frames if f.startswith("60,000 rows in "))) :]
    assert re.fullmatch(r"60,000 rows in \d+\.\d s: .+", closing[0]), closing
    for name in sorted(p.name for p in out.iterdir()):
        assert any(line.endswith(str(out / name)) for line in closing), (name, closing)
    assert all(len(line) <= 80 for line in closing if str(out) not in line), closing


def test_a_resumed_run_shows_something_at_once(tmp_path: Path) -> None:
    listing = write_list(tmp_path / "big.csv", 120_000)
    out = tmp_path / "out"
    command = clean_command(listing, out, "--no-dns", "--chunk-size", "2000", "--engine", "local")
    with killed_on_failure(start_cli(command)) as process:
        wait_for_rows(out / "big.resume.json", 20_000, process)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    screen = on_a_terminal(
        "clean",
        str(listing),
        "--no-dns",
        "--no-cache",
        "--chunk-size",
        "2000",
        "--engine",
        "local",
        "--out",
        str(out),
        "--resume",
    )
    assert screen.returncode == 0, screen.text
    # The first thing drawn, before the committed rows are re-read; then the bar starts from them.
    assert screen.frames[0].startswith("rows (resuming):"), screen.frames[:3]
    bars = [match for frame in screen.frames if (match := BAR.search(frame)) and frame.startswith("rows:")]
    assert bars and int(bars[0]["done"].replace(",", "")) >= 20_000, screen.frames[:5]
    # The rows the first run had done are where the bar starts, not speed.
    rates = [int(match["rate"].replace(",", "")) for match in bars if match["rate"]]
    assert rates and max(rates) < SANE_RATE, rates
    assert any(frame.startswith("120,000 rows in ") for frame in screen.frames)


def test_estimate_rows(tmp_path: Path) -> None:
    small = write_list(tmp_path / "small.csv", 10)
    assert estimate_rows(small) == 10
    big = write_list(tmp_path / "big.csv", 100_000)  # ~3.5 MB: estimated from its first MiB
    guess = estimate_rows(big)
    assert guess is not None and abs(guess - 100_000) < 5_000
    (tmp_path / "book.xlsx").write_bytes(b"PK\x03\x04rest")
    assert estimate_rows(tmp_path / "book.xlsx") is None
    assert estimate_rows(tmp_path / "missing.csv") is None
    assert estimate_rows(Path("-")) is None


def test_closing_lines_fit_80_columns() -> None:
    summary = {
        "rows": 1_234_567,
        "by_status": {
            "deliverable": 1_000_000,
            "risky": 100_000,
            "undeliverable": 100_000,
            "unknown": 34_000,
            "duplicate": 567,
        },
        "dns": {
            "domains": 12_345,
            "cache_hits": 1_000,
            "queries": 30_000,
            "providers": {"Google": 5_000, "Microsoft": 3_000, "Yahoo": 1_000, "other": 9},
        },
    }
    paths = {
        "results": Path("/data/out/list.results.csv"),
        "clean": Path("/data/out/list.clean.csv"),
        "undeliverable": Path("/data/out/list.undeliverable.csv"),
        "report": Path("/a/very/long/folder/name/that/goes/on/and/on/and/on/for/ever/list.report.html"),
    }
    lines = closing_lines(summary, paths, 3725.0)
    assert lines[0].startswith("1,234,567 rows in 1 h 2 min: 1,000,000 deliverable, 100,000 risky")
    assert any(
        "dns: 12,345 domains, 1,000 from cache, 30,000 queries; providers: Google 5,000" in line for line in lines
    )
    assert "undeliverable: /data/out/list.undeliverable.csv" in lines
    assert lines[-2:] == ["report:", f"  {paths['report']}"]
    assert all(len(line) <= 80 for line in lines[:-1])
    assert [duration(s) for s in (3.84, 125, 7260)] == ["3.8 s", "2 min 5 s", "2 h 1 min"]
