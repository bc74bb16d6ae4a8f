"""Peak memory of ``presend clean --no-dns`` as the list grows (target: under 1 GB at 10M rows).

    python bench/bench_memory.py [--sizes 1000000 10000000] [--work DIR] [--keep]

Generates each list (the same generator as bench_syntax.py), runs the whole command on it
and prints the peak resident set size the run reached, with the time it took: its process
and its worker processes summed (sampled every 50 ms), and its own process alone.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

from common import ensure_list, machine, measure, presend_command


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--work", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the generated lists and outputs")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="presend-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {json.dumps(machine())}")
    peaks: list[tuple[int, float]] = []
    for rows in args.sizes:
        listing = ensure_list(work / f"list_{rows}.csv", rows)
        out = work / f"out_{rows}"
        done = measure(presend_command("clean", str(listing), "--no-dns", "--no-cache", "-q", "--out", str(out)))
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return 1
        size = listing.stat().st_size / 1e6
        # The run's process and its worker processes together (their shared pages counted
        # once per process, so an upper bound); the run's process alone beside it.
        peak = done.tree_peak_mb
        print(f"{rows:>11,} rows ({size:,.0f} MB): peak RSS {peak:,.0f} MB with its workers "
              f"(run's process alone {done.peak_rss_mb:,.0f} MB), {done.seconds:,.1f} s", flush=True)
        peaks.append((rows, peak))
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    if len(peaks) >= 2:
        (small, small_peak), (big, big_peak) = peaks[0], peaks[-1]
        print(f"peak RSS x{big_peak / small_peak:.2f} for x{big / small:.0f} rows; "
              f"{'under' if big_peak < 1024 else 'OVER'} 1 GB at {big:,} rows")
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
