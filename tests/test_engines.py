"""The engine seam: every engine writes what the local engine writes, and says which it was.

``local`` (this process only, the reference), ``processes`` (piece workers, or the chunk loop
with a syntax pool and a forked writer) and the default are run on the sample lists, a
generated list with duplicates, ill-formed rows and addresses that take the full syntax
path, and a workbook; their outputs must be the same (``presend_checked_at`` aside). A run
interrupted under one engine must resume under another.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.engine.fastsyntax import POOL_THRESHOLD
from pipeline.errors import UsageError
from pipeline.options import CacheOptions, DnsOptions, RunOptions
from pipeline.run import RunResult, run
from tests.run_helpers import REPO, assert_same_outputs, descendants, summary_of

SAMPLES = sorted(p for p in (REPO / "sample_lists").glob("*.csv") if not p.name.endswith(".expected.csv"))
#: Chunks of the generated list: several chunks, and several pieces for two workers.
CHUNK = 1_500
#: Rows of the generated list.
ROWS = 9_000


def _options(listing: Path, out: Path, engine: str, **extra: object) -> RunOptions:
    options = RunOptions(
        input=listing, out_dir=out, dns=DnsOptions(enabled=False), cache=CacheOptions(enabled=False), engine=engine
    )
    return replace(options, **extra)  # type: ignore[arg-type]


def _generated(path: Path) -> Path:
    """A list with exact and case-only duplicates, ragged rows, a blank line, quoted line breaks,
    and enough distinct full-path addresses (quoted, non-ASCII) for the syntax pool to start."""
    rng = random.Random(13)
    lines = ["id,name,email,note"]
    for number in range(ROWS):
        kind = rng.randrange(10)
        if kind == 0 and number > 10:
            email = f"user{rng.randrange(number)}@acme-co.com"  # a duplicate, most likely
        elif kind == 1:
            email = f"User{rng.randrange(max(number, 1))}@Example.COM"  # same key, other case
        elif kind in (2, 7):
            email = f'"user {number}"@acme-co.org' if number % 2 else f"josé{number}@bücher.example"
        elif kind == 3:
            email = rng.choice(["", "n/a", f"user{number}@", f"u{number}..x@acme-co.com", f"u{number}@@x.example"])
        else:
            email = f"user{number}@{rng.choice(['acme-co.com', 'acme-co.net', 'mail.example'])}"
        line = f'{number},"Name {number}",{_field(email)},note'
        if kind == 4:
            line += ",an extra cell"  # ragged: one cell too many
        elif kind == 5:
            line = f"{number},only two"  # ragged: no email cell
        elif kind == 6:
            line = f'{number},"two\nlines",{_field(email)},note'
        lines.append(line)
        if number == ROWS // 2:
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if '"' in value or "," in value else value


def _workbook(path: Path) -> Path:
    openpyxl = pytest.importorskip("openpyxl", reason="openpyxl is needed to write the workbook list")
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Name", "Email"])
    for number in range(600):
        sheet.append([f"N{number}", f"p{number % 450}@acme-co.com" if number % 7 else f'"p {number}"@acme-co.com'])
    sheet.append([])
    sheet.append(["Last", "not an address"])
    book.save(path)
    return path


@pytest.fixture(scope="module")
def lists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("lists")
    made = {"generated": _generated(folder / "generated.csv"), "workbook": _workbook(folder / "book.xlsx")}
    return {**{p.stem: p for p in SAMPLES}, **made}


@pytest.fixture(scope="module")
def references(lists: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Each list's outputs under the local engine."""
    outs = {}
    for name, listing in lists.items():
        out = tmp_path_factory.mktemp(f"local-{name}")
        run(_options(listing, out, "local", chunk_size=CHUNK))
        outs[name] = out
    yield outs


def test_the_sample_lists_are_found() -> None:
    assert len(SAMPLES) >= 3, SAMPLES


@pytest.mark.parametrize("engine", ["processes", "auto"])
@pytest.mark.parametrize("name", [*(p.stem for p in SAMPLES), "generated", "workbook"])
def test_every_engine_writes_what_local_writes(
    name: str, engine: str, lists: dict[str, Path], references: dict[str, Path], tmp_path: Path
) -> None:
    listing = lists[name]
    result = run(_options(listing, tmp_path, engine, chunk_size=CHUNK, workers=2))
    assert_same_outputs(tmp_path, references[name], listing.stem)
    assert result.summary["engine"] == "processes"
    assert summary_of(references[name], listing.stem)["engine"] == "local"
    if name == "generated":
        # A fresh delimited list without the network levels: two piece workers judged it.
        assert result.summary["workers"] == 2
        rows = result.summary["rows"]
        assert rows == summary_of(references[name], listing.stem)["rows"] and rows > ROWS // 2
    if name == "workbook":
        # Workers read delimited text only: the workbook went through the chunk loop.
        assert result.summary["workers"] == 1


@pytest.mark.parametrize("name", [*(p.stem for p in SAMPLES), "generated"])
def test_worker_processes_started_by_spawn_write_what_local_writes(
    name: str, lists: dict[str, Path], references: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    forks: _Forks,
) -> None:
    """macOS and Windows start processes with ``spawn``: nothing is inherited, everything a worker
    needs must pickle and every file be opened again (PRESEND_START_METHOD forces it here)."""
    monkeypatch.setenv("PRESEND_START_METHOD", "spawn")
    forks.events = []
    forks.armed = True
    try:
        result = run(_options(lists[name], tmp_path, "processes", chunk_size=CHUNK, workers=2))
    finally:
        forks.armed = False
    assert_same_outputs(tmp_path, references[name], lists[name].stem)
    assert result.summary["workers"] == 2
    # Under fork the workers would show as os.fork events (test_the_local_engine_starts_no_process's
    # control sees them); spawned ones are started by fork_exec, which raises none.
    assert "os.fork" not in forks.events, forks.events


def test_the_generated_list_holds_what_it_promises(references: dict[str, Path]) -> None:
    summary = summary_of(references["generated"], "generated")
    assert summary["by_reason"]["duplicate"] > 100  # type: ignore[index]
    assert summary["input"]["malformed_rows"] > 100  # type: ignore[index]
    # Enough distinct full-path cells in each chunk for the syntax pool (POOL_THRESHOLD).
    assert summary["syntax"]["full_path"] >= POOL_THRESHOLD * (ROWS // CHUNK)  # type: ignore[index]


class _Forks:
    """Counts the forks of this process (the ``os.fork`` audit event) while armed."""

    def __init__(self) -> None:
        self.armed = False
        self.count = 0
        self.events: list[str] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple[object, ...]) -> None:
        if self.armed and event in ("os.fork", "os.forkpty", "subprocess.Popen", "os.posix_spawn", "os.exec"):
            self.count += 1
            self.events.append(event)


@pytest.fixture(scope="module")
def forks() -> _Forks:
    return _Forks()


def _watched_run(options: RunOptions, forks: _Forks) -> tuple[RunResult, int, set[object]]:
    """Run, counting forks and collecting the child processes alive at each commit."""
    before = descendants(os.getpid())
    seen: set[object] = set()

    def progress(stage: str, done: int, total: int | None) -> None:
        seen.update(descendants(os.getpid()) - before)

    forks.count, forks.armed = 0, True
    try:
        result = run(options, progress=progress)
    finally:
        forks.armed = False
    return result, forks.count, seen


@pytest.mark.parametrize("name", ["generated", "workbook"])
def test_the_local_engine_starts_no_process(name: str, lists: dict[str, Path], forks: _Forks, tmp_path: Path) -> None:
    # workers=2 asks for helpers; the local engine uses this process whatever --workers says.
    options = _options(lists[name], tmp_path / "local", "local", chunk_size=CHUNK, workers=2)
    result, forked, alive = _watched_run(options, forks)
    assert (forked, alive) == (0, set())
    assert (result.summary["engine"], result.summary["workers"]) == ("local", 1)
    # The same watch sees the processes engine's children: piece workers for the text list,
    # the syntax pool and the forked writer for the workbook.
    options = replace(options, out_dir=tmp_path / "processes", engine="processes")
    result, forked, alive = _watched_run(options, forks)
    assert forked > 0
    assert result.summary["engine"] == "processes"


class _Stop(Exception):
    """Stops a run from its progress callback, as a signal would between two commits."""


def _stopped_after_first_commit(options: RunOptions) -> None:
    def progress(stage: str, done: int, total: int | None) -> None:
        raise _Stop(done)

    with pytest.raises(_Stop):
        run(options, progress=progress)


@pytest.mark.parametrize(("first", "then"), [("processes", "local"), ("local", "processes"), ("local", "auto")])
def test_a_run_stopped_under_one_engine_resumes_under_another(
    first: str, then: str, lists: dict[str, Path], references: dict[str, Path], tmp_path: Path
) -> None:
    listing = lists["generated"]
    _stopped_after_first_commit(_options(listing, tmp_path, first, chunk_size=CHUNK, workers=2))
    assert (tmp_path / "generated.resume.json").exists()
    # Another engine and another --workers: neither shapes the outputs.
    result = run(_options(listing, tmp_path, then, chunk_size=CHUNK, workers=1, resume=True))
    assert_same_outputs(tmp_path, references["generated"], "generated")
    summary = result.summary
    assert summary["resumed"] is True and 0 < summary["resumed_from_row"] < summary["rows"]
    assert summary["engine"] == ("local" if then == "local" else "processes")


def test_an_unknown_engine_is_refused_before_anything_is_written(lists: dict[str, Path], tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    shutil.copyfile(lists["mailchimp_export"], listing)
    before = listing.read_bytes()
    with pytest.raises(UsageError, match=r"^--engine: expected auto, local, processes or dask, not 'fast'$"):
        run(_options(listing, tmp_path / "out", "fast"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert listing.read_bytes() == before
