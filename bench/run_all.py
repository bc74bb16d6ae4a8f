"""Every benchmark in one run, with the machine they ran on.

    python bench/run_all.py [--quick]

Runs bench_syntax.py (1M rows, verdicts verified on the whole list), bench_memory.py (1M and
10M rows), the DNS and probe benchmarks (bench_dns.py, bench_probe.py) and the engines side by
side (bench_engines.py: 1M rows syntax only, 3000 domains at the DNS level). ``--quick`` uses
100k rows (1M for memory, 1000 domains) and verifies 100k rows: a smoke run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import machine

HERE = Path(__file__).resolve().parent


def _run(script: str, *args: str) -> int:
    path = HERE / script
    if not path.exists():
        print(f"\n== {script}: not present, skipped")
        return 0
    print(f"\n== {script} {' '.join(args)}", flush=True)
    started = time.perf_counter()
    code = subprocess.call([sys.executable, str(path), *args], cwd=HERE.parent)
    print(f"== {script}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks one after the other."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(f"machine: {json.dumps(machine())}")
    codes = []
    if args.quick:
        codes.append(_run("bench_syntax.py", "--rows", "100000", "--verify-rows", "0", "--rounds", "1"))
        codes.append(_run("bench_memory.py", "--sizes", "100000", "1000000"))
        engines = ("--rows", "100000", "--domains", "1000")
    else:
        codes.append(_run("bench_syntax.py", "--rows", "1000000", "--verify-rows", "0"))
        codes.append(_run("bench_memory.py", "--sizes", "1000000", "10000000"))
        engines = ("--rows", "1000000", "--domains", "3000")
    codes.append(_run("bench_dns.py"))
    codes.append(_run("bench_probe.py"))
    codes.append(_run("bench_engines.py", *engines))
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
