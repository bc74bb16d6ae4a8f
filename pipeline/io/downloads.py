"""The downloads by category: one CSV per problem group, beside the clean list.

Once a run's results file is in place, one streaming pass over it writes
``<stem>.undeliverable.csv``, ``<stem>.risky.csv``, ``<stem>.unknown.csv``,
``<stem>.fixable.csv`` and ``<stem>.duplicates.csv``: each row's original columns, then the
presend columns a person acts on (:data:`DOWNLOAD_COLUMNS`). Working from the finished file
makes the downloads the same whatever engine wrote it, and after ``--resume`` too; memory
stays flat (one row at a time), whatever the list's size.

Every group gets its file on every run, a header-only one when no row falls in it: a
script can rely on the names, and a file left by an earlier run is never mistaken for this
run's. The files are written like the other outputs: the results file's delimiter,
encoding (a byte-order mark when it has one) and quoting, to temporary files renamed into
place at the end.
"""

from __future__ import annotations

import contextlib
import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pipeline.columns import REASON, RESULT_COLUMNS, STATUS, SUGGESTION, WIDTH
from pipeline.errors import InputError
from pipeline.io.outputs import LINE_END, SENDABLE_REASONS, replace_into, sync_dir, temp_beside
from pipeline.io.safetext import json_safe
from pipeline.io.textfile import reading_own_outputs
from pipeline.models import Status

#: The groups, in the order they are written and named in summary.json.
GROUPS: tuple[str, ...] = ("undeliverable", "risky", "unknown", "fixable", "duplicates")
#: The presend columns each download keeps after the row's original columns: the result
#: columns from presend_status through presend_suggestion (what a person acts on).
DOWNLOAD_COLUMNS: tuple[str, ...] = RESULT_COLUMNS[: RESULT_COLUMNS.index("presend_suggestion") + 1]
_PICK = tuple(RESULT_COLUMNS.index(name) for name in DOWNLOAD_COLUMNS)
_UTF8_BOM = b"\xef\xbb\xbf"


def download_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    """Where each group's file goes: ``<stem>.<group>.csv``."""
    return {group: out_dir / f"{stem}.{group}.csv" for group in GROUPS}


def groups_of(values: Sequence[str]) -> list[str]:
    """The groups a row falls in, from its result columns.

    ``undeliverable``, ``risky``, ``duplicates``: by status. ``unknown``: status unknown, but
    for the rows only left unchecked (a run without DNS): those are clean, nothing having
    been found against them (:data:`~pipeline.io.outputs.SENDABLE_REASONS`). ``fixable``: a
    row with a suggested correction that is not a repeat of an earlier row (the fix is made
    once, on the first). A fixable row is also in its status's group.
    """
    status = values[STATUS]
    groups: list[str] = []
    if status == Status.UNDELIVERABLE:
        groups.append("undeliverable")
    elif status == Status.RISKY:
        groups.append("risky")
    elif status == Status.UNKNOWN and values[REASON] not in SENDABLE_REASONS:
        groups.append("unknown")
    elif status == Status.DUPLICATE:
        groups.append("duplicates")
    if values[SUGGESTION] and status != Status.DUPLICATE:
        groups.append("fixable")
    return groups


@dataclass(frozen=True, slots=True)
class Download:
    """One group's file and how many rows it holds."""

    path: Path
    rows: int


def write_downloads(results: Path, out_dir: Path, stem: str, delimiter: str) -> dict[str, Download]:
    """Write every group's file from the finished ``results`` file; each group's file and count.

    Raises :class:`~pipeline.errors.OutputError` when a file cannot be written (nothing is
    left half-written under a final name) and :class:`InputError` when the results file
    does not hold presend's columns.
    """
    paths = download_paths(out_dir, stem)
    with results.open("rb") as raw:
        bom = raw.read(len(_UTF8_BOM)) == _UTF8_BOM
    encoding = "utf-8-sig" if bom else "utf-8"
    temps: dict[str, tuple[Path, IO[str]]] = {}
    try:
        for group, path in paths.items():
            fd, tmp = temp_beside(path)
            temps[group] = (tmp, os.fdopen(fd, "w", encoding=encoding, newline=""))
        counts = _split(results, delimiter, {group: handle for group, (_tmp, handle) in temps.items()})
        for _tmp, handle in temps.values():
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
    except BaseException:
        for tmp, handle in temps.values():
            with contextlib.suppress(OSError):
                handle.close()
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    for group, (tmp, _handle) in temps.items():
        replace_into(tmp, paths[group])
    sync_dir(out_dir)
    return {group: Download(paths[group], counts[group]) for group in GROUPS}


def _split(results: Path, delimiter: str, handles: dict[str, IO[str]]) -> dict[str, int]:
    """Stream ``results`` into the groups' files (header first); rows written per group.

    Most lines hold no quote: their fields are the line split at the delimiter, and a line
    whose row falls in no group (most rows) costs one split from the right. A record with a
    quote may run over several lines (a quoted line break): lines are joined until its
    quotes pair up (an even count), then read, and written, by :mod:`csv`.
    """
    writers: dict[str, Callable[[Sequence[str]], object]] = {
        group: csv.writer(handle, delimiter=delimiter, quotechar='"', lineterminator=LINE_END).writerow
        for group, handle in handles.items()
    }
    counts = dict.fromkeys(handles, 0)
    with reading_own_outputs(), results.open(encoding="utf-8-sig", newline="") as source:
        header = next(csv.reader([_record(source)], delimiter=delimiter), None)
        if header is None or tuple(header[-WIDTH:]) != RESULT_COLUMNS:
            raise InputError(f"{results}: not a presend results file; the downloads were not written")
        width = len(header) - WIDTH
        for write in writers.values():
            write([*header[:width], *DOWNLOAD_COLUMNS])
        pending = ""
        deliverable, unknown = Status.DELIVERABLE.value, Status.UNKNOWN.value
        status_at, reason_at, suggestion_at = 1 + STATUS, 1 + REASON, 1 + SUGGESTION
        for line in source:
            if pending or '"' in line:
                pending += line
                if pending.count('"') % 2:
                    continue  # a quoted field runs on
                row = next(csv.reader([pending], delimiter=delimiter))
                pending = ""
                values = row[-WIDTH:]
                for group in groups_of(values):
                    writers[group]([*row[:width], *(values[index] for index in _PICK)])
                    counts[group] += 1
                continue
            text = line.rstrip("\r\n")
            tail = text.rsplit(delimiter, WIDTH)
            status = tail[status_at]
            if not tail[suggestion_at] and (
                status == deliverable or (status == unknown and tail[reason_at] in SENDABLE_REASONS)
            ):
                continue  # a clean row (most rows): in no group
            row = text.split(delimiter)
            values = row[-WIDTH:]
            # No quote on the line: no value needs quoting, the line is the values joined.
            picked = delimiter.join([*row[:width], *(values[index] for index in _PICK)]) + LINE_END
            for group in groups_of(values):
                handles[group].write(picked)
                counts[group] += 1
    return counts


def _record(source: IO[str]) -> str:
    """The next whole CSV record of ``source`` (lines joined until its quotes pair up)."""
    record = source.readline()
    while record.count('"') % 2:
        more = source.readline()
        if not more:
            break
        record += more
    return record


def downloads_summary(downloads: dict[str, Download]) -> dict[str, dict[str, str | int]]:
    """summary.json's ``downloads``: ``{group: {"file": NAME, "rows": N}}`` (a name's undecodable
    bytes as ``\\xNN``, as summary.json writes every file name)."""
    data = {group: {"file": item.path.name, "rows": item.rows} for group, item in downloads.items()}
    safe: dict[str, dict[str, str | int]] = json_safe(data)
    return safe


__all__ = [
    "DOWNLOAD_COLUMNS",
    "GROUPS",
    "Download",
    "download_paths",
    "downloads_summary",
    "groups_of",
    "write_downloads",
]
