"""A run's commit: its partial outputs and resume state, committed together after each chunk.

:class:`RunCommit` opens the partial outputs (fresh, or as an interrupted run left them for
``--resume``), syncs them and records the resume state at each commit, and renames them into
place at the end. :func:`fingerprint_options` says which options must match for a resume.
"""

from __future__ import annotations

import contextlib
import csv
from concurrent.futures import Future
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from pipeline.columns import WIDTH
from pipeline.errors import InputError
from pipeline.io.ingest import Table
from pipeline.io.outputs import TableWriter
from pipeline.io.runfiles import RunFiles
from pipeline.io.state import InputFingerprint, RunState, StateStore, check_resumable, dedupe_path
from pipeline.io.textfile import reading_own_outputs
from pipeline.options import RunOptions
from pipeline.probe.connect import redact_proxy
from pipeline.report.tally import Tally
from pipeline.rules.dedupe import RECORD, DuplicateIndex

#: The end of every message that refuses a resume.
START_OVER = "run without --resume to start over"
#: Bytes of one duplicate-index entry in the dedupe partial file.
DUPLICATE_RECORD_BYTES = RECORD.itemsize
#: Options that only say how fast or where a run executes, or how much it reports: a run
#: interrupted with one value may be resumed with another.
_NOT_SHAPING = (
    "resume", "chunk_size", "workers", "engine", "scheduler", "input_url", "report_row_cap", "cache", "fast_syntax",
)
#: Rows fed to the tally at a time while a resumed run reads back its partial results.
_REBUILD_BATCH = 50_000


def options_as_data(options: RunOptions) -> dict[str, Any]:
    """``options`` as plain JSON data (paths as text)."""
    cleaned: dict[str, Any] = _plain(asdict(options))
    probe = cleaned.get("probe", {})
    if probe.get("proxy"):
        probe["proxy"] = redact_proxy(probe["proxy"])  # never the proxy's user name or password
    return cleaned


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def fingerprint_options(options: RunOptions) -> dict[str, Any]:
    """The options that shape the outputs (a resumed run must use the same)."""
    data = options_as_data(options)
    # Paths as the files they name: a resumed run may spell them relative or absolute.
    data["input"] = str(options.input.resolve())
    data["out_dir"] = str(options.output_dir.resolve())
    for key in _NOT_SHAPING:
        data.pop(key, None)
    data.get("dns", {}).pop("concurrency", None)
    data.get("probe", {}).pop("concurrency", None)
    data.get("probe", {}).pop("proxy", None)  # the route, not the answers: the same through a proxy
    return data


def rebuild_tally(tally: Tally, results: Path, delimiter: str, email_index: int) -> int:
    """Feed the tally with the rows already committed to the (cut back) partial results file.

    Returns how many rows it read, which a resumed run checks against its state.
    """
    number = 0
    with reading_own_outputs(), results.open("r", encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        numbers: list[int] = []
        cells: list[str] = []
        rows: list[list[str]] = []
        for number, row in enumerate(reader, start=1):
            if len(row) < WIDTH:
                raise InputError(
                    f"{results}: row {number} of the interrupted run's results is cut short; {START_OVER}"
                )
            numbers.append(number)
            cells.append(row[email_index] if email_index < len(row) - WIDTH else "")
            rows.append(row[-WIDTH:])
            if len(rows) >= _REBUILD_BATCH:
                tally.add_many(numbers, cells, rows)
                numbers, cells, rows = [], [], []
        tally.add_many(numbers, cells, rows)
    return number


class RunCommit:
    """The partial outputs of a run and its resume state, committed together after each chunk.

    ``fingerprint`` is the input's fingerprint, hashed in a thread while the run starts.
    """

    def __init__(self, options: RunOptions, fingerprint: Future[InputFingerprint], started_at: str) -> None:
        self.options = options
        self.out_dir = options.output_dir
        self.store = StateStore(self.out_dir, options.stem)
        self._fingerprint = fingerprint
        self.started_at = started_at
        self.option_print = fingerprint_options(options)
        self.dedupe = dedupe_path(self.out_dir, options.stem)
        self.resumed = False
        self.resumed_from = 0
        self.writer: TableWriter
        self._dedupe_file: IO[bytes]

    @property
    def fingerprint(self) -> InputFingerprint:
        """The input's fingerprint (waits for the hashing thread)."""
        return self._fingerprint.result()

    def start(self, table: Table, index: DuplicateIndex, tally: Tally) -> int:
        """Open the partial outputs (fresh, or as an interrupted run left them); rows already done."""
        state = self.store.load() if self.options.resume else None
        if state is not None:
            return self._resume(state, table, index, tally)
        self.writer = TableWriter(self.out_dir, self.options.stem, table.info, keep_risky=self.options.keep_risky)
        self._dedupe_file = self._open_dedupe("wb")
        # A state left by an earlier run is for outputs this run starts over; the first
        # commit records this run's own.
        self.store.clear()
        return 0

    def _resume(self, state: RunState, table: Table, index: DuplicateIndex, tally: Tally) -> int:
        """Continue from ``state`` once it agrees with the input, the options and the partial files."""
        info = table.info
        check_resumable(state, self.fingerprint, self.option_print, self.store.path)
        self._check_partials(state)
        self.writer = TableWriter(
            self.out_dir, self.options.stem, info, keep_risky=self.options.keep_risky, resume=state.sizes
        )
        with self.dedupe.open("r+b") as raw:
            raw.truncate(state.sizes["dedupe"])
            index.load(raw.read())
        rows = rebuild_tally(tally, self.writer.partials["results"], info.output_delimiter, info.email_index)
        if rows != state.rows_done:
            raise InputError(
                f"{self.store.path}: the resume state says {state.rows_done} rows were done, but the partial "
                f"results hold {rows}; {START_OVER}"
            )
        self._dedupe_file = self._open_dedupe("ab")
        self.started_at = state.started_at
        self.resumed = True
        self.resumed_from = state.rows_done
        return state.rows_done

    def _check_partials(self, state: RunState) -> None:
        """Raise :class:`InputError` unless every partial file holds at least what ``state`` recorded."""
        partials = RunFiles.of(self.out_dir, self.options.stem).partials
        for kind in ("dedupe", "results", "clean"):
            path = partials[kind]
            if not path.exists() or path.stat().st_size < state.sizes[kind]:
                raise InputError(
                    f"{path}: a partial output of the interrupted run is missing or cut short; {START_OVER}"
                )
        if state.sizes["dedupe"] % DUPLICATE_RECORD_BYTES:
            raise InputError(f"{self.store.path}: the resume state does not match {self.dedupe.name}; {START_OVER}")

    def _open_dedupe(self, mode: str) -> IO[bytes]:
        try:
            return self.dedupe.open(mode)
        except OSError as exc:
            raise self.writer.write_error(exc) from exc

    def commit(self, rows_done: int, dedupe_entries: bytes) -> None:
        """Sync everything written so far and record it as the resume point."""
        try:
            self._dedupe_file.write(dedupe_entries)
            self._dedupe_file.flush()
        except OSError as exc:
            raise self.writer.write_error(exc) from exc
        sizes = self.writer.checkpoint(sync=False)
        sizes["dedupe"] = self._dedupe_file.tell()
        self.store.save(RunState(self.fingerprint, self.option_print, rows_done, sizes, self.started_at))
        self.writer.sync_in_background()

    def finish(self) -> None:
        """Drop the resume state, then rename the outputs into place.

        In this order a run killed in between leaves partial files and no state (``--resume``
        then starts over), never a state whose partial files were already renamed away
        (which ``--resume`` would refuse as cut short).
        """
        self.store.clear()
        self.writer.commit()
        self._dedupe_file.close()
        with contextlib.suppress(FileNotFoundError):
            self.dedupe.unlink()

    def interrupted(self) -> None:
        """Leave the partial outputs and the state for ``--resume``."""
        with contextlib.suppress(AttributeError):
            self.writer.detach()
        with contextlib.suppress(AttributeError, OSError):
            self._dedupe_file.close()


__all__ = ["DUPLICATE_RECORD_BYTES", "RunCommit", "fingerprint_options", "options_as_data", "rebuild_tally"]
