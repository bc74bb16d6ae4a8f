"""The calibration page in a real headless Chromium: loads cleanly, fetches nothing, shows the matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.run_helpers import run_cli
from tests.test_calibrate import LOG, PRESEND, _forecast
from tests.test_report_browser import browser, open_report

pytestmark = pytest.mark.lab
__all__ = ["browser"]  # the fixture, shared with the report's browser tests


def test_the_calibration_page_renders(browser: Any, tmp_path: Path) -> None:
    results = _forecast(tmp_path)
    log = tmp_path / "maillog"
    log.write_text(LOG)
    done = run_cli([*PRESEND, "calibrate", str(results), str(log)])
    assert done.returncode == 0, done.stderr
    page, errors, requests = open_report(browser, tmp_path / "list.calibration.html")
    assert errors == []
    assert all(url.startswith("file://") for url in requests), requests
    matrix = page.locator("table[aria-labelledby=cal-matrix] tbody tr")
    assert matrix.count() == 4
    rows = [matrix.nth(i).inner_text().split() for i in range(matrix.count())]
    unchecked = next(row for row in rows if "unknown" in row[:2])  # --no-dns: well formed, not checked
    assert unchecked[-6:] == ["2", "0", "1", "1", "1", "5"]
    assert page.locator("#cal-safe_but_bounced").inner_text() == "Forecast safe, but bounced (1)"
    assert page.get_by_text("Ghost@good-shop.com", exact=True).count() == 1
