"""Writing the outputs atomically: a temporary file beside the target, then a rename.

A run that dies leaves the previous outputs (if any) intact and no half-written file
under an output name.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Sequence
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


class TableWriter:
    """Streams the results and clean CSVs into temporary files; :meth:`commit` renames them."""

    def __init__(
        self, out_dir: Path, stem: str, info: TableInfo, *, keep_risky: bool = False
    ) -> None:
        self.paths = output_paths(out_dir, stem)
        encoding = "utf-8-sig" if info.encoding in _BOM_ENCODINGS else "utf-8"
        self._files: dict[str, tuple[Path, IO[str]]] = {}
        self._writers: dict[str, Any] = {}
        for kind in ("results", "clean"):
            fd, tmp = _temp_in(out_dir, self.paths[kind].name)
            handle = os.fdopen(fd, "w", encoding=encoding, newline="")
            self._files[kind] = (tmp, handle)
            self._writers[kind] = csv.writer(handle, delimiter=info.delimiter, lineterminator="\n")
        self._width = len(info.header)
        self._sendable = {Status.DELIVERABLE, Status.RISKY} if keep_risky else {Status.DELIVERABLE}
        self._writers["results"].writerow([*info.header, *RESULT_COLUMNS])
        self._writers["clean"].writerow(list(info.header))

    def write(self, rows: Sequence[InputRow], outcomes: Sequence[RowOutcome]) -> None:
        """Append one chunk: every row to results; the sendable ones to clean.

        Sendable means ``deliverable`` (and ``risky`` too with ``keep_risky``).
        """
        results = self._writers["results"]
        clean = self._writers["clean"]
        for row, outcome in zip(rows, outcomes, strict=True):
            cells = list(row.cells)
            # A ragged row keeps its cells; it is padded so presend columns stay aligned.
            if len(cells) < self._width:
                cells.extend([""] * (self._width - len(cells)))
            results.writerow([*cells, *outcome.columns()])
            if outcome.verdict.status in self._sendable and not row.problem:
                clean.writerow(row.cells)

    def commit(self) -> None:
        """Flush, sync and rename both files to their final names."""
        for kind, (tmp, handle) in self._files.items():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(tmp, self.paths[kind])
        self._files.clear()

    def abort(self) -> None:
        """Close and remove the temporary files (the final names are untouched)."""
        for tmp, handle in self._files.values():
            with contextlib.suppress(OSError):
                handle.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._files.clear()
