"""The ordered coordinator of the engines that judge pieces side by side.

Workers (processes on this machine, or a Dask cluster) take pieces of the input through the
two steps of :mod:`pipeline.engine.steps`; the coordinator keeps, in file order, all that
must see every row in turn:

1. **accept** each prepared piece: check it parsed as it should (with the header where it
   is, and ending where a record ends; if not, it is prepared again, joined with the next
   piece), look its duplicate keys up in the duplicate index, run the network levels for
   its new addresses (:class:`NetworkLevels`), and send it to be finished;
2. **place** each finished piece in the outputs, right after the one before it;
3. **commit** the written pieces every ``--chunk-size`` rows (the resume point).

A :class:`PiecePool` is how an engine runs the steps; the coordinator never knows whether
they run in a forked process or on another machine.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pipeline.bounced import Suppressions
from pipeline.engine.chunks import lap
from pipeline.engine.steps import Finished, Parsed, Verdicts
from pipeline.io.ingest import ReadStats, Table
from pipeline.io.pieces import FilePiece, TextPiece, join_pieces
from pipeline.models import DomainVerdict
from pipeline.options import RunOptions
from pipeline.ports import DomainResolver, MailboxProber, ProbeTarget, ProgressCallback

__all__ = ["Coordinator", "NetworkLevels", "PiecePool", "Slot", "add_read"]


@dataclass(eq=False)
class Slot:
    """One piece on its way through the steps, and what came back for it."""

    key: int
    piece: TextPiece | FilePiece
    first: bool
    header_pending: bool
    handle: Any = None  # the pool's own reference to the piece (a worker, futures ...)
    parsed: Parsed | None = None
    finished: Finished | None = None
    written: bool = False
    ends: dict[str, int] = field(default_factory=dict)  # where its lines end in the outputs
    last_row: int = 0
    entries: bytes = b""
    rows: int = 0


class PiecePool(Protocol):
    """How an engine takes pieces through the steps (see :mod:`pipeline.engine.steps`)."""

    #: How many pieces may be on their way at once.
    in_flight: int

    def prepare(self, slot: Slot) -> None:
        """Start step 1 for ``slot``; its :class:`Parsed` arrives through :meth:`wait`."""

    def finish(self, slot: Slot, verdicts: Verdicts) -> None:
        """Start step 2 for an accepted ``slot``; its :class:`Finished` arrives through :meth:`wait`."""

    def place(self, slot: Slot, offsets: dict[str, int]) -> None:
        """Have the finished piece's lines written at ``offsets``; ``slot.written`` is set when they are."""

    def drop(self, slot: Slot) -> None:
        """Forget ``slot``'s piece (prepared again, or with nothing to finish)."""

    def wait(self) -> None:
        """Wait for the next answer of any worker and record it on its slot."""


class NetworkLevels:
    """The DNS and mailbox levels, run by the coordinator for each piece's new addresses.

    Domain verdicts are kept for the whole run (each domain is resolved once); a piece is
    sent the verdicts of every domain it holds, and the mailbox verdicts of its new addresses.
    """

    def __init__(self, resolver: DomainResolver, prober: MailboxProber | None, progress: ProgressCallback,
                 bounces: Suppressions | None = None) -> None:
        self.resolver = resolver
        self.prober = prober
        self.progress = progress
        #: addresses that bounced hard in a real send: no level asks about them
        self.bounces = bounces
        self.known: dict[str, DomainVerdict] = {}
        self.timings: dict[str, float] = {"dns": 0.0, "probe": 0.0}

    def decide(self, parsed: Parsed, fresh: list[int], verdicts: Verdicts) -> None:
        """Fill ``verdicts`` with the network levels' answers; ``fresh`` are the valid rows
        (positions in ``parsed.domains``) that repeat no earlier address."""
        started = time.perf_counter()
        domains = parsed.domains
        if self.bounces and parsed.emails:
            hard = self.bounces.is_hard
            fresh = [j for j in fresh if not hard(parsed.emails[j])]
        wanted = {domains[j] for j in fresh} - self.known.keys()
        if wanted:
            self.known.update(self.resolver.resolve(wanted, self.progress))
        known = self.known
        verdicts.domains = {name: known[name] for name in set(domains) if name in known}
        now = lap(self.timings, "dns", started)
        if self.prober is None:
            return
        targets = []
        for j in fresh:
            address = parsed.addresses[j]
            domain = known.get(address.ascii_domain)
            if domain is None or not domain.accepts_mail:
                continue
            targets.append(ProbeTarget(address.email, address.local, address.domain, address.ascii_domain,
                                       address.smtputf8, domain.mx_hosts))
        if targets:
            verdicts.mailboxes = self.prober.probe(targets, self.progress)
        lap(self.timings, "probe", now)


class Coordinator:
    """Runs the pieces of a list through a :class:`PiecePool` and keeps them in file order.

    ``keep`` holds the ordered parts (see :class:`pipeline.engine.processes.InOrder`);
    ``read`` gets the read counters (the cutting of the file may have begun them). ``done``
    rows were committed by an interrupted run: their pieces are prepared (their rows must be
    counted) but neither finished nor written again.
    """

    def __init__(
        self,
        options: RunOptions,
        table: Table,
        keep: Any,
        pool: PiecePool,
        pieces: Iterator[TextPiece | FilePiece],
        *,
        levels: NetworkLevels | None = None,
        done: int = 0,
        read: ReadStats | None = None,
    ) -> None:
        self.options = options
        self.table = table
        self.keep = keep
        self.pool = pool
        self.pieces = pieces
        self.levels = levels
        self.done = done
        self.read = read if read is not None else ReadStats()
        #: The workers' seconds per stage and syntax counters, added up over every piece.
        self.timings: dict[str, float] = {}
        self.syntax: dict[str, int] = {}
        self.waiting: deque[Slot] = deque()  # sent to prepare, in file order, not yet accepted
        self.accepted: deque[Slot] = deque()  # sent to finish, in order
        self.writing: deque[Slot] = deque()  # given their place in the outputs, being written
        self.uncommitted: list[Slot] = []  # written since the last commit
        self.expected_header = table.info.has_header
        self.rows_before = 0
        self.next_commit = options.chunk_size
        self._keys = iter(range(1 << 62))
        self._exhausted = False
        self._first = True

    def run(self) -> ReadStats:
        """Take every piece through the steps; the read counters of the whole file."""
        while True:
            self._top_up()
            if not self.waiting and not self.accepted and not self.writing:
                break
            self.pool.wait()
            self._accept_heads()
            self._place_heads()
            self._commit_heads()
        self._flush_commits()
        self.read.rows = self.rows_before
        return self.read

    # --- sending ---------------------------------------------------------------------------

    def _top_up(self) -> None:
        while not self._exhausted and len(self.waiting) + len(self.accepted) + len(self.writing) < self.pool.in_flight:
            piece = next(self.pieces, None)
            if piece is None:
                self._exhausted = True
                return
            self.waiting.append(self._dispatch(piece, self._first, self.expected_header if self._first else False))
            self._first = False

    def _dispatch(self, piece: TextPiece | FilePiece, first: bool, header_pending: bool) -> Slot:
        slot = Slot(next(self._keys), piece, first, header_pending)
        self.pool.prepare(slot)
        return slot

    # --- accepting, in file order ----------------------------------------------------------

    def _accept_heads(self) -> None:
        while self.waiting and (parsed := self.waiting[0].parsed) is not None:
            head = self.waiting[0]
            if head.header_pending != self.expected_header:
                # Parsed as if the header were read, but it was not yet (or the reverse).
                self.pool.drop(head)
                self.waiting[0] = self._dispatch(head.piece, head.first, self.expected_header)
                continue
            if parsed.problem is not None:
                raise parsed.problem.error(self.table.path)
            if not parsed.clean_end:
                self._join_head()
                continue
            self.waiting.popleft()
            self._accept(head, parsed)

    def _join_head(self) -> None:
        """A quoted field runs past the head piece: prepare it again joined with the next one."""
        head = self.waiting.popleft()
        self.pool.drop(head)
        if self.waiting:
            after = self.waiting.popleft()
            self.pool.drop(after)
            following = after.piece
        else:
            following = next(self.pieces)  # a piece that is not the last has a successor
        self.waiting.appendleft(self._dispatch(join_pieces(head.piece, following), head.first, head.header_pending))

    def _accept(self, head: Slot, parsed: Parsed) -> None:
        self.expected_header = parsed.header_after
        add_read(self.read, parsed.stats)
        start = self.rows_before + 1
        self.rows_before += parsed.rows
        head.last_row = self.rows_before
        skip = min(max(self.done - start + 1, 0), parsed.rows)
        head.rows = parsed.rows - skip
        if not head.rows:
            # No rows, or rows an interrupted run committed already.
            self.pool.drop(head)
            head.finished = Finished.nothing()
            self.accepted.append(head)
            return
        index, tally = self.keep.index, self.keep.tally
        valid = np.frombuffer(parsed.valid, dtype=np.int64)
        hashes = np.frombuffer(parsed.hashes, dtype=np.uint64)
        kept = valid >= skip
        firsts = index.first_rows(hashes[kept], valid[kept] + start)
        repeated = firsts >= 0
        head.entries = index.export_new()
        # The duplicates the report can still take (the pieces before may fill them).
        room = max(tally.row_cap - len(tally.ranked), 0)
        verdicts = Verdicts(start, valid[kept][repeated].tobytes(), firsts[repeated].tobytes(), room, skip=skip)
        if self.levels is not None:
            positions = np.flatnonzero(kept)
            self.levels.decide(parsed, positions[~repeated].tolist(), verdicts)
        self.pool.finish(head, verdicts)
        self.accepted.append(head)

    # --- placing and committing, in file order ---------------------------------------------

    def _place_heads(self) -> None:
        writer, tally = self.keep.writer, self.keep.tally
        while self.accepted and (finished := self.accepted[0].finished) is not None:
            done = self.accepted.popleft()
            if finished.sizes:
                self.pool.place(done, writer.reserve(finished.sizes))
            else:
                done.written = True
            done.ends = writer.reserved_up_to()
            if finished.tally is not None:
                tally.merge(finished.tally)
                for name, seconds in finished.timings.items():
                    self.timings[name] = self.timings.get(name, 0.0) + seconds
                for name, count in finished.syntax.items():
                    self.syntax[name] = self.syntax.get(name, 0) + count
            self.writing.append(done)

    def _commit_heads(self) -> None:
        chunk = self.options.chunk_size
        while self.writing and self.writing[0].written:
            done = self.writing.popleft()
            done.finished = None  # its lines are written: let them go
            self.uncommitted.append(done)
            if done.last_row >= self.next_commit:
                self._flush_commits()
                self.next_commit = (done.last_row // chunk + 1) * chunk

    def _flush_commits(self) -> None:
        rows = sum(slot.rows for slot in self.uncommitted)
        if rows:
            # The resume point: the outputs up to the end of the last piece written.
            self.keep.writer.complete_up_to(self.uncommitted[-1].ends)
            last = self.uncommitted[-1].last_row
            self.keep.commit(last, b"".join(slot.entries for slot in self.uncommitted))
            self.keep.committed(last, rows)
        self.uncommitted.clear()


def add_read(total: ReadStats, piece: ReadStats | None) -> None:
    """Add one piece's read counters to the whole file's."""
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
