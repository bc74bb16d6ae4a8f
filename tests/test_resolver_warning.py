"""A run whose results look like a broken resolver says so, and ``--fail-over-unknown`` can stop
a pipeline on it: against the real DNS lab (NSD + Unbound on loopback).

``broken.example`` is delegated to a name server that does not exist, so Unbound answers
SERVFAIL for it (the row: unknown, ``dns_error``); ``lost{N}.example`` do not exist at all
(NXDOMAIN: undeliverable, ``nxdomain``); ``fine{N}.example`` take mail.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab
from tests.run_helpers import clean_command, run_cli, summary_of

pytestmark = pytest.mark.lab

RECORDS = [
    "broken.example. NS ns.nowhere.example.",
    "mx.fine.example. A 127.0.2.1",
    *(f"fine{i}.example. MX 10 mx.fine.example." for i in range(40)),
]


@pytest.fixture(scope="module")
def dns_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    with DnsLab(RECORDS, tmp_path_factory.mktemp("warning-dns"), nsd_binary=require_binary("nsd"),
                unbound_binary=require_binary("unbound")) as lab:
        yield lab


def listing(path: Path, *groups: tuple[str, int]) -> Path:
    """A list of ``count`` addresses per domain pattern (``{i}`` numbered)."""
    rows = [f"user{i}@{pattern.format(i=i)}" for pattern, count in groups for i in range(count)]
    path.write_text("Email\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def clean(dns_lab: DnsLab, source: Path, out: Path, *extra: str) -> tuple[int, str, dict[str, object]]:
    done = run_cli(clean_command(source, out, "--nameserver", dns_lab.nameserver, "--dns-timeout", "2",
                                 "--allow-private-mx", *extra))
    summary = summary_of(out, source.stem) if (out / f"{source.stem}.summary.json").exists() else {}
    return done.returncode, done.stderr, summary


def test_most_domains_failing_warns_about_the_resolver(dns_lab: DnsLab, tmp_path: Path) -> None:
    source = listing(tmp_path / "bad.csv", ("lost{i}.example", 20), ("broken.example", 10), ("fine{i}.example", 3))
    code, stderr, summary = clean(dns_lab, source, tmp_path / "out")
    assert code == 0, stderr
    warnings = summary["warnings"]
    assert isinstance(warnings, list) and len(warnings) == 1
    assert warnings[0].startswith("30 of the 33 addresses that reached the DNS level (91%)")
    assert dns_lab.nameserver in warnings[0] and "--nameserver" in warnings[0]
    assert f"presend: warning: {warnings[0]}" in stderr.splitlines()
    assert warnings[0] in summary["notes"]  # type: ignore[operator]
    report = (tmp_path / "out" / "bad.report.html").read_text(encoding="utf-8")
    assert "before trusting these results" in report


def test_a_list_with_some_bad_domains_gives_no_warning(dns_lab: DnsLab, tmp_path: Path) -> None:
    source = listing(tmp_path / "mixed.csv", ("fine{i}.example", 30), ("lost{i}.example", 10))
    code, stderr, summary = clean(dns_lab, source, tmp_path / "out")
    assert code == 0 and "warning" not in stderr, stderr
    assert summary["warnings"] == []


def test_a_handful_of_addresses_proves_nothing(dns_lab: DnsLab, tmp_path: Path) -> None:
    source = listing(tmp_path / "few.csv", ("lost{i}.example", 19))
    code, stderr, summary = clean(dns_lab, source, tmp_path / "out")
    assert code == 0 and summary["warnings"] == [], stderr


def test_without_dns_there_is_nothing_to_warn_about(tmp_path: Path) -> None:
    source = listing(tmp_path / "offline.csv", ("lost{i}.example", 30))
    done = run_cli(clean_command(source, tmp_path / "out", "--no-dns"))
    assert done.returncode == 0 and summary_of(tmp_path / "out", "offline")["warnings"] == []


@pytest.mark.parametrize(("threshold", "code"), [("50", 3), ("95", 0)])
def test_fail_over_unknown(dns_lab: DnsLab, tmp_path: Path, threshold: str, code: int) -> None:
    """25 of 30 rows unknown (SERVFAIL): 83%."""
    source = listing(tmp_path / "servfail.csv", ("broken.example", 25), ("fine{i}.example", 5))
    returned, stderr, summary = clean(dns_lab, source, tmp_path / "out", "--fail-over-unknown", threshold,
                                      "--log-format", "json")
    assert returned == code, stderr
    finished = json.loads(stderr.splitlines()[-1])
    assert finished["event"] == "run_finished" and finished["exit"] == code
    assert finished["unknown_percent"] == pytest.approx(83.33, abs=0.01)
    assert summary["by_status"] == {"unknown": 25, "deliverable": 5}
    events = [json.loads(line)["event"] for line in stderr.splitlines()]
    assert "warning" in events  # 83% of the domains failed: the resolver is suspect too
