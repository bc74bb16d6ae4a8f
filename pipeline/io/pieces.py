"""A delimited text file cut into pieces of whole lines that other processes can parse.

The reading process only decodes and cuts (no CSV parsing); each piece is parsed by a
worker. A cut is made at a line end, which is a record end unless a quoted field runs
across it. The worker finds out: after a piece's lines it parses one sentinel line, which
comes back as a record of its own only when the piece ended outside a quoted field
(``clean_end``). A piece that did not end cleanly is parsed again together with the next
one, so the records are always exactly those a single pass over the whole file finds.
"""

from __future__ import annotations

import codecs
import csv
import errno
import functools
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from pipeline.io.charsets import ascii_line_ends
from pipeline.io.ingest import (
    ReadStats,
    RowShaper,
    csv_problem,
    read_stopped,
    record_reader,
    undecodable_input,
    unreadable_input,
)
from pipeline.io.positional import read_at
from pipeline.io.textfile import (
    DecodeStats,
    TextFormat,
    UndecodableText,
    count_breaks,
    make_decoder,
    read_text_blocks,
    split_lines,
)

_BREAK = re.compile(r"\r\n?|\n")
# A line no export holds; it is only ever compared with the record parsed at its own line.
_SENTINEL = "\ue000presend:end-of-piece\ue000"


@dataclass(frozen=True, slots=True)
class TextPiece:
    """Whole lines of the file: ``lines`` of them starting at physical line ``first_line``."""

    first_line: int
    text: str
    lines: int
    final: bool  # the last piece: it ends where the file ends

    def joined(self, after: TextPiece) -> TextPiece:
        """This piece followed by the next one."""
        return TextPiece(self.first_line, self.text + after.text, self.lines + after.lines, after.final)


@dataclass(slots=True)
class ParsedPiece:
    """The data rows of a piece, as :meth:`Table.row_chunks` would give them.

    ``header_pending`` is still true when the piece held no record besides blank ones
    (the header is then in a later piece); ``clean_end`` is false when the piece's last
    line ends inside a quoted field.
    """

    cells: list[list[str]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: dict[int, str] = field(default_factory=dict)
    #: Each row's email cell ("" when the row is too short to have one).
    emails: list[str] = field(default_factory=list)
    #: Each row's cells as CSV text when its line is that text already (one line, the
    #: header's width, quoted exactly as the outputs quote: see :func:`written_as_is`), else "".
    raw: list[str] = field(default_factory=list)
    stats: ReadStats = field(default_factory=ReadStats)
    clean_end: bool = True
    header_pending: bool = False


@dataclass(frozen=True, slots=True)
class FilePiece:
    """Whole lines of the file as bytes: ``size`` of them from offset ``start``, holding
    ``lines`` lines from physical line ``first_line`` (see :func:`file_pieces`)."""

    first_line: int
    start: int
    size: int
    lines: int
    final: bool  # the last piece: it ends where the file ends

    def joined(self, after: FilePiece) -> FilePiece:
        """This piece followed by the next one."""
        return FilePiece(self.first_line, self.start, self.size + after.size, self.lines + after.lines, after.final)

    def read(self, source: int | BinaryIO, encoding: str) -> tuple[TextPiece, DecodeStats]:
        """The piece as text, read from ``source`` and decoded as a whole-file read would,
        with what the decoding found (``fallback_first_line`` as a line of the file).

        ``source`` is a descriptor (read with ``os.pread``: its position is left alone) or
        an open binary file that seeks (a local file, or one of fsspec's). Raises OSError
        when the bytes cannot be read, or are no longer all there.
        """
        data = b""
        if not isinstance(source, int):
            source.seek(self.start)
        while len(data) < self.size:
            wanted = self.size - len(data)
            block = read_at(source, wanted, self.start + len(data)) if isinstance(source, int) else source.read(wanted)
            if not block:
                raise OSError(errno.EIO, "the file is shorter than when it was first read; it changed during the run")
            data += block
        decoder = make_decoder(encoding)
        text = decoder.decode(data, final=True)
        stats = DecodeStats(fallback_bytes=getattr(decoder, "fallback_bytes", 0))
        offset = getattr(decoder, "last_fallback_offset", -1)
        if offset >= 0:
            stats.fallback_first_line = self.first_line + count_breaks(text[:offset])
        return TextPiece(self.first_line, text, self.lines, self.final), stats


def join_pieces(head: TextPiece | FilePiece, after: TextPiece | FilePiece) -> TextPiece | FilePiece:
    """``head`` followed by the next piece (both cut the same way)."""
    if isinstance(head, TextPiece) and isinstance(after, TextPiece):
        return head.joined(after)
    if isinstance(head, FilePiece) and isinstance(after, FilePiece):
        return head.joined(after)
    raise TypeError("a text piece and a byte piece cannot be joined")


def cut_as_bytes(encoding: str) -> bool:
    """True when a file in ``encoding`` is cut as bytes (:func:`file_pieces`) and each piece
    decoded by the process that parses it; otherwise it is cut as text (:func:`text_pieces`).

    That takes an encoding in which a line end is the byte CR or LF, never part of another
    character, and whose decoder never fails (see :func:`make_decoder`): UTF-8 and the 8-bit
    encodings such as Windows-1252 or KOI8-R. Shift-JIS, GB18030 and EUC-KR never put CR or
    LF inside a character either, but their decoders are strict, and a broken byte must be
    reported with its line, which only the reading process knows: they are cut as text, as
    UTF-16/32 are (whose line ends are two or four bytes).
    """
    return encoding in ("utf-8", "utf-8-sig") or ascii_line_ends(encoding)


def file_pieces(
    path: Path, text: TextFormat, lines_per_piece: int, *, head_lines: int = 0, read: DecodeStats | None = None
) -> Iterator[FilePiece]:
    """:func:`text_pieces` as byte ranges, for a file whose encoding is :func:`cut_as_bytes`.

    The reading process decodes nothing (and sends no text): the file is read as Latin-1,
    which maps each byte to one character, so the offsets of the cuts are byte offsets.
    A UTF-8 byte-order mark is left out of the first piece. Once the last piece is cut,
    ``read`` (if given) gets the bytes read and their CRC-32.
    """
    if not cut_as_bytes(text.encoding):
        raise ValueError(f"a {text.encoding} file is cut as text (text_pieces)")
    bom = len(codecs.BOM_UTF8) if text.encoding == "utf-8-sig" else 0
    start = bom
    cutting = DecodeStats()
    for first_line, parts, lines, final in _cut(path, "latin-1", cutting, lines_per_piece, head_lines, bom):
        size = sum(map(len, parts))
        if final and read is not None:
            read.bytes_read, read.crc32 = cutting.bytes_read, cutting.crc32
        yield FilePiece(first_line, start, size, lines, final)
        start += size


@functools.cache
def written_as_is(delimiter: str) -> Callable[[str], object]:
    """A test of one line of CSV: true when the outputs would write its cells as that very text.

    The outputs quote a value only when it holds the delimiter, a quote, CR or LF (quotes
    doubled). A line passes when each of its fields is either unquoted and free of quotes,
    or quoted and holding the delimiter or a doubled quote, with nothing after its closing
    quote; a line that quotes more than it must, or that the lenient reader reads around
    (a stray quote), does not pass, and its cells are written out again.
    """
    d = re.escape(delimiter)
    field = rf'(?:"[^"{d}]*+(?:{d}|"")(?:[^"]|"")*+"|[^"{d}]*+)'
    return re.compile(rf"{field}(?:{d}{field})*+").fullmatch


class PieceError(ValueError):
    """A piece that cannot be parsed, with the line and the sentence to report."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")
        self.line = line
        self.problem = problem


def text_pieces(
    path: Path, text: TextFormat, lines_per_piece: int, decode: DecodeStats, *, head_lines: int = 0
) -> Iterator[TextPiece]:
    """Cut the file into pieces of ``lines_per_piece`` lines (the last may be shorter).

    The first piece has ``head_lines`` more (the header line, Excel's ``sep=`` line), so
    that a file without blank lines or multi-line records is cut every ``lines_per_piece``
    rows, as :meth:`Table.row_chunks` cuts it.

    Raises :class:`InputError` for bytes the encoding cannot read or a failed read.
    """
    for first_line, parts, lines, final in _cut(path, text.encoding, decode, lines_per_piece, head_lines):
        yield TextPiece(first_line, "".join(parts), lines, final)


def _cut(
    path: Path, encoding: str, decode: DecodeStats, lines_per_piece: int, head_lines: int, skip: int = 0
) -> Iterator[tuple[int, list[str], int, bool]]:
    """The pieces of :func:`text_pieces`, read from byte ``skip`` on: (first line, the piece's
    text in parts, its lines, whether it is the last)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise unreadable_input(path, exc) from exc
    with handle:
        handle.seek(skip)
        parts: list[str] = []
        count = 0
        first_line = 1
        size = lines_per_piece + head_lines
        seen = decode.line_ends  # the reader counts each block's line ends
        try:
            for block in read_text_blocks(handle, encoding, decode):
                parts.append(block)
                in_last = decode.line_ends - seen  # line ends in parts[-1]
                seen = decode.line_ends
                count += in_last
                while count >= size:
                    # Cut right after the piece's last line (which is in the last block held).
                    last = parts.pop()
                    wanted = size - (count - in_last)
                    cut = after_breaks(last, wanted)
                    parts.append(last[:cut])
                    yield first_line, parts, size, False
                    first_line += size
                    count -= size
                    parts = [last[cut:]] if cut < len(last) else []
                    in_last -= wanted
                    size = lines_per_piece
        except UndecodableText as exc:
            raise undecodable_input(path, exc) from exc
        except OSError as exc:
            raise read_stopped(path, first_line + count, exc) from exc
        yield first_line, parts, count, True


def after_breaks(text: str, lines: int) -> int:
    """Where the ``lines``-th line of ``text`` ends (after its CR, LF or CRLF)."""
    if lines <= 0:
        return 0
    end = "\r" if "\n" not in text else "\n"
    if end == "\n" and "\r" in text and text.count("\r") != text.count("\r\n"):
        # Both lone CRs and LFs end lines here: let the pattern find them.
        found = next(itertools.islice(_BREAK.finditer(text), lines - 1, None), None)
    else:
        # One scan in C over the first ``lines`` lines (no string made per line).
        found = re.match(rf"(?:[^{end}]*+{end}){{{lines}}}", text)
    if found is None:
        raise ValueError(f"the text holds fewer than {lines} lines")
    return found.end()


def parse_piece(
    piece: TextPiece,
    text: TextFormat,
    width: int,
    email_index: int,
    *,
    header_pending: bool,
    first: bool,
    start_line: int,
) -> ParsedPiece:
    """Parse one piece; ``first`` for the piece that starts the file (Excel's ``sep=`` line).

    ``start_line`` is :attr:`TableInfo.start_line` (records before it are blank). Raises
    :class:`PieceError` where the CSV cannot be parsed.
    """
    lines = split_lines(piece.text)
    base = piece.first_line
    if first and text.sep_line and lines:
        lines = lines[1:]
        base += 1
    body = len(lines)
    if not piece.final:
        lines.append(_SENTINEL + "\n")
    parsed = ParsedPiece()
    stats = parsed.stats
    shaper = RowShaper(width, stats, header_pending=header_pending, workbook=False, start_line=start_line)
    take = shaper.take
    reader = record_reader(lines, text)
    rows = parsed.cells
    starts = parsed.lines
    problems = parsed.problems
    emails = parsed.emails
    raw = parsed.raw
    sentinel = -1 if piece.final else body
    as_written = written_as_is(text.delimiter)
    done = 0
    ended = False
    pending = shaper.header_pending
    try:
        for cells in reader:
            start = done
            done = reader.line_num
            if start == sentinel:
                # The sentinel, parsed as a record of its own: the piece ended cleanly.
                ended = cells == [_SENTINEL]
                break
            if len(cells) == width and (email := cells[email_index]).strip() and not pending:
                # The common row (right width, an email cell): what take() would return.
                rows.append(cells)
                starts.append(base + start)
                emails.append(email)
                line = lines[start]
                if done - start == 1:
                    line = line.rstrip("\r\n")
                    raw.append(line if '"' not in line or as_written(line) else "")
                else:
                    raw.append("")
                continue
            taken = take(base + start, cells)
            pending = shaper.header_pending
            if taken is not None:
                if taken[1]:
                    problems[len(rows)] = taken[1]
                rows.append(taken[0])
                starts.append(base + start)
                emails.append(taken[0][email_index] if len(taken[0]) > email_index else "")
                raw.append("")
    except csv.Error as exc:
        raise PieceError(base + done, csv_problem(exc, reader.line_num - done)) from exc
    stats.rows = len(parsed.cells)
    parsed.clean_end = piece.final or ended
    parsed.header_pending = shaper.header_pending
    return parsed


__all__ = [
    "FilePiece",
    "ParsedPiece",
    "PieceError",
    "TextPiece",
    "after_breaks",
    "cut_as_bytes",
    "file_pieces",
    "join_pieces",
    "parse_piece",
    "text_pieces",
    "written_as_is",
]
