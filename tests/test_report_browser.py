"""The report in a real headless Chromium: loads cleanly, filters and search work, renders."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.report.html import render_report
from tests.conftest import require_binary
from tests.report_helpers import SUMMARY, sample_tally, write_big_results

pytestmark = pytest.mark.lab

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        # A persistent context on a fresh, empty profile directory (Chromium's --user-data-dir).
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=executable, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900}
        )
        try:
            yield context
        finally:
            context.close()


def open_report(browser: Any, path: Path) -> tuple[Any, list[str], list[str]]:
    """Open a report from file://; return the page, console errors, and network requests."""
    page = browser.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, requests


def png_colours(data: bytes) -> int:
    """Distinct colours in an 8-bit RGB(A) PNG (decoded here: no imaging library needed)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    colours: set[bytes] = set()
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            upper_left = previous[i - channels] if i >= channels else 0
            if filter_type == 1:
                line[i] = (line[i] + left) & 0xFF
            elif filter_type == 2:
                line[i] = (line[i] + up) & 0xFF
            elif filter_type == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif filter_type == 4:
                p = left + up - upper_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
                predictor = left if pa <= pb and pa <= pc else (up if pb <= pc else upper_left)
                line[i] = (line[i] + predictor) & 0xFF
        for x in range(0, stride, channels * 4):  # every 4th pixel is plenty
            colours.add(bytes(line[x : x + 3]))
        previous = line
    return len(colours)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("report") / "leads.report.html"
    path.write_text(render_report(SUMMARY, sample_tally()), encoding="utf-8")
    return path


def _visible_rows(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "#problem-table tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.reason)"
    )


def test_loads_without_errors_or_fetches(browser: Any, report_file: Path) -> None:
    page, errors, requests = open_report(browser, report_file)
    try:
        assert errors == []
        assert requests == [report_file.as_uri()]
        assert page.title() == "presend report — leads.csv"
        assert page.locator("h1").inner_text() == "leads.csv"
        assert page.locator(".chart [role=img]").count() == 3
        assert len(_visible_rows(page)) == 9
    finally:
        page.close()


def test_filters_and_search(browser: Any, report_file: Path) -> None:
    page, errors, _ = open_report(browser, report_file)
    try:
        page.select_option("#f-status", "unknown")
        assert sorted(_visible_rows(page)) == ["greylisted", "sender_blocked"]
        assert page.locator("#shown-count").inner_text() == "2"
        page.select_option("#f-status", "")
        page.select_option("#f-code", "550")
        assert sorted(_visible_rows(page)) == ["mailbox_not_found", "nxdomain", "nxdomain", "nxdomain"]
        page.select_option("#f-reason", "nxdomain")
        assert len(_visible_rows(page)) == 3
        page.fill("#f-text", "GMIAL")
        page.wait_for_function("document.getElementById('shown-count').textContent === '2'")
        assert _visible_rows(page) == ["nxdomain", "nxdomain"]
        page.fill("#f-text", "no-such-thing")
        page.wait_for_function("document.getElementById('shown-count').textContent === '0'")
        assert page.locator("#no-match").is_visible()
        page.click("#f-reset")
        assert len(_visible_rows(page)) == 9 and not page.locator("#no-match").is_visible()
        page.select_option("#f-code", "-")
        assert _visible_rows(page) == ["duplicate"]
        assert errors == []
    finally:
        page.close()


def test_screenshot_is_not_blank_and_print_works(browser: Any, report_file: Path, tmp_path: Path) -> None:
    page, errors, _ = open_report(browser, report_file)
    try:
        shot = page.screenshot(full_page=False)
        assert png_colours(shot) > 20
        page.emulate_media(media="print")
        assert page.locator(".filters").is_hidden()
        pdf = page.pdf(path=str(tmp_path / "report.pdf"))
        assert pdf[:5] == b"%PDF-" and len(pdf) > 10_000
        assert errors == []
    finally:
        page.close()


def test_million_row_results_give_a_small_report_that_opens_fast(browser: Any, tmp_path: Path) -> None:
    """1M rows, 100k domains: the page stays a few MB and works (bench/report_load.py times it)."""
    from pipeline.report.tally import read_results, results_summary

    path = tmp_path / "big.results.csv"
    rows = 1_000_000
    write_big_results(path, rows, delimiter=";")  # ';' so the reader's delimiter sniffing is used too

    tally, info = read_results(path)
    assert tally.rows == rows and tally.problem_rows_total == 400_000
    page_text = render_report(results_summary(info, tally), tally)
    out = tmp_path / "big.report.html"
    out.write_text(page_text, encoding="utf-8")
    size = out.stat().st_size
    assert size < 5_000_000, size

    page, errors, requests = open_report(browser, out)
    try:
        assert errors == [] and requests == [out.as_uri()]
        assert len(_visible_rows(page)) == 5_000
        # The rows shown are ranked: those that will bounce come first (fixable ones aside: none here).
        page.select_option("#f-reason", "consecutive_dots")
        assert set(_visible_rows(page)) == {"consecutive_dots"}  # all 5,000 shown: 100,000 such rows
        assert "400,000 rows are risky" in page.inner_text("#rows-h + p")
        assert png_colours(page.screenshot()) > 20
    finally:
        page.close()


def test_the_sender_readiness_section_opens_the_demo_report(browser: Any, tmp_path: Path) -> None:
    """The demo (real lab DNS and mail hosts) has one sender problem: its section is first and readable."""
    from pipeline.lab.demo import run_demo

    report = run_demo(tmp_path).paths["report"]
    page, errors, requests = open_report(browser, report)
    try:
        assert errors == [] and requests == [report.as_uri()]
        headings = page.eval_on_selector_all("main h2", "hs => hs.map(h => h.textContent)")
        assert headings[:2] == ["Sender readiness", "The answer"]
        section = page.locator("section.sender")
        assert section.is_visible()
        assert "550 provider · Google rows" in section.inner_text()
        assert "1 row decided by this" in section.inner_text()
    finally:
        page.close()
