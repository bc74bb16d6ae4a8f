"""One ``presend clean`` run: rows → checks → verdicts → outputs, chunk by chunk.

The loop holds one chunk of rows at a time. What it keeps across chunks is compact: the
duplicate index (12 bytes per distinct address), one verdict per domain, the tally's
counters. After each chunk it syncs the partial outputs and records a resume state, so a run
that is killed can continue with ``--resume`` from its last committed chunk; the DNS and
mailbox levels write what they learn to the verdict cache as they go, so a resumed run does
not ask the network again for what it already had.

A fresh run of a delimited text file without the network levels is judged by worker
processes instead (:mod:`pipeline.engine.processes`); this process then keeps the same ordered
parts (index, tally, outputs, commits), so its outputs and resume states are the same.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from pipeline import __version__
from pipeline.columns import WIDTH
from pipeline.engine.chunks import ChunkJudge, lap, utc_now
from pipeline.engine.fastsyntax import PendingSyntax, SyntaxChunk
from pipeline.engine.forkwrite import ForkedWrites, fork_available
from pipeline.engine.processes import InOrder, judge_in_parallel
from pipeline.errors import InputError
from pipeline.io.ingest import RowChunk, Table, open_table
from pipeline.io.lock import RunLock
from pipeline.io.outputs import (
    TableWriter,
    atomic_write_json,
    atomic_write_text,
    ensure_writable_dir,
    remove_stale_temps,
)
from pipeline.io.runfiles import RunFiles, guard_run_files
from pipeline.io.safetext import json_safe
from pipeline.io.state import (
    InputFingerprint,
    RunState,
    StateStore,
    check_held_still,
    check_resumable,
    dedupe_path,
    file_sha256,
)
from pipeline.io.textfile import reading_own_outputs
from pipeline.options import RunOptions, check_options
from pipeline.ports import DomainResolver, MailboxProber, ProgressCallback, no_progress
from pipeline.report.html import render_report
from pipeline.report.tally import Tally
from pipeline.rules.dedupe import RECORD, DuplicateIndex

#: ``events(name, fields)``: run_started, chunk_committed, level_finished, note (see run()).
EventCallback = Callable[[str, dict[str, Any]], None]

#: The end of every message that refuses a resume.
_START_OVER = "run without --resume to start over"
#: Bytes of one duplicate-index entry in the dedupe partial file.
DUPLICATE_RECORD_BYTES = RECORD.itemsize

#: Chunks a forked writer child formats and appends at a time (see _run_locked).
WRITE_BATCH = 2
#: At most this many greylisting domains are listed in summary.json.
GREYLIST_LIST_CAP = 10_000

__all__ = ["EventCallback", "RunResult", "file_sha256", "no_events", "run", "utc_now"]


def no_events(name: str, fields: dict[str, Any]) -> None:
    """An event callback that ignores everything."""


@dataclass
class RunResult:
    """What a finished run produced: output paths, the summary, and the tally."""

    paths: dict[str, Path]
    summary: dict[str, Any]
    tally: Tally
    notes: list[str] = field(default_factory=list)



def _parallel_workers(
    options: RunOptions, table: Table, resolver: DomainResolver | None, prober: MailboxProber | None, done: int
) -> int:
    """How many worker processes judge the list (see pipeline.engine.processes); 0 for this process alone.

    Workers take a fresh run of a delimited text file without the network levels, with
    ``options.workers`` (0: one per CPU) of at least 2. A resumed run, a workbook, the
    network levels and ``--plain-syntax`` keep to one process.
    """
    workers = options.workers or os.cpu_count() or 1
    if workers < 2 or done or resolver is not None or prober is not None:
        return 0
    if table.text_format is None or not options.fast_syntax or not fork_available():
        return 0
    return workers


def _fingerprint_options(options: RunOptions) -> dict[str, Any]:
    """The options that shape the outputs (a resumed run must use the same)."""
    data = _options_dict(options)
    # Paths as the files they name: a resumed run may spell them relative or absolute.
    data["input"] = str(options.input.resolve())
    data["out_dir"] = str(options.output_dir.resolve())
    if options.cache.path is not None:
        data["cache"]["path"] = str(options.cache.path.resolve())
    for key in ("resume", "chunk_size", "workers", "engine", "scheduler", "input_url", "report_row_cap", "cache",
                "fast_syntax"):
        data.pop(key, None)
    data.get("dns", {}).pop("concurrency", None)
    data.get("probe", {}).pop("concurrency", None)
    return data


def _rebuild_tally(tally: Tally, results: Path, delimiter: str, email_index: int) -> int:
    """Feed the tally with the rows already committed to the (cut back) partial results file.

    Returns how many rows it read, which a resumed run checks against its state.
    """
    width = WIDTH
    number = 0
    with reading_own_outputs(), results.open("r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        numbers: list[int] = []
        cells: list[str] = []
        rows: list[list[str]] = []
        for number, row in enumerate(reader, start=1):
            if len(row) < width:
                raise InputError(
                    f"{results}: row {number} of the interrupted run's results is cut short; "
                    "run without --resume to start over"
                )
            numbers.append(number)
            cells.append(row[email_index] if email_index < len(row) - width else "")
            rows.append(row[-width:])
            if len(rows) >= 50_000:
                tally.add_many(numbers, cells, rows)
                numbers, cells, rows = [], [], []
        tally.add_many(numbers, cells, rows)
    return number


class _Commit:
    """The partial outputs of a run and its resume state, committed together after each chunk."""

    def __init__(
        self, options: RunOptions, table: Table, fingerprint: Future[InputFingerprint], started_at: str
    ) -> None:
        self.options = options
        self.out_dir = options.output_dir
        self.store = StateStore(self.out_dir, options.stem)
        self._fingerprint = fingerprint
        self.started_at = started_at
        self.option_print = _fingerprint_options(options)
        self.dedupe = dedupe_path(self.out_dir, options.stem)
        self.resumed = False
        self.resumed_from = 0
        self.writer: TableWriter
        self._dedupe_file: IO[bytes]

    @property
    def fingerprint(self) -> InputFingerprint:
        """The input's fingerprint (hashed in a thread while the run starts)."""
        return self._fingerprint.result()

    def start(self, table: Table, index: DuplicateIndex, tally: Tally) -> int:
        """Open the partial outputs (fresh, or as an interrupted run left them); rows already done."""
        state = self.store.load() if self.options.resume else None
        if state is not None:
            return self._resume(state, table, index, tally)
        self.writer = TableWriter(self.out_dir, self.options.stem, table.info, keep_risky=self.options.keep_risky)
        self._dedupe_file = self._open_dedupe("wb")
        # A state left by an earlier run is for outputs this run starts over; the first
        # commit records this run's own.
        self.store.clear()
        return 0

    def _resume(self, state: RunState, table: Table, index: DuplicateIndex, tally: Tally) -> int:
        """Continue from ``state`` once it agrees with the input, the options and the partial files."""
        info = table.info
        check_resumable(state, self.fingerprint, self.option_print, self.store.path)
        partials = RunFiles.of(self.out_dir, self.options.stem).partials
        for kind in ("dedupe", "results", "clean"):
            path = partials[kind]
            if not path.exists() or path.stat().st_size < state.sizes[kind]:
                raise InputError(
                    f"{path}: a partial output of the interrupted run is missing or cut short; "
                    "run without --resume to start over"
                )
        if state.sizes["dedupe"] % DUPLICATE_RECORD_BYTES:
            raise InputError(f"{self.store.path}: the resume state does not match {self.dedupe.name}; {_START_OVER}")
        self.writer = TableWriter(
            self.out_dir, self.options.stem, info, keep_risky=self.options.keep_risky, resume=state.sizes
        )
        with self.dedupe.open("r+b") as raw:
            raw.truncate(state.sizes["dedupe"])
            index.load(raw.read())
        rows = _rebuild_tally(tally, self.writer.partials["results"], info.delimiter, info.email_index)
        if rows != state.rows_done:
            raise InputError(
                f"{self.store.path}: the resume state says {state.rows_done} rows were done, but the partial "
                f"results hold {rows}; {_START_OVER}"
            )
        self._dedupe_file = self._open_dedupe("ab")
        self.started_at = state.started_at
        self.resumed = True
        self.resumed_from = state.rows_done
        return state.rows_done

    def _open_dedupe(self, mode: str) -> IO[bytes]:
        try:
            return self.dedupe.open(mode)
        except OSError as exc:
            raise self.writer.write_error(exc) from exc

    def commit(self, rows_done: int, dedupe_entries: bytes) -> None:
        """Sync everything written so far and record it as the resume point."""
        try:
            self._dedupe_file.write(dedupe_entries)
            self._dedupe_file.flush()
        except OSError as exc:
            raise self.writer.write_error(exc) from exc
        sizes = self.writer.checkpoint(sync=False)
        sizes["dedupe"] = self._dedupe_file.tell()
        self.store.save(
            RunState(self.fingerprint, self.option_print, rows_done, sizes, self.started_at)
        )
        self.writer.sync_in_background()

    def finish(self) -> None:
        """Rename the outputs into place and drop the resume state."""
        self.writer.commit()
        self._dedupe_file.close()
        self.store.clear()
        with contextlib.suppress(FileNotFoundError):
            self.dedupe.unlink()

    def interrupted(self) -> None:
        """Leave the partial outputs and the state for ``--resume``."""
        with contextlib.suppress(AttributeError):
            self.writer.detach()
        with contextlib.suppress(AttributeError, OSError):
            self._dedupe_file.close()


def run(
    options: RunOptions,
    *,
    resolver: DomainResolver | None = None,
    prober: MailboxProber | None = None,
    progress: ProgressCallback = no_progress,
    events: EventCallback = no_events,
) -> RunResult:
    """Run the pipeline over ``options.input`` and write the four outputs.

    ``resolver`` must be given when ``options.dns.enabled``; ``prober`` when
    ``options.probe.enabled``. Raises :class:`~pipeline.errors.PresendError` subclasses
    only for whole-run failures (:class:`~pipeline.errors.LockedError` when another run
    holds ``<out>/<stem>.lock``).
    """
    check_options(options)
    with open_table(options.input, options.email_column, options.encoding) as table:
        ensure_writable_dir(options.output_dir)
        files = RunFiles.of(options.output_dir, options.stem)
        guard_run_files(files, options.input)
        with RunLock(files.lock):
            remove_stale_temps([*files.outputs.values(), files.state])
            return _run_locked(options, table, resolver, prober, progress, events)


def _run_locked(
    options: RunOptions,
    table: Table,
    resolver: DomainResolver | None,
    prober: MailboxProber | None,
    progress: ProgressCallback,
    events: EventCallback,
) -> RunResult:
    t0 = time.perf_counter()
    started_at = utc_now()
    # The input's SHA-256 (for --resume) is read in a thread while the run gets going.
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="presend-sha256")
    fingerprint = hashing.submit(InputFingerprint.of, options.input)
    hashing.shutdown(wait=False)
    resolver = resolver if options.dns.enabled else None
    prober = prober if options.probe.enabled else None
    email_index = table.info.email_index
    judge = ChunkJudge(options, email_index, resolver, prober, progress)
    tally = Tally(row_cap=options.report_row_cap)
    commit = _Commit(options, table, fingerprint, started_at)
    gc_was_enabled = gc.isenabled()
    forked: ForkedWrites | None = None
    worker_syntax: dict[str, int] | None = None
    parallel = 0
    try:
        done = commit.start(table, judge.index, tally)
        events(
            "run_started",
            {"input": str(options.input), "rows_done": done, "resumed": done > 0, "chunk_size": options.chunk_size},
        )
        # The loop makes millions of short-lived objects and no cycles worth chasing:
        # collecting after each chunk is enough, and much cheaper than the default.
        gc.disable()
        timings = judge.timings

        def committed(last: int, rows: int) -> None:
            progress("rows", last, None)
            events("chunk_committed", {"rows_done": last, "chunk_rows": rows})

        parallel = _parallel_workers(options, table, resolver, prober, done)
        if options.engine == "dask":
            from pipeline.engine.cluster import judge_on_cluster

            keep = InOrder(commit.writer, judge.index, tally, commit.commit, committed)
            clustered = judge_on_cluster(options, table, keep, resolver, prober, progress, done)
            table.stats = clustered.read
            worker_syntax = clustered.syntax
            parallel = clustered.workers
            for name, seconds in clustered.timings.items():
                timings[name] = timings.get(name, 0.0) + seconds
        elif parallel:
            keep = InOrder(commit.writer, judge.index, tally, commit.commit, committed)
            from pipeline.engine.coordinator import NetworkLevels

            levels = NetworkLevels(resolver, prober, progress) if resolver is not None else None
            outcome = judge_in_parallel(options, table, keep, parallel, levels=levels, done=done)
            table.stats = outcome.read
            worker_syntax = outcome.syntax
            for name, seconds in outcome.timings.items():
                timings[name] = timings.get(name, 0.0) + seconds
        else:
            # Without the network levels, a forked child formats and writes the chunks while
            # this process reads and judges the next ones (see pipeline.engine.forkwrite). A child
            # takes WRITE_BATCH chunks at a time: every fork makes the parent's next writes to
            # its own memory copy pages, so fewer forks cost less.
            forked = ForkedWrites(commit.writer) if fork_available() and resolver is None and prober is None else None
            # Judged chunks waiting for a child: (cells, columns, ill-formed rows, last row, rows,
            # new duplicate-index entries); then the same, less the rows, for the batch in flight.
            held: list[tuple[list[list[str]], list[list[str]], dict[int, str], int, int, bytes]] = []
            writing: list[tuple[int, int, bytes]] = []

            def settle() -> int:
                """Wait for the batch in flight, then commit it; the last row committed."""
                assert forked is not None and writing
                mark = time.perf_counter()
                forked.wait()
                mark = lap(timings, "write", mark)
                batch = writing[:]
                writing.clear()
                commit.commit(batch[-1][0], b"".join(entries for _, _, entries in batch))
                lap(timings, "commit", mark)
                for last, rows, _ in batch:
                    committed(last, rows)
                return batch[-1][0]

            def launch(committed: int) -> int:
                """Settle the batch in flight, then fork a child for the held chunks."""
                assert forked is not None
                if writing:
                    committed = settle()
                mark = time.perf_counter()
                forked.start([(cells, columns, problems) for cells, columns, problems, *_ in held])
                writing.extend((last, rows, entries) for *_, last, rows, entries in held)
                held.clear()
                lap(timings, "write", mark)
                return committed

            def finish(chunk: RowChunk, cells: list[str], pending: PendingSyntax | SyntaxChunk) -> int:
                columns = judge.finish(chunk, pending)
                last = chunk.start + len(chunk) - 1
                entries = judge.index.export_new()
                mark = time.perf_counter()
                # Tallied before a child is forked, so the parent does not write to the chunk's
                # pages while a child reads them.
                tally.add_many(range(chunk.start, chunk.start + len(chunk)), cells, columns)
                mark = lap(timings, "tally", mark)
                if forked is not None:
                    held.append((chunk.cells, columns, chunk.problems, last, len(chunk), entries))
                    return launch(done) if len(held) >= WRITE_BATCH else done
                commit.writer.write_columns(chunk.cells, columns, chunk.problems)
                mark = lap(timings, "write", mark)
                commit.commit(last, entries)
                lap(timings, "commit", mark)
                committed(last, len(chunk))
                return last

            # One chunk of look-ahead: the next chunk's full syntax path runs in the process
            # pool while this one is finished and committed.
            ahead: tuple[RowChunk, list[str], PendingSyntax | SyntaxChunk] | None = None
            mark = time.perf_counter()
            for number, chunk in enumerate(table.row_chunks(options.chunk_size, skip=done), start=1):
                mark = lap(timings, "read", mark)
                cells = judge.email_cells(chunk)
                begun = (chunk, cells, judge.start(chunk, cells))
                if ahead is not None:
                    done = finish(*ahead)
                ahead = begun
                del chunk, cells, begun
                if number % 8 == 0:
                    gc.collect(1)
                mark = time.perf_counter()
            if ahead is not None:
                done = finish(*ahead)
                ahead = None
            if held:
                done = launch(done)
            if writing:
                done = settle()
        check_held_still(options.input, commit.fingerprint, table.stats.decode if table.text_format else None)
        commit.finish()
    except BaseException:
        if forked is not None:
            forked.abandon()
        commit.interrupted()
        raise
    finally:
        if gc_was_enabled:
            gc.enable()
        judge.close()

    notes = table.notes()
    if prober is not None:
        notes.extend(prober.notes())
    levels = ["syntax"]
    if options.dns.enabled:
        levels.append("dns")
    if options.probe.enabled:
        levels.append("mailbox")
    dns_stats = resolver.stats() if resolver is not None else {}
    probe_stats = prober.stats() if prober is not None else {}
    for level, seconds in (("syntax", judge.timings["syntax"]), ("dns", judge.timings["dns"]),
                           ("mailbox", judge.timings["probe"])):
        if level in levels:
            events("level_finished", {"level": level, "seconds": round(seconds, 3)})
    for note in notes:
        events("note", {"message": note})
    summary: dict[str, Any] = {
        "presend_version": __version__,
        "input": {
            "name": options.input.name,
            "path": str(options.input),
            "sha256": commit.fingerprint.sha256,
            **table.report(),
        },
        "levels": levels,
        "mailboxes_probed": options.probe.enabled,
        **tally.counts(),
        "started_at": commit.started_at,
        "finished_at": utc_now(),
        "resumed": commit.resumed,
        "resumed_from_row": commit.resumed_from,
        "timings_seconds": {
            **{k: round(v, 3) for k, v in judge.timings.items()},
            "total": round(time.perf_counter() - t0, 3),
        },
        "syntax": worker_syntax if worker_syntax is not None else judge.syntax.stats(),
        "workers": parallel or 1,
        "verdicts_from_cache": _from_cache(dns_stats, probe_stats, options),
        "dns": dns_stats,
        "probe": probe_stats,
        "probe_hosts": prober.host_report() if prober is not None else {},
        "probe_greylisting_domains": prober.greylisting_domains()[:GREYLIST_LIST_CAP] if prober is not None else [],
        "notes": notes,
        "options": _options_dict(options),
    }
    paths = commit.writer.paths
    summary = json_safe(summary)  # a file name's undecodable bytes as \xNN: valid UTF-8 JSON and HTML
    atomic_write_json(paths["summary"], summary)
    atomic_write_text(paths["report"], render_report(summary, tally))
    return RunResult(paths=paths, summary=summary, tally=tally, notes=notes)


def _from_cache(dns: dict[str, int], probe: dict[str, int], options: RunOptions) -> dict[str, Any]:
    """How many domain and mailbox verdicts came from the persistent cache, per level."""
    result: dict[str, Any] = {"cache_enabled": options.cache.enabled, "max_age_seconds": options.cache.max_age}
    for level, stats in (("domains", dns), ("mailboxes", probe)):
        if stats:
            result[level] = {
                "from_cache": int(stats.get("cache_hits", 0)),
                "looked_up": int(stats.get("cache_misses", 0)),
            }
    return result


def _options_dict(options: RunOptions) -> dict[str, Any]:
    data = asdict(options)

    def clean(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    cleaned: dict[str, Any] = clean(data)
    return cleaned

