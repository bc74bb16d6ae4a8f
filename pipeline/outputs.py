"""Writing the outputs atomically: a temporary file beside the target, then a rename.

A run that dies leaves the previous outputs (if any) intact and no half-written file under
an output name. The CSV outputs use the input's delimiter (a comma for a workbook), UTF-8
with a byte-order mark when the input came from Excel or an Excel-like encoding (so Excel
reads the accents), CRLF line ends (RFC 4180), and minimal quoting: a value holding the
delimiter, a quote, CR or LF is quoted, quotes doubled, so every value reads back exactly.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from .errors import OutputError
from .ingest import InputRow, TableInfo
from .models import RESULT_COLUMNS, RowOutcome, Status

#: Line end of the CSV outputs. csv quotes any value holding one of these characters, so a
#: value with a lone CR or LF stays inside its field.
LINE_END = "\r\n"


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
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir}: the output folder is a file; choose a folder with --out")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"{out_dir}: cannot create the output folder ({exc.strerror or exc}); choose another with --out"
        ) from exc
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise OutputError(f"{out_dir}: the output folder is not writable; choose another with --out")


def _file_mode() -> int:
    # mkstemp creates 0600 files; give outputs the mode a plain open() would (0666 - umask).
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _temp_in(directory: Path, name: str) -> tuple[int, Path]:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        os.fchmod(fd, _file_mode())
    except OSError as exc:
        raise OutputError(
            f"{directory}: cannot write {name} ({exc.strerror or exc}); choose another folder with --out"
        ) from exc
    return fd, Path(tmp)


def _close_synced(handle: IO[str]) -> None:
    handle.flush()
    os.fsync(handle.fileno())
    handle.close()


def _sync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _cannot_write(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"{path}: cannot be written ({exc.strerror or exc}); choose another folder with --out")


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _cannot_write(path, exc) from exc


def atomic_write_text(path: Path, text: str, *, bom: bool = False) -> None:
    """Write ``text`` (UTF-8, with a BOM when ``bom``) to ``path`` through a temporary file."""
    fd, tmp = _temp_in(path.parent, path.name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _cannot_write(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _replace(tmp, path)
    _sync_dir(path.parent)


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``data`` as indented JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


class TableWriter:
    """Streams the results and clean CSVs into temporary files; :meth:`commit` renames them.

    ``results``: every row, its cells padded or cut to the header's width (a row's extra
    fields are listed in its ``presend_detail``), then the presend columns. ``clean``: the
    sendable rows, original columns only; it has a header row when the input had one.
    """

    def __init__(self, out_dir: Path, stem: str, info: TableInfo, *, keep_risky: bool = False) -> None:
        self.paths = output_paths(out_dir, stem)
        encoding = "utf-8-sig" if info.output_bom else "utf-8"
        self._files: dict[str, tuple[Path, IO[str]]] = {}
        self._writers: dict[str, Any] = {}
        try:
            for kind in ("results", "clean"):
                fd, tmp = _temp_in(out_dir, self.paths[kind].name)
                handle = os.fdopen(fd, "w", encoding=encoding, newline="")
                self._files[kind] = (tmp, handle)
                self._writers[kind] = csv.writer(
                    handle, delimiter=info.output_delimiter, quotechar='"', lineterminator=LINE_END
                )
        except BaseException:
            self.abort()
            raise
        self._width = info.width
        self._sendable = {Status.DELIVERABLE, Status.RISKY} if keep_risky else {Status.DELIVERABLE}
        self.rows_written = {"results": 0, "clean": 0}
        self._guard(lambda: self._writers["results"].writerow([*info.header, *RESULT_COLUMNS]))
        if info.has_header:
            self._guard(lambda: self._writers["clean"].writerow(list(info.header)))

    def _guard(self, action: Callable[[], object]) -> None:
        try:
            action()
        except OSError as exc:
            raise OutputError(
                f"{self.paths['results'].parent}: writing the outputs failed ({exc.strerror or exc}); "
                "free some space or choose another folder with --out"
            ) from exc

    def _fit(self, cells: Sequence[str]) -> list[str]:
        width = self._width
        if len(cells) == width:
            return list(cells)
        if len(cells) > width:
            return list(cells[:width])
        return [*cells, *([""] * (width - len(cells)))]

    def write(self, rows: Sequence[InputRow], outcomes: Sequence[RowOutcome]) -> None:
        """Append one chunk: every row to results; the sendable ones to clean.

        Sendable means ``deliverable`` (and ``risky`` too with ``keep_risky``); a duplicate
        or a malformed row never is.
        """
        results = self._writers["results"]
        clean = self._writers["clean"]

        def emit() -> None:
            for row, outcome in zip(rows, outcomes, strict=True):
                cells = self._fit(row.cells)
                results.writerow([*cells, *outcome.columns()])
                if outcome.verdict.status in self._sendable and not row.problem:
                    clean.writerow(cells)
                    self.rows_written["clean"] += 1
            self.rows_written["results"] += len(rows)

        self._guard(emit)

    def commit(self) -> None:
        """Flush, sync and rename both files to their final names."""
        for _tmp, handle in self._files.values():
            self._guard(functools.partial(_close_synced, handle))
        for kind, (tmp, _handle) in list(self._files.items()):
            _replace(tmp, self.paths[kind])
            del self._files[kind]
        _sync_dir(self.paths["results"].parent)

    def abort(self) -> None:
        """Close and remove the temporary files (the final names are untouched)."""
        for tmp, handle in self._files.values():
            with contextlib.suppress(OSError):
                handle.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._files.clear()
