"""Reading an Excel workbook (.xlsx) row by row, every value as the text a person would type.

openpyxl in read-only mode streams the sheet, so a large workbook is never held in memory.
Numbers come back without a spurious ``.0`` (a cell holding 123 reads ``123``), dates as
ISO-8601 text, booleans as Excel shows them (``TRUE``/``FALSE``), formulas as their last
computed value.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any

from pipeline.errors import InputError

#: Extensions read as workbooks.
XLSX_SUFFIXES = (".xlsx", ".xlsm")
#: First bytes of a zip archive (what an .xlsx is) and of an OLE2 file (.xls, encrypted .xlsx).
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# Floats that are whole numbers print without ".0" up to this size; beyond it a float
# no longer holds every integer exactly, so its shortest round-trip form is kept.
_EXACT_INT_LIMIT = 2**53


def cell_text(value: Any) -> str:
    """The text of one cell value as openpyxl returns it."""
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
    return str(value)


class Workbook:
    """The first worksheet of an .xlsx file, read as rows of text.

    The workbook stays open (read-only) until :meth:`close`, so that looking at the first
    rows and reading them all later cost one opening: openpyxl scans a whole sheet on opening
    when the file does not state its dimensions. ``sheet`` names the sheet read and
    ``sheets`` how many the workbook has.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        #: True when the workbook came under another name than .xlsx/.xlsm (a note says so).
        self.misnamed = False
        self._handle: IO[bytes] | None = None
        self._book = self._load()
        try:
            self.sheets = len(self._book.worksheets)
            if not self.sheets:
                raise InputError(f"{path}: the workbook has no worksheet; export the list again")
            self._sheet = self._book.worksheets[0]
            # The stored dimension is often wrong (or missing); read what is really there,
            # from A1, so row numbers are the sheet's and columns never shift.
            self._sheet.reset_dimensions()
        except BaseException:
            self._book.close()
            raise
        self.sheet: str = self._sheet.title

    def _load(self) -> Any:
        import openpyxl  # imported here: only workbook inputs pay for it

        source: Path | IO[bytes] = self.path
        if self.path.suffix.lower() not in XLSX_SUFFIXES:
            # openpyxl goes by the name; a workbook saved under another one is read from a handle.
            source = self._misnamed_workbook()
        try:
            return openpyxl.load_workbook(source, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as exc:
            raise InputError(
                f"{self.path}: not a readable .xlsx workbook ({exc}); save it again from Excel as .xlsx or CSV"
            ) from exc
        except OSError as exc:
            raise InputError(f"{self.path}: cannot be read ({exc.strerror or exc}); check the file") from exc
        except Exception as exc:  # openpyxl raises its own InvalidFileException and others
            raise InputError(
                f"{self.path}: not a readable .xlsx workbook ({type(exc).__name__}: {exc}); "
                "save it again from Excel as .xlsx or CSV"
            ) from exc

    def _misnamed_workbook(self) -> IO[bytes]:
        """The open file of a zip named other than .xlsx, when it holds a workbook; else InputError."""
        try:
            with zipfile.ZipFile(self.path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError) as exc:
            raise InputError(f"{self.path}: a damaged zip archive, not a list; check the file") from exc
        if "xl/workbook.xml" not in names:
            shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
            raise InputError(f"{self.path}: a zip archive ({shown}), not a list; unzip it and give the list inside")
        self.misnamed = True
        self._handle = self.path.open("rb")
        return self._handle

    def records(self) -> Generator[tuple[int, list[str]], None, None]:
        """Yield ``(sheet row number, cells)``; trailing empty cells are left out."""
        sheet = self._sheet
        number = 0
        rows = sheet.iter_rows(values_only=True)
        try:
            while True:
                try:
                    values = next(rows)
                except StopIteration:
                    return
                except Exception as exc:  # a damaged sheet: zip, XML or value errors
                    raise InputError(
                        f"{self.path}: row {number + 1} of sheet {sheet.title!r} cannot be read "
                        f"({type(exc).__name__}: {exc}); save the workbook again from Excel"
                    ) from exc
                number += 1
                cells = [cell_text(v) for v in values]
                while cells and cells[-1] == "":
                    cells.pop()
                yield number, cells
        finally:
            rows.close()  # closes the sheet's file inside the archive

    def close(self) -> None:
        """Close the workbook file."""
        self._book.close()
        if self._handle is not None:
            self._handle.close()


__all__ = ["OLE_MAGIC", "XLSX_SUFFIXES", "ZIP_MAGIC", "Workbook", "cell_text"]
