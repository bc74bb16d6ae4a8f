"""Writing the outputs atomically: a temporary file beside the target, then a rename.

A run that dies leaves the previous outputs (if any) intact and no half-written file
under an output name.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from .errors import OutputError
from .ingest import InputRow, TableInfo
from .models import RESULT_COLUMNS, RowOutcome, Status

#: Input encodings that come from Excel-like tools: write a BOM so Excel reads UTF-8.
_BOM_ENCODINGS = {"utf-8-sig", "utf-16", "cp1252"}


def output_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    """The four output files of a run, by kind."""
    return {
        "results": out_dir / f"{stem}.results.csv",
        "clean": out_dir / f"{stem}.clean.csv",
        "summary": out_dir / f"{stem}.summary.json",
        "report": out_dir / f"{stem}.report.html",
    }


def ensure_writable_dir(out_dir: Path) -> None:
    """Create ``out_dir`` if needed; raise :class:`OutputError` when it cannot be written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{out_dir}: cannot create the output folder ({exc.strerror}); choose another with --out"
        ) from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputError(f"{out_dir}: the output folder is not writable; choose another with --out")


def _temp_in(directory: Path, name: str) -> tuple[int, Path]:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputError(f"{directory}: cannot write {name} ({exc.strerror}); choose --out") from exc
    return fd, Path(tmp)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file and a rename."""
    fd, tmp = _temp_in(path.parent, path.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def partial_path(path: Path) -> Path:
    """Where an output is written until the run commits it: a hidden file beside it.

    The name is fixed (not random) so that an interrupted run can be resumed.
    """
    return path.with_name(f".{path.name}.partial")


class CsvLines:
    """Formats rows as CSV text with minimal quoting, in bulk.

    A field is quoted when it holds the delimiter, a double quote, a line feed or a
    carriage return (quotes inside are doubled) — what ``csv.writer`` does, except that it
    also quotes a lone carriage return, which Python 3.11's writer leaves bare and its own
    reader then takes for a line end. Most rows need no quoting: they are simply joined.
    """

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter

    def field(self, value: str) -> str:
        """One field, quoted if it must be."""
        if self.delimiter in value or '"' in value or "\n" in value or "\r" in value:
            return '"' + value.replace('"', '""') + '"'
        return value

    def line(self, fields: Sequence[str]) -> str:
        """One row as a line of CSV, without the line end."""
        if len(fields) == 1 and not fields[0]:
            return '""'  # a lone empty field is quoted, so the line is not blank
        return self.part(fields)

    def part(self, fields: Sequence[str]) -> str:
        """Fields as a run of CSV cells, to be joined with more cells on the same line."""
        return self.parts([fields])[0]

    def parts(self, rows: Sequence[Sequence[str]]) -> list[str]:
        """:meth:`part` of each row: a join per row, field by field only for rows that quote."""
        delimiter = self.delimiter
        texts = [delimiter.join(row) for row in rows]
        special = [
            index
            for index, (text, row) in enumerate(zip(texts, rows, strict=True))
            if '"' in text or "\n" in text or "\r" in text or text.count(delimiter) != len(row) - 1
        ]
        field = self.field
        for index in special:
            texts[index] = delimiter.join([field(value) for value in rows[index]])
        return texts


class TableWriter:
    """Streams the results and clean CSVs into partial files; :meth:`commit` renames them.

    ``resume`` (sizes from an earlier :meth:`checkpoint`) reopens the partial files of an
    interrupted run, cut back to those sizes, and appends to them.
    """

    def __init__(
        self,
        out_dir: Path,
        stem: str,
        info: TableInfo,
        *,
        keep_risky: bool = False,
        resume: Mapping[str, int] | None = None,
    ) -> None:
        self.paths = output_paths(out_dir, stem)
        self.partials = {kind: partial_path(self.paths[kind]) for kind in ("results", "clean")}
        encoding = "utf-8-sig" if info.encoding in _BOM_ENCODINGS else "utf-8"
        self._files: dict[str, tuple[Path, IO[str]]] = {}
        for kind, tmp in self.partials.items():
            try:
                if resume is not None:
                    with tmp.open("r+b") as raw:
                        raw.truncate(resume[kind])
                    handle = tmp.open("a", encoding=encoding, newline="")
                else:
                    handle = tmp.open("w", encoding=encoding, newline="")
            except (OSError, KeyError) as exc:
                if resume is None:
                    self.abort()
                else:
                    self.detach()
                why = exc.strerror if isinstance(exc, OSError) else "no size recorded"
                raise OutputError(f"{tmp}: cannot write {self.paths[kind].name} ({why}); choose --out") from exc
            self._files[kind] = (tmp, handle)
        self._width = len(info.header)
        self._sendable = {Status.DELIVERABLE.value, Status.RISKY.value} if keep_risky else {Status.DELIVERABLE.value}
        self._lines = CsvLines(info.delimiter)
        if resume is None:
            self._files["results"][1].write(self._lines.line([*info.header, *RESULT_COLUMNS]) + "\n")
            self._files["clean"][1].write(self._lines.line(list(info.header)) + "\n")

    def write(self, rows: Sequence[InputRow], outcomes: Sequence[RowOutcome]) -> None:
        """Append one chunk: every row to results; the sendable ones to clean.

        Sendable means ``deliverable`` (and ``risky`` too with ``keep_risky``).
        """
        self.write_columns(
            [row.cells for row in rows],
            [outcome.columns() for outcome in outcomes],
            {i for i, row in enumerate(rows) if row.problem},
        )

    def write_columns(
        self,
        cells: Sequence[Sequence[str]],
        columns: Sequence[Sequence[str]],
        ill_formed: Collection[int] = (),
    ) -> None:
        """Append one chunk given as cells and RESULT_COLUMNS values, row by row.

        Rows whose index is in ``ill_formed`` never go to the clean list.
        """
        lines = self._lines
        delimiter = lines.delimiter
        heads = lines.parts(cells)
        tails = lines.parts(columns)
        results = [head + delimiter + tail for head, tail in zip(heads, tails, strict=True)]
        width = self._width
        for index in ill_formed:
            row = cells[index]
            if len(row) < width:
                # A ragged row keeps its cells; it is padded so presend columns stay aligned.
                results[index] = lines.line([*row, *([""] * (width - len(row))), *columns[index]])
        sendable = self._sendable
        if ill_formed:
            clean = [
                head
                for index, (head, values) in enumerate(zip(heads, columns, strict=True))
                if values[0] in sendable and index not in ill_formed
            ]
        else:
            clean = [head for head, values in zip(heads, columns, strict=True) if values[0] in sendable]
        if width == 1:
            clean = [head or '""' for head in clean]  # csv.writer quotes a lone empty field
        if results:
            self._files["results"][1].write("\n".join(results) + "\n")
        if clean:
            self._files["clean"][1].write("\n".join(clean) + "\n")

    def checkpoint(self, *, sync: bool = True) -> dict[str, int]:
        """Flush (and with ``sync``, fsync) both partial files; return their sizes in bytes."""
        sizes: dict[str, int] = {}
        for kind, (_, handle) in self._files.items():
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
            sizes[kind] = os.fstat(handle.fileno()).st_size
        return sizes

    def commit(self) -> None:
        """Flush, sync and rename both files to their final names."""
        for kind, (tmp, handle) in self._files.items():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(tmp, self.paths[kind])
        self._files.clear()

    def detach(self) -> None:
        """Close the partial files and leave them for a resumed run."""
        for _, handle in self._files.values():
            with contextlib.suppress(OSError):
                handle.close()
        self._files.clear()

    def abort(self) -> None:
        """Close and remove the partial files (the final names are untouched)."""
        for tmp, handle in self._files.values():
            with contextlib.suppress(OSError):
                handle.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._files.clear()
