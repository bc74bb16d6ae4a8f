"""Reading the input list: format, encoding, delimiter, header, email column, ragged rows.

Everything is read as text and handed on unchanged (``00123`` stays ``00123``, ``NA`` stays
``NA``); a row is never dropped or shifted. A CSV streams, decoded block by block; a
workbook's first sheet is loaded into memory once by python-calamine (see ``workbook.py``).

Decisions worth knowing (README "Input formats" says the same for users):

- A line or sheet row whose every field is empty (no character at all) is a blank row: it
  is skipped and counted (``Table.stats.blank_rows``), never turned into a result row. A
  field of spaces or control characters is a value, so such a row is a row (and is judged).
  Before the first line with a visible value (the header, or the first row of a list without
  one), lines of white space are blank too: they are not a header.
- A row with fewer fields than the header keeps its cells and is flagged (``problem``); the
  results file pads it so the presend columns stay aligned. A row with more fields keeps the
  first ones under the header and lists the extra ones, verbatim, in its ``problem`` (and so
  in ``presend_detail``). Extra fields that are all empty (a trailing delimiter) are dropped
  without a flag: they hold nothing. In a workbook, missing trailing cells are just empty.
- The first line is a header unless it looks like data (:func:`decide_header`): it holds an
  address, or, in the column whose later values are addresses, nothing or a broken address
  rather than a column name. A list without a header row gets columns named ``column_1`` ...
  Either way a note says what was decided.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.io.charsets import label
from pipeline.io.textfile import (
    SAMPLE_BYTES,
    DecodeStats,
    TextFormat,
    UndecodableText,
    looks_binary,
    read_lines,
    sniff_text_format,
)
from pipeline.io.workbook import ALL_WORKBOOK_SUFFIXES, OLE_MAGIC, ZIP_MAGIC, Workbook
from pipeline.rules.syntax import normalize

#: Data rows looked at to find the email column by its values.
PEEK_ROWS = 200

# Header names (case, accents, blanks and punctuation ignored) that name the email column.
_EMAIL_HEADERS = frozenset(
    {
        "email", "emails", "mail", "emailaddress", "emailaddresses", "emailaddr", "mailaddress",
        "emailid", "primaryemail", "email1value", "courriel", "adressecourriel", "adressedecourriel",
        "adresseemail", "adressemail", "adresseelectronique", "correo", "correoelectronico",
        "direcciondecorreo", "direcciondecorreoelectronico", "emailadresse", "emailadres",
        "epost", "epostadresse", "epostadress", "postaelettronica", "indirizzoemail", "eposta",
        "sahkoposti", "enderecodeemail", "enderecoeletronico",
    }
)
# A header containing one of these is a candidate when its values look like addresses.
_EMAIL_TOKENS = ("mail", "courriel", "correo", "epost")
_ADDRESS_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# A cell that is a broken address rather than a column name: an @, a digit, or a dot between
# two other characters, and no blank.
_BROKEN_ADDRESS = re.compile(r"\S*(?:@|\d|[^\s.]\.[^\s.])\S*")
_GZIP_MAGIC = b"\x1f\x8b"
_TEXT_TAB_SUFFIXES = (".tsv", ".tab", ".txt")


@dataclass(frozen=True, slots=True)
class TableInfo:
    """What was learnt about the input file before reading its rows."""

    path: Path
    format: str  # "csv" (any delimited text), or the workbook's kind: "xlsx", "xls" or "ods"
    encoding: str  # the text encoding read; "" for a workbook
    delimiter: str  # the input's delimiter; "" for a workbook
    header: tuple[str, ...]
    email_index: int
    has_header: bool = True
    sheet: str = ""  # the worksheet read (workbooks only)
    encoding_guessed: bool = False  # the encoding was chosen by likelihood (see pipeline.io.charsets)
    #: The line (sheet row) of the first record with a visible value: the header, or the first
    #: data row of a list without one. Records before it are blank.
    start_line: int = 1
    #: Why the first line was (not) read as a header, in words for the note.
    header_reason: str = ""

    @property
    def email_column(self) -> str:
        """The header of the column holding the addresses."""
        return self.header[self.email_index]

    @property
    def width(self) -> int:
        """Number of columns (the header's)."""
        return len(self.header)

    @property
    def output_delimiter(self) -> str:
        """Delimiter of the CSV outputs: the input's, or ``,`` for a workbook."""
        return self.delimiter or ","

    @property
    def output_bom(self) -> bool:
        """True when the input came from Excel or an Excel-like encoding: outputs get a BOM."""
        return self.is_workbook or self.encoding not in ("utf-8", "ascii")

    @property
    def is_workbook(self) -> bool:
        """True when the input is a workbook (any kind), not delimited text."""
        return self.format != "csv"


@dataclass(frozen=True, slots=True)
class InputRow:
    """One data row: its 1-based number, the file line it starts on, its cells as text.

    ``number`` counts data rows (header and blank rows excluded); ``line`` is the physical
    line (or sheet row) the row starts on. ``problem`` is empty for a well-formed row, else
    one sentence, for example for a row with more or fewer fields than the header.
    """

    number: int
    line: int
    cells: tuple[str, ...]
    problem: str = ""


@dataclass(slots=True)
class RowChunk:
    """Consecutive data rows held column-wise: cheap to build for large lists.

    Row ``i`` of the chunk is data row ``start + i``, read from ``lines[i]``, with cells
    ``cells[i]``; ``problems`` maps the index of each ill-formed row to its sentence (as
    :attr:`InputRow.problem`).
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
        start = self.start
        return [
            InputRow(start + i, line, tuple(cells), problems.get(i, ""))
            for i, (cells, line) in enumerate(zip(self.cells, self.lines, strict=True))
        ]


@dataclass
class ReadStats:
    """What the latest full pass over the rows met (see :meth:`Table.report`)."""

    rows: int = 0
    blank_rows: int = 0
    malformed_rows: int = 0
    first_malformed_line: int = 0
    trimmed_rows: int = 0
    decode: DecodeStats = field(default_factory=DecodeStats)


def header_key(name: str) -> str:
    """A header name with case, accents, blanks and punctuation removed (``E-mail`` → ``email``)."""
    text = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in text if ch.isalnum())


def looks_like_address(cell: str) -> bool:
    """True when a cell, once cleaned like the syntax layer does, has the shape of an address."""
    return bool(_ADDRESS_LIKE.fullmatch(normalize(cell)))


def find_email_column(header: Sequence[str], rows: Sequence[Sequence[str]]) -> int | None:
    """Pick the email column: by header name first, then by which values look like email.

    1. A header named like an email column (``Email``, ``E-mail Address``, ``Courriel``,
       ``Correo electrónico`` ...): among several, the one whose values look most like
       addresses.
    2. A header containing ``mail`` (and kin) whose sampled values include addresses, so a
       postal "Mailing Address" is not taken.
    3. The column where at least half of the non-empty sampled values look like addresses.
    """
    ratios: list[float | None] = []
    hits: list[int] = []
    for index in range(len(header)):
        values = [row[index] for row in rows if index < len(row) and row[index].strip()]
        found = sum(1 for value in values if looks_like_address(value))
        hits.append(found)
        ratios.append(found / len(values) if values else None)

    def best(indexes: list[int]) -> int:
        return max(indexes, key=lambda i: (ratios[i] or 0.0, -i))

    keys = [header_key(name) for name in header]
    exact = [i for i, key in enumerate(keys) if key in _EMAIL_HEADERS]
    if exact:
        return best(exact)
    named = [
        i
        for i, key in enumerate(keys)
        if any(token in key for token in _EMAIL_TOKENS) and (ratios[i] is None or hits[i] > 0)
    ]
    if named:
        return best(named)
    by_value = [i for i, ratio in enumerate(ratios) if ratio is not None and ratio >= 0.5]
    return best(by_value) if by_value else None


class RowShaper:
    """Turns records (header and blank ones included) into data rows, ragged rows flagged.

    Blank records (every field empty, or any record starting before ``start_line``) are
    counted in ``stats`` and skipped; the first other record is skipped as the header while
    ``header_pending``. A record with more fields than ``width`` keeps its first ones and
    names the others in its problem sentence (extra fields that are all empty are just cut
    off); a shorter one is padded in a workbook, flagged in a text file.
    """

    def __init__(
        self, width: int, stats: ReadStats, *, header_pending: bool, workbook: bool, start_line: int = 1
    ) -> None:
        self.width = width
        self.stats = stats
        self.header_pending = header_pending
        self.workbook = workbook
        self.start_line = start_line

    def rows(self, records: Iterable[tuple[int, list[str]]]) -> Iterator[tuple[int, list[str], str]]:
        """Each data row as (line it starts on, cells, problem sentence or "")."""
        take = self.take
        for line, cells in records:
            taken = take(line, cells)
            if taken is not None:
                yield line, taken[0], taken[1]

    def take(self, line: int, cells: list[str]) -> tuple[list[str], str] | None:
        """One record: None when it is blank or the header, else its cells and problem."""
        if not any(cells) or line < self.start_line:
            self.stats.blank_rows += 1
            return None
        if self.header_pending:
            self.header_pending = False
            return None
        width = self.width
        count = len(cells)
        if count == width:
            return cells, ""
        stats = self.stats
        problem = ""
        if count > width:
            extra = cells[width:]
            if any(extra):
                where = f"row {line}" if self.workbook else f"line {line}"
                problem = (
                    f"{where} has {count} fields where the header has {width}; "
                    f"the extra ones are kept here: {json.dumps(extra, ensure_ascii=False)}"
                )
            else:
                cells = cells[:width]
                stats.trimmed_rows += 1
        elif self.workbook:
            cells = cells + [""] * (width - count)
        else:
            problem = f"line {line} has {count} fields where the header has {width}"
        if problem:
            stats.malformed_rows += 1
            stats.first_malformed_line = stats.first_malformed_line or line
        return cells, problem


def _is_visible(cells: Sequence[str]) -> bool:
    # A record with a value that is not white space (then so has their concatenation).
    return bool("".join(cells).strip())


def decide_header(first: Sequence[str], below: Sequence[Sequence[str]], wanted: str | None = None) -> tuple[bool, str]:
    """Whether the first record of a list is its header, and why, in words.

    ``below`` are the records that follow it; ``wanted`` is ``--email-column``. The first
    record is data when one of its cells looks like an address; it is a header when it
    names ``wanted`` or has a cell named like an email column (``Email``, ``Courriel`` ...);
    else it is data when, in the column whose values below are addresses, it holds nothing
    or a broken address (an @, a digit or an inner dot) rather than a column name. Any
    other first record is a header (its columns are named by it).
    """
    for cell in first:
        if looks_like_address(cell):
            return False, f"its cell {cell.strip()!r} is an address"
    key = header_key(wanted or "")
    if wanted is not None and any(cell == wanted or (key and header_key(cell) == key) for cell in first):
        return True, f"it names the column {wanted!r}"
    for cell in first:
        if header_key(cell) in _EMAIL_HEADERS:
            return True, f"{cell.strip()!r} names the email column"
    if wanted is not None and wanted.strip().isdigit():
        index: int | None = int(wanted) - 1
    else:
        # The addresses' column among the first record's own, else beyond them.
        width = len(first)
        index = find_email_column([""] * width, [row[:width] for row in below])
        if index is None:
            index = find_email_column([""] * max(width, *map(len, below), 0), below)
    if index is None or index < 0:
        if any("@" in cell for cell in first):
            return False, "it holds an @ and no column below holds addresses"
        return True, "no column below holds addresses to compare it with"
    cell = first[index].strip() if index < len(first) else ""
    key = header_key(cell)
    if key in _EMAIL_HEADERS or any(token in key for token in _EMAIL_TOKENS):
        return True, f"{cell!r} names the email column"
    if not cell:
        return False, f"its cell in column {index + 1}, where the addresses are, is empty"
    if _BROKEN_ADDRESS.fullmatch(cell):
        return False, f"its cell {cell!r} in column {index + 1} looks like a broken address, not a column name"
    return True, f"{cell!r} reads as the name of column {index + 1}, the addresses"


def csv_problem(exc: csv.Error, lines_read: int = 2) -> str:
    """The sentence for a CSV the csv module cannot parse.

    ``lines_read``: the physical lines the failing record took. A field over the limit
    within one line is a cell that long; across lines, a quote that is never closed.
    """
    if "field limit" in str(exc):
        limit = csv.field_size_limit()
        if lines_read <= 1:
            return f"a cell is longer than {limit:,} characters, more than presend reads in one cell; shorten it"
        return (
            f"a field runs past {limit:,} characters over several lines, most likely because a quote (\") "
            "opened in a field is never closed; fix the quoting there"
        )
    return f"the CSV cannot be parsed ({exc}); fix that line"


def record_reader(lines: Iterable[str], text: TextFormat) -> Any:
    """The csv reader of a text export's records (every pass over a file reads with this one)."""
    return csv.reader(lines, delimiter=text.delimiter, quotechar='"', doublequote=True, strict=False)


def unreadable_input(path: Path, exc: OSError) -> InputError:
    """The error for an input file that cannot be opened."""
    return InputError(f"{path}: cannot be read ({exc.strerror or exc}); check the file and its permissions")


def undecodable_input(path: Path, exc: UndecodableText) -> InputError:
    """The error for bytes a strict encoding (UTF-16/32, Shift-JIS ...) cannot read."""
    return InputError(
        f"{path}: line {exc.line}: bytes that are not valid {exc.encoding}; export the list again "
        "(as UTF-8 if you can), or name its encoding with --encoding"
    )


def read_stopped(path: Path, line: int, exc: OSError) -> InputError:
    """The error for a read that fails after ``line`` lines."""
    return InputError(f"{path}: reading stopped after line {line} ({exc.strerror or exc})")


def _quote_list(names: Sequence[str], limit: int = 12) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


class Table:
    """An opened input list; iterate its rows with :meth:`rows` or :meth:`chunks`.

    Opening reads only the start of the file (format, encoding, delimiter, header, a sample
    for the email column). ``encoding`` names a text file's encoding instead of detecting
    it. Raises :class:`InputError` for a file presend cannot use, and
    :class:`~pipeline.errors.UsageError` for an unknown ``encoding``.
    """

    def __init__(self, path: Path, email_column: str | None = None, encoding: str | None = None) -> None:
        self.path = path
        self.stats = ReadStats()
        self._text: TextFormat | None = None
        self._workbook: Workbook | None = None
        self._detect_format(encoding)
        try:
            self.info = self._read_head(email_column)
        except BaseException:
            self.close()
            raise

    def _read_head(self, email_column: str | None) -> TableInfo:
        path = self.path
        records = self._records(DecodeStats())
        try:
            first = next(((line, cells) for line, cells in records if _is_visible(cells)), None)
            if first is None:
                raise InputError(f"{path}: the file holds no rows; export the list with a header row")
            below: list[list[str]] = []
            for _, cells in records:
                if len(below) >= PEEK_ROWS:
                    break
                if any(cells):
                    below.append(cells)
        finally:
            records.close()
        has_header, why = decide_header(first[1], below, email_column)
        peek = below if has_header else [first[1], *below[: PEEK_ROWS - 1]]
        width = len(first[1])
        header = tuple(first[1]) if has_header else tuple(f"column_{i}" for i in range(1, width + 1))
        index = self._resolve_column(header, peek, email_column)
        text = self._text
        return TableInfo(
            path=path,
            format=self._workbook.kind if self._workbook else "csv",
            encoding=text.encoding if text else "",
            delimiter=text.delimiter if text else "",
            header=header,
            email_index=index,
            has_header=has_header,
            sheet=self._workbook.sheet if self._workbook else "",
            encoding_guessed=text.guessed if text else False,
            start_line=first[0],
            header_reason=why,
        )

    @property
    def text_format(self) -> TextFormat | None:
        """Encoding, delimiter and ``sep=`` line of a delimited text file; None for a workbook."""
        return self._text

    # -- opening -------------------------------------------------------------------------

    def _detect_format(self, encoding: str | None) -> None:
        path = self.path
        if not path.exists():
            raise InputError(f"{path}: no such file; check the path")
        if not path.is_file():
            raise InputError(f"{path}: not a file; give the path of a CSV, TSV, XLSX, XLS or ODS list")
        try:
            with path.open("rb") as handle:
                sample = handle.read(SAMPLE_BYTES)
        except OSError as exc:
            raise unreadable_input(path, exc) from exc
        suffix = path.suffix.lower()
        if not sample:
            raise InputError(f"{path}: the file is empty; export the list with a header row")
        if sample.startswith(_GZIP_MAGIC):
            raise InputError(f"{path}: the file is compressed (gzip); decompress it first")
        if suffix in ALL_WORKBOOK_SUFFIXES or sample.startswith((ZIP_MAGIC, OLE_MAGIC)):
            if not sample.startswith((ZIP_MAGIC, OLE_MAGIC)):
                raise InputError(f"{path}: named {suffix} but is not a workbook; check the file")
            self._workbook = Workbook(path)
            return
        text = sniff_text_format(
            sample, truncated=len(sample) >= SAMPLE_BYTES, prefer_tab=suffix in _TEXT_TAB_SUFFIXES, encoding=encoding
        )
        if looks_binary(sample, text.encoding):
            raise InputError(f"{path}: looks like a binary file, not a CSV/TSV list; check the path")
        self._text = text

    def _resolve_column(self, header: tuple[str, ...], peek: list[list[str]], wanted: str | None) -> int:
        if wanted is not None:
            for index, name in enumerate(header):
                if name == wanted:
                    return index
            for index, name in enumerate(header):
                if header_key(name) and header_key(name) == header_key(wanted):
                    return index
            if wanted.strip().isdigit() and 1 <= int(wanted) <= len(header):
                return int(wanted) - 1
            if wanted.strip().isdigit():
                raise InputError(
                    f"{self.path}: --email-column {wanted.strip()}: the list has only {len(header)} column(s) "
                    f"({_quote_list(header)}); give a number from 1 to {len(header)} or a column name"
                )
            raise InputError(
                f"{self.path}: no column named {wanted!r} (columns: {_quote_list(header)}); "
                "give one of those names, or a column number, to --email-column"
            )
        found = find_email_column(header, peek)
        if found is None:
            raise InputError(
                f"{self.path}: no column looks like email addresses (columns: {_quote_list(header)}); "
                "name it with --email-column NAME"
            )
        return found

    # -- reading -------------------------------------------------------------------------

    def _records(self, decode: DecodeStats) -> Generator[tuple[int, list[str]], None, None]:
        """Every record of the file (header and blank ones too) with its starting line."""
        if self._workbook is not None:
            return self._workbook.records()
        return self._text_records(decode)

    def _text_records(self, decode: DecodeStats) -> Generator[tuple[int, list[str]], None, None]:
        text = self._text
        assert text is not None
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise unreadable_input(self.path, exc) from exc
        with handle:
            lines = read_lines(handle, text.encoding, decode)
            offset = 1 if text.sep_line else 0
            reader = record_reader(lines, text)
            done = 0
            try:
                if text.sep_line:
                    next(lines, None)
                for cells in reader:
                    start = offset + done + 1
                    done = reader.line_num
                    yield start, cells
            except csv.Error as exc:
                problem = csv_problem(exc, reader.line_num - done)
                raise InputError(f"{self.path}: line {offset + done + 1}: {problem}") from exc
            except UndecodableText as exc:
                raise undecodable_input(self.path, exc) from exc
            except OSError as exc:
                raise read_stopped(self.path, offset + done, exc) from exc

    def rows(self) -> Generator[InputRow, None, None]:
        """Data rows (header and blank rows excluded), ragged rows flagged in ``problem``.

        Each full pass refreshes :attr:`stats`.
        """
        for chunk in self.row_chunks(4096):
            yield from chunk.rows()

    def row_chunks(self, size: int, skip: int = 0) -> Generator[RowChunk, None, None]:
        """Data rows in :class:`RowChunk` blocks of at most ``size``, after the first ``skip``.

        The same rows as :meth:`rows` without a record per row (the fast way through a big
        list). Skipped rows are still read, so :attr:`stats` covers the whole file.
        """
        stats = ReadStats()
        self.stats = stats
        workbook = self.info.is_workbook
        shaper = RowShaper(
            self.info.width, stats, header_pending=self.info.has_header, workbook=workbook,
            start_line=self.info.start_line,
        )
        number = 0
        chunk = RowChunk(skip + 1, [], [], {})
        records = self._records(stats.decode)
        try:
            for line, cells, problem in shaper.rows(records):
                number += 1
                if number <= skip:
                    continue
                if problem:
                    chunk.problems[len(chunk.cells)] = problem
                chunk.cells.append(cells)
                chunk.lines.append(line)
                if len(chunk.cells) >= size:
                    yield chunk
                    chunk = RowChunk(number + 1, [], [], {})
            if chunk.cells:
                yield chunk
            stats.rows = number
        finally:
            records.close()

    def close(self) -> None:
        """Release the open workbook, if any (text files are opened per pass)."""
        if self._workbook is not None:
            self._workbook.close()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reporting -----------------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """How the input was read, for summary.json (counts are from the latest full pass)."""
        info = self.info
        stats = self.stats
        return {
            "format": info.format,
            "encoding": info.encoding,
            "encoding_guessed": info.encoding_guessed,
            "delimiter": info.delimiter,
            "sheet": info.sheet,
            "has_header": info.has_header,
            "columns": info.width,
            "email_column": info.email_column,
            "blank_rows_skipped": stats.blank_rows,
            "malformed_rows": stats.malformed_rows,
            "bytes_read_as_cp1252": stats.decode.fallback_bytes,
        }

    def _header_note(self) -> str:
        """What was decided about the first line, and why."""
        info = self.info
        line = "row" if info.is_workbook else "line"
        if info.has_header:
            return (
                f"{self.path.name}: first {line} read as a header: {_quote_list(info.header, 8)} "
                f"({info.header_reason}); if it is a contact, add a header {line} to the file"
            )
        return (
            f"{self.path.name}: no header row: the first {line} is data ({info.header_reason}); "
            f"columns are named column_1 ... column_{info.width} in the results"
        )

    def notes(self) -> list[str]:
        """Run-level observations about the input a user should hear about."""
        info = self.info
        stats = self.stats
        name = self.path.name
        notes: list[str] = []
        if self._workbook is not None and self._workbook.misnamed:
            kind = "an OpenDocument spreadsheet" if self._workbook.kind == "ods" else "an Excel workbook"
            notes.append(f"{name}: {kind} under another name; it was read as a workbook")
        text = self._text
        if text is not None and text.guessed:
            other = f" (perhaps --encoding {text.runner_up})" if text.runner_up else ""
            notes.append(
                f"{name}: no encoding marked and not UTF-8: read as {label(text.encoding)}, a guess; "
                f"if names look wrong in the results, run again with --encoding NAME{other}"
            )
        if stats.decode.fallback_bytes:
            notes.append(
                f"{name}: {stats.decode.fallback_bytes} byte(s) are not valid UTF-8 (first on line "
                f"{stats.decode.fallback_first_line}); they were read as Windows-1252 characters, check those rows "
                "(if the file is in another encoding, name it with --encoding)"
            )
        notes.append(self._header_note())
        if stats.malformed_rows:
            notes.append(
                f"{name}: {stats.malformed_rows} row(s) do not have the header's {info.width} fields "
                f"(first on {'row' if info.is_workbook else 'line'} {stats.first_malformed_line}); "
                "they are marked malformed_row"
            )
        if self._workbook is not None and self._workbook.sheets > 1:
            notes.append(
                f"{name}: the workbook has {self._workbook.sheets} sheets; only the first, "
                f"{info.sheet!r}, was read"
            )
        return notes


def open_table(path: Path, email_column: str | None = None, encoding: str | None = None) -> Table:
    """Open an input list, detect its format and email column; raise :class:`InputError`.

    ``encoding`` names a text file's encoding (``--encoding``) instead of detecting it.
    """
    return Table(path, email_column, encoding)


__all__ = [
    "PEEK_ROWS",
    "InputRow",
    "ReadStats",
    "RowChunk",
    "RowShaper",
    "Table",
    "TableInfo",
    "csv_problem",
    "decide_header",
    "find_email_column",
    "header_key",
    "looks_like_address",
    "open_table",
    "read_stopped",
    "record_reader",
    "undecodable_input",
    "unreadable_input",
]
