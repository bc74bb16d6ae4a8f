"""Runs stopped by kill -9 and SIGTERM, one-process (DNS against the lab resolver) and with
workers: no process of the run is left, its lock is free, and ``--resume`` finishes the
outputs exactly as an uninterrupted run writes them (presend_checked_at aside).

The DNS list (a workbook: see ``dns_mode``) holds, in every chunk, more distinct addresses needing email-validator than
``pipeline.engine.fastsyntax.POOL_THRESHOLD``, so the syntax pool's processes are running when the
run is stopped. The fault injection kills runs at random moments (seeded: the seed is printed,
``PRESEND_FAULT_SEED=N`` repeats a sequence).
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.engine.children import die_with_parent, start_child
from pipeline.engine.fastsyntax import POOL_THRESHOLD
from pipeline.io.lock import RunLock
from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab
from tests.run_helpers import (
    REPO,
    assert_lock_free,
    assert_nothing_left,
    assert_same_outputs,
    clean_command,
    descendants,
    killed_on_failure,
    lock_holders,
    proc_of,
    run_cli,
    start_cli,
    still_running,
    summary_of,
    wait_for_rows,
)

DNS_ROWS = 2400
DNS_CHUNK = 400
WORKER_ROWS = 8000
WORKER_CHUNK = 800
#: Kills in the fault injection, shared out evenly between the two paths.
KILLS = 20

# d0-d29: an MX on loopback (risky: private address); d30-d39: null MX; d40-d49: no MX but
# an address (implicit MX); d50-d59 do not exist.
ZONE = (
    [f"d{i}.example. MX 10 mx.d{i}.example." for i in range(30)]
    + [f"mx.d{i}.example. A 127.0.2.{i + 1}" for i in range(30)]
    + [f"d{i}.example. MX 0 ." for i in range(30, 40)]
    + [f"d{i}.example. A 192.0.2.{i}" for i in range(40, 50)]
)


def _dns_address(row: int) -> str:
    """Eight rows in ten a distinct address with a non-ASCII local part (the full syntax
    path), one a repeat of an earlier row, one without an @."""
    if row % 10 == 3 and row >= 10:
        return _dns_address(row - 10)
    if row % 10 == 7:
        return f"n{row} at d{row % 60}.example"
    return f"josé{row}@d{row % 60}.example"


@pytest.fixture(scope="module")
def dns_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    with DnsLab(ZONE, tmp_path_factory.mktemp("dnslab"), nsd_binary=require_binary("nsd"),
                unbound_binary=require_binary("unbound")) as lab:
        yield lab


@dataclass
class Mode:
    """One way of running a list: its command, and an uninterrupted run's outputs."""

    name: str
    listing: Path
    options: tuple[str, ...]
    reference: Path
    seconds: float = 0.0  # how long the uninterrupted run held its lock

    @property
    def stem(self) -> str:
        return self.listing.stem

    def command(self, out: Path, *extra: str) -> list[str]:
        return clean_command(self.listing, out, *self.options, *extra)


def _until_locked(process: subprocess.Popen[str], lock: Path) -> float:
    """Wait until a run has taken its lock (its lock file is there, past the interpreter's
    start); the time it did."""
    deadline = time.monotonic() + 60
    while not lock.exists() and process.poll() is None:
        assert time.monotonic() < deadline, "the run did not take its lock"
        time.sleep(0.002)
    return time.monotonic()


def _reference(name: str, listing: Path, options: tuple[str, ...], out: Path) -> Mode:
    mode = Mode(name, listing, options, out)
    with killed_on_failure(start_cli(mode.command(out))) as process:
        locked = _until_locked(process, out / f"{mode.stem}.lock")
        _, stderr = process.communicate(timeout=120)
    mode.seconds = time.monotonic() - locked
    assert process.returncode == 0, stderr
    return mode


@pytest.fixture(scope="module")
def dns_mode(dns_lab: DnsLab, tmp_path_factory: pytest.TempPathFactory) -> Mode:
    """One process, DNS against the lab resolver, the syntax pool of two workers.

    A workbook, which the processes engine judges in the chunk loop with the syntax pool
    (a delimited text file would go to its piece workers)."""
    import openpyxl

    listing = tmp_path_factory.mktemp("lists") / "dnslist.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Name", "Email"])
    for row in range(DNS_ROWS):
        sheet.append([f"n{row}", _dns_address(row)])
    book.save(listing)
    options = ("--nameserver", dns_lab.nameserver, "--chunk-size", str(DNS_CHUNK), "--workers", "2")
    mode = _reference("dns", listing, options, tmp_path_factory.mktemp("dns-reference"))
    summary = summary_of(mode.reference, mode.stem)
    assert summary["levels"] == ["syntax", "dns"] and summary["workers"] == 1
    assert summary["syntax"]["validator_calls"] >= POOL_THRESHOLD * DNS_ROWS // DNS_CHUNK  # type: ignore[index]
    return mode


@pytest.fixture(scope="module")
def worker_mode(tmp_path_factory: pytest.TempPathFactory) -> Mode:
    """Without DNS, the default number of worker processes (one per CPU)."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("ONE CPU: the worker path needs at least two")
    spec = importlib.util.spec_from_file_location("generate_list", REPO / "bench" / "generate_list.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    listing = tmp_path_factory.mktemp("lists") / "workerlist.csv"
    module.generate(listing, WORKER_ROWS, seed=3)
    options = ("--no-dns", "--chunk-size", str(WORKER_CHUNK))
    mode = _reference("workers", listing, options, tmp_path_factory.mktemp("worker-reference"))
    assert summary_of(mode.reference, mode.stem)["workers"] == os.cpu_count()
    return mode


def _resume(mode: Mode, out: Path, context: str) -> None:
    """Resume a stopped run; it must end with the outputs of the uninterrupted run."""
    state = out / f"{mode.stem}.resume.json"
    done = json.loads(state.read_text())["rows_done"] if state.exists() else None
    again = run_cli(mode.command(out, "--resume"))
    assert again.returncode == 0, f"{context}: {again.stderr}"
    assert_same_outputs(out, mode.reference, mode.stem)
    summary = summary_of(out, mode.stem)
    if done is not None:
        assert summary["resumed"] is True and summary["resumed_from_row"] == done, context


@pytest.mark.lab
def test_kill_9_while_the_syntax_pool_runs_leaves_no_process_and_no_lock(dns_mode: Mode, tmp_path: Path) -> None:
    """Issue 19 item 2: the pool's processes outlived a killed run and kept its lock."""
    out = tmp_path / "out"
    lock = out / f"{dns_mode.stem}.lock"
    process = start_cli(dns_mode.command(out))
    try:
        wait_for_rows(out / f"{dns_mode.stem}.resume.json", DNS_CHUNK, process)
        children = descendants(process.pid)
        assert len(children) == 2  # the syntax pool
        # The run's process alone has the lock open; its children closed their copies.
        assert lock_holders(lock) == {process.pid}
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert_lock_free(lock)  # at once: no child shares the locked open file
    assert_nothing_left(children, out)
    _resume(dns_mode, out, "after kill -9")


@pytest.mark.lab
def test_sigterm_ends_a_dns_run_like_ctrl_c(dns_mode: Mode, tmp_path: Path) -> None:
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        with killed_on_failure(start_cli(dns_mode.command(out))) as process:
            wait_for_rows(out / f"{dns_mode.stem}.resume.json", DNS_CHUNK, process)
            children = descendants(process.pid)
            assert len(children) == 2  # the syntax pool
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=60)
        # On a fast minute the last chunks can be done before the signal lands: then the
        # run had finished (its summary is written) and the signal tested nothing; again.
        if not (out / f"{dns_mode.stem}.summary.json").exists():
            break
    else:
        pytest.fail("three runs finished before SIGTERM reached them; the list is too short for this machine")
    assert process.returncode == 143, stderr
    assert stderr.count("\n") == 1 and "stopped by SIGTERM" in stderr and "--resume" in stderr
    assert_lock_free(out / f"{dns_mode.stem}.lock")
    assert_nothing_left(children, out)
    state = json.loads((out / f"{dns_mode.stem}.resume.json").read_text())
    assert DNS_CHUNK <= state["rows_done"] < DNS_ROWS
    _resume(dns_mode, out, "after SIGTERM")


@pytest.mark.lab
def test_sighup_ignored_at_start_stays_ignored(dns_mode: Mode, tmp_path: Path) -> None:
    """Under nohup a run goes on when its terminal closes."""
    out = tmp_path / "out"
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # inherited through exec, as nohup does
    try:
        process = start_cli(dns_mode.command(out))
    finally:
        signal.signal(signal.SIGHUP, before)
    with killed_on_failure(process):
        wait_for_rows(out / f"{dns_mode.stem}.resume.json", DNS_CHUNK, process)
        process.send_signal(signal.SIGHUP)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert_same_outputs(out, dns_mode.reference, dns_mode.stem)


def test_the_lock_of_a_killed_run_is_free_while_its_child_lingers(tmp_path: Path) -> None:
    """flock belongs to the open file, which a fork shares: a child closes its copy at once."""
    path = tmp_path / "x.lock"
    read_end, write_end = os.pipe()
    run = os.fork()
    if run == 0:  # pragma: no cover - the run, and a child of it that does not die with it
        try:
            RunLock(path).acquire()
            if os.fork() == 0:
                os.write(write_end, str(os.getpid()).encode())
            time.sleep(30)
        finally:
            os._exit(0)
    os.close(write_end)
    child = proc_of(int(os.read(read_end, 32)))
    os.close(read_end)
    assert child is not None
    try:
        with pytest.raises(AssertionError, match="still locked"):
            assert_lock_free(path)  # the run holds it
        os.kill(run, signal.SIGKILL)
        os.waitpid(run, 0)
        assert still_running({child}) == {child}
        assert_lock_free(path)
    finally:
        os.kill(child.pid, signal.SIGKILL)


def test_a_child_whose_parent_is_already_gone_leaves_at_once() -> None:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        die_with_parent(os.getppid() + 1)  # not its parent: as if the parent had died meanwhile
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1


def test_a_child_dies_with_its_parent() -> None:
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:  # pragma: no cover - the parent to be killed, and its child
        try:
            parent = os.getpid()
            if os.fork() == 0:
                start_child(parent)
                os.write(write_end, str(os.getpid()).encode())
            time.sleep(30)
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        child = proc_of(int(os.read(read_end, 32)))
    finally:
        os.close(read_end)
        os.kill(middle, signal.SIGKILL)
        os.waitpid(middle, 0)
    assert child is not None
    assert_nothing_left({child})


def _kill_at(mode: Mode, out: Path, delay: float, context: str) -> str:
    """Start a run, kill -9 it ``delay`` seconds after it took its lock; where it got to."""
    with killed_on_failure(start_cli(mode.command(out))) as process:
        _until_locked(process, out / f"{mode.stem}.lock")
        time.sleep(delay)
        children = descendants(process.pid)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    try:
        assert_nothing_left(children, out)
        assert_lock_free(out / f"{mode.stem}.lock")
    except AssertionError as exc:
        raise AssertionError(f"{context}: {exc}") from None
    if (out / f"{mode.stem}.resume.json").exists():
        return "between commits"
    return "after the last commit" if (out / f"{mode.stem}.results.csv").exists() else "before the first commit"


@pytest.mark.lab
def test_kill_9_at_random_moments_then_resume(dns_mode: Mode, worker_mode: Mode, tmp_path: Path) -> None:
    seed = int(os.environ.get("PRESEND_FAULT_SEED") or random.SystemRandom().randrange(1 << 32))
    print(f"fault injection seed: {seed} (PRESEND_FAULT_SEED={seed} repeats it)")
    rng = random.Random(seed)
    landed: dict[str, list[str]] = {}
    for mode in (dns_mode, worker_mode):
        count = KILLS // 2
        # Random moments spread over the time the uninterrupted run held its lock: one in
        # each tenth of it, in random order.
        slots = list(range(count))
        rng.shuffle(slots)
        for number, slot in enumerate(slots):
            delay = (slot + rng.random()) * mode.seconds / count
            context = f"seed {seed}, {mode.name} run {number} killed {delay:.3f} s after it took its lock"
            out = tmp_path / f"{mode.name}-{number}"
            landed.setdefault(mode.name, []).append(_kill_at(mode, out, delay, context))
            _resume(mode, out, context)
    print(f"where the kills landed: {landed}")
    # Kills land before the first commit, between two, or once the outputs are complete;
    # each path must have met the case --resume is for at least once.
    assert all("between commits" in places for places in landed.values()), f"seed {seed}: {landed}"
