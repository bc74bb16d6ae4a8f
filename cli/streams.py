"""``presend clean -`` (the list on stdin) and ``--stdout`` (the results table on stdout).

A list read from stdin is spooled to a temporary file named ``stdin.csv`` first (the run reads
its input more than once: to guess its encoding and delimiter, then its rows); its outputs go
to ``--out`` (default: the current folder) as ``stdin.*``. The results table goes to stdout
once the run is complete: the results file as it is (CSV), or one JSON object per row (jsonl),
keyed by the header.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from pipeline.options import RunOptions

#: The input argument that means standard input.
STDIN = "-"


@contextlib.contextmanager
def stdin_spooled(options: RunOptions) -> Iterator[RunOptions]:
    """``options`` as they are, or, for ``-``, reading a copy of stdin (removed afterwards)."""
    if str(options.input) != STDIN:
        yield options
        return
    with tempfile.TemporaryDirectory(prefix="presend-stdin-") as folder:
        path = Path(folder) / "stdin.csv"
        with path.open("wb") as handle:
            shutil.copyfileobj(sys.stdin.buffer, handle, 1 << 20)
        yield replace(options, input=path, out_dir=options.out_dir or Path.cwd())


def write_results(results: Path, delimiter: str, fmt: str) -> None:
    """The results table on stdout: as CSV (the file's bytes), or as JSON lines."""
    out = sys.stdout.buffer
    if fmt == "csv":
        with results.open("rb") as handle:
            shutil.copyfileobj(handle, out, 1 << 20)
        out.flush()
        return
    with results.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle, delimiter=delimiter):
            out.write(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    out.flush()
