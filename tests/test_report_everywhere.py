"""The report in real headless Chromium at 1280 / 768 / 400 px, light and dark, on paper, and its export.

The page is the real demo's (``presend demo``'s whole pipeline against its embedded loopback
lab), plus a small report of awkward cells for the export's quoting and formula guard.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.io.safetext import spreadsheet_text
from pipeline.report.html import render_report
from pipeline.report.tally import ProblemRow, Tally
from pipeline.run import RunResult
from tests.conftest import require_binary
from tests.report_helpers import SUMMARY, columns
from tests.test_report_browser import CHROMIUM_ARGS, png_colours

pytestmark = pytest.mark.lab

WIDTHS = (1280, 768, 400)
SCHEMES = ("light", "dark")


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    executable = require_binary("chromium")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=executable, args=CHROMIUM_ARGS, accept_downloads=True
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    from pipeline.lab.demo import run_demo

    return run_demo(tmp_path_factory.mktemp("demo"))


def _open(chromium: Any, path: Path, width: int, scheme: str = "light") -> tuple[Any, list[str], list[str]]:
    """The report at ``width`` px in ``scheme``; the page, its errors and the URLs it asked for."""
    page = chromium.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("request", lambda request: requests.append(request.url))
    page.set_viewport_size({"width": width, "height": 900})
    page.emulate_media(media="screen", color_scheme=scheme)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, requests


def _rgb(css: str) -> tuple[float, ...]:
    """``rgb(r, g, b)`` / ``rgba(...)`` as three 0..1 channels."""
    found = re.findall(r"[\d.]+", css)
    return tuple(float(v) / 255 for v in found[:3])


def _luminance(css: str) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in _rgb(css))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(one: str, other: str) -> float:
    """WCAG contrast ratio of two colours."""
    a, b = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (a + 0.05) / (b + 0.05)


#: Elements that stick out of the page's width, outside any sideways scroller.
_OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('.scroll') || el.closest('.sr-only')) continue;
    const box = el.getBoundingClientRect();
    if (box.width && box.right > width + 0.5) out.push(el.tagName + '.' + el.className + ' ' + box.right);
  }
  return out;
}"""

_STYLE = "(el, name) => getComputedStyle(el).getPropertyValue(name)"


def _check_readable(page: Any) -> None:
    """Chart words at full size, inside the page, and readable on the page's background."""
    background = page.eval_on_selector("body", _STYLE, "background-color")
    labels = page.eval_on_selector_all(
        ".bar-label, .bar-value",
        "els => els.map(e => [parseFloat(getComputedStyle(e).fontSize), "
        "e.getBoundingClientRect().right, getComputedStyle(e).color])",
    )
    assert labels
    width = page.evaluate("document.documentElement.clientWidth")
    for size, right, colour in labels:
        assert size >= 12 and right <= width + 0.5
        assert _contrast(colour, background) >= 4.5, (colour, background)
    for key in page.query_selector_all(".legend .key"):
        assert _contrast(key.evaluate(_STYLE, "color"), background) >= 4.5
    # Solid and dotted bars stand out from the page (3:1, as for any graphic); hatched ones are striped.
    fills = page.eval_on_selector_all(".bar", "bars => bars.map(b => getComputedStyle(b).backgroundColor)")
    solid = [fill for fill in fills if not fill.startswith("rgba(0, 0, 0, 0)")]
    assert solid and len(solid) < len(fills)
    assert all(_contrast(fill, background) >= 3 for fill in solid), (solid, background)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("width", WIDTHS)
def test_reads_at_every_width_in_both_schemes(
    chromium: Any, demo: RunResult, width: int, scheme: str, tmp_path: Path
) -> None:
    report = demo.paths["report"]
    page, errors, requests = _open(chromium, report, width, scheme)
    try:
        assert errors == [] and requests == [report.as_uri()]
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.evaluate(_OVERFLOWING) == []
        _check_readable(page)
        lefts = {round(box["x"]) for box in (c.bounding_box() for c in page.query_selector_all(".card")) if box}
        assert (len(lefts) == 1) == (width == 400), lefts  # the cards stack on a phone only
        shot = page.screenshot(full_page=False)
        (tmp_path / f"report-{width}-{scheme}.png").write_bytes(shot)
        assert png_colours(shot) > 20
    finally:
        page.close()


def test_dark_mode_follows_the_system_setting(chromium: Any, demo: RunResult) -> None:
    colours = {}
    for scheme in SCHEMES:
        page, _, _ = _open(chromium, demo.paths["report"], 1280, scheme)
        try:
            colours[scheme] = (
                page.eval_on_selector("body", _STYLE, "background-color"),
                page.eval_on_selector("body", _STYLE, "color"),
            )
        finally:
            page.close()
    (light_bg, light_ink), (dark_bg, dark_ink) = colours["light"], colours["dark"]
    assert _luminance(light_bg) > 0.9 and _luminance(dark_bg) < 0.05
    assert _contrast(light_ink, light_bg) >= 7 and _contrast(dark_ink, dark_bg) >= 7


def test_the_address_column_stays_in_view_on_a_phone(chromium: Any, demo: RunResult) -> None:
    page, errors, _ = _open(chromium, demo.paths["report"], 400, "dark")
    try:
        scroller = page.locator(".scroll.tall")
        scroller.scroll_into_view_if_needed()
        # The scroller lays its rows out once it is on screen (content-visibility: auto).
        page.wait_for_function(
            "(() => { const s = document.querySelector('.scroll.tall'); return s.scrollWidth > s.clientWidth; })()"
        )
        first = page.locator("#problem-table tbody tr").first
        address, detail = first.locator("td").nth(0), first.locator("td").nth(5)
        before = detail.bounding_box()
        scroller.evaluate("s => { s.scrollLeft = s.scrollWidth; }")
        box, moved, frame = address.bounding_box(), detail.bounding_box(), scroller.bounding_box()
        assert before and box and moved and frame
        assert moved["x"] < before["x"] - 200  # the table did scroll sideways ...
        assert frame["x"] - 0.5 <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 0.5
        assert "@" in address.inner_text()  # ... and the address is still there to read
        # The sticky cell hides what scrolls under it (an opaque background, the page's own).
        assert address.evaluate(_STYLE, "background-color") == page.eval_on_selector("body", _STYLE, "background-color")
        assert errors == []
    finally:
        page.close()


def _pdf_pages(path: Path) -> int:
    pdfinfo = require_binary("pdfinfo")
    info = subprocess.run([pdfinfo, str(path)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]


@pytest.mark.parametrize("paper", ["Letter", "A4"])
def test_the_demo_prints_on_a_handful_of_pages(chromium: Any, demo: RunResult, tmp_path: Path, paper: str) -> None:
    page, errors, _ = _open(chromium, demo.paths["report"], 1280, "dark")
    try:
        page.emulate_media(media="print", color_scheme="dark")
        # Paper stays light whatever the screen's scheme.
        assert _luminance(page.eval_on_selector("body", _STYLE, "background-color")) > 0.9
        table = page.locator("#problem-table").bounding_box()
        heads = page.eval_on_selector_all(
            "#problem-table thead th", "ths => ths.map(t => t.getBoundingClientRect().width)"
        )
        assert table and len(heads) == 7
        assert min(heads) >= 0.035 * table["width"] and heads[5] >= 0.25 * table["width"]  # Detail: a real column
        sizes = page.eval_on_selector_all(
            "#problem-table td", "tds => tds.map(t => parseFloat(getComputedStyle(t).fontSize))"
        )
        assert min(sizes) >= 8
        pdf = tmp_path / "report.pdf"
        page.pdf(path=str(pdf), format=paper)
        assert 2 <= _pdf_pages(pdf) <= 8
        assert errors == []
    finally:
        page.close()


#: Awkward cells for the export: formula starts, quotes, delimiters, a line break, non-ASCII.
AWKWARD = [
    (
        '=HYPERLINK("http://x.example","y")@a.example',
        columns("undeliverable", "501", "invalid_syntax", "", enhanced="5.1.3", detail='Bad "quoted", with comma'),
    ),
    (
        "+1@b.example",
        columns("undeliverable", "550", "nxdomain", "+1@b.example", enhanced="5.1.2", detail="line one\nline two"),
    ),
    ("-dash@c.example", columns("risky", "250", "catch_all", "-dash@c.example", detail="@mention start")),
    ("@at@d.example", columns("undeliverable", "501", "invalid_syntax", "", enhanced="5.1.3")),
    (
        "zoë@gmial.com",
        columns("undeliverable", "550", "nxdomain", "zoë@gmial.com", enhanced="5.1.2", suggestion="zoë@gmail.com"),
    ),
    ("sam@grey.example", columns("unknown", "450", "greylisted", "sam@grey.example", enhanced="4.2.0")),
    ("ok@acme.example", columns("deliverable", "250", "mailbox_exists", "ok@acme.example")),
]

DOWNLOADS = {
    "undeliverable": {"file": "leads.undeliverable.csv", "rows": 3},
    "risky": {"file": "leads.risky.csv", "rows": 1},
    "unknown": {"file": "leads.unknown.csv", "rows": 1},
    "fixable": {"file": "leads.fixable.csv", "rows": 1},
    "duplicates": {"file": "leads.duplicates.csv", "rows": 0},
}


@pytest.fixture(scope="module")
def awkward(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Tally]:
    tally = Tally()
    for number, (cell, cols) in enumerate(AWKWARD, start=1):
        tally.add(number, cell, cols)
    path = tmp_path_factory.mktemp("awkward") / "leads.report.html"
    path.write_text(render_report({**SUMMARY, "downloads": DOWNLOADS}, tally), encoding="utf-8")
    return path, tally


def _expected_csv(rows: list[ProblemRow]) -> str:
    """The export as presend means it: these rows, every cell formula-guarded, CSV with CRLF."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "row",
            "email",
            "presend_status",
            "presend_code",
            "presend_enhanced",
            "presend_reason",
            "presend_detail",
            "presend_suggestion",
        ]
    )
    for r in rows:
        values = [str(r.row), r.input, r.status, r.code, r.enhanced, r.reason, r.detail, r.suggestion]
        writer.writerow([spreadsheet_text(v) for v in values])
    return "\ufeff" + out.getvalue()


def _export(page: Any) -> tuple[str, str]:
    with page.expect_download() as started:
        page.click("#f-export")
    download = started.value
    return download.suggested_filename, Path(download.path()).read_bytes().decode("utf-8")


def test_export_downloads_exactly_the_filtered_rows(chromium: Any, awkward: tuple[Path, Tally]) -> None:
    path, tally = awkward
    rows = tally.problem_rows
    page, errors, _ = _open(chromium, path, 1280)
    try:
        name, text = _export(page)
        assert name == "leads.problems.csv"
        assert text == _expected_csv(rows)
        page.select_option("#f-status", "undeliverable")
        assert _export(page)[1] == _expected_csv([r for r in rows if r.status == "undeliverable"])
        page.fill("#f-text", "gmial")
        page.wait_for_function("document.getElementById('shown-count').textContent === '1'")
        assert _export(page)[1] == _expected_csv([r for r in rows if "gmial" in r.input])
        page.click("#f-reset")
        page.select_option("#f-code", "250")
        parsed = list(csv.reader(io.StringIO(_export(page)[1].lstrip("\ufeff"))))
        assert [row[1] for row in parsed[1:]] == ["'-dash@c.example"]  # guarded, still the same address after the '
        assert errors == []
    finally:
        page.close()


def test_formula_guard_matches_python() -> None:
    cases = ["=1+1", "+1", "-1", "@x", "\tx", "\rx", "a=b", "", "plain@example.com", "'quoted"]
    assert [spreadsheet_text(c) for c in cases] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "'\rx",
        "a=b",
        "",
        "plain@example.com",
        "'quoted",
    ]


def test_category_downloads_are_linked_when_the_summary_names_them(
    chromium: Any, awkward: tuple[Path, Tally], demo: RunResult
) -> None:
    path, _ = awkward
    page, _, _ = _open(chromium, path, 400)
    try:
        links = page.eval_on_selector_all("#downloads a", "as => as.map(a => a.getAttribute('href'))")
        assert links == [entry["file"] for entry in DOWNLOADS.values()]
        assert "fixable" in page.inner_text("#downloads")
    finally:
        page.close()
    # A run that wrote no category files (its summary has no "downloads") shows no such block.
    page, _, _ = _open(chromium, demo.paths["report"], 1280)
    try:
        assert ("downloads" in demo.summary) == (page.locator("#downloads").count() == 1)
    finally:
        page.close()


def test_downloads_link_beside_a_results_file_elsewhere(awkward: tuple[Path, Tally]) -> None:
    _, tally = awkward
    summary = {**SUMMARY, "downloads": {"risky": {"file": "leads.risky.csv", "rows": 1}}}
    page = render_report(summary, tally, results_name="../runs/leads.results.csv")
    assert 'href="../runs/leads.risky.csv"' in page
    assert 'id="downloads"' not in render_report(SUMMARY, tally)
