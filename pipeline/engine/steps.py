"""The two steps a worker takes a piece of the input through, and the records they exchange.

An engine that judges pieces side by side (:mod:`pipeline.engine.processes` on this machine,
:mod:`pipeline.engine.dask` on a cluster) keeps one thing in file order, in its coordinator:
the duplicate index (and, with the network levels, the domain and mailbox verdicts). Around
it, each piece goes through:

1. :func:`prepare`: read (a :class:`~pipeline.io.pieces.FilePiece`'s bytes) and parse the
   piece, check its syntax, hash each valid address's duplicate key. What the coordinator
   needs comes back as a :class:`Parsed` record; the rows stay with the worker as a
   :class:`Prepared` piece.
2. :func:`finish`: given which rows repeat an earlier one (:class:`Verdicts`, with the domain
   and mailbox verdicts the coordinator found), decide every row (one verdict path:
   :class:`~pipeline.engine.chunks.ChunkJudge`), tally the piece and encode its lines: a
   :class:`Finished` record.

Every record here is plain data that pickles, so it crosses a pipe or a network the same way.
A piece that cannot be read is data too (:class:`PieceProblem`), which the coordinator turns
into the run's :class:`~pipeline.errors.InputError` with the line it names.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from typing import BinaryIO

import numpy as np

from pipeline.bounced import Suppressions
from pipeline.engine.chunks import AlikeRows, ChunkJudge, lap
from pipeline.engine.fastsyntax import PendingSyntax, SyntaxChunk
from pipeline.errors import InputError
from pipeline.io.ingest import ReadStats, RowChunk, TableInfo
from pipeline.io.outputs import LINE_END, RowFormat
from pipeline.io.pieces import FilePiece, PieceError, TextPiece, parse_piece
from pipeline.io.textfile import DecodeStats, TextFormat
from pipeline.models import DomainVerdict, MailboxVerdict
from pipeline.options import RunOptions
from pipeline.ports import no_progress
from pipeline.report.tally import Tally
from pipeline.rules.dedupe import hash_keys
from pipeline.sender.findings import SenderImpact

_LINE_END_BYTES = LINE_END.encode("utf-8")

__all__ = [
    "Address",
    "Finished",
    "Parsed",
    "PieceProblem",
    "Prepared",
    "StepContext",
    "Verdicts",
    "finish",
    "new_judge",
    "prepare",
]


@dataclass(slots=True)
class StepContext:
    """What a worker needs to take pieces through the steps; sent once, and it pickles."""

    options: RunOptions
    text_format: TextFormat
    info: TableInfo
    rows: RowFormat
    #: The run's Tally.domain_cap (a piece's own tally never prunes below it).
    domain_cap: int
    #: What the sender checks found (``--from``): every worker's verdicts count it in.
    sender: SenderImpact | None = None
    #: Names the run, so a worker that serves many runs keeps their judges apart.
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: The real bounces kept by ``calibrate --suppress`` (None: none).
    bounces: Suppressions | None = None


@dataclass(frozen=True, slots=True)
class PieceProblem:
    """A piece that could not be read or parsed: the line and what went wrong."""

    line: int
    problem: str

    def error(self, source: object) -> InputError:
        """The run's one-line error for it (``source`` names the input)."""
        return InputError(f"{source}: line {self.line}: {self.problem}")


@dataclass(frozen=True, slots=True)
class Address:
    """The parts of a valid address the mailbox level asks about (see ProbeTarget)."""

    email: str
    local: str
    domain: str
    ascii_domain: str
    smtputf8: bool


@dataclass(slots=True)
class Parsed:
    """What the coordinator needs of a prepared piece, in file order.

    ``rows`` data rows; ``clean_end`` false when a quoted field runs past the piece's end (it
    is prepared again joined with the next one); ``header_after`` whether the header is still
    to come after it. ``valid`` are the piece's row indexes holding a valid address and
    ``hashes`` their duplicate keys (both as int64/uint64 bytes). With the DNS level,
    ``domains[j]`` is the ASCII domain of valid row ``j``; with the mailbox level,
    ``addresses[j]`` its parts.
    """

    rows: int
    clean_end: bool
    header_after: bool
    stats: ReadStats | None = None
    hashes: bytes = b""
    valid: bytes = b""
    problem: PieceProblem | None = None
    domains: list[str] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)
    #: with kept bounces and the DNS level: ``emails[j]`` is valid row ``j``'s normalized address
    emails: list[str] = field(default_factory=list)

    @property
    def judged(self) -> bool:
        """True when the piece has rows to finish (it parsed cleanly and holds rows)."""
        return self.problem is None and self.clean_end and self.rows > 0


@dataclass(slots=True)
class Prepared:
    """A prepared piece as the worker keeps it until it is finished."""

    parsed: Parsed
    chunk: RowChunk | None = None
    cells: list[str] = field(default_factory=list)
    syntax: SyntaxChunk | None = None
    raw: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    syntax_counts: dict[str, int] = field(default_factory=dict)

    def skip(self, count: int) -> None:
        """Leave out the first ``count`` rows (committed by an interrupted run)."""
        chunk, syntax = self.chunk, self.syntax
        if not count or chunk is None or syntax is None:
            return
        problems = {index - count: text for index, text in chunk.problems.items() if index >= count}
        self.chunk = RowChunk(chunk.start, chunk.cells[count:], chunk.lines[count:], problems)
        self.cells = self.cells[count:]
        self.raw = self.raw[count:]
        slow = {index - count: check for index, check in syntax.slow.items() if index >= count}
        self.syntax = SyntaxChunk(syntax.emails[count:], syntax.keys[count:], slow)


@dataclass(slots=True)
class Verdicts:
    """What the coordinator decided for a piece, for :func:`finish`.

    ``start`` is the piece's first row number; ``repeated`` the piece indexes of the rows
    that repeat an earlier address and ``firsts`` the row each repeats (int64 bytes);
    ``room`` the duplicates the report can still take (its last rank's room: at 0, a
    piece's plain duplicates are only counted). ``domains`` and ``mailboxes`` hold
    the verdicts of the network levels for the piece's addresses. The piece's first ``skip``
    rows were committed by an interrupted run: they are left out (a resumed run), and
    ``start`` is then the number of the first row after them.
    """

    start: int
    repeated: bytes
    firsts: bytes
    room: int
    skip: int = 0
    domains: dict[str, DomainVerdict] = field(default_factory=dict)
    mailboxes: dict[str, MailboxVerdict] = field(default_factory=dict)


@dataclass(slots=True)
class Finished:
    """A finished piece: its encoded lines, their sizes, its tally and the worker's counters.

    ``lines`` maps "results" and "clean" to UTF-8 lines each ended by LINE_END, ``sizes``
    each to (bytes, lines) for the kinds that have any. The rows per domain are kept apart
    from the tally, so a worker can add up many pieces before the coordinator sees them
    (a :class:`~pipeline.report.tally.DomainCounter`): ``domain_rows`` counted by the tally,
    ``alike_domains`` one entry per common row.
    """

    sizes: dict[str, tuple[int, int]]
    tally: Tally | None
    domain_rows: dict[str, int]
    alike_domains: list[str]
    timings: dict[str, float]
    syntax: dict[str, int]
    lines: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def nothing(cls) -> Finished:
        """A piece with no rows to write (none at all, or all committed before a resume)."""
        return cls({}, None, {}, [], {}, {})


def new_judge(context: StepContext, memo_limit: int) -> ChunkJudge:
    """A :class:`ChunkJudge` for a worker: syntax in this process, no I/O of its own.

    The network levels are the coordinator's; with the DNS level the domain verdicts come
    with each piece (:class:`Verdicts`).
    """
    options = context.options
    judge = ChunkJudge(options, context.info.email_index, None, None, no_progress,
                       dns_level=options.dns.enabled, syntax_workers=1, sender=context.sender)
    judge.hygiene.memo_limit = memo_limit
    judge.bounces = context.bounces
    return judge


def read_piece(
    piece: TextPiece | FilePiece, source: int | BinaryIO, encoding: str
) -> tuple[TextPiece, DecodeStats | None]:
    """The piece as text: a FilePiece's bytes read from ``source`` (a descriptor or an open
    binary file) and decoded; a TextPiece as it is."""
    if isinstance(piece, TextPiece):
        return piece, None
    return piece.read(source, encoding)


def prepare(
    judge: ChunkJudge, context: StepContext, piece: TextPiece | FilePiece, source: int | BinaryIO,
    *, header_pending: bool, first: bool,
) -> Prepared:
    """Step 1 for one piece: parse it, check its syntax, hash its duplicate keys."""
    text, info = context.text_format, context.info
    try:
        piece, decoded = read_piece(piece, source, text.encoding)
        parsed = parse_piece(piece, text, info.width, info.email_index, header_pending=header_pending,
                             first=first, start_line=info.start_line)
    except PieceError as exc:
        return Prepared(Parsed(0, True, False, problem=PieceProblem(exc.line, exc.problem)))
    except OSError as exc:
        problem = f"reading stopped ({exc.strerror or exc})"
        return Prepared(Parsed(0, True, False, problem=PieceProblem(piece.first_line, problem)))
    if decoded is not None:
        parsed.stats.decode = decoded
    if not parsed.clean_end or not parsed.cells:
        # Parsed again with the next piece, or without rows: nothing to judge.
        return Prepared(Parsed(len(parsed.cells), parsed.clean_end, parsed.header_pending, parsed.stats))
    chunk = RowChunk(0, parsed.cells, parsed.lines, parsed.problems)
    cells = parsed.emails
    timings: dict[str, float] = {}
    counted = judge.syntax.stats()
    pending = judge.start(chunk, cells)
    started = time.perf_counter()
    syntax = pending.result() if isinstance(pending, PendingSyntax) else pending
    now = lap(timings, "syntax", started)
    valid, keys = judge.duplicate_keys(chunk, syntax)
    result = Parsed(len(chunk), True, parsed.header_pending, parsed.stats, hash_keys(keys).tobytes(),
                    np.asarray(valid, dtype=np.int64).tobytes())
    options = context.options
    if options.dns.enabled:
        result.domains = [syntax.ascii_domain(i) for i in valid]
    if options.probe.enabled:
        result.addresses = [_address(syntax, i) for i in valid]
    if options.dns.enabled and context.bounces:
        result.emails = [syntax.emails[i] for i in valid]
    lap(timings, "duplicates", now)
    counts = {name: count - counted.get(name, 0) for name, count in judge.syntax.stats().items()}
    return Prepared(result, chunk, cells, syntax, parsed.raw, timings, counts)


def _address(syntax: SyntaxChunk, index: int) -> Address:
    check = syntax.check(index)
    return Address(check.email, check.local, check.domain, check.ascii_domain, check.smtputf8)


def finish(judge: ChunkJudge, context: StepContext, prepared: Prepared, verdicts: Verdicts) -> Finished:
    """Step 2 for one piece: decide its rows, tally them and encode its lines."""
    prepared.skip(verdicts.skip)
    chunk, syntax = prepared.chunk, prepared.syntax
    assert chunk is not None and syntax is not None, "only a piece with rows is finished"
    timings = dict(prepared.timings)
    chunk.start = start = verdicts.start
    started = time.perf_counter()
    duplicate_of = dict(zip(np.frombuffer(verdicts.repeated, dtype=np.int64).tolist(),
                            np.frombuffer(verdicts.firsts, dtype=np.int64).tolist(), strict=True))
    if verdicts.domains:
        # Templates are keyed by a domain verdict's identity: the previous piece's verdicts
        # are freed here, and a new verdict may get a freed one's id, so their templates go too.
        judge.forget_domains()
        judge.domains = verdicts.domains
    rows = context.rows
    # Once the report holds all the problem rows it shows, duplicates are only counted.
    columns, alike = judge.columns_as_text(chunk, syntax, duplicate_of, rows.lines,
                                           duplicates_as_text=verdicts.room == 0, mailboxes=verdicts.mailboxes)
    now = lap(timings, "verdicts", started)
    count = len(chunk)
    # Big enough caps that a piece's own tally never prunes: the coordinator's does, on merging.
    # The piece keeps as many problem rows as the report shows: a better-ranked row of this
    # piece may push out a row of an earlier one (pipeline.report.ranked).
    tally = Tally(row_cap=context.options.report_row_cap, domain_cap=max(count, context.domain_cap),
                  suggestion_cap=count)
    for template, alike_rows in alike.counted:
        tally.count_alike(template.columns, alike_rows)
    others = [index for index, values in enumerate(columns) if values]
    tally.add_many([start + index for index in others], [prepared.cells[index] for index in others],
                   [columns[index] for index in others])
    domain_rows = tally.take_domain_rows()
    now = lap(timings, "tally", now)
    lines = _encode(rows, chunk, columns, alike, prepared.raw)
    lap(timings, "format", now)
    sizes = {kind: (len(data), count) for kind, (data, count) in lines.items() if count}
    return Finished(sizes, tally, domain_rows, alike.domains, timings, prepared.syntax_counts,
                    {kind: data for kind, (data, _) in lines.items()})


def _encode(rows: RowFormat, chunk: RowChunk, columns: list[list[str]], alike: AlikeRows,
            raw: list[str]) -> dict[str, tuple[bytes, int]]:
    """The piece's results and clean lines as UTF-8 bytes, with their line counts."""
    held_back = chain(chunk.problems, alike.duplicates)
    heads, tails, keep = rows.line_parts(chunk.cells, columns, alike.tails, rows.sendable(alike.status, alike.reason),
                                         held_back, raw)
    # Encoded part by part: most parts are ASCII, whose encoding is a copy (a whole piece as
    # one text is as wide as its widest character, and slower to encode); a results line is
    # its two parts and a line end, all joined in one go.
    head_bytes = list(map(str.encode, heads))
    results = b"".join(chain.from_iterable(zip(head_bytes, map(str.encode, tails), repeat(_LINE_END_BYTES))))
    clean_heads = list(compress(head_bytes, keep))
    if rows.width == 1:
        clean_heads = [head or b'""' for head in clean_heads]
    clean_count = len(clean_heads)
    clean_heads.append(b"")  # the last line's end
    return {"results": (results, len(heads)), "clean": (_LINE_END_BYTES.join(clean_heads), clean_count)}
