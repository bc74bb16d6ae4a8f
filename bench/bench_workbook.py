"""Reading a 200k-row .xlsx: openpyxl's streaming reader (before) against python-calamine (now).

    python bench/bench_workbook.py [--rows 200000] [--work DIR] [--keep]

Writes the realistic list (bench/generate_list.py's generator) as an .xlsx with openpyxl's
write-only mode, with a number and a date column added (and white-space-only texts marked
as Excel marks them), then reads every row as text in a
fresh process per reader: ``openpyxl`` is the reader presend used before (read-only,
``values_only``, the same cell-to-text rules), ``calamine`` is ``pipeline.io.workbook.Workbook``.
Prints each reader's time (opening included, imports excluded) and peak RSS, and checks that
both read the same text in every cell.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from common import REPO, ensure_list, machine


def write_xlsx(listing: Path, target: Path, rows: int) -> Path:
    """The first ``rows`` rows of a CSV list as an .xlsx, with an Amount and a Joined column."""
    import openpyxl

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("Contacts")
    start = dt.datetime(2020, 1, 1)
    with listing.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        sheet.append([*next(reader), "Amount", "Joined"])
        for number, row in enumerate(reader):
            if number >= rows:
                break
            sheet.append([*row, number * 1.25, start + dt.timedelta(days=number % 2000)])
    book.save(target)
    return excel_like(target)


def excel_like(path: Path) -> Path:
    """Mark white-space-only texts ``xml:space="preserve"`` as Excel saves them (openpyxl does not).

    Without the mark, presend reads the workbook with openpyxl (calamine would read such cells
    as empty), and the figure would be openpyxl's twice.
    """
    blank = re.compile(rb"<t>([ \t\r\n]+)</t>")
    rewritten = path.with_suffix(".tmp")
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename.startswith("xl/worksheets/") or item.filename == "xl/sharedStrings.xml":
                data = blank.sub(rb'<t xml:space="preserve">\1</t>', data)
            new.writestr(item, data)
    rewritten.replace(path)
    return path


def read_openpyxl(path: Path) -> hashlib._Hash:
    """Every row as text through openpyxl, as presend read workbooks before."""
    import openpyxl

    from pipeline.io.workbook import cell_text

    digest = hashlib.sha256()
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    sheet = book.worksheets[0]
    sheet.reset_dimensions()
    for values in sheet.iter_rows(values_only=True):
        cells = [cell_text(v) for v in values]
        while cells and cells[-1] == "":
            cells.pop()
        digest.update("\x1f".join(cells).encode() + b"\n")
    book.close()
    return digest


def read_calamine(path: Path) -> hashlib._Hash:
    """Every row as text through presend's workbook reader (python-calamine)."""
    from pipeline.io.workbook import Workbook

    digest = hashlib.sha256()
    book = Workbook(path)
    assert book.reader == "calamine", book.reader
    for _, cells in book.records():
        digest.update("\x1f".join(cells).encode() + b"\n")
    book.close()
    return digest


READERS = {"openpyxl": read_openpyxl, "calamine": read_calamine}


def child(reader: str, path: Path) -> None:
    """Run one reader in this (fresh) process and print its figures as JSON."""
    import openpyxl  # noqa: F401  imported before the clock starts, like python_calamine
    import python_calamine  # noqa: F401

    started = time.perf_counter()
    digest = READERS[reader](path)
    seconds = time.perf_counter() - started
    peak_mb = _peak_rss_mb()
    print(json.dumps({"reader": reader, "seconds": seconds, "peak_mb": peak_mb, "sha256": digest.hexdigest()}))


def _peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not carried over from the parent)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--child", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="presend-xlsx-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {json.dumps(machine())}")
    listing = ensure_list(work / f"list_{args.rows}.csv", args.rows)
    book = work / f"list_{args.rows}.xlsx"
    if not book.exists():
        write_xlsx(listing, book, args.rows)
    print(f"workbook: {book.name}, {args.rows} rows, {book.stat().st_size / 1e6:.1f} MB")
    figures = {}
    for reader in READERS:
        done = subprocess.run(
            [sys.executable, __file__, "--child", reader, str(book)],
            cwd=REPO, capture_output=True, text=True, check=False,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        figures[reader] = json.loads(done.stdout)
        print(f"{reader:>9}: {figures[reader]['seconds']:6.2f} s, peak RSS {figures[reader]['peak_mb']:6.0f} MB")
    same = figures["openpyxl"]["sha256"] == figures["calamine"]["sha256"]
    speedup = figures["openpyxl"]["seconds"] / figures["calamine"]["seconds"]
    print(f"same text in every cell: {same}; calamine is {speedup:.1f}x faster")
    if not args.keep and not args.work:
        shutil.rmtree(work)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
