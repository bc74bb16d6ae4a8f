"""Shared helpers for the tests that stop a real ``python -m cli clean`` and resume it.

They start the command as a subprocess, wait for its commits, look at its processes in
``/proc`` and at its lock, and compare the outputs of a resumed run with an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: The summary counts a resumed run must share with an uninterrupted one.
SUMMARY_COUNTS = ("rows", "by_status", "by_code", "by_reason", "flags", "rows_with_problems", "downloads")
#: The files a finished run leaves, by their name after ``<stem>.``: the outputs and the downloads.
RUN_OUTPUTS = (
    "clean.csv", "duplicates.csv", "fixable.csv", "report.html", "results.csv", "risky.csv", "summary.json",
    "undeliverable.csv", "unknown.csv",
)
#: The downloads by category (their rows hold no check time: equal bytes between runs).
DOWNLOADS = ("undeliverable", "risky", "unknown", "fixable", "duplicates")


def clean_command(listing: Path, out: Path, *options: str) -> list[str]:
    """``presend clean`` on ``listing`` into ``out``: quiet, without the user's cache."""
    return [sys.executable, "-m", "cli", "clean", str(listing), "--no-cache", "-q", "--out", str(out), *options]


def run_cli(command: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run a command to its end."""
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout)


def start_cli(command: list[str], *, new_session: bool = False) -> subprocess.Popen[str]:
    """Start a command (in a process group of its own with ``new_session``)."""
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=new_session)


@contextlib.contextmanager
def killed_on_failure(process: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    """Kill ``process`` and its descendants if the block fails while it still runs."""
    try:
        yield process
    except BaseException:
        for proc in descendants(process.pid):
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGKILL)
        process.kill()
        process.communicate()
        raise


def wait_for_rows(state: Path, rows: int, process: subprocess.Popen[str]) -> int:
    """Wait until the resume state records at least ``rows`` rows; the rows it records."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        try:
            done = int(json.loads(state.read_text())["rows_done"])
        except (FileNotFoundError, ValueError, KeyError):
            done = 0
        if done >= rows:
            return done
        time.sleep(0.01)
    raise AssertionError("no chunk was committed in time")


def result_rows(results: Path) -> list[list[str]]:
    """The rows of a results file, all but presend_checked_at."""
    with results.open(newline="", encoding="utf-8") as handle:
        return [row[:-1] for row in csv.reader(handle)]


def summary_of(out: Path, stem: str) -> dict[str, object]:
    """The summary.json a run wrote."""
    summary: dict[str, object] = json.loads((out / f"{stem}.summary.json").read_text())
    return summary


def download_rows(path: Path, cell: Callable[[str], str]) -> list[list[str]]:
    """A download's rows, each value rewritten by ``cell``."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [[cell(value) for value in row] for row in csv.reader(handle)]


def assert_same_outputs(
    out: Path, reference: Path, stem: str, *, cell: Callable[[str], str] | None = None, beside: tuple[str, ...] = ()
) -> None:
    """``out`` holds the outputs of ``reference`` (checked_at aside) and nothing else but ``beside``.

    ``cell`` rewrites each results cell before they are compared (what differs between two runs
    by design, such as a made-up local part).
    """
    def rows(folder: Path) -> list[list[str]]:
        found = result_rows(folder / f"{stem}.results.csv")
        return found if cell is None else [[cell(value) for value in row] for row in found]

    assert rows(out) == rows(reference)
    assert (out / f"{stem}.clean.csv").read_bytes() == (reference / f"{stem}.clean.csv").read_bytes()
    for group in DOWNLOADS:
        name = f"{stem}.{group}.csv"
        if cell is None:
            assert (out / name).read_bytes() == (reference / name).read_bytes(), name
        else:
            assert download_rows(out / name, cell) == download_rows(reference / name, cell), name
    mine, theirs = summary_of(out, stem), summary_of(reference, stem)
    for key in SUMMARY_COUNTS:
        assert mine[key] == theirs[key], key
    # The run left nothing behind: no state, no partial files, no lock.
    left = sorted(p.name for p in out.iterdir() if p.name not in beside)
    assert left == [f"{stem}.{kind}" for kind in RUN_OUTPUTS], left


def processes_naming(out: Path) -> list[str]:
    """The processes whose command line names ``out`` (a run and its forked children)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(out).encode() in (entry / "cmdline").read_bytes():
                found.append(entry.name)
        except OSError:
            continue
    return found


@dataclass(frozen=True)
class Proc:
    """A process, told apart from a later one with the same pid by its start time."""

    pid: int
    start: int


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return int(fields[1]), fields[0], int(fields[19])


def proc_of(pid: int) -> Proc | None:
    """The process ``pid`` as it runs now, None when there is none."""
    stat = _stat(pid)
    return None if stat is None else Proc(pid, stat[2])


def descendants(pid: int) -> set[Proc]:
    """The children of ``pid``, their children, and so on, as they are now."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents.setdefault(stat[0], []).append(int(entry.name))
            starts[int(entry.name)] = stat[2]
    found: set[Proc] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(Proc(child, starts[child]))
            todo.append(child)
    return found


def still_running(procs: set[Proc]) -> set[Proc]:
    """Those of ``procs`` that still run (a zombie holds nothing and runs nothing)."""
    left = set()
    for proc in procs:
        stat = _stat(proc.pid)
        if stat is not None and stat[2] == proc.start and stat[1] != "Z":
            left.add(proc)
    return left


def assert_nothing_left(procs: set[Proc], out: Path | None = None) -> None:
    """No process of a stopped run is left: neither ``procs`` (its descendants, recorded
    before it was stopped) nor any process naming its ``--out`` (a child forked since).

    Those left are killed before the assertion fails, so a failing test leaves none behind.
    """
    deadline = time.monotonic() + 10
    while True:
        named = processes_naming(out) if out is not None else []
        left = sorted({p.pid for p in still_running(procs)} | {int(p) for p in named})
        if not left:
            return
        if time.monotonic() > deadline:
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"processes of the stopped run still alive: {left}")
        time.sleep(0.05)


def lock_holders(lock: Path) -> set[int]:
    """The processes with ``lock`` open."""
    holders = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if str(lock) in links:
            holders.add(int(entry.name))
    return holders


def assert_lock_free(lock: Path) -> None:
    """Nobody holds the flock on ``lock`` (the file may remain: a stale lock file is harmless)."""
    if not lock.exists():
        return
    fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AssertionError(f"{lock} is still locked (by one of {sorted(lock_holders(lock))})") from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def one_error_line(stderr: str) -> str:
    """The one line a failed command printed: ``presend: error: ...``, with no traceback."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("presend: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]
