"""The chunk loop: a list judged one chunk at a time by this process (:class:`LocalEngine`).

The loop holds one chunk of rows at a time, with one chunk of look-ahead: while a chunk is
finished (duplicates, DNS, probe, verdicts) and committed, the next one's full syntax path may
run in the syntax process pool. What it keeps across chunks is compact: the duplicate index,
one verdict per domain, the tally's counters.

As the ``local`` engine (the reference every other engine is tested against) it starts no
process. As the ``processes`` engine's fallback (a resumed run, a workbook, the network
levels, ``--plain-syntax``) it may use a syntax process pool, and without the network levels
a forked child formats and writes the chunks while this process reads and judges the next
ones (see :mod:`pipeline.engine.forkwrite`).
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass, replace

from pipeline.engine.base import EngineOutcome, Job, paused_gc
from pipeline.engine.chunks import ChunkJudge, lap
from pipeline.engine.fastsyntax import PendingSyntax, SyntaxChunk
from pipeline.engine.forkwrite import ForkedWrites, fork_available
from pipeline.io.ingest import RowChunk

#: Chunks a forked writer child formats and appends at a time: every fork makes the parent's
#: next writes to its own memory copy pages, so fewer forks cost less.
WRITE_BATCH = 2
#: A young-generation collection every so many chunks (automatic collection is off).
GC_EVERY_CHUNKS = 8


@dataclass
class _Judged:
    """A judged chunk waiting for a forked writer: its rows, columns and what commits it."""

    cells: list[list[str]]
    columns: list[list[str]]
    problems: dict[int, str]
    last: int
    rows: int
    entries: bytes


class LocalEngine:
    """Judges the list chunk by chunk in this process.

    ``syntax_workers`` sizes the syntax process pool (1: none; 0: one per CPU);
    ``fork_writes`` lets a forked child write the chunks when the network levels are off.
    """

    def __init__(self, *, name: str = "local", syntax_workers: int = 1, fork_writes: bool = False) -> None:
        self.name = name
        self.syntax_workers = syntax_workers
        self.fork_writes = fork_writes

    def run(self, job: Job) -> EngineOutcome:
        """Judge, write and commit every row after ``job.done``, in file order."""
        options = replace(job.options, workers=self.syntax_workers)
        judge = ChunkJudge(
            options, job.table.info.email_index, job.resolver, job.prober, job.progress, sender=job.sender
        )
        # The run's duplicate index (filled from the partial outputs on --resume) is the one to extend.
        judge.index = job.keep.index
        judge.bounces = job.bounces
        offline = job.resolver is None and job.prober is None
        forked = ForkedWrites(job.keep.writer) if self.fork_writes and offline and fork_available() else None
        loop = ChunkLoop(job, judge, forked)
        try:
            with paused_gc():
                loop.run()
        except BaseException:
            loop.abandon()
            raise
        finally:
            judge.close()
        return EngineOutcome(read=None, syntax=judge.syntax.stats(), timings=judge.timings, workers=1, name=self.name)


class ChunkLoop:
    """One pass of the chunk loop: read → start (syntax) → finish (verdicts) → write → commit.

    With a forked writer, judged chunks are held until :data:`WRITE_BATCH` of them make a
    batch; a child writes the batch while the loop goes on, and the batch is committed once
    the child is done (before the next child starts, so commits stay in file order).
    """

    def __init__(self, job: Job, judge: ChunkJudge, forked: ForkedWrites | None) -> None:
        self.job = job
        self.keep = job.keep
        self.judge = judge
        self.timings = judge.timings
        self.forked = forked
        #: judged chunks waiting for a child
        self.held: list[_Judged] = []
        #: the batch the child in flight is writing: (last row, rows, new index entries) per chunk
        self.writing: list[tuple[int, int, bytes]] = []

    def run(self) -> None:
        """Judge every chunk after ``job.done``; return once all of them are committed."""
        options = self.job.options
        ahead: tuple[RowChunk, list[str], PendingSyntax | SyntaxChunk] | None = None
        mark = time.perf_counter()
        chunks = self.job.table.row_chunks(options.chunk_size, skip=self.job.done)
        for number, chunk in enumerate(chunks, start=1):
            mark = lap(self.timings, "read", mark)
            cells = self.judge.email_cells(chunk)
            begun = (chunk, cells, self.judge.start(chunk, cells))
            if ahead is not None:
                self._finish(*ahead)
            ahead = begun
            del chunk, cells, begun
            if number % GC_EVERY_CHUNKS == 0:
                gc.collect(1)
            mark = time.perf_counter()
        if ahead is not None:
            self._finish(*ahead)
        if self.held:
            self._launch()
        if self.writing:
            self._settle()

    def abandon(self) -> None:
        """Stop the child in flight, if any (the run failed or was stopped)."""
        if self.forked is not None:
            self.forked.abandon()

    def _finish(self, chunk: RowChunk, cells: list[str], pending: PendingSyntax | SyntaxChunk) -> None:
        """Finish a begun chunk, tally it, then write and commit it (or hold it for a child)."""
        columns = self.judge.finish(chunk, pending)
        last = chunk.start + len(chunk) - 1
        entries = self.keep.index.export_new()
        mark = time.perf_counter()
        # Tallied before a child is forked, so the parent does not write to the chunk's
        # pages while a child reads them.
        self.keep.tally.add_many(range(chunk.start, chunk.start + len(chunk)), cells, columns)
        mark = lap(self.timings, "tally", mark)
        if self.forked is not None:
            self.held.append(_Judged(chunk.cells, columns, chunk.problems, last, len(chunk), entries))
            if len(self.held) >= WRITE_BATCH:
                self._launch()
            return
        self.keep.writer.write_columns(chunk.cells, columns, chunk.problems)
        mark = lap(self.timings, "write", mark)
        self.keep.commit(last, entries)
        lap(self.timings, "commit", mark)
        self.keep.committed(last, len(chunk))

    def _launch(self) -> None:
        """Settle the batch in flight, then fork a child for the held chunks."""
        assert self.forked is not None
        if self.writing:
            self._settle()
        mark = time.perf_counter()
        self.forked.start([(held.cells, held.columns, held.problems) for held in self.held])
        self.writing.extend((held.last, held.rows, held.entries) for held in self.held)
        self.held.clear()
        lap(self.timings, "write", mark)

    def _settle(self) -> None:
        """Wait for the batch in flight, then commit it."""
        assert self.forked is not None and self.writing
        mark = time.perf_counter()
        self.forked.wait()
        mark = lap(self.timings, "write", mark)
        batch, self.writing = self.writing, []
        self.keep.commit(batch[-1][0], b"".join(entries for _, _, entries in batch))
        lap(self.timings, "commit", mark)
        for last, rows, _ in batch:
            self.keep.committed(last, rows)


__all__ = ["WRITE_BATCH", "ChunkLoop", "LocalEngine"]
