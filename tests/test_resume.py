"""Interrupted runs: kill -9, Ctrl-C, SIGTERM, SIGHUP on a real `python -m cli clean`, then --resume.

After each, no process of the run is left and its lock is free.

The resumed outputs must equal those of an uninterrupted run (checked_at aside).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.run_helpers import (
    REPO,
    RUN_OUTPUTS,
    assert_lock_free,
    assert_nothing_left,
    assert_same_outputs,
    clean_command,
    descendants,
    killed_on_failure,
    processes_naming,
    run_cli,
    start_cli,
    summary_of,
    wait_for_rows,
)

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
    return clean_command(listing, out, "--no-dns", "--chunk-size", "500", "--workers", "2", *extra)


def _cli(listing: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli(_command(listing, out, *extra))


def _start(listing: Path, out: Path, *, new_session: bool = False) -> subprocess.Popen[str]:
    return start_cli(_command(listing, out), new_session=new_session)


def _assert_same_outputs(out: Path, reference: Path) -> None:
    assert_same_outputs(out, reference, "big")
    assert summary_of(out, "big")["resumed"] is True


def test_kill_9_then_resume(big_list: Path, reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    process = _start(big_list, out)
    done = wait_for_rows(out / "big.resume.json", 3000, process)
    # The run and its two workers, which write the pieces into the partial files themselves.
    assert len(processes_naming(out)) == 3
    children = descendants(process.pid)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert_lock_free(out / "big.lock")
    assert_nothing_left(children, out)
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


@pytest.mark.parametrize(
    ("number", "status", "words", "group"),
    [
        (signal.SIGINT, 130, "interrupted", False),  # Ctrl-C
        (signal.SIGHUP, 129, "stopped by SIGHUP", True),  # the terminal closed: the whole group
    ],
    ids=["SIGINT", "SIGHUP-to-group"],
)
def test_stop_signal_then_resume(big_list: Path, reference: Path, tmp_path: Path, number: signal.Signals,
                                 status: int, words: str, group: bool) -> None:
    out = tmp_path / "out"
    with killed_on_failure(_start(big_list, out, new_session=group)) as process:
        wait_for_rows(out / "big.resume.json", 2000, process)
        children = descendants(process.pid)
        assert len(children) == 2  # the two workers
        if group:
            os.killpg(process.pid, number)
        else:
            process.send_signal(number)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == status, stderr
    assert stderr.count("\n") == 1 and words in stderr and "--resume" in stderr
    assert_lock_free(out / "big.lock")
    assert_nothing_left(children, out)
    # The committed rows are kept, with the partial outputs they need.
    state = json.loads((out / "big.resume.json").read_text())
    assert 2000 <= state["rows_done"] < ROWS
    for name, kind in ((".big.results.csv.partial", "results"), (".big.clean.csv.partial", "clean")):
        assert (out / name).stat().st_size >= state["sizes"][kind]
    assert not (out / "big.results.csv").exists()

    again = _cli(big_list, out, "--resume")
    assert again.returncode == 0, again.stderr
    _assert_same_outputs(out, reference)


def test_a_changed_input_is_not_resumed(big_list: Path, tmp_path: Path) -> None:
    listing = tmp_path / "big.csv"
    listing.write_bytes(big_list.read_bytes())
    out = tmp_path / "out"
    process = _start(listing, out)
    wait_for_rows(out / "big.resume.json", 2000, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    with listing.open("a", encoding="utf-8") as handle:
        handle.write("999999,Late,Row,late@acme-co.com,X,Y,2020-01-01,\n")
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
        wait_for_rows(out / "big.resume.json", 1000, first)
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
    listing.write_text("name,email\nAnn,ann@acme-co.com\nBob,bob@example\n", encoding="utf-8")
    out = tmp_path / "out"
    done = subprocess.run(
        _command(listing, out, "--resume"), cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "small.summary.json").read_text())["by_status"] == {"unknown": 1, "undeliverable": 1}


def test_temporary_files_of_a_killed_run_are_removed(tmp_path: Path) -> None:
    listing = tmp_path / "small.csv"
    listing.write_text("name,email\nAnn,ann@acme-co.com\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    # What a run killed while writing its report, a download and its resume state leaves, and files of others.
    left = [".small.report.html.k3j_x9q1.tmp", ".small.risky.csv.a1b2c3d4.tmp", ".small.resume.json.tmp"]
    others = [".smaller.report.html.k3j_x9q1.tmp", ".small.report.html.partial", "notes.tmp"]
    for name in left + others:
        (out / name).write_text("x", encoding="utf-8")
    done = _cli(listing, out)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*others, *(f"small.{kind}" for kind in RUN_OUTPUTS)]
    )
