"""Syntax-only speed: ``presend clean --no-dns`` against pandas I/O and the plain validator loop.

    python bench/bench_syntax.py [--rows 1000000] [--verify-rows 0] [--rounds 2]

Prints, for one generated list:
- pandas: ``read_csv(dtype=str, keep_default_na=False)`` + ``to_csv`` of the same file,
  timed inside its process (imports excluded) — the baseline of the target;
- presend: the whole command, ``python -m cli clean LIST --no-dns`` (start-up included);
- the ratio presend / pandas (target: at most 2);
- the plain loop: ``check_address`` on every cell, timed on a sample and scaled to the list;
- verification: presend's fast path against the plain per-address path
  (``--plain-syntax``), every presend_* column but presend_checked_at, on ``--verify-rows``
  rows (0 = the whole list).
The best of ``--rounds`` runs is kept for pandas and presend (the machine may be shared).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, compare_results, ensure_list, head, machine, measure, pandas_io, presend_command


def presend(listing: Path, out: Path, *extra: str) -> tuple[float, float, dict[str, object]]:
    """(wall seconds, peak RSS MB of the run and its workers, summary) of one presend run."""
    done = measure(presend_command("clean", str(listing), "--no-dns", "--no-cache", "-q", "--out", str(out), *extra))
    if done.returncode != 0:
        raise SystemExit(f"presend failed: {done.stderr}")
    summary = json.loads((out / f"{listing.stem}.summary.json").read_text(encoding="utf-8"))
    return done.seconds, done.tree_peak_mb, summary


def plain_loop_rate(listing: Path, sample: int) -> tuple[float, float]:
    """Seconds per cell of check_address, and of the fast path, over the first ``sample`` cells."""
    sys.path.insert(0, str(REPO))
    from pipeline.engine.fastsyntax import SyntaxJudge
    from pipeline.io.ingest import open_table
    from pipeline.rules.syntax import check_address

    with open_table(listing) as table:
        at = table.info.email_index
        cells = [row[at] if at < len(row) else "" for row in next(table.row_chunks(sample)).cells]
    started = time.perf_counter()
    for cell in cells:
        check_address(cell)
    plain = (time.perf_counter() - started) / len(cells)
    judge = SyntaxJudge(workers=1)
    started = time.perf_counter()
    judge.judge(cells)
    fast = (time.perf_counter() - started) / len(cells)
    judge.close()
    return plain, fast


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--list", type=Path, help="use this list instead of generating one")
    parser.add_argument("--verify-rows", type=int, default=200_000, help="rows compared with the plain path; 0 = all")
    parser.add_argument("--plain-sample", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--work", type=Path, help="folder for the lists and outputs (default: a temporary one)")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="presend-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    listing = args.list or ensure_list(work / f"list_{args.rows}.csv", args.rows)
    with listing.open(newline="", encoding="utf-8") as handle:
        rows = sum(1 for _ in csv.reader(handle)) - 1
    size_mb = listing.stat().st_size / 1e6
    print(f"machine: {json.dumps(machine())}")
    print(f"list: {listing} ({rows:,} rows, {size_mb:.0f} MB)")

    pandas_best = (float("inf"), float("inf"))
    presend_best = (float("inf"), 0.0)
    summary: dict[str, object] = {}
    fast_out = work / "fast"
    for round_number in range(1, args.rounds + 1):
        read, total = pandas_io(listing, work)
        seconds, peak, summary = presend(listing, fast_out)
        print(f"round {round_number}: pandas read {read:.2f} s + write {total - read:.2f} s = {total:.2f} s; "
              f"presend --no-dns {seconds:.2f} s (peak RSS {peak:.0f} MB)", flush=True)
        pandas_best = min(pandas_best, (total, read))
        presend_best = min(presend_best, (seconds, peak))
    ratio = presend_best[0] / pandas_best[0]
    print(f"pandas read+write (best): {pandas_best[0]:.2f} s")
    print(f"presend clean --no-dns (best, whole command): {presend_best[0]:.2f} s")
    print(f"ratio presend / pandas: {ratio:.2f}  (target <= 2.00: {'met' if ratio <= 2 else 'NOT met'})")
    print(f"presend stage timings (s; CPU seconds summed over {summary.get('workers')} worker(s)): "
          f"{json.dumps(summary.get('timings_seconds'))}")
    one_seconds, one_peak, _ = presend(listing, work / "one-process", "--workers", "1")
    print(f"presend --workers 1 (one process, for comparison): {one_seconds:.2f} s "
          f"(ratio {one_seconds / pandas_best[0]:.2f}; peak RSS {one_peak:.0f} MB)")
    print(f"syntax paths: {json.dumps(summary.get('syntax'))}")

    plain, fast = plain_loop_rate(listing, args.plain_sample)
    print(f"plain email-validator loop: {plain * 1e6:.1f} us/row -> {plain * rows:.1f} s for {rows:,} rows "
          f"(measured on {args.plain_sample:,} rows); fast path {fast * 1e6:.2f} us/row: "
          f"{plain / fast:.0f}x; whole presend run vs plain loop: {plain * rows / presend_best[0]:.1f}x faster")

    verify_rows = rows if args.verify_rows <= 0 else min(args.verify_rows, rows)
    if verify_rows == rows:
        fast_results, target = fast_out / f"{listing.stem}.results.csv", listing
    else:
        target = head(listing, verify_rows, work / f"verify_{verify_rows}.csv")
        presend(target, work / "verify-fast")
        fast_results = work / "verify-fast" / f"{target.stem}.results.csv"
    started = time.perf_counter()
    presend(target, work / "verify-plain", "--plain-syntax")
    plain_seconds = time.perf_counter() - started
    compared, differing, examples = compare_results(fast_results, work / "verify-plain" / f"{target.stem}.results.csv")
    print(f"verdicts, fast path vs plain per-address path, {compared:,} rows (plain run {plain_seconds:.1f} s): "
          f"{differing} differ{' — IDENTICAL' if differing == 0 else ''}")
    for example in examples:
        print(f"  {example}")
    return 0 if differing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
