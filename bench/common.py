"""Helpers shared by the benchmark scripts (not part of the test suite)."""

from __future__ import annotations

import csv
import os
import platform
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.rdatatype

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

#: Where a benchmark's delaying forwarder listens, beside the DNS lab's own addresses.
DELAY_HOST = "127.0.1.3"


@dataclass(frozen=True)
class Measured:
    """One child process: wall time, peak resident memory, exit status, output."""

    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str
    tree_peak_mb: float = float("nan")  # the process and its descendants, summed (sampled)


def measure(command: list[str], cwd: Path = REPO) -> Measured:
    """Run ``command`` and return its wall time and peak RSS (from wait4's rusage)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = _TreeSampler(process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    # communicate() already reaped the child; its rusage is the max over reaped children,
    # so each measured command runs in a fresh python that reports its own peak below.
    return Measured(seconds, _child_peak_mb(stderr), process.returncode, stdout, stderr, sampler.peak_kb / 1024)


class _TreeSampler(threading.Thread):
    """Samples, every 0.2 s, the summed RSS of a process and all its descendants.

    A sum over forked processes counts the pages they still share with their parent once
    per process: an upper bound of the memory the tree really holds. The walk reads only
    the tree's own /proc entries, so sampling takes next to no CPU from what is measured.
    """

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.peak_kb = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.peak_kb = max(self.peak_kb, _tree_rss_kb(self.root))


def _tree_rss_kb(root: int) -> int:
    total = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as handle:
                    todo.extend(int(child) for child in handle.read().split())
        except (OSError, ValueError):
            continue
    return total


def _child_peak_mb(stderr: str) -> float:
    for line in stderr.splitlines():
        if line.startswith("PEAK_RSS_KB "):
            return int(line.split()[1]) / 1024
    return float("nan")


#: Runs a module as __main__ and prints its own peak RSS (kB) on stderr when it exits, by
#: ``sys.exit`` (atexit) or by ``os._exit`` (which the CLI uses, and forked workers too: only
#: the process that started prints).
RSS_WRAPPER = (
    "import atexit, os, resource, runpy, sys;"
    "pid = os.getpid(); leave = os._exit;"
    "report = lambda: os.getpid() == pid and print('PEAK_RSS_KB',"
    " resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr, flush=True);"
    "atexit.register(report);"
    "os._exit = lambda code: (report(), leave(code));"
    "sys.argv = sys.argv[1:]; runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)"
)


def presend_command(*args: str) -> list[str]:
    """``python -m cli ...`` from this checkout, reporting its peak RSS."""
    return [sys.executable, "-c", RSS_WRAPPER, "cli", *args]


def machine() -> dict[str, str]:
    """The machine the figures come from."""
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = ""
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return {
        "cpus": str(os.cpu_count()),
        "cpu": model,
        "ram": memory,
        "python": platform.python_version(),
        "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def ensure_list(path: Path, rows: int, seed: int = 7) -> Path:
    """Generate the benchmark list at ``path`` unless a file with that many rows is there."""
    marker = path.with_suffix(".rows")
    if path.exists() and marker.exists() and marker.read_text() == str(rows):
        return path
    from generate_list import generate

    started = time.perf_counter()
    generate(path, rows, seed)
    marker.write_text(str(rows))
    print(f"generated {rows:,} rows in {time.perf_counter() - started:.1f} s: {path}", flush=True)
    return path


def head(path: Path, rows: int, target: Path) -> Path:
    """The header and the first ``rows`` data rows of a CSV (by record, not by line)."""
    with path.open(newline="", encoding="utf-8") as source, target.open("w", newline="", encoding="utf-8") as out:
        reader = csv.reader(source)
        writer = csv.writer(out, lineterminator="\n")
        for number, row in enumerate(reader):
            if number > rows:
                break
            writer.writerow(row)
    return target


def compare_results(a: Path, b: Path) -> tuple[int, int, list[str]]:
    """Rows compared and rows differing between two results files (presend_checked_at aside)."""
    compared = differing = 0
    examples: list[str] = []
    with a.open(newline="", encoding="utf-8-sig") as fa, b.open(newline="", encoding="utf-8-sig") as fb:
        for left, right in zip(csv.reader(fa), csv.reader(fb), strict=True):
            compared += 1
            if left[:-1] != right[:-1]:
                differing += 1
                if len(examples) < 3:
                    examples.append(f"{left} != {right}")
    return compared - 1, differing, examples


PANDAS_SCRIPT = """
import sys, time, pandas as pd
started = time.perf_counter()
frame = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
read = time.perf_counter() - started
frame.to_csv(sys.argv[2], index=False)
print(f"{read} {time.perf_counter() - started}")
"""


def pandas_io(listing: Path, work: Path) -> tuple[float, float]:
    """(read seconds, read+write seconds) of pandas on ``listing``: the baseline of the targets.

    ``read_csv(dtype=str, keep_default_na=False)`` + ``to_csv`` of the same file, timed inside
    its own process (imports excluded).
    """
    done = measure([sys.executable, "-c", PANDAS_SCRIPT, str(listing), str(work / "pandas_out.csv")])
    if done.returncode != 0:
        raise SystemExit(f"pandas baseline failed: {done.stderr}")
    read, total = (float(x) for x in done.stdout.split())
    return read, total


@dataclass
class LabZone:
    """The generated zone, the domains to resolve, and the exact query set presend needs."""

    records: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)
    queries: list[tuple[str, dns.rdatatype.RdataType]] = field(default_factory=list)


def make_zone(count: int) -> LabZone:
    """A deterministic mix of domain situations (see the module docstring)."""
    zone = LabZone()
    providers = 8
    for p in range(providers):
        for h in (1, 2):
            zone.records.append(f"mx{h}.provider{p}.example. A 127.0.1.{100 + p * 2 + h}")
    targets: set[str] = set()
    for i in range(count):
        name = f"d{i}.example"
        zone.domains.append(name)
        zone.queries.append((name, dns.rdatatype.MX))
        kind = i % 20
        if kind < 11:  # own mail host
            host = f"mx.{name}"
            zone.records += [f"{name}. MX 10 {host}.", f"{host}. A 127.0.1.{10 + i % 200}"]
            targets.add(host)
        elif kind < 16:  # hosted at a shared provider (two hosts)
            p = i % providers
            for h in (1, 2):
                zone.records.append(f"{name}. MX {h * 10} mx{h}.provider{p}.example.")
                targets.add(f"mx{h}.provider{p}.example")
        elif kind == 16:  # implicit MX
            zone.records.append(f"{name}. A 127.0.1.{10 + i % 200}")
            targets.add(name)
        elif kind == 17:  # null MX
            zone.records.append(f"{name}. MX 0 .")
        elif kind == 18:  # MX whose host has no address
            zone.records.append(f"{name}. MX 10 nowhere.{name}.")
            targets.add(f"nowhere.{name}")
        # kind == 19: does not exist (NXDOMAIN)
    for host in sorted(targets):
        zone.queries += [(host, dns.rdatatype.A), (host, dns.rdatatype.AAAA)]
    return zone


def lab_hosts() -> tuple[str, ...]:
    """The loopback addresses the DNS lab listens on (a forwarder's port must be free there too)."""
    from tests.lab import dnslab

    return (dnslab.NSD_HOST, dnslab.UNBOUND_HOST, dnslab.SLOW_HOST, dnslab.BLACKHOLE_HOST)
