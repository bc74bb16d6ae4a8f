"""Engines side by side: ``presend clean --engine local|processes|dask``, syntax only and with DNS.

    python bench/bench_engines.py [--part all|syntax|dns] [--rows 1000000] [--domains 3000]
        [--latency 0.05] [--rounds 1] [--work DIR] [--stand-in]

(a) Syntax only (``--no-dns``) on a generated list of ``--rows`` rows (bench/generate_list.py):
    the whole command with ``--engine processes``, ``--engine dask --workers 2`` (a
    LocalCluster started by presend) and ``--engine local``, each as a ratio to pandas
    read+write of the same file (bench/common.py's ``pandas_io``, the baseline of
    bench_syntax.py), and dask / processes.
(b) The DNS level on ``--domains`` lab domains (bench/common.py's ``make_zone``: the mix of
    bench_dns.py) behind a delaying UDP forwarder (``--latency`` seconds per query) in front of
    the real NSD + Unbound lab: ``--engine dask --workers 2`` against ``--engine local`` (and
    ``--engine processes``), all ``--no-cache``, with the queries each run sent (counted by the
    forwarder). Unbound's cache
    is warmed by one untimed run first, so every timed run sees the same server work.

Each variant runs ``--rounds`` times, interleaved; the best run counts (the machine may be
shared). Figures only, no targets: nothing here fails on time. Every engine's outputs
(results minus ``presend_checked_at``, the clean list, the summary's counts) are compared with
the local engine's, and the DNS runs' query counts with each other.

``--engine`` is issue 13's engine seam. When this presend has no such option the bench says so
and exits 2, unless ``--stand-in`` is given: then the processes engine is today's default
(worker processes), the local engine ``--workers 1`` (this process only), and the dask runs
are left out; every line says it is a stand-in.

Exit status: 0; 1 when an engine's outputs or query count differ from the local engine's;
2 when ``--engine`` is missing (without ``--stand-in``) or the DNS lab's daemons are.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    DELAY_HOST,
    REPO,
    compare_results,
    ensure_list,
    lab_hosts,
    machine,
    make_zone,
    measure,
    pandas_io,
    presend_command,
)

from tests.lab.delayer import Delayer
from tests.lab.dnslab import DnsLab, find_binary, pick_port

#: The engines as the documented command line names them.
ENGINES: dict[str, list[str]] = {
    "local": ["--engine", "local"],
    "processes": ["--engine", "processes"],
    "dask": ["--engine", "dask", "--workers", "2"],
}
#: Today's stand-ins while ``--engine`` is missing (no Dask run has one).
STAND_INS: dict[str, list[str]] = {"local": ["--workers", "1"], "processes": []}
STAND_IN_LABELS = {"local": "--workers 1, one process", "processes": "default --workers, worker processes"}
SUMMARY_COUNTS = ("rows", "by_status", "by_code", "by_reason", "flags")


@dataclass
class Variant:
    """One engine as it is run here: its flags, label and best time."""

    name: str
    flags: list[str]
    label: str
    seconds: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)

    @property
    def best(self) -> float:
        """The fastest run: on a shared machine, the one least disturbed by others."""
        return min(self.seconds)


def has_engine_option() -> bool:
    """Whether this checkout's ``presend clean`` takes ``--engine`` (click rejects an unknown one)."""
    done = subprocess.run(
        [sys.executable, "-m", "cli", "clean", "--engine", "local", "--help"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    return done.returncode == 0


def variants(names: list[str], engine_option: bool) -> list[Variant]:
    """The variants to run: the real engines, or today's stand-ins where there are some."""
    if engine_option:
        return [Variant(name, ENGINES[name], f"--engine {' '.join(ENGINES[name][1:])}") for name in names]
    return [Variant(name, STAND_INS[name], f"STAND-IN for --engine {name}: {STAND_IN_LABELS[name]}")
            for name in names if name in STAND_INS]


def run_presend(listing: Path, out: Path, *flags: str) -> float:
    """Seconds of one whole ``presend clean`` command (start-up included); exits on failure."""
    done = measure(presend_command("clean", str(listing), "-q", "--no-cache", "--out", str(out), *flags))
    if done.returncode != 0:
        raise SystemExit(f"presend clean {' '.join(flags)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.seconds


def same_outputs(listing: Path, reference: Path, other: Path) -> str:
    """'' when ``other`` holds the outputs of ``reference`` (the local engine's), else what differs."""
    stem = listing.stem
    compared, differing, examples = compare_results(reference / f"{stem}.results.csv", other / f"{stem}.results.csv")
    problems = [f"{differing} of {compared:,} result rows differ: {examples[:1]}"] if differing else []
    if (reference / f"{stem}.clean.csv").read_bytes() != (other / f"{stem}.clean.csv").read_bytes():
        problems.append("the clean lists differ")
    summaries = [json.loads((folder / f"{stem}.summary.json").read_text(encoding="utf-8"))
                 for folder in (reference, other)]
    problems += [f"summary {key} differs" for key in SUMMARY_COUNTS if summaries[0].get(key) != summaries[1].get(key)]
    return "; ".join(problems)


def check_outputs(listing: Path, work: Path, runs: list[Variant]) -> bool:
    """Compare every variant's outputs with the local one's; print and return whether all match."""
    reference = next((v for v in runs if v.name == "local"), None)
    if reference is None:
        return True
    alike = True
    for variant in runs:
        if variant is reference:
            continue
        difference = same_outputs(listing, work / reference.name, work / variant.name)
        verdict = difference or "identical (results minus presend_checked_at, clean list, summary counts)"
        print(f"  outputs {variant.name} vs local: {verdict}")
        alike = alike and not difference
    return alike


def syntax_part(args: argparse.Namespace, work: Path, engine_option: bool) -> bool:
    """(a): every engine on ``--rows`` rows without DNS, against pandas read+write."""
    listing = ensure_list(work / f"list_{args.rows}.csv", args.rows)
    print(f"\n(a) syntax only: {listing} ({args.rows:,} rows, {listing.stat().st_size / 1e6:.0f} MB), "
          f"best of {args.rounds}")
    runs = variants(["processes", "dask", "local"], engine_option)
    pandas = float("inf")
    for round_number in range(args.rounds):
        pandas = min(pandas, pandas_io(listing, work)[1])
        for variant in runs if round_number % 2 == 0 else runs[::-1]:
            variant.seconds.append(run_presend(listing, work / variant.name, "--no-dns", *variant.flags))
    print(f"  {'pandas read+write (baseline)':<72}{pandas:>8.2f} s")
    for variant in runs:
        print(f"  {variant.label:<72}{variant.best:>8.2f} s  {variant.best / pandas:>5.2f}x pandas")
    by_name = {variant.name: variant for variant in runs}
    if "dask" in by_name and "processes" in by_name:
        print(f"  dask / processes: {by_name['dask'].best / by_name['processes'].best:.2f}")
    else:
        print("  dask / processes: not measured (no --engine option: no Dask run)")
    return check_outputs(listing, work, runs)


def dns_list(domains: list[str], path: Path, per_domain: int = 2) -> Path:
    """A list with ``per_domain`` addresses at each domain, interleaved (no duplicates)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Name", "Email"])
        for j in range(per_domain):
            writer.writerows([f"User {j} {i}", f"user{j}@{domain}"] for i, domain in enumerate(domains))
    return path


def dns_part(args: argparse.Namespace, work: Path, engine_option: bool) -> bool:
    """(b): dask against local at the DNS level, through a delaying, counting forwarder."""
    if not find_binary("nsd") or not find_binary("unbound"):
        print("\n(b) DNS level: NOT RUN: nsd and unbound must be installed (scripts/apt/dns.txt)")
        raise SystemExit(2)
    zone = make_zone(args.domains)
    listing = dns_list(zone.domains, work / f"dns_{args.domains}.csv")
    runs = variants(["dask", "processes", "local"], engine_option)
    print(f"\n(b) DNS level: {len(zone.domains):,} domains, {len(zone.queries):,} distinct queries needed, "
          f"{listing.name} ({2 * len(zone.domains):,} rows), {args.latency * 1000:.0f} ms added per query, "
          f"best of {args.rounds}")
    lab = DnsLab(zone.records, work / "dnslab", port=pick_port((*lab_hosts(), DELAY_HOST)))
    with lab:
        delayed = f"{DELAY_HOST}:{lab.port}"
        common_flags = ["--nameserver", delayed, "--allow-private-mx"]
        with Delayer(delayed, lab.nameserver, args.latency) as forwarder:
            run_presend(listing, work / "dns-warm", *common_flags, *runs[-1].flags)  # warms Unbound's cache
            for round_number in range(args.rounds):
                for variant in runs if round_number % 2 == 0 else runs[::-1]:
                    before = forwarder.queries()
                    variant.seconds.append(run_presend(listing, work / variant.name, *common_flags, *variant.flags))
                    variant.queries.append(forwarder.queries() - before)
    for variant in runs:
        print(f"  {variant.label:<72}{variant.best:>8.2f} s  {len(zone.domains) / variant.best:>7.0f} domains/s  "
              f"queries per run {sorted(set(variant.queries))}")
    counts = {variant.name: set(variant.queries) for variant in runs}
    same_count = len({frozenset(c) for c in counts.values()}) == 1 and all(len(c) == 1 for c in counts.values())
    by_name = {variant.name: variant for variant in runs}
    if "dask" in by_name:
        print(f"  dask / local: {by_name['dask'].best / by_name['local'].best:.2f}; query counts "
              f"{'equal' if same_count else 'DIFFER'}")
    else:
        print("  dask / local: not measured (no --engine option: no Dask run)")
    return check_outputs(listing, work, runs) and same_count


def main(argv: list[str] | None = None) -> int:
    """Run the chosen parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "syntax", "dns"), default="all")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--domains", type=int, default=3000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--work", type=Path, help="folder for the lists and outputs (default: a temporary one)")
    parser.add_argument("--stand-in", action="store_true",
                        help="without --engine, time today's --workers 1 and default --workers instead")
    args = parser.parse_args(argv)

    engine_option = has_engine_option()
    if not engine_option and not args.stand_in:
        print("bench_engines: this presend has no --engine option yet (issue 13's engine seam); "
              "run with --stand-in to time today's --workers 1 / default --workers instead", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="presend-bench-engines-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {json.dumps(machine())}")
    if not engine_option:
        print("NOTE: no --engine option in this presend: STAND-IN runs below, no Dask figures")
    alike = True
    if args.part in ("all", "syntax"):
        alike = syntax_part(args, work, engine_option) and alike
    if args.part in ("all", "dns"):
        alike = dns_part(args, work, engine_option) and alike
    return 0 if alike else 1


if __name__ == "__main__":
    sys.exit(main())
