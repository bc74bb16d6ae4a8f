"""Reading a workbook (.xlsx, .xlsm, .xls, .ods) row by row, every value as the text a person would type.

python-calamine (Rust) reads the first worksheet of any of the four formats. Numbers come back
without a spurious ``.0`` (a cell holding 123 reads ``123``), dates as ISO-8601 text, booleans
as Excel shows them (``TRUE``/``FALSE``), formulas as their last computed value.

calamine loses two kinds of .xlsx cell that openpyxl keeps: a cell holding an error value
(``#N/A``, ``#DIV/0!`` ...) reads empty, which would make a VLOOKUP's ``#N/A`` look like a
blank address; and a text of white space only (`` ``) reads empty unless the file marks it
``xml:space="preserve"`` (Excel does; openpyxl and some other writers do not). A quick scan of
the worksheets' and shared strings' XML finds either, and such a workbook is read with
openpyxl's streaming reader instead (slower, same text). .xls and .ods error cells read empty
(no other reader here knows those formats); their white space is kept.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable, Generator, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import IO, Any

from pipeline.errors import InputError

#: Extensions of each workbook kind (the kind is told by the file's content).
WORKBOOK_SUFFIXES: dict[str, tuple[str, ...]] = {"xlsx": (".xlsx", ".xlsm"), "xls": (".xls",), "ods": (".ods",)}
#: Every extension read as a workbook.
ALL_WORKBOOK_SUFFIXES = tuple(suffix for suffixes in WORKBOOK_SUFFIXES.values() for suffix in suffixes)
#: First bytes of a zip archive (.xlsx, .ods) and of an OLE2 file (.xls, a password-protected .xlsx).
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"

# Floats that are whole numbers print without ".0" up to this size; beyond it a float
# no longer holds every integer exactly, so its shortest round-trip form is kept.
_EXACT_INT_LIMIT = 2**53
# What calamine would read as empty: an error cell, <c r="B2" t="e"> (either quote), or a text
# of white space only not marked xml:space="preserve", <t> </t>.
_LOST_BY_CALAMINE = re.compile(rb"""<c\b[^>]*?\st=["']e["']|<t>[ \t\r\n]+</t>""")
_CLUE = re.compile(rb"""t(?:>[ \t\r\n]|=["']e["'])""")
_SCAN_BLOCK = 1 << 20


def cell_text(value: Any) -> str:
    """The text of one cell value as calamine (or openpyxl) returns it."""
    if type(value) is str:  # most cells, and calamine's empty ones: the fast path first
        return value
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_INT_LIMIT:
            return str(int(value))
        # Excel shows (and keeps) 15 significant digits: 0.1 + 0.2 reads 0.3, not 0.30000000000000004.
        return f"{value:.15g}"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return duration_text(value)
    return str(value)


def duration_text(value: dt.timedelta) -> str:
    """A duration as Excel's ``[h]:mm:ss`` shows it: 30 hours read ``30:00:00``."""
    micro = value // dt.timedelta(microseconds=1)
    sign = "-" if micro < 0 else ""
    seconds, fraction = divmod(abs(micro), 1_000_000)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    text = f"{sign}{hours}:{minute:02d}:{second:02d}"
    return f"{text}.{fraction:06d}".rstrip("0") if fraction else text


def workbook_kind(path: Path) -> str:
    """``"xlsx"``, ``"xls"`` or ``"ods"`` as the file's content says; InputError for any other zip."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(OLE_MAGIC))
        if magic == OLE_MAGIC:
            return "xls"
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, EOFError) as exc:
        if path.suffix.lower() in ALL_WORKBOOK_SUFFIXES:
            raise _unreadable(path, exc) from exc
        raise InputError(f"{path}: a damaged zip archive, not a list; check the file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc}); check the file") from exc
    if "xl/workbook.xml" in names:
        return "xlsx"
    if mimetype.strip() == _ODS_MIMETYPE:
        return "ods"
    shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
    raise InputError(f"{path}: a zip archive ({shown}), not a list; unzip it and give the list inside")


def calamine_would_lose_cells(path: Path) -> bool:
    """True when calamine would read a cell of an .xlsx as empty that openpyxl keeps.

    That is an error cell or a text of white space only (see the module's docstring), in any
    worksheet (cheaper than finding the first) or in the shared strings.
    """
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            part = name.startswith("xl/worksheets/") or name == "xl/sharedStrings.xml"
            if part and name.endswith(".xml") and _part_loses_cells(archive, name):
                return True
    return False


def _part_loses_cells(archive: zipfile.ZipFile, name: str) -> bool:
    tail = b""
    with archive.open(name) as part:
        while block := part.read(_SCAN_BLOCK):
            text = tail + block
            # A loose pattern with a literal head is fast; the exact one only confirms a rare hit.
            if _CLUE.search(text) and _LOST_BY_CALAMINE.search(text):
                return True
            # An opening <c ...> tag is short: keep enough to match one cut by the block edge.
            tail = text[-256:]
    return False


def _rows_from_a1(sheet: Any) -> Iterator[list[Any]]:
    """A calamine sheet's rows, each from column A.

    ``iter_rows`` starts at row 1 but at the first column that holds data; the cells left of it
    are put back, so column positions are the sheet's.
    """
    end = sheet.end
    if end is None:  # an empty sheet
        return
    columns = end[1] + 1
    for row in sheet.iter_rows():
        yield [""] * (columns - len(row)) + row if len(row) < columns else row


def _unreadable(path: Path, exc: BaseException) -> InputError:
    detail = str(exc) or type(exc).__name__
    return InputError(
        f"{path}: not a readable workbook ({detail}); if it has a password, save it without one, "
        "else save it again as .xlsx or CSV"
    )


class Workbook:
    """The first worksheet of a workbook file, read as rows of text.

    The sheet is loaded once on opening, so looking at the first rows and reading them all
    later cost one reading. ``kind`` is ``"xlsx"``, ``"xls"`` or ``"ods"``; ``sheet`` names
    the sheet read and ``sheets`` how many worksheets the workbook has.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.kind = workbook_kind(path)
        #: True when the workbook came under a name not of its kind (a note says so).
        self.misnamed = path.suffix.lower() not in WORKBOOK_SUFFIXES[self.kind]
        self._close: Callable[[], None] = lambda: None
        #: The library that reads the sheet: "calamine", or "openpyxl" for cells calamine would lose.
        self.reader = "openpyxl" if self.kind == "xlsx" and calamine_would_lose_cells(path) else "calamine"
        if self.reader == "openpyxl":
            self._rows, self.sheet, self.sheets = self._open_openpyxl()
        else:
            self._rows, self.sheet, self.sheets = self._open_calamine()

    def _open_calamine(self) -> tuple[Callable[[], Iterator[Sequence[Any]]], str, int]:
        import python_calamine  # imported here: only workbook inputs pay for it

        handle: IO[bytes] | None = None
        try:
            if self.misnamed:  # calamine goes by the name first; from a handle it looks at the content
                handle = self.path.open("rb")
                book = python_calamine.CalamineWorkbook.from_filelike(handle)
            else:
                book = python_calamine.CalamineWorkbook.from_path(self.path)
            try:
                worksheets = [
                    index for index, meta in enumerate(book.sheets_metadata)
                    if meta.typ == python_calamine.SheetTypeEnum.WorkSheet
                ]
                if not worksheets:
                    raise InputError(f"{self.path}: the workbook has no worksheet; export the list again")
                sheet = book.get_sheet_by_index(worksheets[0])
            finally:
                book.close()  # the sheet's cells are loaded: the file is no longer needed
        except OSError as exc:
            raise InputError(f"{self.path}: cannot be read ({exc.strerror or exc}); check the file") from exc
        except python_calamine.CalamineError as exc:
            raise _unreadable(self.path, exc) from exc
        finally:
            if handle is not None:
                handle.close()
        return partial(_rows_from_a1, sheet), sheet.name, len(worksheets)

    def _open_openpyxl(self) -> tuple[Callable[[], Iterator[Sequence[Any]]], str, int]:
        import openpyxl  # only an .xlsx with cells calamine would lose comes here

        handle = self.path.open("rb")  # openpyxl goes by the name; a handle works under any name
        try:
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # zip, XML and openpyxl's own errors
            handle.close()
            raise _unreadable(self.path, exc) from exc

        def close() -> None:
            book.close()
            handle.close()

        self._close = close
        if not book.worksheets:
            close()
            raise InputError(f"{self.path}: the workbook has no worksheet; export the list again")
        sheet = book.worksheets[0]
        # The stored dimension is often wrong (or missing); read what is really there, from A1,
        # so row numbers are the sheet's and columns never shift.
        sheet.reset_dimensions()
        return lambda: sheet.iter_rows(values_only=True), sheet.title, len(book.worksheets)

    def records(self) -> Generator[tuple[int, list[str]], None, None]:
        """Yield ``(sheet row number, cells)``; trailing empty cells are left out."""
        rows = self._rows()
        number = 0
        try:
            while True:
                try:
                    values = next(rows)
                except StopIteration:
                    return
                except Exception as exc:  # a damaged sheet: zip, XML or value errors
                    raise InputError(
                        f"{self.path}: row {number + 1} of sheet {self.sheet!r} cannot be read "
                        f"({type(exc).__name__}: {exc}); save the workbook again"
                    ) from exc
                number += 1
                cells = [cell_text(v) for v in values]
                while cells and cells[-1] == "":
                    cells.pop()
                yield number, cells
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # openpyxl's generator closes the sheet's file inside the archive

    def close(self) -> None:
        """Release the workbook (openpyxl keeps its file open; calamine's is closed on opening)."""
        self._close()


__all__ = [
    "ALL_WORKBOOK_SUFFIXES",
    "OLE_MAGIC",
    "WORKBOOK_SUFFIXES",
    "ZIP_MAGIC",
    "Workbook",
    "calamine_would_lose_cells",
    "cell_text",
    "duration_text",
    "workbook_kind",
]
