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
import errno
import glob
import io
import json
import operator
import os
import tempfile
import threading
from collections.abc import Collection, Iterable, Mapping, Sequence
from itertools import compress
from pathlib import Path
from typing import IO, Any

from pipeline.columns import REASON, RESULT_COLUMNS, STATUS
from pipeline.errors import OutputError
from pipeline.io.ingest import TableInfo
from pipeline.models import Status
from pipeline.verdict import NOT_CHECKED_REASON

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
            f"{directory}: cannot write {name} ({exc.strerror or exc}); {write_fix(exc)}"
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


def write_fix(exc: OSError) -> str:
    """What to do about a file presend could not write, from why it could not."""
    if exc.errno == errno.ENAMETOOLONG:
        return "the output names are built from the input's name: give the input a shorter name"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some space or choose another folder with --out"
    return "choose another folder with --out"


def _cannot_write(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"{path}: cannot be written ({exc.strerror or exc}); {write_fix(exc)}")


def _replace(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _cannot_write(path, exc) from exc


def temp_beside(path: Path) -> tuple[int, Path]:
    """A temporary file beside ``path`` (descriptor, name), for a writer that renames it into
    place with :func:`replace_into`; :func:`remove_stale_temps` knows its name."""
    return _temp_in(path.parent, path.name)


def replace_into(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path`` (removing ``tmp`` and raising :class:`OutputError` on failure)."""
    _replace(tmp, path)


def sync_dir(directory: Path) -> None:
    """Make the renames in ``directory`` durable (best effort)."""
    _sync_dir(directory)


def remove_stale_temps(paths: Iterable[Path]) -> None:
    """Remove the temporary files beside ``paths`` that a killed writer left behind.

    Call it only while holding the outputs' lock (:mod:`pipeline.io.lock`): then no other run
    is writing them, and whatever temporary file is there belongs to a run that died.
    """
    for path in paths:
        name = glob.escape(path.name)
        for pattern in (f".{name}.tmp", f".{name}.*.tmp"):  # StateStore's; _temp_in's
            for stale in path.parent.glob(pattern):
                with contextlib.suppress(OSError):
                    stale.unlink()


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


def writing_failed(folder: Path, exc: OSError) -> OutputError:
    """The one-line error of a failed write of the outputs in ``folder`` (from any process)."""
    return OutputError(
        f"{folder}: writing the outputs failed ({exc.strerror or exc}); "
        "free some space or choose another folder with --out"
    )


def partial_path(path: Path) -> Path:
    """Where an output is written until the run commits it: a hidden file beside it.

    The name is fixed (not random) so that an interrupted run can be resumed; the run's
    lock (``<stem>.lock``) keeps two runs from sharing it.
    """
    return path.with_name(f".{path.name}.partial")


class CsvLines:
    """Formats rows as CSV text in bulk, exactly as the outputs' ``csv.writer`` would.

    A value holding the delimiter, a quote, CR or LF is quoted (quotes doubled); a row of
    one empty value is written ``""`` so it is not a blank line. Most rows need no quoting
    at all and are simply joined; only the others are formatted value by value.
    """

    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter

    def field(self, value: str) -> str:
        """One value, quoted if it must be."""
        if self.delimiter in value or '"' in value or "\n" in value or "\r" in value:
            return '"' + value.replace('"', '""') + '"'
        return value

    def line(self, fields: Sequence[str]) -> str:
        """One row as a line of CSV, without the line end."""
        if len(fields) == 1 and not fields[0]:
            return '""'
        return self.parts([fields])[0]

    def parts(self, rows: Sequence[Sequence[str]]) -> list[str]:
        """Each row's values as a run of CSV cells (to be joined with more on the same line)."""
        delimiter = self.delimiter
        texts = [delimiter.join(row) for row in rows]
        special = [
            index
            for index, (text, row) in enumerate(zip(texts, rows, strict=True))
            if '"' in text or "\n" in text or "\r" in text or text.count(delimiter) != len(row) - 1
        ]
        if not special:
            return texts
        # Rows without a line break inside go through csv.writer together (its quoting is
        # this class's: see the module docstring); each then ends at its own CRLF.
        batch: list[int] = []
        alone: list[int] = []
        for index in special:
            text = texts[index]
            (alone if "\n" in text or "\r" in text else batch).append(index)
        if batch:
            buffer = io.StringIO()
            csv.writer(buffer, delimiter=delimiter, quotechar='"', lineterminator="\r\n").writerows(
                [rows[index] for index in batch]
            )
            for index, text in zip(batch, buffer.getvalue().split("\r\n"), strict=False):
                texts[index] = text
        field = self.field
        for index in alone:
            texts[index] = delimiter.join([field(value) for value in rows[index]])
        return texts


#: The reasons of rows that only a sender finding keeps from being sent start with this (not
#: ``sender_``: the mailbox level's ``sender_blocked``, a host refusing us, is not one of them).
#: The reason families of our own side of the send (sender DNS, relay, message, DKIM, a mail
#: host that cannot take the message): rows held back only by one of them stay in the clean list.
SENDER_REASON_PREFIX: tuple[str, ...] = ("sending_", "relay_", "message_", "dkim_", "host_lacks_")


def held_for_sender(status: str, reason: str) -> bool:
    """Whether a row is unknown only because of our own side of the send (a sender finding).

    Such a row stays in the clean list: the fix is in how the campaign is sent (SPF, DKIM,
    the sending IP, the relay), not in the list, and once it is made the row is as good as
    the recipient side said (:func:`pipeline.verdict.fold_sender` lowers only deliverable
    and risky rows).
    """
    return status == Status.UNKNOWN.value and reason.startswith(SENDER_REASON_PREFIX)


def sendable_statuses(keep_risky: bool) -> frozenset[str]:
    """The statuses whose rows go to the clean list: ``deliverable`` (and ``risky`` with ``--keep-risky``)."""
    if keep_risky:
        return frozenset((Status.DELIVERABLE.value, Status.RISKY.value))
    return frozenset((Status.DELIVERABLE.value,))


#: The reasons whose rows go to the clean list whatever their status: the rows against which
#: nothing was found at the levels that ran, although they forecast no reply (``unknown``
#: ``domain_not_checked``, a run without DNS). So a syntax-only clean keeps every well-formed
#: new address that nothing else spoke against, and never calls it deliverable.
SENDABLE_REASONS: frozenset[str] = frozenset((NOT_CHECKED_REASON,))


def is_sendable(status: str, reason: str, keep_risky: bool) -> bool:
    """The clean list's rule: a row is clean when nothing was found against it at the levels
    that ran: ``deliverable`` (``risky`` too with ``--keep-risky``) or a reason of
    :data:`SENDABLE_REASONS`, or held back only by our own side of the send
    (:func:`held_for_sender`). (Ill-formed rows are held back whatever they say.)"""
    return status in sendable_statuses(keep_risky) or reason in SENDABLE_REASONS or held_for_sender(status, reason)


def _held(values: Sequence[str]) -> bool:
    return held_for_sender(values[STATUS], values[REASON])


class RowFormat:
    """How rows become the lines of the results and clean lists: the header's width, the
    delimiter and quoting, and which statuses are sendable. Holds no file, so it can be
    sent to another process (see :mod:`pipeline.engine.steps`)."""

    def __init__(self, width: int, delimiter: str, *, keep_risky: bool = False) -> None:
        self._width = width
        self._sendable = sendable_statuses(keep_risky)
        self._lines = CsvLines(delimiter)

    def _fit(self, cells: Sequence[str]) -> Sequence[str]:
        width = self._width
        if len(cells) == width:
            return cells
        if len(cells) > width:
            return list(cells[:width])
        return [*cells, *([""] * (width - len(cells)))]

    def format_columns(
        self,
        cells: Sequence[Sequence[str]],
        columns: Sequence[Sequence[str]],
        ill_formed: Collection[int] = (),
    ) -> tuple[list[str], list[str]]:
        """The results lines and the clean lines :meth:`write_columns` appends (no line ends)."""
        heads, tails, keep = self.line_parts(cells, columns, [""] * len(columns), False, ill_formed)
        clean = list(compress(heads, keep))
        if self._width == 1:
            clean = [head or '""' for head in clean]
        return list(map(operator.add, heads, tails)), clean

    def line_parts(
        self,
        cells: Sequence[Sequence[str]],
        columns: Sequence[Sequence[str]],
        tails: list[str],
        tails_sendable: bool,
        held_back: Iterable[int] = (),
        heads: list[str] | None = None,
    ) -> tuple[list[str], list[str], list[bool]]:
        """Each row's results line in two parts, and whether it goes to the clean list.

        Row ``i`` is ``tails[i]`` (the delimiter, then its result columns already formatted;
        sendable when ``tails_sendable``) unless that is empty, then ``columns[i]``. Likewise
        its input cells are ``heads[i]`` when given and not empty, else formatted from
        ``cells[i]``. ``tails`` and ``heads`` are filled in and returned: a results line is
        ``heads[i] + tails[i]``, a clean line ``heads[i]`` (``""`` written ``""`` when the
        input has one column). The rows ``held_back`` (ill-formed rows, duplicates given as
        text) stay out of the clean list whatever their status.
        """
        lines = self._lines
        delimiter = lines.delimiter
        count = len(columns)
        if heads is None:
            heads = [""] * len(cells)
        missing = list(compress(range(count), map(operator.not_, heads)))
        for index, text in zip(missing, lines.parts([self._fit(cells[index]) for index in missing]), strict=True):
            heads[index] = text
        others = list(compress(range(count), map(operator.not_, tails)))
        for index, text in zip(others, lines.parts([columns[index] for index in others]), strict=True):
            tails[index] = delimiter + text
        sendable = self._sendable

        def clean(values: Sequence[str]) -> bool:
            return values[STATUS] in sendable or values[REASON] in SENDABLE_REASONS or _held(values)

        if tails_sendable:
            keep = [not values or clean(values) for values in columns]
        else:
            keep = [bool(values) and clean(values) for values in columns]
        for index in held_back:
            keep[index] = False
        return heads, tails, keep

    @property
    def width(self) -> int:
        """The number of input columns the outputs hold."""
        return self._width

    @property
    def lines(self) -> CsvLines:
        """The formatter of this writer's CSV lines (its delimiter and quoting)."""
        return self._lines

    def sendable(self, status: str, reason: str = "") -> bool:
        """True when rows of this status and reason go to the clean list (:func:`is_sendable`)."""
        return status in self._sendable or reason in SENDABLE_REASONS



class TableWriter:
    """Streams the results and clean CSVs into partial files; :meth:`commit` renames them.

    ``results``: every row, its cells padded or cut to the header's width (a row's extra
    fields are listed in its ``presend_detail``), then the presend columns. ``clean``: the
    sendable rows, original columns only; it has a header row when the input had one.

    ``resume`` (sizes from an earlier :meth:`checkpoint`) reopens the partial files an
    interrupted run left, cut back to those sizes, and appends to them.
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
        encoding = "utf-8-sig" if info.output_bom else "utf-8"
        self._files: dict[str, tuple[Path, IO[str]]] = {}
        self._syncing: threading.Thread | None = None
        # While other processes write (open_for_others): where the reserved blocks end, and
        # where the blocks known to be written end.
        self._ends: dict[str, int] = {}
        self._complete: dict[str, int] | None = None
        try:
            for kind, tmp in self.partials.items():
                if resume is not None:
                    with tmp.open("r+b") as raw:
                        raw.truncate(resume[kind])
                    # Not "a": O_APPEND makes every pwrite of a worker (open_for_others) land
                    # at the end of the file, whatever place was reserved for it.
                    handle = tmp.open("r+", encoding=encoding, newline="")
                    handle.seek(0, os.SEEK_END)
                else:
                    handle = tmp.open("w", encoding=encoding, newline="")
                self._files[kind] = (tmp, handle)
        except OSError as exc:
            self.detach()
            raise _cannot_write(self.paths["results"], exc) from exc
        self._format = RowFormat(info.width, info.output_delimiter, keep_risky=keep_risky)
        self.rows_written = {"results": 0, "clean": 0}
        if resume is None:
            lines = self._format.lines
            self._emit("results", [lines.line([*info.header, *RESULT_COLUMNS])])
            if info.has_header:
                self._emit("clean", [lines.line(list(info.header))])

    def _emit(self, kind: str, lines: list[str]) -> None:
        if not lines:
            return
        try:
            self._files[kind][1].write(LINE_END.join(lines) + LINE_END)
        except OSError as exc:
            raise self.write_error(exc) from exc

    def write_error(self, exc: OSError) -> OutputError:
        """The error to report when writing the outputs failed (from any process)."""
        return writing_failed(self.paths["results"].parent, exc)

    @property
    def format(self) -> RowFormat:
        """How this writer turns rows into lines (picklable: what another process needs)."""
        return self._format

    def format_columns(
        self,
        cells: Sequence[Sequence[str]],
        columns: Sequence[Sequence[str]],
        ill_formed: Collection[int] = (),
    ) -> tuple[list[str], list[str]]:
        """The results lines and the clean lines :meth:`write_columns` appends (no line ends)."""
        return self._format.format_columns(cells, columns, ill_formed)

    def write_columns(
        self,
        cells: Sequence[Sequence[str]],
        columns: Sequence[Sequence[str]],
        ill_formed: Collection[int] = (),
    ) -> None:
        """Append one chunk given as each row's cells and its RESULT_COLUMNS values.

        Every row goes to results; the sendable ones to clean (:func:`is_sendable`). A
        duplicate never is sendable, and the rows whose index is in
        ``ill_formed`` never go to the clean list.
        """
        results, clean = self.format_columns(cells, columns, ill_formed)
        self.emit_lines(results, clean)

    def emit_lines(self, results: list[str], clean: list[str]) -> None:
        """Append lines made by :meth:`format_columns` to the results and clean files."""
        self._emit("results", results)
        self._emit("clean", clean)
        self.rows_written["results"] += len(results)
        self.rows_written["clean"] += len(clean)

    def open_for_others(self) -> dict[str, int]:
        """Let other processes (forked from this one) write the lines that follow: from now
        on they are appended with :meth:`reserve` and ``os.pwrite``, until :meth:`close_for_others`.

        Returns the descriptor of each partial file, for those processes. Everything this
        writer holds is flushed first (the byte-order mark too, on an empty file).
        """
        ends: dict[str, int] = {}
        for kind, (tmp, handle) in self._files.items():
            try:
                if handle.tell() == 0:
                    handle.write("")  # the byte-order mark, when the encoding has one
                handle.flush()
                ends[kind] = os.fstat(handle.fileno()).st_size
            except OSError as exc:
                raise _cannot_write(tmp, exc) from exc
        self._ends = ends
        self._complete = dict(ends)
        return {kind: handle.fileno() for kind, (_tmp, handle) in self._files.items()}

    def reserve(self, sizes: Mapping[str, tuple[int, int]]) -> dict[str, int]:
        """Room at the end of the files for a block of lines that another process writes.

        ``sizes`` maps "results" and/or "clean" to (bytes, lines) of UTF-8 lines each ended
        with LINE_END; returns the offset at which each is to be written. Blocks are placed
        in the order they are reserved, whatever order they are then written in.
        """
        offsets: dict[str, int] = {}
        for kind, (size, rows) in sizes.items():
            offsets[kind] = self._ends[kind]
            self._ends[kind] += size
            self.rows_written[kind] += rows
        return offsets

    def reserved_up_to(self) -> dict[str, int]:
        """Where the blocks reserved so far end (what :meth:`complete_up_to` takes once they are written)."""
        return dict(self._ends)

    def complete_up_to(self, ends: Mapping[str, int]) -> None:
        """Say that everything before ``ends`` has been written: :meth:`checkpoint` records
        these sizes (blocks reserved after them may already be written, or half written)."""
        self._complete = dict(ends)

    def close_for_others(self) -> None:
        """Every reserved block is written: this writer appends at the files' ends again."""
        for tmp, handle in self._files.values():
            try:
                handle.seek(0, os.SEEK_END)
            except OSError as exc:
                raise _cannot_write(tmp, exc) from exc
        self._ends = {}
        self._complete = None

    def flush(self) -> None:
        """Hand whatever is buffered to the operating system (before another process appends)."""
        for tmp, handle in self._files.values():
            try:
                handle.flush()
            except OSError as exc:
                raise _cannot_write(tmp, exc) from exc

    def checkpoint(self, *, sync: bool = False) -> dict[str, int]:
        """Flush both partial files (and fsync them with ``sync``); return their sizes in bytes
        (while others write, the sizes given to :meth:`complete_up_to`)."""
        sizes: dict[str, int] = {}
        for kind, (tmp, handle) in self._files.items():
            try:
                handle.flush()
                if sync:
                    os.fsync(handle.fileno())
                sizes[kind] = os.fstat(handle.fileno()).st_size
            except OSError as exc:
                raise _cannot_write(tmp, exc) from exc
        if self._complete is not None:
            sizes.update(self._complete)
        return sizes

    def sync_in_background(self) -> None:
        """Start writing the partial files' data to disk in a thread, unless one still is.

        What is on disk by the end need not be written by :meth:`commit`'s ``fsync``: the
        disk works while the run does. Errors are left for that final ``fsync`` to report.
        """
        if self._syncing is not None and self._syncing.is_alive():
            return
        descriptors = [handle.fileno() for _tmp, handle in self._files.values()]

        def write_back() -> None:
            for descriptor in descriptors:
                with contextlib.suppress(OSError):
                    os.fdatasync(descriptor)

        self._syncing = threading.Thread(target=write_back, name="presend-writeback", daemon=True)
        self._syncing.start()

    def _wait_for_sync(self) -> None:
        if self._syncing is not None:
            self._syncing.join()
            self._syncing = None

    def commit(self) -> None:
        """Flush, sync and rename both files to their final names."""
        self._wait_for_sync()
        for tmp, handle in self._files.values():
            try:
                _close_synced(handle)
            except OSError as exc:
                raise _cannot_write(tmp, exc) from exc
        for kind, (tmp, _handle) in list(self._files.items()):
            _replace(tmp, self.paths[kind])
            del self._files[kind]
        _sync_dir(self.paths["results"].parent)

    def detach(self) -> None:
        """Close the partial files and leave them for a resumed run."""
        self._wait_for_sync()
        for _tmp, handle in self._files.values():
            with contextlib.suppress(OSError):
                handle.close()
        self._files.clear()

    def abort(self) -> None:
        """Close and remove the partial files (the final names are untouched)."""
        self._wait_for_sync()
        for tmp, handle in self._files.values():
            with contextlib.suppress(OSError):
                handle.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._files.clear()
