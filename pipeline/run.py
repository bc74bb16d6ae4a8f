"""One ``presend clean`` run: rows → checks → verdicts → outputs, chunk by chunk.

The loop holds one chunk of rows at a time. What it keeps across chunks is compact: the
duplicate index (12 bytes per distinct address), one verdict per domain, the tally's
counters. After each chunk it syncs the partial outputs and records a resume state, so a run
that is killed can continue with ``--resume`` from its last committed chunk; the DNS and
mailbox levels write what they learn to the verdict cache as they go, so a resumed run does
not ask the network again for what it already had.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from . import __version__
from .dedupe import DuplicateIndex, hash_keys
from .errors import InputError
from .fastsyntax import PendingSyntax, SyntaxChunk, SyntaxJudge
from .forecast import duplicate_detail, duplicate_verdict, forecast, malformed_verdict
from .forkwrite import ForkedWrites, fork_available
from .hygiene import Hygiene
from .ingest import RowChunk, Table, open_table
from .lock import RunLock, lock_path
from .models import (
    RESULT_COLUMNS,
    AddressCheck,
    DomainVerdict,
    HygieneFlags,
    MailboxVerdict,
    RowOutcome,
    Verdict,
)
from .options import RunOptions
from .outputs import (
    TableWriter,
    atomic_write_json,
    atomic_write_text,
    ensure_writable_dir,
    output_paths,
    partial_path,
)
from .report import render_report
from .stages import DomainResolver, MailboxProber, ProbeTarget, ProgressCallback, no_progress
from .state import InputFingerprint, RunState, StateStore, check_resumable, dedupe_path, file_sha256
from .summary import Tally
from .syntax import check_address

#: ``events(name, fields)``: run_started, chunk_committed, level_finished, note (see run()).
EventCallback = Callable[[str, dict[str, Any]], None]

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


def utc_now() -> str:
    """The current time as ISO-8601 UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _bool(value: bool) -> str:
    return "true" if value else "false"


class _Judge:
    """Holds what the loop keeps across chunks and judges one chunk at a time.

    The fast way: syntax column-wise (:class:`SyntaxJudge`), duplicates through the hashed
    index, verdict columns assembled from memoized parts. With ``options.fast_syntax`` off,
    every row goes through ``check_address`` and ``RowOutcome`` one by one: the reference
    the fast way must match.
    """

    def __init__(
        self,
        options: RunOptions,
        email_index: int,
        resolver: DomainResolver | None,
        prober: MailboxProber | None,
        progress: ProgressCallback,
    ) -> None:
        self.options = options
        self.email_index = email_index
        self.resolver = resolver
        self.prober = prober
        self.progress = progress
        self.hygiene = Hygiene(options.hygiene)
        self.syntax = SyntaxJudge(options.workers)
        self.index = DuplicateIndex()
        self.domains: dict[str, DomainVerdict] = {}
        self.timings: dict[str, float] = {"syntax": 0.0, "duplicates": 0.0, "dns": 0.0, "probe": 0.0, "verdicts": 0.0}
        self._verdict_heads: dict[int, tuple[list[str], str, str]] = {}
        self._flag_parts: dict[tuple[str, bool, bool, bool], list[str]] = {}

    def close(self) -> None:
        """Release the syntax process pool."""
        self.syntax.close()

    def email_cells(self, chunk: RowChunk) -> list[str]:
        """The email cell of each row ("" when a short row has none)."""
        at = self.email_index
        return [cells[at] if len(cells) > at else "" for cells in chunk.cells]

    def start(self, chunk: RowChunk, cells: list[str]) -> PendingSyntax | SyntaxChunk:
        """Begin a chunk: the syntax pre-check now, the full syntax path in the background."""
        started = time.perf_counter()
        problems = chunk.problems
        pending: PendingSyntax | SyntaxChunk
        if self.options.fast_syntax:
            judged = [cell if i not in problems else "" for i, cell in enumerate(cells)] if problems else cells
            pending = self.syntax.submit(judged)
        else:
            pending = _plain_syntax(cells, problems)
        self.timings["syntax"] += time.perf_counter() - started
        return pending

    def judge(self, chunk: RowChunk, cells: list[str]) -> list[list[str]]:
        """The RESULT_COLUMNS values of every row of ``chunk``."""
        return self.finish(chunk, self.start(chunk, cells))

    def finish(self, chunk: RowChunk, pending: PendingSyntax | SyntaxChunk) -> list[list[str]]:
        """The RESULT_COLUMNS values of every row of a chunk begun with :meth:`start`."""
        started = time.perf_counter()
        problems = chunk.problems
        syntax = pending.result() if isinstance(pending, PendingSyntax) else pending
        now = time.perf_counter()
        self.timings["syntax"] += now - started

        # Duplicates: the first row holding a key keeps it; later rows point back to it.
        started = now
        valid = [i for i, email in enumerate(syntax.emails) if email and i not in problems]
        if self.options.hygiene.canonical_duplicates or not self.options.fast_syntax:
            keys = [self.hygiene.duplicate_key(syntax.check(i)) for i in valid]
        else:
            # Without canonical duplicates the key is the address case-folded (AddressCheck.key).
            all_keys = syntax.keys
            keys = [all_keys[i] for i in valid]
        firsts = self.index.first_rows(hash_keys(keys), np.asarray(valid, dtype=np.int64) + chunk.start)
        repeated = np.flatnonzero(firsts >= 0)
        duplicate_of = {valid[j]: int(firsts[j]) for j in repeated.tolist()}
        fresh = [i for i in valid if i not in duplicate_of] if duplicate_of else valid
        now = time.perf_counter()
        self.timings["duplicates"] += now - started

        if self.resolver is not None:
            started = now
            wanted = {syntax.ascii_domain(i) for i in fresh} - self.domains.keys()
            if wanted:
                self.domains.update(self.resolver.resolve(wanted, self.progress))
            now = time.perf_counter()
            self.timings["dns"] += now - started

        mailboxes: dict[str, MailboxVerdict] = {}
        if self.prober is not None and self.resolver is not None:
            started = now
            targets = []
            for i in fresh:
                domain = self.domains.get(syntax.ascii_domain(i))
                if domain is None or not domain.accepts_mail:
                    continue
                check = syntax.check(i)
                targets.append(
                    ProbeTarget(
                        check.email, check.local, check.domain, check.ascii_domain, check.smtputf8, domain.mx_hosts
                    )
                )
            if targets:
                mailboxes = self.prober.probe(targets, self.progress)
            now = time.perf_counter()
            self.timings["probe"] += now - started

        started = now
        columns = self._columns(chunk, syntax, duplicate_of, mailboxes)
        self.timings["verdicts"] += time.perf_counter() - started
        return columns

    def _columns(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        mailboxes: dict[str, MailboxVerdict],
    ) -> list[list[str]]:
        checked_at = utc_now()
        n = len(syntax.emails)
        rows: list[list[str]] = [[]] * n
        if self.resolver is None and self.options.fast_syntax and not self.options.hygiene.canonical_duplicates:
            rest = self._columns_offline(chunk, syntax, duplicate_of, checked_at, rows)
            if rest:
                self._columns_general(chunk, syntax, duplicate_of, mailboxes, checked_at, rows, rest)
            return rows
        self._columns_general(chunk, syntax, duplicate_of, mailboxes, checked_at, rows, range(n))
        return rows

    def _columns_offline(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        checked_at: str,
        rows: list[list[str]],
    ) -> list[int]:
        """Fill ``rows`` for the common rows of a run without DNS; the indexes of the others.

        A valid address whose domain has no typo suggestion and is not disposable, and whose
        role flag is harmless, gets the one verdict of a domain-less forecast (or the duplicate
        verdict), with its flags from the hygiene memos: exactly what the general loop gives.
        Rows whose facts are not remembered yet also go the general way (which remembers them).
        """
        problems = chunk.problems
        slow = syntax.slow
        role_is_risky = self.options.hygiene.role_is_risky
        facts_get = self.hygiene.offline_domain_facts.get
        role_get = self.hygiene.role_memo.get
        found = self._verdict_heads.get(id(None))
        flag_texts = [["", "false", _bool(role), _bool(free)] for role in (False, True) for free in (False, True)]
        rest: list[int] = []
        for i, email in enumerate(syntax.emails):
            if not email or (problems and i in problems):
                rest.append(i)
                continue
            check = slow.get(i) if slow else None
            if check is None:
                local, _, ascii_domain = email.rpartition("@")
            else:
                local, ascii_domain = check.local, check.ascii_domain
            facts = facts_get(ascii_domain)
            role = role_get(local)
            if facts is None or role is None or facts[0] or facts[2]:
                rest.append(i)
                continue
            parts = flag_texts[(role << 1) | facts[1]]
            first = duplicate_of.get(i) if duplicate_of else None
            if first is not None:
                rows[i] = ["duplicate", "", "", "duplicate", duplicate_detail(first, email), email, *parts, "false",
                           "", ""]
                continue
            if found is None or (role and role_is_risky):
                rest.append(i)
                continue
            rows[i] = [*found[0], email, *parts, "false", found[1], found[2] or checked_at]
        return rest

    def _columns_general(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        mailboxes: dict[str, MailboxVerdict],
        checked_at: str,
        rows: list[list[str]],
        indexes: Sequence[int],
    ) -> None:
        """Fill ``rows[i]`` for each of ``indexes``, row by row, any level, any option."""
        problems = chunk.problems
        emails = syntax.emails
        slow = syntax.slow
        role_is_risky = self.options.hygiene.role_is_risky
        flags_for = self.hygiene.flags_for
        domains = self.domains if self.resolver is not None else None
        plain = not self.options.fast_syntax
        canonical = self.options.hygiene.canonical_duplicates
        heads = self._verdict_heads
        flag_parts = self._flag_parts
        for i in indexes:
            email = emails[i]
            if not email or (problems and i in problems):
                if i in problems:
                    rows[i] = RowOutcome(malformed_verdict(problems[i])).columns()
                else:
                    # The syntax check decided this row: it is stamped like any other check.
                    verdict = replace(forecast(slow[i], None, None, HygieneFlags()), checked_at=checked_at)
                    rows[i] = RowOutcome(verdict).columns()
                continue
            check = slow.get(i)
            if check is None:
                # A pre-checked address: its parts are in the address itself (see fastsyntax).
                local, _, ascii_domain = email.rpartition("@")
            else:
                local, ascii_domain = check.local, check.ascii_domain
            domain = domains.get(ascii_domain) if domains is not None else None
            flags = self.hygiene.flags(syntax.check(i), domain) if plain else flags_for(local, ascii_domain, domain)
            first = duplicate_of.get(i) if duplicate_of else None
            if first is not None:
                if plain or canonical:
                    note = self.hygiene.duplicate_note(syntax.check(i))
                    rows[i] = RowOutcome(duplicate_verdict(first, email, note), email, flags).columns()
                else:
                    # What RowOutcome(duplicate_verdict(first, email), email, flags).columns() gives.
                    parts = flag_parts.get((flags.suggestion, flags.role, flags.free, flags.disposable))
                    if parts is None:
                        parts = self._flag_texts(flags)
                    rows[i] = ["duplicate", "", "", "duplicate", duplicate_detail(first, email), email, *parts, "false",
                               "", ""]
                continue
            mailbox = mailboxes.get(email) if mailboxes else None
            if plain or mailbox is not None or flags.disposable or (flags.role and role_is_risky):
                check = syntax.check(i)
                verdict = forecast(check, domain, mailbox, flags, role_is_risky=role_is_risky)
                if not verdict.checked_at:
                    verdict = replace(verdict, checked_at=checked_at)
                catch_all = bool(mailbox and mailbox.catch_all)
                rows[i] = RowOutcome(verdict, email, flags, catch_all).columns()
                continue
            # Neither mailbox nor hygiene changes the verdict: forecast() then depends on the
            # domain's verdict alone, so its columns are computed once per domain.
            found = heads.get(id(domain))
            if found is None:
                found = self._head(syntax.check(i), domain, flags, role_is_risky)
            parts = flag_parts.get((flags.suggestion, flags.role, flags.free, False))
            if parts is None:
                parts = self._flag_texts(flags)
            rows[i] = [*found[0], email, *parts, "false", found[1], found[2] or checked_at]

    def _flag_texts(self, flags: HygieneFlags) -> list[str]:
        """The suggestion, disposable, role and free columns of ``flags`` (remembered)."""
        key = (flags.suggestion, flags.role, flags.free, flags.disposable)
        parts = self._flag_parts.get(key)
        if parts is None:
            if len(self._flag_parts) >= 100_000:
                self._flag_parts.clear()
            parts = [flags.suggestion, _bool(flags.disposable), _bool(flags.role), _bool(flags.free)]
            self._flag_parts[key] = parts
        return parts

    def _head(
        self, check: AddressCheck, domain: DomainVerdict | None, flags: HygieneFlags, role_is_risky: bool
    ) -> tuple[list[str], str, str]:
        # Keyed by the DomainVerdict's identity (id(None) when DNS did not run): self.domains
        # keeps every verdict alive for the whole run, so an id is never reused.
        verdict: Verdict = forecast(check, domain, None, flags, role_is_risky=role_is_risky)
        head = [verdict.status.value, verdict.code, verdict.enhanced, verdict.reason, verdict.detail]
        found = self._verdict_heads[id(domain)] = (head, verdict.mx, verdict.checked_at)
        return found


def _plain_syntax(cells: Sequence[str], problems: dict[int, str]) -> SyntaxChunk:
    """check_address on every cell, one by one (no pre-check, no memo)."""
    chunk = SyntaxChunk([], [])
    for i, cell in enumerate(cells):
        if i in problems:
            chunk.emails.append("")
            chunk.keys.append("")
            continue
        check = check_address(cell)
        chunk.slow[i] = check
        chunk.emails.append(check.email if check.ok else "")
        chunk.keys.append(check.key)
    return chunk


def _lap(timings: dict[str, float], name: str, since: float) -> float:
    now = time.perf_counter()
    timings[name] = timings.get(name, 0.0) + now - since
    return now


def _fingerprint_options(options: RunOptions) -> dict[str, Any]:
    """The options that shape the outputs (a resumed run must use the same)."""
    data = _options_dict(options)
    for key in ("resume", "chunk_size", "workers", "report_row_cap", "cache", "fast_syntax"):
        data.pop(key, None)
    data.get("dns", {}).pop("concurrency", None)
    data.get("probe", {}).pop("concurrency", None)
    return data


def _rebuild_tally(tally: Tally, results: Path, delimiter: str, email_index: int) -> None:
    """Feed the tally with the rows already committed to the (cut back) partial results file."""
    width = len(RESULT_COLUMNS)
    with results.open("r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        numbers: list[int] = []
        cells: list[str] = []
        rows: list[list[str]] = []
        for number, row in enumerate(reader, start=1):
            numbers.append(number)
            cells.append(row[email_index] if email_index < len(row) - width else "")
            rows.append(row[-width:])
            if len(rows) >= 50_000:
                tally.add_many(numbers, cells, rows)
                numbers, cells, rows = [], [], []
        tally.add_many(numbers, cells, rows)


class _Commit:
    """The partial outputs of a run and its resume state, committed together after each chunk."""

    def __init__(self, options: RunOptions, table: Table, fingerprint: InputFingerprint, started_at: str) -> None:
        self.options = options
        self.out_dir = options.output_dir
        self.store = StateStore(self.out_dir, options.stem)
        self.fingerprint = fingerprint
        self.started_at = started_at
        self.option_print = _fingerprint_options(options)
        self.dedupe = dedupe_path(self.out_dir, options.stem)
        self.resumed = False
        self.resumed_from = 0
        self.writer: TableWriter
        self._dedupe_file: IO[bytes]

    def start(self, table: Table, index: DuplicateIndex, tally: Tally) -> int:
        """Open the partial outputs (fresh, or as an interrupted run left them); rows already done."""
        info = table.info
        state = self.store.load() if self.options.resume else None
        if state is not None:
            check_resumable(state, self.fingerprint, self.option_print, self.store.path)
            outputs = output_paths(self.out_dir, self.options.stem)
            partials = {
                "dedupe": self.dedupe,
                "results": partial_path(outputs["results"]),
                "clean": partial_path(outputs["clean"]),
            }
            for kind, path in partials.items():
                if not path.exists() or path.stat().st_size < state.sizes.get(kind, 0):
                    raise InputError(
                        f"{path}: a partial output of the interrupted run is missing or cut short; "
                        "run without --resume to start over"
                    )
            self.writer = TableWriter(
                self.out_dir, self.options.stem, info, keep_risky=self.options.keep_risky, resume=state.sizes
            )
            with self.dedupe.open("r+b") as raw:
                raw.truncate(state.sizes["dedupe"])
                index.load(raw.read())
            _rebuild_tally(tally, self.writer.partials["results"], info.delimiter, info.email_index)
            self._dedupe_file = self.dedupe.open("ab")
            self.started_at = state.started_at
            self.resumed = True
            self.resumed_from = state.rows_done
            return state.rows_done
        self.writer = TableWriter(self.out_dir, self.options.stem, info, keep_risky=self.options.keep_risky)
        self._dedupe_file = self.dedupe.open("wb")
        self.commit(0, b"")
        return 0

    def commit(self, rows_done: int, dedupe_entries: bytes) -> None:
        """Sync everything written so far and record it as the resume point."""
        self._dedupe_file.write(dedupe_entries)
        self._dedupe_file.flush()
        sizes = self.writer.checkpoint(sync=False)
        sizes["dedupe"] = self._dedupe_file.tell()
        self.store.save(
            RunState(self.fingerprint, self.option_print, rows_done, sizes, self.started_at)
        )

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
    with open_table(options.input, options.email_column) as table:
        ensure_writable_dir(options.output_dir)
        with RunLock(lock_path(options.output_dir, options.stem)):
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
    fingerprint = InputFingerprint.of(options.input)
    resolver = resolver if options.dns.enabled else None
    prober = prober if options.probe.enabled else None
    email_index = table.info.email_index
    judge = _Judge(options, email_index, resolver, prober, progress)
    tally = Tally(row_cap=options.report_row_cap)
    commit = _Commit(options, table, fingerprint, started_at)
    gc_was_enabled = gc.isenabled()
    forked: ForkedWrites | None = None
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

        # Without the network levels, a forked child formats and writes the chunks while
        # this process reads and judges the next ones (see pipeline.forkwrite). A child
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
            mark = _lap(timings, "write", mark)
            batch = writing[:]
            writing.clear()
            commit.commit(batch[-1][0], b"".join(entries for _, _, entries in batch))
            _lap(timings, "commit", mark)
            for last, rows, _ in batch:
                progress("rows", last, None)
                events("chunk_committed", {"rows_done": last, "chunk_rows": rows})
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
            _lap(timings, "write", mark)
            return committed

        def finish(chunk: RowChunk, cells: list[str], pending: PendingSyntax | SyntaxChunk) -> int:
            columns = judge.finish(chunk, pending)
            last = chunk.start + len(chunk) - 1
            entries = judge.index.export_new()
            mark = time.perf_counter()
            # Tallied before a child is forked, so the parent does not write to the chunk's
            # pages while a child reads them.
            tally.add_many(range(chunk.start, chunk.start + len(chunk)), cells, columns)
            mark = _lap(timings, "tally", mark)
            if forked is not None:
                held.append((chunk.cells, columns, chunk.problems, last, len(chunk), entries))
                return launch(done) if len(held) >= WRITE_BATCH else done
            commit.writer.write_columns(chunk.cells, columns, chunk.problems)
            mark = _lap(timings, "write", mark)
            commit.commit(last, entries)
            _lap(timings, "commit", mark)
            progress("rows", last, None)
            events("chunk_committed", {"rows_done": last, "chunk_rows": len(chunk)})
            return last

        # One chunk of look-ahead: the next chunk's full syntax path runs in the process
        # pool while this one is finished and committed.
        ahead: tuple[RowChunk, list[str], PendingSyntax | SyntaxChunk] | None = None
        mark = time.perf_counter()
        for number, chunk in enumerate(table.row_chunks(options.chunk_size, skip=done), start=1):
            mark = _lap(timings, "read", mark)
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
            "sha256": fingerprint.sha256,
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
        "syntax": judge.syntax.stats(),
        "verdicts_from_cache": _from_cache(dns_stats, probe_stats, options),
        "dns": dns_stats,
        "probe": probe_stats,
        "probe_hosts": prober.host_report() if prober is not None else {},
        "probe_greylisting_domains": prober.greylisting_domains()[:GREYLIST_LIST_CAP] if prober is not None else [],
        "notes": notes,
        "options": _options_dict(options),
    }
    paths = commit.writer.paths
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

