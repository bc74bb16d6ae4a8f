"""The engines side by side: the same list through ``--engine local``, ``processes`` and ``dask``.

Usage (as root for the DNS part, which needs nsd and unbound; a few minutes):

    .venv/bin/python bench/bench_engines.py [--rows 1000000] [--domains 2000] [--latency 0.05]

1. **Syntax only** (``--no-dns``) on a generated list of ``--rows`` rows: pandas reading and
   writing the same file is the baseline (as in bench_syntax.py); each engine's whole command
   is timed (start-up included, the local cluster's start too) and given as a ratio to it;
   the Dask engine (a LocalCluster of 2 workers) also as a ratio to the processes engine.
   Every engine's outputs are compared with the local engine's (checked_at aside).
2. **The DNS level** on a list of one address per domain of a generated lab zone (bench_dns's
   mix), through the real DNS lab (NSD + Unbound) behind a forwarder that delays every query
   by ``--latency`` seconds: ``--engine local`` against ``--engine dask --workers 2``, both
   ``--no-cache``, with the number of queries each run made (each domain and mail host once).

Figures only: nothing here is a pass/fail test (the equivalence is in tests/).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path

from common import REPO, ensure_list, machine, measure, presend_command

sys.path.insert(0, str(REPO))

from bench_dns import DELAY_HOST, _lab_hosts, _split, make_zone
from bench_syntax import pandas_io

ENGINES = (("processes", ()), ("dask", ("--workers", "2")), ("local", ()))


def run_engine(listing: Path, out: Path, engine: str, *extra: str) -> tuple[float, dict[str, object]]:
    """(wall seconds, summary) of one ``presend clean --engine ENGINE`` run."""
    done = measure(presend_command("clean", str(listing), "--no-cache", "-q", "--out", str(out),
                                   "--engine", engine, *extra))
    if done.returncode != 0:
        raise SystemExit(f"presend --engine {engine} failed: {done.stderr}")
    summary = json.loads((out / f"{listing.stem}.summary.json").read_text(encoding="utf-8"))
    return done.seconds, summary


def same_results(out: Path, reference: Path, stem: str) -> bool:
    """The two runs' results (checked_at aside) and clean lists are the same."""
    def rows(folder: Path) -> list[list[str]]:
        with (folder / f"{stem}.results.csv").open(newline="", encoding="utf-8-sig") as handle:
            return [row[:-1] for row in csv.reader(handle)]

    clean = (out / f"{stem}.clean.csv").read_bytes() == (reference / f"{stem}.clean.csv").read_bytes()
    return clean and rows(out) == rows(reference)


def syntax_part(work: Path, rows: int) -> None:
    """Part 1: every engine on the syntax level, against pandas."""
    listing = ensure_list(work / f"list_{rows}.csv", rows)
    read, pandas_total = pandas_io(listing, work)
    print(f"list: {listing.name} ({rows:,} rows, {listing.stat().st_size / 1e6:.0f} MB); "
          f"pandas read {read:.2f} s + write {pandas_total - read:.2f} s = {pandas_total:.2f} s")
    seconds: dict[str, float] = {}
    for engine, extra in ENGINES:
        seconds[engine], summary = run_engine(listing, work / engine, engine, "--no-dns", *extra)
        print(f"  --engine {engine:<9} {seconds[engine]:7.2f} s  ratio to pandas {seconds[engine] / pandas_total:5.2f}"
              f"  (workers {summary['workers']})", flush=True)
    for engine, _ in ENGINES[:2]:
        verdict = "same outputs as local" if same_results(work / engine, work / "local", listing.stem) else "DIFFER"
        print(f"  --engine {engine}: {verdict}")
    print(f"  processes / pandas: {seconds['processes'] / pandas_total:.2f} (target <= 2.00: "
          f"{'met' if seconds['processes'] <= 2 * pandas_total else 'NOT met'}); "
          f"dask / processes: {seconds['dask'] / seconds['processes']:.2f}")


def dns_part(work: Path, domains: int, latency: float) -> None:
    """Part 2: the DNS level through a delaying resolver, local engine against Dask."""
    from tests.lab.delayer import Delayer
    from tests.lab.dnslab import DnsLab, find_binary, pick_port

    if find_binary("nsd") is None or find_binary("unbound") is None:
        print("DNS part skipped: nsd and unbound are not installed (scripts/test.sh installs them)")
        return
    zone = make_zone(domains)
    listing = work / "domains.csv"
    with listing.open("w", encoding="utf-8", newline="") as handle:
        handle.write("Email\n" + "".join(f"user{i}@{name}\n" for i, name in enumerate(zone.domains)))
    lab = DnsLab(zone.records, work / "dns", port=pick_port((*_lab_hosts(), DELAY_HOST)))
    with lab:
        delayed = f"{DELAY_HOST}:{lab.port}"
        with Delayer(delayed, lab.nameserver, latency):
            host, port = _split(delayed)
            common = ("--nameserver", f"{host}:{port}", "--dns-timeout", "5")
            run_engine(listing, work / "warm", "local", *common)  # Unbound's cache warm for both
            print(f"DNS level: {len(zone.domains)} domains, {len(zone.queries)} queries needed, "
                  f"{latency * 1000:.0f} ms added to each")
            for engine, extra in (("local", ()), ("dask", ("--workers", "2"))):
                seconds, summary = run_engine(listing, work / f"dns-{engine}", engine, *common, *extra)
                dns = summary["dns"]
                assert isinstance(dns, dict)
                print(f"  --engine {engine:<6} {seconds:7.2f} s  {len(zone.domains) / seconds:7.0f} domains/s  "
                      f"queries {dns['queries']}", flush=True)


def main() -> int:
    """Run both parts and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--domains", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--work", type=Path, help="folder for the lists and outputs (default: a temporary one)")
    parser.add_argument("--skip-dns", action="store_true")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="presend-bench-engines-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {json.dumps(machine())}")
    syntax_part(work, args.rows)
    if not args.skip_dns:
        dns_part(work, args.domains, args.latency)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
