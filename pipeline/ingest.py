"""Reading the input list: encodings, delimiters, ragged rows, the email column.

Everything is read as text and handed on unchanged; a row is never dropped or shifted.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

_SAMPLE_BYTES = 256 * 1024
_DELIMITERS = ",;\t|"
_EMAIL_HEADER = re.compile(
    r"^(e?-?mail|e-?mail ?address|email ?addr|courriel|correo|correo ?electronico|"
    r"mail ?address|adresse ?e?-?mail|e-?post|posta ?elettronica|emailaddress)$"
)
_LOOKS_LIKE_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


@dataclass(frozen=True, slots=True)
class TableInfo:
    """What was learnt about the input file before reading its rows."""

    path: Path
    format: str  # "csv" or "xlsx"
    encoding: str
    delimiter: str
    header: tuple[str, ...]
    email_index: int

    @property
    def email_column(self) -> str:
        """The header of the column holding the addresses."""
        return self.header[self.email_index]


@dataclass(frozen=True, slots=True)
class InputRow:
    """One data row: its 1-based number, the file line it starts on, its cells as text.

    ``problem`` is empty for a well-formed row, else one sentence (for example a row
    with more or fewer fields than the header).
    """

    number: int
    line: int
    cells: tuple[str, ...]
    problem: str = ""


@dataclass(slots=True)
class RowChunk:
    """Consecutive data rows held column-wise, cheap to build for large lists.

    Row ``i`` of the chunk is data row ``start + i`` with cells ``cells[i]``; ``problems``
    maps the index of each ill-formed row to its sentence (as :attr:`InputRow.problem`).
    """

    start: int
    cells: list[list[str]]
    lines: list[int]
    problems: dict[int, str]

    def __len__(self) -> int:
        return len(self.cells)

    def rows(self) -> list[InputRow]:
        """The chunk as :class:`InputRow` records."""
        problems = self.problems
        return [
            InputRow(self.start + i, line, tuple(cells), problems.get(i, ""))
            for i, (cells, line) in enumerate(zip(self.cells, self.lines, strict=True))
        ]


def _detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the sample's end is still UTF-8.
        if exc.start < len(sample) - 4:
            return "cp1252"
    return "utf-8"


def _normalize_header(name: str) -> str:
    return re.sub(r"[\s_.\-:]+", " ", name.strip().casefold()).strip()


def find_email_column(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> int | None:
    """Pick the email column: by header name first, then by which values look like email."""
    for index, name in enumerate(header):
        if _EMAIL_HEADER.match(_normalize_header(name)):
            return index
    for index, name in enumerate(header):
        if "mail" in _normalize_header(name):
            return index
    best, best_hits = None, 0
    for index in range(len(header)):
        hits = sum(1 for row in rows if index < len(row) and _LOOKS_LIKE_EMAIL.search(row[index]))
        if hits > best_hits:
            best, best_hits = index, hits
    if best is not None and best_hits * 2 >= max(1, len(rows)):
        return best
    return None


class Table:
    """An opened input list; iterate its rows in chunks with :meth:`chunks`."""

    def __init__(self, path: Path, email_column: str | None = None) -> None:
        self.path = path
        if not path.exists():
            raise InputError(f"{path}: no such file; check the path")
        if not path.is_file():
            raise InputError(f"{path}: not a file; give the path of a CSV, TSV or XLSX list")
        try:
            with path.open("rb") as handle:
                sample = handle.read(_SAMPLE_BYTES)
        except OSError as exc:
            raise InputError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
        self.encoding = _detect_encoding(sample)
        text = sample.decode(self.encoding, errors="replace")
        self.delimiter = self._sniff_delimiter(text)
        rows = self._rows()
        try:
            first = next(rows)
        except StopIteration:
            raise InputError(f"{path}: the file is empty; export the list with a header row") from None
        header = first.cells
        peek = [row.cells for _, row in zip(range(200), rows, strict=False)]
        index = self._resolve_column(header, peek, email_column)
        self.info = TableInfo(path, "csv", self.encoding, self.delimiter, header, index)

    def _sniff_delimiter(self, text: str) -> str:
        if self.path.suffix.lower() == ".tsv":
            return "\t"
        lines = [line for line in text.splitlines()[:50] if line.strip()]
        if not lines:
            return ","
        best, best_score = ",", -1
        for delim in _DELIMITERS:
            counts = [line.count(delim) for line in lines]
            if counts[0] == 0:
                continue
            score = sum(1 for c in counts if c == counts[0]) * 100 + counts[0]
            if score > best_score:
                best, best_score = delim, score
        return best

    def _resolve_column(
        self, header: tuple[str, ...], peek: list[tuple[str, ...]], wanted: str | None
    ) -> int:
        if wanted is not None:
            for index, name in enumerate(header):
                if name == wanted or _normalize_header(name) == _normalize_header(wanted):
                    return index
            raise InputError(
                f"{self.path}: no column named {wanted!r}; the header has "
                f"{', '.join(repr(h) for h in header)}"
            )
        found = find_email_column(header, peek)
        if found is None:
            raise InputError(
                f"{self.path}: no column looks like email addresses; "
                "name it with --email-column NAME"
            )
        return found

    def _rows(self) -> Iterator[InputRow]:
        with self.path.open("r", encoding=self.encoding, newline="", errors="strict") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            line = 1
            number = 0
            try:
                for cells in reader:
                    start = line
                    line = reader.line_num + 1
                    if not cells:
                        continue
                    yield InputRow(number, start, tuple(cells))
                    number += 1
            except (csv.Error, UnicodeDecodeError) as exc:
                raise InputError(f"{self.path}: line {line}: {exc}") from exc

    def row_chunks(self, size: int, skip: int = 0) -> Iterator[RowChunk]:
        """Data rows in :class:`RowChunk` blocks of at most ``size``, after ``skip`` rows.

        The fast way through a big list: no per-row record is built.
        """
        width = len(self.info.header)
        with self.path.open("r", encoding=self.encoding, newline="", errors="strict") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            line = 1
            number = -1  # the header is row -1
            chunk = RowChunk(skip + 1, [], [], {})
            try:
                for cells in reader:
                    start = line
                    line = reader.line_num + 1
                    if not cells:
                        continue
                    number += 1
                    if number <= skip:
                        continue
                    if len(cells) != width:
                        chunk.problems[len(chunk.cells)] = (
                            f"line {start} has {len(cells)} fields where the header has {width}"
                        )
                    chunk.cells.append(cells)
                    chunk.lines.append(start)
                    if len(chunk.cells) >= size:
                        yield chunk
                        chunk = RowChunk(number + 1, [], [], {})
            except (csv.Error, UnicodeDecodeError) as exc:
                raise InputError(f"{self.path}: line {line}: {exc}") from exc
            if chunk.cells:
                yield chunk

    def rows(self) -> Iterator[InputRow]:
        """Data rows (header excluded), with ragged rows flagged in ``problem``."""
        width = len(self.info.header)
        rows = self._rows()
        next(rows)
        for row in rows:
            if len(row.cells) != width:
                problem = (
                    f"line {row.line} has {len(row.cells)} fields where the header has {width}"
                )
                yield InputRow(row.number, row.line, row.cells, problem)
            else:
                yield row

    def chunks(self, size: int) -> Iterator[list[InputRow]]:
        """Data rows in lists of at most ``size``."""
        chunk: list[InputRow] = []
        for row in self.rows():
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def open_table(path: Path, email_column: str | None = None) -> Table:
    """Open an input list, detect its format and email column; raise :class:`InputError`."""
    return Table(path, email_column)


__all__ = ["InputRow", "RowChunk", "Table", "TableInfo", "find_email_column", "open_table"]
