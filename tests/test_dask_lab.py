"""The Dask engine with the network levels, against the real labs: NSD + Unbound for DNS and
Postfix (+ postgrey) for the mail hosts, as in tests/test_e2e_lab.py.

The e2e list is probed three times, each time against a freshly started Postfix lab (so
postgrey greylists every run alike): with ``--engine local``, with ``--engine processes`` (two
piece workers; the run's process resolves and probes between their steps), and with
``--engine dask`` on a LocalCluster of two workers that presend starts. The outputs must be the same, the resolver
must be asked as many questions (each domain and each mail host once, in the whole cluster),
and no mail host may see more than ``--per-host`` sessions at once (read from Postfix's log,
where each listener logs under its own address).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import postfix_binaries, require_binary
from tests.lab.delayer import Delayer
from tests.lab.dnslab import BLACKHOLE_HOST, NSD_HOST, SLOW_HOST, UNBOUND_HOST, DnsLab, pick_port
from tests.lab.postfixlab import PostfixLab, session_peaks, start_postfix
from tests.run_helpers import assert_same_outputs
from tests.test_e2e_lab import (
    LIST,
    SLOW_DELAY,
    CliRun,
    e2e_lab_spec,
    lab_options,
    presend_clean,
    zone_records,
)

pytestmark = pytest.mark.lab

PER_HOST = 1
#: Where the forwarder that counts the resolver's queries listens.
COUNTER_HOST = "127.0.1.3"
#: The made-up local part a catch-all question uses is new in every run.
MADE_UP = re.compile(r"presend-check-[0-9a-f]+@")
#: Each run has a DNS lab of its own, on a port of its own, which a DNS failure's detail names.
RESOLVER = re.compile(r"resolver 127\.[0-9.]+:\d+")


def unmade(cell: str) -> str:
    """A results cell with what differs between two runs by design put the same."""
    return RESOLVER.sub("resolver R", MADE_UP.sub("presend-check-X@", cell))


@dataclass
class Probed:
    """One probed run: the run, each mail host's session peak, the queries the resolver got."""

    run: CliRun
    peaks: dict[str, int]
    queries: int


def probed(folder: Path, *engine: str) -> Probed:
    """The e2e list probed against fresh labs, through a forwarder that counts the queries.

    Fresh DNS too: Unbound answers a question it is still waiting on for an earlier run (the
    slow zone's) as soon as the answer comes, which would make runs differ by their timing.
    """
    postfix, postgrey = postfix_binaries()
    dns_binaries = {"nsd_binary": require_binary("nsd"), "unbound_binary": require_binary("unbound")}
    port = pick_port((NSD_HOST, UNBOUND_HOST, SLOW_HOST, BLACKHOLE_HOST, COUNTER_HOST))
    with DnsLab(zone_records(), folder / "dns", slow_zones=["slow.example"], slow_delay=SLOW_DELAY, port=port,
                **dns_binaries) as dns_lab, Delayer(f"{COUNTER_HOST}:{port}", dns_lab.nameserver, 0.0) as counter:
        options = lab_options(dns_lab)
        options[options.index("--nameserver") + 1] = f"{COUNTER_HOST}:{port}"
        lab = start_postfix(PostfixLab(e2e_lab_spec(), postfix=postfix, postgrey=postgrey))
        try:
            run = presend_clean(LIST, folder / "out", *options, "--no-cache", "--per-host", str(PER_HOST), *engine)
            log = lab.log_text()
        finally:
            lab.stop()
        queries = counter.queries()
    assert run.returncode == 0, run.explain()
    return Probed(run, session_peaks(log), queries)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Probed]:
    base = tmp_path_factory.mktemp("dask-lab")
    return {
        "local": probed(base / "local", "--engine", "local"),
        "processes": probed(base / "processes", "--engine", "processes", "--workers", "2"),
        "dask": probed(base / "dask", "--engine", "dask", "--workers", "2"),
    }


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_the_probed_list_matches_local(runs: dict[str, Probed], engine: str) -> None:
    local, other = runs["local"].run, runs[engine].run
    # The run's working folder (see test_e2e_lab.launch) sits beside its outputs.
    assert_same_outputs(other.out, local.out, "e2e_lab", cell=unmade, beside=("cwd",))
    assert any(MADE_UP.search(row["presend_detail"]) for row in other.results)  # a catch-all was asked
    assert other.summary["engine"] == engine and other.summary["workers"] == 2
    for key in ("probe_greylisting_domains", "levels"):
        assert other.summary[key] == local.summary[key], key


@pytest.mark.parametrize("engine", ["processes", "dask"])
def test_each_domain_and_host_is_asked_once(runs: dict[str, Probed], engine: str) -> None:
    """The lab resolver got as many queries from every engine (counted on the way to it)."""
    assert runs["local"].queries > 20
    assert runs[engine].queries == runs["local"].queries
    local, other = runs["local"].run.summary["dns"], runs[engine].run.summary["dns"]
    assert isinstance(local, dict) and isinstance(other, dict)
    for key in ("domains", "domains_resolved", "mail_hosts_resolved", "queries", "timeouts", "servfails"):
        assert other[key] == local[key], key


def test_no_mail_host_sees_more_than_per_host_sessions(runs: dict[str, Probed]) -> None:
    for name, probe_run in runs.items():
        run, peaks = probe_run.run, probe_run.peaks
        assert len(peaks) >= 5, (name, peaks)  # sessions with most of the lab's hosts were seen
        assert max(peaks.values()) <= PER_HOST, (name, peaks)
        probe = run.summary["probe"]
        assert isinstance(probe, dict) and probe["sessions"] >= 8
