"""Interrupted runs: kill -9 and Ctrl-C on a real `python -m cli clean`, then --resume; the lock.

The resumed outputs must equal those of an uninterrupted run (checked_at aside).
"""

from __future__ import annotations

import csv
import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROWS = 50_000


@pytest.fixture(scope="module")
def big_list(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("generate_list", REPO / "bench" / "generate_list.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("lists") / "big.csv"
    module.generate(path, ROWS, seed=1)
    return path


@pytest.fixture(scope="module")
def reference(big_list: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    done = _cli(big_list, out)
    assert done.returncode == 0, done.stderr
    return out


def _command(listing: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "cli", "clean", str(listing), "--no-dns", "--no-cache", "-q",
            "--chunk-size", "500", "--workers", "2", "--out", str(out), *extra]


def _cli(listing: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_command(listing, out, *extra), cwd=REPO, capture_output=True, text=True, timeout=300)


def _start(listing: Path, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(_command(listing, out), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_rows(state: Path, rows: int, process: subprocess.Popen[str]) -> int:
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


def _results(out: Path) -> list[list[str]]:
    with (out / "big.results.csv").open(newline="", encoding="utf-8") as handle:
        return [row[:-1] for row in csv.reader(handle)]  # all but presend_checked_at


def _assert_same_outputs(out: Path, reference: Path) -> None:
    assert _results(out) == _results(reference)
    assert (out / "big.clean.csv").read_bytes() == (reference / "big.clean.csv").read_bytes()
    mine, theirs = (json.loads((d / "big.summary.json").read_text()) for d in (out, reference))
    for key in ("rows", "by_status", "by_code", "by_reason", "flags", "rows_with_problems"):
        assert mine[key] == theirs[key], key
    assert mine["resumed"] is True
    # The run left nothing behind: no state, no partial files, no lock.
    assert sorted(p.name for p in out.iterdir()) == [
        "big.clean.csv", "big.report.html", "big.results.csv", "big.summary.json"
    ]


def test_kill_9_then_resume(big_list: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = _start(big_list, out)
    done = _wait_for_rows(out / "big.resume.json", 3000, process)
    # The run and its two workers, which write the pieces into the partial files themselves.
    assert len(_processes_naming(out)) == 3
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    _assert_no_process_writes_to(out)
    state = json.loads((out / "big.resume.json").read_text())
    assert done <= state["rows_done"] < ROWS
    assert not (out / "big.results.csv").exists()  # outputs appear only when complete
    assert (out / ".big.results.csv.partial").stat().st_size >= state["sizes"]["results"]

    again = _cli(big_list, out, "--resume", "--log-format", "json")
    assert again.returncode == 0, again.stderr
    finished = json.loads(again.stderr.splitlines()[-1])
    assert finished["event"] == "run_finished" and finished["exit"] == 0
    summary = json.loads((out / "big.summary.json").read_text())
    assert summary["resumed_from_row"] == state["rows_done"]
    _assert_same_outputs(out, reference)


def _processes_naming(out: Path) -> list[str]:
    """The processes whose command line names ``out`` (a run and its forked workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(out).encode() in (entry / "cmdline").read_bytes():
                found.append(entry.name)
        except OSError:
            continue
    return found


def _assert_no_process_writes_to(out: Path) -> None:
    """The worker processes of a killed run die with it (none still names its --out)."""
    deadline = time.monotonic() + 10
    while True:
        left = _processes_naming(out)
        if not left:
            return
        assert time.monotonic() < deadline, f"processes of the killed run still alive: {left}"
        time.sleep(0.1)


def test_ctrl_c_then_resume(big_list: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = _start(big_list, out)
    _wait_for_rows(out / "big.resume.json", 2000, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "--resume" in stderr
    assert json.loads((out / "big.resume.json").read_text())["rows_done"] < ROWS

    again = _cli(big_list, out, "--resume")
    assert again.returncode == 0, again.stderr
    _assert_same_outputs(out, reference)


def test_a_changed_input_is_not_resumed(big_list: Path, tmp_path: Path) -> None:
    listing = tmp_path / "big.csv"
    listing.write_bytes(big_list.read_bytes())
    out = tmp_path / "out"
    process = _start(listing, out)
    _wait_for_rows(out / "big.resume.json", 2000, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    with listing.open("a", encoding="utf-8") as handle:
        handle.write("999999,Late,Row,late@example.com,X,Y,2020-01-01,\n")
    again = _cli(listing, out, "--resume")
    assert again.returncode == 2
    assert "the input changed since the interrupted run" in again.stderr
    assert again.stderr.count("\n") == 1
    fresh = _cli(listing, out)  # without --resume: starts over and completes
    assert fresh.returncode == 0, fresh.stderr
    assert not (out / "big.resume.json").exists()


def test_a_second_run_on_the_same_outputs_is_refused(big_list: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = _start(big_list, out)
    try:
        _wait_for_rows(out / "big.resume.json", 1000, first)
        first.send_signal(signal.SIGSTOP)  # held mid-run (with its lock) while the second one tries
        second = _cli(big_list, out)
        assert second.returncode == 2
        line = second.stderr.strip()
        assert "\n" not in line
        assert str(out / "big.lock") in line
        assert f"pid {first.pid}" in line
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    # The kernel dropped the dead run's lock: the next run proceeds.
    assert (out / "big.lock").exists()
    after = _cli(big_list, out, "--resume")
    assert after.returncode == 0, after.stderr


def test_resume_with_nothing_to_resume_runs_from_the_start(tmp_path: Path) -> None:
    listing = tmp_path / "small.csv"
    listing.write_text("name,email\nAnn,ann@example.com\nBob,bob@example\n", encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run(
        _command(listing, out, "--resume"), cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "small.summary.json").read_text())["by_status"] == {"deliverable": 1, "undeliverable": 1}
