"""The report of a finished run, rendered again from its results file (``presend report``, and
``presend calibrate``, which adds the calibration section).

The summary beside the results (``<stem>.summary.json``) gives what the results file cannot
(the levels that ran, the sender section ...); a ``<stem>.calibration.json`` beside them adds
the "Forecast against reality" section.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.io.outputs import atomic_write_text
from pipeline.report.html import render_report
from pipeline.report.tally import read_results, results_summary, sibling_summary

__all__ = ["rerender_report", "results_stem", "sibling_calibration"]


def results_stem(results: Path) -> str:
    """The run's stem: ``list`` for ``list.results.csv``."""
    name = results.name
    return name[: -len(".results.csv")] if name.endswith(".results.csv") else results.stem


def sibling_calibration(results: Path) -> dict[str, Any] | None:
    """The body of ``<stem>.calibration.json`` beside ``results``; None when there is none or
    it cannot be read (the report then has no calibration section)."""
    path = results.with_name(f"{results_stem(results)}.calibration.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "matrix" in data else None


def rerender_report(
    results: Path, target: Path, *, report_rows: int, calibration: dict[str, Any] | None = None
) -> Path:
    """Write the report of ``results`` to ``target`` (atomically) and return ``target``.

    ``calibration`` defaults to the calibration beside the results. Raises InputError when
    ``results`` is not a readable results file.
    """
    if not results.is_file():
        raise InputError(f"{results}: no such file; give the path of a <stem>.results.csv")
    sibling = sibling_summary(results)
    email_column = (sibling or {}).get("input", {}).get("email_column")
    tally, info = read_results(results, row_cap=report_rows, email_column=email_column)
    summary = results_summary(info, tally, sibling)
    link = os.path.relpath(results.resolve(), target.resolve().parent)
    if calibration is None:
        calibration = sibling_calibration(results)
    atomic_write_text(target, render_report(summary, tally, results_name=link, calibration=calibration))
    return target
