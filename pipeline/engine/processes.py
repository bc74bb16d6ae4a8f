"""A run without the network levels, judged by worker processes, one per CPU.

Without DNS and probing, everything a row needs but its duplicate check is known from the
row itself, so whole chunks can be judged side by side. The run's process cuts the file
into pieces of whole lines (:mod:`pipeline.io.pieces`: byte ranges that each worker reads and
decodes, or decoded text for UTF-16/32 and the multi-byte legacy encodings); each worker,
forked once at the start, takes a piece through three steps:

1. ``parse``: parses it, checks the syntax, and sends back the hashed duplicate key of each
   valid address (plus whether the piece ended cleanly, see :mod:`pipeline.io.pieces`);
2. ``finish``: once the run's process has looked those keys up in the duplicate index, in
   file order, and sent back which rows repeat an earlier one, builds the verdict columns,
   tallies them and formats the output lines, and sends their sizes and the tally;
3. ``write``: once the run's process has given the piece its place in the output files
   (right after the piece before it), writes its lines there itself (``os.pwrite``).

The run's process keeps only what must see every row in order: the duplicate index, the
tally (merged per piece), the places in the output files and the resume state (a piece
counts as written once its worker says so), committed piece by piece
exactly as the one-process loop commits chunks (so ``--resume`` works the same way). Rows per
domain are the exception: each worker counts those of its pieces (a
:class:`~pipeline.report.tally.DomainCounter`) and the tally adds both counts at the end. A
resumed run rebuilds its tally from the results file, so no resume state needs them.

Workers die with the run's process, ignore the stop signals (the run's process handles
them), do not hold the run's lock (see :mod:`pipeline.engine.children`) and leave through
``os._exit`` (they inherit its open output files and must not flush them).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import queue
import time
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from itertools import chain, compress, repeat
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.engine.base import InOrder
from pipeline.engine.children import holding_stop_signals, start_child
from pipeline.engine.chunks import ChunkJudge, lap
from pipeline.engine.fastsyntax import PendingSyntax, SyntaxChunk
from pipeline.errors import InputError, OutputError
from pipeline.io.ingest import ReadStats, RowChunk, Table, unreadable_input
from pipeline.io.outputs import LINE_END, TableWriter
from pipeline.io.pieces import (
    FilePiece,
    PieceError,
    TextPiece,
    cut_as_bytes,
    file_pieces,
    join_pieces,
    parse_piece,
    text_pieces,
)
from pipeline.options import RunOptions
from pipeline.ports import no_progress
from pipeline.report.tally import DomainCounter, Tally
from pipeline.rules.dedupe import hash_keys

_LINE_END_BYTES = LINE_END.encode("utf-8")

#: Hygiene memo entries per worker: every worker keeps its own memos. On the 1M-row bench list
#: a worker meets ~72k distinct domains and ~110k distinct local parts; 100k entries (some
#: 25 MB per memo) spare a quarter of the re-checks that 50k entries cost.
WORKER_MEMO_LIMIT = 100_000
#: Domains a worker's DomainCounter keeps (it prunes at twice that): a list of a million rows
#: (~70k distinct domains per worker) never prunes there; the run's tally prunes once, at the end.
WORKER_DOMAIN_CAP = 100_000
#: The worker runs without automatic garbage collection; judging creates no reference cycles
#: (none found after 200k rows), so a collection after every piece (~13 ms each, 1.3 s of CPU
#: per million rows) is only a safety net, taken every so many pieces.
GC_EVERY_PIECES = 64
#: Lines per piece at most (fewer with a smaller --chunk-size): small pieces start and end
#: the work of both workers close together.
PIECE_LINES = 10_000
#: The fewest bytes a line of a list can take ("a@b.co" and a line end): a bound on its pieces.
_SHORTEST_LINE = 8


def pieces_at_most(path: Path, lines_per_piece: int) -> int:
    """How many pieces a file of this size can make at most: no more workers than that start."""
    try:
        size = path.stat().st_size
    except OSError:
        return 1
    return max(1, -(-size // (_SHORTEST_LINE * lines_per_piece)))
#: Seconds between checks that every worker is still alive while waiting for one.
_POLL_SECONDS = 0.5


@dataclass
class ParallelOutcome:
    """What the workers did, for the summary: read counters, syntax counters, CPU seconds."""

    read: ReadStats
    syntax: dict[str, int]
    timings: dict[str, float]


@dataclass
class _Slot:
    """One piece on its way: where it was sent and what came back."""

    key: int
    worker: int
    piece: TextPiece | FilePiece
    first: bool
    header_pending: bool
    parsed: tuple[Any, ...] | None = None
    finished: tuple[Any, ...] | None = None
    written: bool = False
    ends: dict[str, int] = field(default_factory=dict)  # where its lines end in the outputs
    last_row: int = 0
    entries: bytes = b""
    rows: int = 0


@dataclass
class _Context:
    """What a worker needs; handed over by the fork, never pickled."""

    options: RunOptions
    table: Table
    writer: TableWriter
    outputs: dict[str, int]  # the partial output files, written at the places reserved
    domain_cap: int  # the run's Tally.domain_cap
    source: int = -1  # the input file, open for reading FilePieces (-1: pieces come as text)


@dataclass
class _WorkerState:
    judge: ChunkJudge
    domains: DomainCounter
    held: dict[int, tuple[RowChunk, list[str], SyntaxChunk, list[str]]] = field(default_factory=dict)
    formatted: dict[int, dict[str, bytes]] = field(default_factory=dict)  # pieces waiting for their place


def _serve(parent: int, worker: int, tasks: Any, results: Any, context: _Context) -> None:  # pragma: no cover
    """A worker's loop (runs in the forked child)."""
    status = 0
    try:
        start_child(parent)
        gc.disable()
        options = replace(context.options, workers=1)
        state = _WorkerState(
            ChunkJudge(options, context.table.info.email_index, None, None, no_progress),
            DomainCounter(max(context.domain_cap, WORKER_DOMAIN_CAP)),
        )
        state.judge.hygiene.memo_limit = WORKER_MEMO_LIMIT
        backlog: deque[tuple[Any, ...] | None] = deque()
        finished = 0
        while True:
            task = _next_task(tasks, backlog)
            if task is None:
                # The rows per domain of every piece this worker finished, counted here.
                results.put(("domains", worker, state.domains))
                break
            kind = task[0]
            try:
                if kind == "parse":
                    results.put(_parse(state, context, *task[1:]))
                elif kind == "finish":
                    results.put(_finish(state, context, *task[1:]))
                    finished += 1
                    if finished % GC_EVERY_PIECES == 0:
                        gc.collect(1)
                elif kind == "write":
                    results.put(_write(state, context, *task[1:]))
                else:
                    state.held.pop(task[1], None)
            except Exception:
                results.put(("failed", task[1], traceback.format_exc()))
    except BaseException:
        status = 1
        with contextlib.suppress(BaseException):
            results.put(("failed", -1, traceback.format_exc()))
    finally:
        with contextlib.suppress(BaseException):
            results.close()
            results.join_thread()
        os._exit(status)


def _next_task(tasks: Any, backlog: deque[tuple[Any, ...] | None]) -> tuple[Any, ...] | None:
    """The next task to do: a finish, write or drop before any parse, so pieces leave soon.

    Finishing and writing first keep few pieces waiting in the worker's memory (and let the
    run commit sooner); the parses still run in the order they came.
    """
    if not backlog:
        backlog.append(tasks.get())
    while True:
        try:
            backlog.append(tasks.get_nowait())
        except queue.Empty:
            break
    for position, task in enumerate(backlog):
        if task is not None and task[0] != "parse":
            del backlog[position]
            return task
    return backlog.popleft()


def _parse(state: _WorkerState, context: _Context, key: int, piece: TextPiece | FilePiece, header_pending: bool,
           first: bool) -> tuple[Any, ...]:
    table = context.table
    assert table.text_format is not None
    decoded = None
    try:
        if isinstance(piece, FilePiece):
            piece, decoded = piece.read(context.source, table.text_format.encoding)
        info = table.info
        parsed = parse_piece(piece, table.text_format, info.width, info.email_index, header_pending=header_pending,
                             first=first, start_line=info.start_line)
    except PieceError as exc:
        return ("parsed", key, 0, True, False, None, b"", b"", (exc.line, exc.problem))
    except OSError as exc:
        problem = f"reading stopped ({exc.strerror or exc})"
        return ("parsed", key, 0, True, False, None, b"", b"", (piece.first_line, problem))
    if decoded is not None:
        parsed.stats.decode = decoded
    if not parsed.clean_end or not parsed.cells:
        # A piece parsed again with the next one, or one without rows: nothing to judge.
        return ("parsed", key, len(parsed.cells), parsed.clean_end, parsed.header_pending, parsed.stats, b"", b"",
                None)
    judge = state.judge
    chunk = RowChunk(0, parsed.cells, parsed.lines, parsed.problems)
    cells = parsed.emails
    pending = judge.start(chunk, cells)
    started = time.perf_counter()
    syntax = pending.result() if isinstance(pending, PendingSyntax) else pending
    now = lap(judge.timings, "syntax", started)
    valid, keys = judge.duplicate_keys(chunk, syntax)
    hashes = hash_keys(keys)
    lap(judge.timings, "duplicates", now)
    state.held[key] = (chunk, cells, syntax, parsed.raw)
    return ("parsed", key, len(chunk), True, parsed.header_pending, parsed.stats, hashes.tobytes(),
            np.asarray(valid, dtype=np.int64).tobytes(), None)


def _finish(state: _WorkerState, context: _Context, key: int, start: int, local: bytes,
            firsts: bytes, room: int) -> tuple[Any, ...]:
    judge = state.judge
    chunk, cells, syntax, raw = state.held.pop(key)
    chunk.start = start
    started = time.perf_counter()
    duplicate_of = dict(zip(np.frombuffer(local, dtype=np.int64).tolist(),
                            np.frombuffer(firsts, dtype=np.int64).tolist(), strict=True))
    writer = context.writer
    # Once the report holds all the problem rows it shows, duplicates are only counted.
    columns, alike = judge.columns_as_text(chunk, syntax, duplicate_of, writer.lines, duplicates_as_text=room == 0)
    now = lap(judge.timings, "verdicts", started)
    rows = len(chunk)
    # Big enough caps that a piece's own tally never prunes: the run's tally does, on merging.
    tally = Tally(row_cap=room, domain_cap=rows, suggestion_cap=rows)
    others = [index for index, values in enumerate(columns) if values]
    # Rows per domain are counted by the worker across its pieces; the run adds them at the end.
    for template, count in alike.counted:
        tally.count_alike(template.columns, count)
    state.domains.add(alike.domains)
    tally.add_many([start + index for index in others], [cells[index] for index in others],
                   [columns[index] for index in others])
    state.domains.add(tally.take_domain_rows())
    now = lap(judge.timings, "tally", now)
    held_back = chain(chunk.problems, alike.duplicates)
    heads, tails, keep = writer.line_parts(chunk.cells, columns, alike.tails, writer.sendable(alike.status),
                                           held_back, raw)
    # Encoded part by part: most parts are ASCII, whose encoding is a copy (a whole piece as
    # one text is as wide as its widest character, and slower to encode); a results line is
    # its two parts and a line end, all joined in one go.
    head_bytes = list(map(str.encode, heads))
    results = b"".join(chain.from_iterable(zip(head_bytes, map(str.encode, tails), repeat(_LINE_END_BYTES))))
    clean_heads = list(compress(head_bytes, keep))
    if writer.width == 1:
        clean_heads = [head or b'""' for head in clean_heads]
    clean_heads.append(b"")  # the last line's end
    formatted = {"results": results, "clean": _LINE_END_BYTES.join(clean_heads)}
    lines = {"results": len(heads), "clean": len(clean_heads) - 1}
    sizes = {kind: (len(data), lines[kind]) for kind, data in formatted.items() if lines[kind]}
    state.formatted[key] = {kind: formatted[kind] for kind in sizes}
    lap(judge.timings, "format", now)
    return ("finished", key, sizes, tally, dict(judge.timings), judge.syntax.stats())


def _write(state: _WorkerState, context: _Context, key: int, offsets: dict[str, int]) -> tuple[Any, ...]:
    """Write a formatted piece's lines at the places the run's process gave them."""
    formatted = state.formatted.pop(key)
    try:
        for kind, offset in offsets.items():
            data = memoryview(formatted[kind])
            while data:
                done = os.pwrite(context.outputs[kind], data, offset)
                data = data[done:]
                offset += done
    except OSError as exc:
        return ("failed", key, "", str(context.writer.write_error(exc)))
    return ("written", key)


class ChunkWorkers:
    """The worker processes and the in-order bookkeeping of the pieces sent to them."""

    def __init__(self, count: int, context: _Context) -> None:
        ctx = multiprocessing.get_context("fork")
        self.results: Any = ctx.Queue()
        self.tasks: list[Any] = [ctx.Queue() for _ in range(count)]
        self.load = [0] * count
        self.processes: list[Any] = []
        self.ended: set[int] = set()  # workers that said their last word and may exit
        parent = os.getpid()
        # Stop signals are held back over the forks (see pipeline.engine.forkwrite).
        with holding_stop_signals():
            for index in range(count):
                process = ctx.Process(
                    target=_serve, args=(parent, index, self.tasks[index], self.results, context), daemon=True
                )
                process.start()
                self.processes.append(process)

    def send(self, worker: int, task: tuple[Any, ...]) -> None:
        """Queue a task for one worker."""
        if task[0] != "drop":
            self.load[worker] += 1
        self.tasks[worker].put(task)

    def least_busy(self) -> int:
        """The worker with the fewest tasks in hand."""
        return min(range(len(self.load)), key=self.load.__getitem__)

    def receive(self) -> tuple[Any, ...]:
        """The next reply of any worker; raises RuntimeError when a worker died."""
        while True:
            try:
                reply: tuple[Any, ...] = self.results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                for index, process in enumerate(self.processes):
                    if process.exitcode is not None and index not in self.ended:
                        raise RuntimeError(
                            f"a worker process stopped unexpectedly (exit code {process.exitcode})"
                        ) from None
                continue
            if reply[0] == "failed":
                if len(reply) > 3:
                    raise OutputError(reply[3])
                raise RuntimeError(f"a worker process failed:\n{reply[2]}")
            return reply

    def done(self, worker: int) -> None:
        """One task of ``worker`` has been answered."""
        self.load[worker] -= 1

    def close(self) -> list[DomainCounter]:
        """Let the workers finish and wait for them; the rows per domain each one counted."""
        for tasks in self.tasks:
            tasks.put(None)
        counters: list[DomainCounter] = []
        while len(self.ended) < len(self.processes):
            reply = self.receive()
            if reply[0] == "domains":
                self.ended.add(reply[1])
                counters.append(reply[2])
        for process in self.processes:
            process.join(timeout=10)
        self.kill()
        return counters

    def kill(self) -> None:
        """Stop the workers now (the run is failing or interrupted)."""
        for process in self.processes:
            if process.exitcode is None:
                with contextlib.suppress(OSError):
                    process.kill()
        for process in self.processes:
            process.join(timeout=5)
        for channel in [*self.tasks, self.results]:
            channel.cancel_join_thread()
            channel.close()


def judge_in_parallel(options: RunOptions, table: Table, keep: InOrder, workers: int) -> ParallelOutcome:
    """Judge the whole list with ``workers`` processes; write and commit it piece by piece."""
    text = table.text_format
    if text is None:
        raise ValueError("judge_in_parallel reads delimited text files only")
    read = ReadStats()
    head_lines = int(table.info.has_header) + int(text.sep_line)
    # Pieces of at most PIECE_LINES lines keep both workers busy from the first second to
    # the last; they are committed together every --chunk-size rows.
    size = -(-options.chunk_size // -(-options.chunk_size // PIECE_LINES))  # chunk / ceil(chunk / PIECE_LINES)
    source = -1
    pieces: Iterator[TextPiece | FilePiece]
    if cut_as_bytes(text.encoding):
        # Cut as bytes: each worker reads and decodes its pieces from this descriptor.
        try:
            source = os.open(table.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError as exc:
            raise unreadable_input(table.path, exc) from exc
        pieces = file_pieces(table.path, text, size, head_lines=head_lines, read=read.decode)
    else:
        pieces = text_pieces(table.path, text, size, read.decode, head_lines=head_lines)
    try:
        outputs = keep.writer.open_for_others()
        context = _Context(options, table, keep.writer, outputs, keep.tally.domain_cap, source)
        pool = ChunkWorkers(min(workers, pieces_at_most(table.path, size)), context)
        outcome = ParallelOutcome(read, {}, {})
        worker_stats: dict[int, tuple[dict[str, float], dict[str, int]]] = {}
        try:
            _schedule(options, table, pool, pieces, keep, read, worker_stats)
            keep.tally.add_domain_rows(pool.close())
        except BaseException:
            pool.kill()
            raise
        keep.writer.close_for_others()
    finally:
        if source >= 0:
            os.close(source)
    for timings, syntax in worker_stats.values():
        for name, seconds in timings.items():
            outcome.timings[name] = outcome.timings.get(name, 0.0) + seconds
        for name, count in syntax.items():
            outcome.syntax[name] = outcome.syntax.get(name, 0) + count
    return outcome


def _schedule(
    options: RunOptions,
    table: Table,
    pool: ChunkWorkers,
    pieces: Iterator[TextPiece | FilePiece],
    keep: InOrder,
    read: ReadStats,
    worker_stats: dict[int, tuple[dict[str, float], dict[str, int]]],
) -> None:
    index, tally, writer = keep.index, keep.tally, keep.writer
    commit, committed = keep.commit, keep.committed
    limit = 2 * len(pool.processes) + 2
    waiting: deque[_Slot] = deque()  # sent to parse, in file order, not yet accepted
    accepted: deque[_Slot] = deque()  # looked up in the index, sent to finish, in order
    writing: deque[_Slot] = deque()  # given their place in the outputs, in order, being written
    slots: dict[int, _Slot] = {}
    keys = iter(range(1 << 62))
    expected_header = table.info.has_header
    rows_before = 0
    exhausted = False
    first = True

    uncommitted: list[_Slot] = []  # pieces written since the last commit
    next_commit = options.chunk_size

    def flush_commits() -> None:
        rows = sum(slot.rows for slot in uncommitted)
        if rows:
            # The resume point: the outputs up to the end of the last piece written.
            writer.complete_up_to(uncommitted[-1].ends)
            last = uncommitted[-1].last_row
            commit(last, b"".join(slot.entries for slot in uncommitted))
            committed(last, rows)
        uncommitted.clear()

    def dispatch(piece: TextPiece | FilePiece, is_first: bool, header_pending: bool) -> _Slot:
        slot = _Slot(next(keys), pool.least_busy(), piece, is_first, header_pending)
        slots[slot.key] = slot
        pool.send(slot.worker, ("parse", slot.key, piece, header_pending, is_first))
        return slot

    def forget(slot: _Slot) -> None:
        slots.pop(slot.key, None)
        if slot.parsed is None:
            pool.done(slot.worker)  # its reply will be ignored
        pool.send(slot.worker, ("drop", slot.key))

    while True:
        while not exhausted and len(waiting) + len(accepted) + len(writing) < limit:
            piece = next(pieces, None)
            if piece is None:
                exhausted = True
                break
            waiting.append(dispatch(piece, first, expected_header if first else False))
            first = False
        if not waiting and not accepted and not writing:
            break
        reply = pool.receive()
        slot = slots.get(reply[1])
        if slot is None:
            continue  # a piece parsed again since (its worker already dropped it)
        pool.done(slot.worker)
        if reply[0] == "parsed":
            slot.parsed = reply
        elif reply[0] == "finished":
            slot.finished = reply
        else:
            slot.written = True

        # Accept the parsed pieces at the head, in file order.
        while waiting and (parsed := waiting[0].parsed) is not None:
            head = waiting[0]
            _, _, rows, clean_end, header_after, stats, hashes, valid, error = parsed
            if head.header_pending != expected_header:
                # Parsed as if the header were read, but it was not yet (or the reverse).
                forget(head)
                waiting[0] = dispatch(head.piece, head.first, expected_header)
                continue
            if error is not None:
                raise InputError(f"{table.path}: line {error[0]}: {error[1]}")
            if not clean_end:
                # A quoted field runs past the piece: parse it again with the next one.
                forget(head)
                waiting.popleft()
                if waiting:
                    after = waiting.popleft()
                    forget(after)
                    nxt = after.piece
                else:
                    nxt = next(pieces)  # a piece that is not the last has a successor
                waiting.appendleft(dispatch(join_pieces(head.piece, nxt), head.first, head.header_pending))
                continue
            waiting.popleft()
            expected_header = header_after
            _add_read(read, stats)
            start = rows_before + 1
            rows_before += rows
            head.rows = rows
            head.last_row = rows_before
            if rows:
                valid_rows = np.frombuffer(valid, dtype=np.int64)
                firsts = index.first_rows(np.frombuffer(hashes, dtype=np.uint64), valid_rows + start)
                repeated = firsts >= 0
                head.entries = index.export_new()
                # The problem rows the report can still take (the pieces before may fill them).
                room = max(tally.row_cap - len(tally.problem_rows), 0)
                pool.send(head.worker, ("finish", head.key, start, valid_rows[repeated].tobytes(),
                                        firsts[repeated].tobytes(), room))
            else:
                forget(head)
                head.finished = ("finished", head.key, {}, None, None, None)
            accepted.append(head)

        # Place the finished pieces at the head in the outputs, in file order: each right after
        # the one before, written there by its worker.
        while accepted and (finished := accepted[0].finished) is not None:
            done = accepted.popleft()
            _, _, sizes, piece_tally, timings, syntax = finished
            if sizes:
                pool.send(done.worker, ("write", done.key, writer.reserve(sizes)))
            else:
                done.written = True
            done.ends = writer.reserved_up_to()
            if piece_tally is not None:
                tally.merge(piece_tally)
                worker_stats[done.worker] = (timings, syntax)
            writing.append(done)

        # Commit the written pieces at the head, in file order.
        while writing and writing[0].written:
            done = writing.popleft()
            slots.pop(done.key, None)
            uncommitted.append(done)
            if done.last_row >= next_commit:
                flush_commits()
                next_commit = (done.last_row // options.chunk_size + 1) * options.chunk_size
    flush_commits()
    read.rows = rows_before


def _add_read(total: ReadStats, piece: ReadStats | None) -> None:
    if piece is None:
        return
    total.blank_rows += piece.blank_rows
    total.trimmed_rows += piece.trimmed_rows
    if piece.malformed_rows and not total.first_malformed_line:
        total.first_malformed_line = piece.first_malformed_line
    total.malformed_rows += piece.malformed_rows
    # Pieces cut as bytes were decoded by the workers (text pieces were decoded here).
    if piece.decode.fallback_first_line and not total.decode.fallback_first_line:
        total.decode.fallback_first_line = piece.decode.fallback_first_line
    total.decode.fallback_bytes += piece.decode.fallback_bytes


__all__ = ["ChunkWorkers", "InOrder", "ParallelOutcome", "judge_in_parallel"]
