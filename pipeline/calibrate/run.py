"""``presend calibrate``'s library side: read the outcomes, score the forecast, write the outputs.

Every outcome file's format is detected before any is read (a file in no known format stops
the run at once); the results file is then streamed against the settled outcomes. The
outputs are written atomically beside the results (or in ``out_dir``):
``<stem>.calibration.json`` and ``<stem>.calibration.html``. With a cache, the bounces are
kept for the next ``clean`` (see :mod:`pipeline.calibrate.suppress`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline import __version__
from pipeline.calibrate.join import forecast_rows, settle
from pipeline.calibrate.parsers import FileReport, detect_format, outcome_files, read_file
from pipeline.calibrate.report import render_calibration, summary_line
from pipeline.calibrate.score import Scores
from pipeline.calibrate.suppress import remember
from pipeline.errors import InputError
from pipeline.io.outputs import atomic_write_json, atomic_write_text, ensure_writable_dir
from pipeline.options import RunOptions
from pipeline.report.rerender import rerender_report, results_stem

if TYPE_CHECKING:
    from pipeline.cache import VerdictCache

__all__ = ["Calibration", "calibrate", "calibration_paths"]


@dataclass(frozen=True, slots=True)
class Calibration:
    """What a calibration wrote: its outputs, its data (calibration.json) and its one-line summary."""

    paths: dict[str, Path]
    data: dict[str, Any]
    line: str


#: The problem rows the re-rendered report shows (``clean``'s --report-rows default).
REPORT_ROWS: int = int(RunOptions.__dataclass_fields__["report_row_cap"].default)  # type: ignore[arg-type]


def calibration_paths(results: Path, out_dir: Path | None) -> dict[str, Path]:
    """Where the outputs go: ``<stem>.calibration.json`` / ``.html`` and the run's report again
    (``<stem>.report.html``, now with the calibration section), in ``out_dir`` or beside the results."""
    stem = results_stem(results)
    folder = out_dir if out_dir is not None else results.parent
    return {
        "json": folder / f"{stem}.calibration.json",
        "html": folder / f"{stem}.calibration.html",
        "report": folder / f"{stem}.report.html",
    }


def calibrate(
    results: Path,
    outcomes: Sequence[Path],
    *,
    out_dir: Path | None = None,
    suppress: VerdictCache | None = None,
) -> Calibration:
    """Score the forecast in ``results`` against the real outcomes in ``outcomes``.

    ``suppress`` (a verdict cache) keeps the bounces for the next ``clean``. Raises
    :class:`InputError` naming the file (and line) for input that cannot be used.
    """
    if not results.is_file():
        raise InputError(f"{results}: no such file; give the path of a <stem>.results.csv")
    files = outcome_files(list(outcomes))
    if not files:
        raise InputError("no outcome files given; give a mail log, DSN/mbox or ESP export")
    paths = calibration_paths(results, out_dir)
    inputs = {results.resolve(), *(f.resolve() for f in files)}
    for path in paths.values():
        if path.resolve() in inputs:
            raise InputError(f"{path}: is an input of this run; choose another folder with --out")
    reports = [FileReport(path, detect_format(path)) for path in files]
    settled = settle(itertools.chain.from_iterable(read_file(r.path, r) for r in reports))
    scores = Scores(settled)
    for row in forecast_rows(results):
        scores.add(row)
    data: dict[str, Any] = {
        "presend_version": __version__,
        "generated_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "results": str(results),
        "results_name": results.name,
        "outcome_files": [report.as_dict() for report in reports],
        **scores.as_dict(),
    }
    if suppress is not None:
        data["suppressed"] = remember(suppress, settled).as_dict()
    ensure_writable_dir(paths["json"].parent)
    atomic_write_json(paths["json"], data)
    atomic_write_text(paths["html"], render_calibration(data))
    # the run's report again, now with its "Forecast against reality" section
    rerender_report(results, paths["report"], report_rows=REPORT_ROWS, calibration=data)
    return Calibration(paths, data, summary_line(data))
