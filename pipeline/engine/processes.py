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
import traceback
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.bounced import Suppressions
from pipeline.engine.base import InOrder
from pipeline.engine.children import holding_stop_signals, start_child
from pipeline.engine.chunks import ChunkJudge
from pipeline.engine.coordinator import Coordinator, NetworkLevels, Slot
from pipeline.engine.forkwrite import fork_available
from pipeline.engine.steps import (
    Finished,
    Parsed,
    Prepared,
    StepContext,
    Verdicts,
    finish,
    new_judge,
    prepare,
)
from pipeline.errors import EngineError, PresendError
from pipeline.io.ingest import ReadStats, Table, unreadable_input
from pipeline.io.outputs import writing_failed
from pipeline.io.pieces import FilePiece, TextPiece, cut_as_bytes, file_pieces, text_pieces
from pipeline.io.positional import write_at
from pipeline.options import RunOptions
from pipeline.report.tally import DomainCounter
from pipeline.sender.findings import SenderImpact

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
class _Context:
    """What a worker needs: records and paths, so it pickles for a spawned worker as well as a
    forked one (each worker opens the files itself)."""

    steps: StepContext
    partials: dict[str, str]  # the partial output files, written at the places reserved
    folder: str  # where the outputs go (named by a write error)
    source: str | None = None  # the input, for reading FilePieces (None: pieces come as text)


class _Files:
    """A worker's own descriptors of the input and the partial outputs, opened on first use."""

    def __init__(self, context: _Context) -> None:
        self.context = context
        self.open: dict[str, int] = {}

    def input(self) -> int:
        """The input, for reading (-1 when the pieces come as text)."""
        if self.context.source is None:
            return -1
        return self._get("input", self.context.source, os.O_RDONLY)

    def output(self, kind: str) -> int:
        """A partial output, for writing at places (neither appending nor truncating)."""
        return self._get(kind, self.context.partials[kind], os.O_WRONLY)

    def _get(self, key: str, path: str, flags: int) -> int:
        found = self.open.get(key)
        if found is None:
            found = self.open[key] = os.open(path, flags | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))
        return found


def start_method() -> str:
    """How worker processes start: ``fork`` where there is one (no re-import, a start in
    milliseconds), else ``spawn``; ``PRESEND_START_METHOD`` overrides it (the tests run the
    engine under ``spawn`` this way, as on macOS and Windows)."""
    wanted = os.environ.get("PRESEND_START_METHOD", "")
    if wanted in multiprocessing.get_all_start_methods():
        return wanted
    return "fork" if fork_available() else "spawn"


# --- the messages between the run's process and its workers (typed records, never tuples) ---


@dataclass(frozen=True, slots=True)
class PrepareTask:
    """Prepare a piece (step 1)."""

    key: int
    piece: TextPiece | FilePiece
    header_pending: bool
    first: bool


@dataclass(frozen=True, slots=True)
class FinishTask:
    """Finish a prepared piece (step 2) with what the run's process decided for it."""

    key: int
    verdicts: Verdicts


@dataclass(frozen=True, slots=True)
class WriteTask:
    """Write a finished piece's lines at the places reserved for them."""

    key: int
    offsets: dict[str, int]


@dataclass(frozen=True, slots=True)
class DropTask:
    """Forget a prepared piece."""

    key: int


Task = PrepareTask | FinishTask | WriteTask | DropTask


@dataclass(frozen=True, slots=True)
class PreparedReply:
    """A piece's step 1 is done."""

    key: int
    parsed: Parsed


@dataclass(frozen=True, slots=True)
class FinishedReply:
    """A piece's step 2 is done (its lines wait in the worker for their place)."""

    key: int
    finished: Finished


@dataclass(frozen=True, slots=True)
class WrittenReply:
    """A piece's lines are written."""

    key: int


@dataclass(frozen=True, slots=True)
class WorkerFailed:
    """A task failed: ``error`` is what the run raises (an errors.py exception)."""

    key: int
    error: PresendError


@dataclass(frozen=True, slots=True)
class WorkerDone:
    """A worker's last word: the rows per domain of every piece it finished."""

    worker: int
    domains: DomainCounter


Reply = PreparedReply | FinishedReply | WrittenReply | WorkerFailed | WorkerDone


@dataclass
class _WorkerState:
    judge: ChunkJudge
    domains: DomainCounter
    files: _Files
    held: dict[int, Prepared] = field(default_factory=dict)
    formatted: dict[int, dict[str, bytes]] = field(default_factory=dict)  # pieces waiting for their place
    finished: int = 0


def _serve(parent: int, worker: int, tasks: Any, results: Any, context: _Context) -> None:  # pragma: no cover
    """A worker's loop (runs in the child process)."""
    status = 0
    try:
        start_child(parent)
        gc.disable()
        state = _WorkerState(
            new_judge(context.steps, WORKER_MEMO_LIMIT),
            DomainCounter(max(context.steps.domain_cap, WORKER_DOMAIN_CAP)),
            _Files(context),
        )
        backlog: deque[Task | None] = deque()
        while True:
            task = _next_task(tasks, backlog)
            if task is None:
                results.put(WorkerDone(worker, state.domains))
                break
            try:
                reply = _do(state, context, task)
            except Exception as exc:
                reply = WorkerFailed(task.key, _worker_error(exc))
            if reply is not None:
                results.put(reply)
    except BaseException as exc:
        status = 1
        with contextlib.suppress(BaseException):
            results.put(WorkerFailed(-1, _worker_error(exc)))
    finally:
        with contextlib.suppress(BaseException):
            results.close()
            results.join_thread()
        os._exit(status)


def _worker_error(exc: BaseException) -> PresendError:
    """What a worker's failure becomes for the run: its own error, or an EngineError naming it."""
    if isinstance(exc, PresendError):
        return exc
    where = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    place = f" at {where[0].filename}:{where[0].lineno}" if where else ""
    return EngineError(f"a worker process failed: {type(exc).__name__}: {exc}{place}")


def _do(state: _WorkerState, context: _Context, task: Task) -> Reply | None:
    """Do one task; the reply to send (None for a drop)."""
    if isinstance(task, PrepareTask):
        source = state.files.input() if isinstance(task.piece, FilePiece) else -1
        prepared = prepare(state.judge, context.steps, task.piece, source,
                           header_pending=task.header_pending, first=task.first)
        if prepared.parsed.judged:
            state.held[task.key] = prepared
        return PreparedReply(task.key, prepared.parsed)
    if isinstance(task, FinishTask):
        finished = finish(state.judge, context.steps, state.held.pop(task.key), task.verdicts)
        # Rows per domain are counted by the worker across its pieces; the run adds them at the end.
        state.domains.add(finished.alike_domains)
        state.domains.add(finished.domain_rows)
        state.formatted[task.key] = finished.lines
        finished.lines, finished.alike_domains, finished.domain_rows = {}, [], {}
        state.finished += 1
        if state.finished % GC_EVERY_PIECES == 0:
            gc.collect(1)
        return FinishedReply(task.key, finished)
    if isinstance(task, WriteTask):
        _write(state.formatted.pop(task.key), state.files, task.offsets)
        return WrittenReply(task.key)
    state.held.pop(task.key, None)
    return None


def _next_task(tasks: Any, backlog: deque[Task | None]) -> Task | None:
    """The next task to do: a finish, write or drop before any prepare, so pieces leave soon.

    Finishing and writing first keep few pieces waiting in the worker's memory (and let the
    run commit sooner); the prepares still run in the order they came.
    """
    if not backlog:
        backlog.append(tasks.get())
    while True:
        try:
            backlog.append(tasks.get_nowait())
        except queue.Empty:
            break
    for position, task in enumerate(backlog):
        if task is not None and not isinstance(task, PrepareTask):
            del backlog[position]
            return task
    return backlog.popleft()


def _write(formatted: dict[str, bytes], files: _Files, offsets: dict[str, int]) -> None:
    """Write a formatted piece's lines at the places the run's process gave them."""
    try:
        for kind, offset in offsets.items():
            write_at(files.output(kind), formatted[kind], offset)
    except OSError as exc:
        raise writing_failed(Path(files.context.folder), exc) from exc


class ChunkWorkers:
    """The worker processes: a :class:`~pipeline.engine.coordinator.PiecePool` on this machine."""

    def __init__(self, count: int, context: _Context) -> None:
        ctx: Any = multiprocessing.get_context(start_method())
        self.results: Any = ctx.Queue()
        self.tasks: list[Any] = [ctx.Queue() for _ in range(count)]
        self.load = [0] * count
        self.processes: list[Any] = []
        self.ended: set[int] = set()  # workers that said their last word and may exit
        self.slots: dict[int, Slot] = {}
        self.in_flight = 2 * count + 2
        parent = os.getpid()
        # Stop signals are held back over the forks (see pipeline.engine.forkwrite).
        with holding_stop_signals():
            for index in range(count):
                process = ctx.Process(
                    target=_serve, args=(parent, index, self.tasks[index], self.results, context), daemon=True
                )
                process.start()
                self.processes.append(process)

    # --- the PiecePool protocol --------------------------------------------------------------

    def prepare(self, slot: Slot) -> None:
        """Send the piece to the least busy worker."""
        slot.handle = min(range(len(self.load)), key=self.load.__getitem__)
        self.slots[slot.key] = slot
        self._send(slot.handle, PrepareTask(slot.key, slot.piece, slot.header_pending, slot.first))

    def finish(self, slot: Slot, verdicts: Verdicts) -> None:
        """Finish the piece where it was prepared."""
        self._send(slot.handle, FinishTask(slot.key, verdicts))

    def place(self, slot: Slot, offsets: dict[str, int]) -> None:
        """Have the worker holding the piece's lines write them."""
        self._send(slot.handle, WriteTask(slot.key, offsets))

    def drop(self, slot: Slot) -> None:
        """Forget the piece (its prepare answer, if still to come, is ignored)."""
        self.slots.pop(slot.key, None)
        if slot.parsed is None:
            self.load[slot.handle] -= 1
        self._send(slot.handle, DropTask(slot.key))

    def wait(self) -> None:
        """Record the next reply of any worker on its slot."""
        while True:
            reply = self._receive()
            if isinstance(reply, WorkerDone):
                continue
            slot = self.slots.get(reply.key)
            if slot is None:
                continue  # a piece prepared again since (its worker already dropped it)
            self.load[slot.handle] -= 1
            if isinstance(reply, PreparedReply):
                slot.parsed = reply.parsed
            elif isinstance(reply, FinishedReply):
                slot.finished = reply.finished
            else:
                slot.written = True
                self.slots.pop(slot.key, None)
            return

    # --- the processes -------------------------------------------------------------------------

    def _send(self, worker: int, task: Task) -> None:
        if not isinstance(task, DropTask):
            self.load[worker] += 1
        self.tasks[worker].put(task)

    def _receive(self) -> Reply:
        """The next reply of any worker; raises the worker's error, or EngineError when one died."""
        while True:
            try:
                reply: Reply = self.results.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                for index, process in enumerate(self.processes):
                    if process.exitcode is not None and index not in self.ended:
                        raise EngineError(
                            f"a worker process stopped unexpectedly (exit code {process.exitcode})"
                        ) from None
                continue
            if isinstance(reply, WorkerFailed):
                raise reply.error
            return reply

    def close(self) -> list[DomainCounter]:
        """Let the workers finish and wait for them; the rows per domain each one counted."""
        for tasks in self.tasks:
            tasks.put(None)
        counters: list[DomainCounter] = []
        while len(self.ended) < len(self.processes):
            reply = self._receive()
            if isinstance(reply, WorkerDone):
                self.ended.add(reply.worker)
                counters.append(reply.domains)
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


def piece_lines(options: RunOptions) -> int:
    """Lines per piece: at most PIECE_LINES, and a whole fraction of ``--chunk-size`` (pieces
    keep every worker busy from the first second to the last; they are committed together
    every --chunk-size rows)."""
    return -(-options.chunk_size // -(-options.chunk_size // PIECE_LINES))  # chunk / ceil(chunk / PIECE_LINES)


def cut_pieces(table: Table, size: int, read: ReadStats) -> Iterator[TextPiece | FilePiece]:
    """The pieces of a delimited text file: byte ranges when its encoding allows, else text."""
    text = table.text_format
    if text is None:
        raise ValueError("only delimited text files are cut into pieces")
    head_lines = int(table.info.has_header) + int(text.sep_line)
    if cut_as_bytes(text.encoding):
        return file_pieces(table.path, text, size, head_lines=head_lines, read=read.decode)
    return text_pieces(table.path, text, size, read.decode, head_lines=head_lines)


def judge_in_parallel(
    options: RunOptions,
    table: Table,
    keep: InOrder,
    workers: int,
    *,
    levels: NetworkLevels | None = None,
    done: int = 0,
    bounces: Suppressions | None = None,
    sender: SenderImpact | None = None,
) -> ParallelOutcome:
    """Judge the whole list with ``workers`` processes; write and commit it piece by piece.

    ``levels`` runs the network levels in this process for each piece's new addresses;
    ``done`` rows were committed by an interrupted run (see :class:`Coordinator`); ``bounces``
    go to every worker with the steps' context, and so does ``sender``, what the sender checks
    found, which every worker counts in.
    """
    text = table.text_format
    if text is None:
        raise ValueError("judge_in_parallel reads delimited text files only")
    read = ReadStats()
    size = piece_lines(options)
    source: str | None = None
    if cut_as_bytes(text.encoding):
        # Cut as bytes: each worker reads and decodes its pieces from the input itself.
        source = str(table.path.resolve())
        try:
            with open(source, "rb"):
                pass
        except OSError as exc:
            raise unreadable_input(table.path, exc) from exc
    pieces = cut_pieces(table, size, read)
    keep.writer.open_for_others()
    steps = StepContext(
        options, text, table.info, keep.writer.format, keep.tally.domain_cap, sender=sender, bounces=bounces
    )
    partials = {kind: str(path) for kind, path in keep.writer.partials.items()}
    context = _Context(steps, partials, str(keep.writer.paths["results"].parent), source)
    pool = ChunkWorkers(min(workers, pieces_at_most(table.path, size)), context)
    try:
        coordinator = Coordinator(options, table, keep, pool, pieces, levels=levels, done=done, read=read)
        coordinator.run()
        keep.tally.add_domain_rows(pool.close())
    except BaseException:
        pool.kill()
        raise
    keep.writer.close_for_others()
    timings = dict(coordinator.timings)
    if levels is not None:
        timings.update(levels.timings)
    return ParallelOutcome(read, coordinator.syntax, timings)


__all__ = ["ChunkWorkers", "InOrder", "ParallelOutcome", "judge_in_parallel"]
