"""The engine seam: what a run hands an engine (:class:`Job`), what it gets back
(:class:`EngineOutcome`), the :class:`Engine` protocol, and :func:`pick_engine`.

An engine decides only *where* the steps of a run execute: prepare (parse, syntax,
duplicate keys), the ordered coordinator (duplicates, DNS, probe), finish (verdicts and
encoded lines) and the commit in file order. The ordered parts it must feed in file order are
in ``Job.keep`` (:class:`InOrder`); every engine gives the same outputs as ``local``.

- ``local`` (:mod:`pipeline.engine.local`): everything in this process, the reference;
- ``processes`` (:mod:`pipeline.engine.pieces_engine`): worker processes judge whole pieces
  of the file when the run allows it, else the chunk loop with a syntax process pool and a
  forked writer;
- ``dask`` (:mod:`pipeline.engine.cluster`): a dask.distributed cluster.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

from pipeline.bounced import Suppressions
from pipeline.errors import UsageError
from pipeline.io.ingest import ReadStats, Table
from pipeline.io.outputs import TableWriter
from pipeline.options import ENGINES, RunOptions
from pipeline.ports import DomainResolver, MailboxProber, ProgressCallback, no_progress
from pipeline.report.tally import Tally
from pipeline.rules.dedupe import DuplicateIndex
from pipeline.sender.findings import SenderImpact

#: The stages every engine's timings hold (zero when an engine spends nothing there).
STAGES = ("syntax", "duplicates", "dns", "probe", "verdicts")


@dataclass
class InOrder:
    """What the run's process keeps in file order while an engine judges the list.

    ``commit(last_row, new_index_entries)`` records the rows written so far as done (the
    resume point); ``committed(last_row, rows)`` is called after it (progress, events).
    """

    writer: TableWriter
    index: DuplicateIndex
    tally: Tally
    commit: Callable[[int, bytes], None]
    committed: Callable[[int, int], None]


@dataclass
class Job:
    """One run as an engine sees it: the list, the ordered parts, the network levels.

    ``resolver`` and ``prober`` are None when their level is off; ``done`` is how many rows an
    interrupted run already committed (the engine starts after them). ``bounces`` are the real
    bounces kept by ``calibrate --suppress`` (None: none kept, or no cache).
    """

    options: RunOptions
    table: Table
    keep: InOrder
    resolver: DomainResolver | None = None
    prober: MailboxProber | None = None
    progress: ProgressCallback = no_progress
    done: int = 0
    bounces: Suppressions | None = None
    #: what the sender checks found (``--from``), for every row's verdict; None when off
    sender: SenderImpact | None = None


def stage_timings() -> dict[str, float]:
    """Seconds per stage, all zero: where an engine's timings start."""
    return dict.fromkeys(STAGES, 0.0)


@dataclass
class EngineOutcome:
    """What an engine reports once the whole list is committed.

    ``read`` holds the read counters when the engine read the file itself (None: the table's
    own counters are current); ``syntax`` the syntax path's counters; ``timings`` seconds per
    stage; ``workers`` how many workers judged the list; ``name`` the engine's name.
    """

    read: ReadStats | None
    syntax: dict[str, int]
    timings: dict[str, float]
    workers: int
    name: str


class Engine(Protocol):
    """Judges a whole list and feeds ``job.keep`` in file order."""

    name: str

    def run(self, job: Job) -> EngineOutcome:
        """Judge, write and commit every row after ``job.done``; raise errors.py exceptions."""
        ...


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """No automatic garbage collection inside the block.

    Judging a list makes millions of short-lived objects and no cycles worth chasing:
    collecting now and then by hand is enough, and much cheaper than the default.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_engine(options: RunOptions) -> None:
    """Raise :class:`UsageError` unless this build can run ``options.engine`` (dask installed).

    The name itself is one of the option's choices (:func:`~pipeline.options.check_options`).
    Called before a run touches its outputs, so a bad choice costs nothing.
    """
    if options.engine == "dask":
        _dask_module()


def _dask_module() -> ModuleType:
    """``pipeline.engine.cluster``, imported on first need (dask is a heavy import)."""
    try:
        return importlib.import_module("pipeline.engine.cluster")
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"--engine dask: the {exc.name} package is missing; install it (pip install 'dask[distributed]')"
        ) from exc


def piece_workers(options: RunOptions, table: Table) -> int:
    """How many worker processes may judge whole pieces of the list; 0 when the run does not allow them.

    Workers take a delimited text file, fresh or resumed, at any level, with ``options.workers``
    (0: one per CPU) of at least 2. A workbook and ``--plain-syntax`` keep to the chunk loop.
    """
    workers = options.workers or os.cpu_count() or 1
    if workers < 2:
        return 0
    if table.text_format is None or not options.fast_syntax:
        return 0
    return workers


def pick_engine(options: RunOptions, table: Table) -> Engine:
    """The engine ``options.engine`` asks for, fitted to this run.

    "processes" judges whole pieces in worker processes when :func:`piece_workers` allows it,
    else runs the chunk loop with a syntax process pool and a forked writer (with ``--workers 1``
    that is this process and the writer alone). "auto" is "processes": exactly the path runs
    took before engines could be chosen, so a summary of ``--workers 1`` and one of
    ``--workers 2`` name the same engine. "local" starts no process at all.
    """
    if options.engine == "dask":
        engine: Engine = _dask_module().DaskEngine()
        return engine
    from pipeline.engine.local import LocalEngine

    if options.engine == "local":
        return LocalEngine()
    workers = piece_workers(options, table)
    if workers:
        from pipeline.engine.pieces_engine import ProcessesEngine

        return ProcessesEngine(workers)
    return LocalEngine(name="processes", syntax_workers=options.workers, fork_writes=True)


__all__ = [
    "ENGINES",
    "Engine",
    "EngineOutcome",
    "InOrder",
    "Job",
    "check_engine",
    "paused_gc",
    "pick_engine",
    "piece_workers",
    "stage_timings",
]
