"""The calibration page: one self-contained HTML file in the report's own style.

The page is ``calibration.html.j2`` around the section partial ``calibration.section.html.j2``
(which another page can include as it is), with the run report's CSS inlined.
"""

from __future__ import annotations

from typing import Any

from pipeline.calibrate.score import ACTUALS
from pipeline.report.html import STATUSES, _asset, _environment, reason_label

__all__ = ["calibration_context", "render_calibration", "summary_line"]


def _pct(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{100 * ratio:.1f}%"


def summary_line(data: dict[str, Any]) -> str:
    """The one line ``presend calibrate`` prints."""
    rows = data["rows"]
    bounce, safe = data["will_bounce"], data["safe_to_send"]
    return (
        f"calibrate: {rows['with_outcome']} of {rows['total']} rows have an outcome ({rows['settled']} settled); "
        f"will bounce precision {_pct(bounce['precision'])} recall {_pct(bounce['recall'])}; "
        f"safe to send precision {_pct(safe['precision'])} recall {_pct(safe['recall'])}; "
        f"{data['safe_but_bounced']['count']} forecast safe bounced"
    )


def calibration_context(data: dict[str, Any]) -> dict[str, Any]:
    """What the section partial ``calibration.section.html.j2`` reads, from calibration.json's ``data``."""
    matrix = data["matrix"]["forecast"]
    rows = [
        {"status": status, "glyph": STATUSES[status][0], "label": STATUSES[status][1],
         "cells": [matrix[status][label] for label in ACTUALS], "total": sum(matrix[status].values())}
        for status in matrix
    ]
    reasons = [dict(item, label=reason_label(item["reason"])) for item in data["wrong_reasons"]]
    return {"data": data, "actuals": ACTUALS, "matrix_rows": rows, "reasons": reasons, "pct": _pct}


def render_calibration(data: dict[str, Any]) -> str:
    """The calibration page of ``data`` (the body of calibration.json)."""
    template = _environment().get_template("calibration.html.j2")
    return template.render(css=_asset("report.css"), **calibration_context(data))
