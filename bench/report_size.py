"""Benchmark: the report of a large results file stays small and opens fast.

Writes an N-row results file (default 1,000,000 rows, 100,000 domains), then prints:
  - re-reading it into a Tally vs a bare csv.reader pass over the same file (ratio),
  - the rendered page's size,
  - Chromium's load time for that page vs a 12-row report (ratio), when chromium exists.

    python bench/report_size.py [ROWS]
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.report.html import render_report
from pipeline.report.tally import read_results, results_summary
from tests.report_helpers import write_big_results


def load_ms(pages: list[Path]) -> list[float]:
    chromium = shutil.which("chromium")
    if chromium is None:
        return []
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    results = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(profile, executable_path=chromium, args=args)
        for path in pages:
            best = float("inf")
            for _ in range(3):
                page = context.new_page()
                page.goto(path.as_uri())
                best = min(best, page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd"))
                page.close()
            results.append(best)
        context.close()
    return results


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        big = folder / "big.results.csv"
        write_big_results(big, rows)
        started = time.perf_counter()
        with big.open(encoding="utf-8", newline="") as handle:
            for _ in csv.reader(handle):
                pass
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        tally, info = read_results(big)
        reading = time.perf_counter() - started
        started = time.perf_counter()
        page = render_report(results_summary(info, tally), tally)
        rendering = time.perf_counter() - started
        big_page = folder / "big.report.html"
        big_page.write_text(page, encoding="utf-8")
        small = folder / "small.results.csv"
        write_big_results(small, 12)
        small_tally, small_info = read_results(small)
        small_page = folder / "small.report.html"
        small_page.write_text(render_report(results_summary(small_info, small_tally), small_tally), encoding="utf-8")

        print(f"rows: {rows:,}; results file {big.stat().st_size / 1e6:.0f} MB")
        print(f"csv.reader pass {baseline:.2f} s; read_results {reading:.2f} s; ratio {reading / baseline:.2f}")
        print(f"render {rendering:.2f} s; page {big_page.stat().st_size / 1e6:.2f} MB "
              f"(12-row page {small_page.stat().st_size / 1e6:.2f} MB)")
        times = load_ms([small_page, big_page])
        if times:
            print(f"chromium load: 12-row page {times[0]:.0f} ms, {rows:,}-row page {times[1]:.0f} ms; "
                  f"ratio {times[1] / times[0]:.1f}")
        else:
            print("chromium not installed: load time not measured")


if __name__ == "__main__":
    main()
