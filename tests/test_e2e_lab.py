"""The whole product, run the way a user runs it: ``python -m cli clean`` in a subprocess.

A real DNS service (NSD authoritative + Unbound recursive on 127.0.1.x, tests/lab/dnslab.py)
publishes the lab domains; their MX records point at a real Postfix (+ postgrey) playing
eight mail hosts on 127.0.2.x (tests/lab/postfixlab.py). The list tests/data/e2e_lab.csv
holds one row per situation of PRODUCT.md's forecast table that a lab can produce; what
each row must come out as is written down apart from it, in
tests/data/e2e_lab.expected.csv (expected ``presend_*`` values, and a few words the
human detail must contain).

Runs, all against the same two labs (started once for the module):

- the full run (``--probe --allow-private-mx``): every row of results.csv, the clean list,
  summary.json and the report;
- the same list without ``--allow-private-mx``: domains that take mail are ``risky``
  ``mx_private_address`` and no SMTP session is opened;
- the same list without ``--probe``: ``deliverable`` ``domain_accepts_mail``;
- a list of cacheable verdicts twice with ``--cache PATH``: the second run asks nothing;
- a disposable domain (through the config file, when the CLI has ``--config``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from pipeline.columns import RESULT_COLUMNS
from tests.conftest import REPO, postfix_binaries, require_binary
from tests.lab.dnslab import DnsLab
from tests.lab.postfixlab import (
    DEAD,
    LAB_MX,
    LAB_SENDER,
    PROBE_LISTENERS,
    LabSpec,
    PostfixLab,
    lab_mx,
    probe_lab_spec,
    start_postfix,
)

pytestmark = pytest.mark.lab

DATA = Path(__file__).parent / "data"
LIST = DATA / "e2e_lab.csv"
EXPECTED = DATA / "e2e_lab.expected.csv"

GREY_DELAY = 2  # postgrey's delay (seconds)
RETRY_AFTER = 3  # a little longer, so a greylisted address passes on its retry
DNS_TIMEOUT = 1.5  # seconds per DNS query; the slow zone answers after SLOW_DELAY
SLOW_DELAY = 4.0
MAIN_HOST = "mx-main.lab.example"

# --- the lab's world ---------------------------------------------------------------------

#: Domains served by DNS only (no mail host decides them), and the ones added to Postfix.
DNS_ONLY_RECORDS = [
    "nullmx.example. MX 0 .",
    'nomail.example. TXT "no mail here"',
    "dangling.example. MX 10 gone.dangling.example.",
    "dangling.example. MX 20 noaddr.dangling.example.",
    'noaddr.dangling.example. TXT "a host name without an address"',
    "broken.example. NS ns.nowhere.example.",  # a delegation to a name that does not resolve: SERVFAIL
    # TTL 0: Unbound keeps no copy, so every run waits for the slow server again
    f"a.slow.example. 0 MX 10 {MAIN_HOST}.",
]
EXTRA_MAIL_RECORDS = [
    "alias.example. CNAME probe-a.example.",
    "implicit.example. A 127.0.2.1",  # no MX: the domain itself is the mail host (mx-main's address)
    f"xn--bcher-kva.example. MX 10 {MAIN_HOST}.",  # bücher.example
    f"throwaway.example. MX 10 {MAIN_HOST}.",
]
#: Mailboxes added to the standard probe lab for the e2e list.
EXTRA_MAILBOXES = {
    "probe-a.example": ["stuck", "dan", "info"],
    "alias.example": ["alice"],
    "implicit.example": ["erin"],
    "xn--bcher-kva.example": ["anna"],
    "throwaway.example": ["olga"],
}
#: A 450 that stays 450 however often it is asked (a greylisting that never lets go).
EXTRA_RECIPIENT_ACCESS = {"stuck@probe-a.example": "450 4.2.0 Greylisted, please try again in an hour"}


def zone_records() -> list[str]:
    """The lab root zone: every mail host's address, every lab domain's MX, the DNS cases."""
    records = [f"{listener.host}. A {listener.address}" for listener in PROBE_LISTENERS]
    records.append(f"dead-{DEAD.rsplit('.', 1)[-1]}.lab.example. A {DEAD}")
    for domain in LAB_MX:
        records += [f"{domain}. MX {preference} {host}." for preference, host, _ in lab_mx(domain)]
    return records + EXTRA_MAIL_RECORDS + DNS_ONLY_RECORDS


def e2e_lab_spec() -> LabSpec:
    """The standard probe lab plus the mailboxes and access entries of the e2e list."""
    spec = probe_lab_spec(GREY_DELAY)
    mailboxes = {domain: list(locals_) for domain, locals_ in spec.mailboxes.items()}
    for domain, locals_ in EXTRA_MAILBOXES.items():
        mailboxes.setdefault(domain, []).extend(locals_)
    return replace(
        spec,
        mailboxes=mailboxes,
        recipient_access={**spec.recipient_access, **EXTRA_RECIPIENT_ACCESS},
    )


@pytest.fixture(scope="module")
def dns_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    nsd = require_binary("nsd")
    unbound = require_binary("unbound")
    with DnsLab(
        zone_records(),
        tmp_path_factory.mktemp("e2e-dns"),
        slow_zones=["slow.example"],
        slow_delay=SLOW_DELAY,
        nsd_binary=nsd,
        unbound_binary=unbound,
    ) as lab:
        yield lab


@pytest.fixture(scope="module")
def postfix_lab() -> Iterator[PostfixLab]:
    postfix, postgrey = postfix_binaries()
    lab = start_postfix(PostfixLab(e2e_lab_spec(), postfix=postfix, postgrey=postgrey))
    try:
        yield lab
    finally:
        lab.stop()


# --- running the CLI like a user ----------------------------------------------------------


@dataclass
class CliRun:
    """One finished ``presend clean`` subprocess and its outputs."""

    returncode: int
    stdout: str
    stderr: str
    out: Path
    stem: str
    seconds: float
    maillog: str = ""  # Postfix's log after the run (for failure messages)

    def path(self, kind: str, ext: str = "csv") -> Path:
        return self.out / f"{self.stem}.{kind}.{ext}"

    @property
    def results(self) -> list[dict[str, str]]:
        return read_csv(self.path("results"))

    @property
    def summary(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.path("summary", "json").read_text(encoding="utf-8"))
        return data

    def explain(self) -> str:
        text = f"exit {self.returncode}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        return text + (f"\n--- maillog (end) ---\n{self.maillog[-3000:]}" if self.maillog else "")


def launch(source: Path, out: Path, *options: str) -> tuple[subprocess.Popen[str], CliRun]:
    """Start ``python -m cli clean SOURCE --out OUT OPTIONS...`` as a user would (see :func:`finish`).

    It runs in an empty folder of its own, so no ``presend.toml`` lying around changes it.
    """
    out.mkdir(parents=True, exist_ok=True)
    workdir = out / "cwd"
    workdir.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "clean", str(source), "--out", str(out), *options],
        cwd=workdir,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, CliRun(-1, "", "", out, source.stem, time.monotonic())


def finish(started: tuple[subprocess.Popen[str], CliRun]) -> CliRun:
    """Wait for a run started by :func:`launch` and collect its exit status and output."""
    process, run = started
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    return replace(
        run, returncode=process.returncode, stdout=stdout, stderr=stderr, seconds=time.monotonic() - run.seconds
    )


def presend_clean(source: Path, out: Path, *options: str) -> CliRun:
    """Run ``presend clean`` to the end."""
    return finish(launch(source, out, *options))


def lab_options(dns_lab: DnsLab, *, probe: bool = True, private: bool = True) -> list[str]:
    """The command-line options of a lab run (a user's, plus the lab's nameserver and port)."""
    options = ["--nameserver", dns_lab.nameserver, "--dns-timeout", str(DNS_TIMEOUT), "-q"]
    if probe:
        options += ["--probe", "--mail-from", LAB_SENDER, "--smtp-port", "25"]
        options += ["--retry-after", str(RETRY_AFTER), "--max-retries", "1", "--smtp-timeout", "5"]
        options += ["--backoff", "0.5", "--backoff-tries", "1"]  # the busy host: asked once more, soon
    if private:
        options.append("--allow-private-mx")
    return options


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_table(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


# --- what each row must come out as ---------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """One row of tests/data/e2e_lab.expected.csv: the full run's forecast for an input row.

    ``dns_mx`` is the domain's preferred mail host as DNS publishes it (what a run without
    the mailbox level names); ``detail_has`` a few words the human detail must contain.
    """

    row: int
    email: str
    status: str
    code: str
    enhanced: str
    reason: str
    mx: str
    dns_mx: str
    catch_all: str
    role: str
    detail_has: str

    @property
    def domain_takes_mail(self) -> bool:
        """True when DNS let the address through to the mailbox level."""
        return self.reason in MAILBOX_REASONS

    def columns(self) -> dict[str, str]:
        """The presend_* values the full run must give."""
        return {
            "presend_status": self.status,
            "presend_code": self.code,
            "presend_enhanced": self.enhanced,
            "presend_reason": self.reason,
            "presend_email": self.email,
            "presend_mx": self.mx,
            "presend_catch_all": self.catch_all,
            "presend_role": self.role,
        }


#: Reasons only the mailbox level gives (the domain itself takes mail).
MAILBOX_REASONS = {
    "mailbox_exists",
    "catch_all",
    "mailbox_not_found",
    "user_not_local",
    "mailbox_full",
    "mailbox_rejected",
    "smtputf8_unsupported",
    "greylisted",
    "temporary_failure",
    "host_unavailable",
    "sender_blocked",
}
#: Reasons that describe the moment, not the address: never taken from the cache.
MOMENTARY_REASONS = {"greylisted", "temporary_failure", "host_unavailable", "sender_blocked", "dns_error"}


def expectations() -> list[Expected]:
    rows = read_csv(EXPECTED)
    out = [
        Expected(**{k: v for k, v in row.items() if k != "row"}, row=int(row["row"]))  # type: ignore[arg-type]
        for row in rows
    ]
    assert [e.row for e in out] == list(range(1, len(out) + 1)), "expectation rows must be 1..N in order"
    return out


ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def check_common(run: CliRun) -> tuple[list[dict[str, str]], list[Expected]]:
    """What every run must satisfy: exit 0, input rows and columns kept, a verdict per row."""
    assert run.returncode == 0, run.explain()
    assert "error" not in run.stderr.lower(), run.explain()
    header = read_table(LIST)[0]
    results_table = read_table(run.path("results"))
    assert results_table[0] == header + list(RESULT_COLUMNS)
    given = read_table(LIST)[1:]
    assert [row[: len(header)] for row in results_table[1:]] == given, "original columns must be untouched"
    rows = run.results
    expected = expectations()
    assert len(rows) == len(given) == len(expected)
    for row in rows:
        assert row["presend_detail"].strip() and "\n" not in row["presend_detail"], row
        for flag in ("presend_disposable", "presend_role", "presend_free", "presend_catch_all"):
            assert row[flag] in ("true", "false"), row
    return rows, expected


def check_times(rows: list[dict[str, str]], summary: dict[str, object]) -> None:
    """Every row that was judged (not a duplicate) carries an ISO-8601 UTC time within the run."""
    started, finished = str(summary["started_at"]), str(summary["finished_at"])
    for row in rows:
        if row["presend_status"] == "duplicate":
            continue
        stamp = row["presend_checked_at"]
        assert ISO_UTC.match(stamp), row
        assert started <= stamp <= finished, (stamp, started, finished, row["Email"])


def differences(rows: list[dict[str, str]], wanted: list[dict[str, str]], expected: list[Expected]) -> list[str]:
    """Rows whose presend_* values differ from ``wanted`` (same order), with their detail."""
    wrong = []
    for got, want, exp in zip(rows, wanted, expected, strict=True):
        seen = {key: got[key] for key in want}
        if seen != want:
            wrong.append(f"row {exp.row} {got['Email']!r}: got {seen}\n    want {want}\n    {got['presend_detail']}")
    return wrong


# --- the runs -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(dns_lab: DnsLab, postfix_lab: PostfixLab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, CliRun]:
    """The e2e list three ways, at the same time: probed, probed without --allow-private-mx,
    and without --probe."""
    base = tmp_path_factory.mktemp("e2e-runs")
    started = {
        "full": launch(LIST, base / "full", *lab_options(dns_lab), "--no-cache"),
        "private": launch(LIST, base / "private", *lab_options(dns_lab, private=False), "--no-cache"),
        "no_probe": launch(LIST, base / "no-probe", *lab_options(dns_lab, probe=False), "--no-cache"),
    }
    done = {name: finish(process) for name, process in started.items()}
    return {name: replace(run, maillog=postfix_lab.log_text()) for name, run in done.items()}


# --- the full run: --probe --allow-private-mx ------------------------------------------------


def test_every_row_is_forecast_as_expected(runs: dict[str, CliRun]) -> None:
    run = runs["full"]
    rows, expected = check_common(run)
    wrong = differences(rows, [e.columns() for e in expected], expected)
    assert not wrong, "\n".join(wrong) + "\n" + run.explain()
    missing_words = [
        (e.row, e.detail_has, row["presend_detail"])
        for row, e in zip(rows, expected, strict=True)
        if e.detail_has not in row["presend_detail"]
    ]
    assert not missing_words, missing_words
    for row in rows:
        assert row["presend_disposable"] == row["presend_free"] == "false"
        assert row["presend_suggestion"] == ""
    check_times(rows, run.summary)
    # Postfix's own log: recipients were asked, no message was ever sent
    assert "rcpt=" in run.maillog and "data=" not in run.maillog


def test_clean_list_is_exactly_the_deliverable_rows(runs: dict[str, CliRun]) -> None:
    run = runs["full"]
    table = read_table(LIST)
    clean = read_table(run.path("clean"))
    wanted = [row for row, e in zip(table[1:], expectations(), strict=True) if e.status == "deliverable"]
    assert clean[0] == table[0], "the clean list keeps the original header, and only it"
    assert clean[1:] == wanted
    addresses = [r["presend_email"].lower() for r in run.results if r["presend_status"] == "deliverable"]
    assert len(addresses) == len(set(addresses)) == len(wanted)


def test_summary_counts_and_level_statistics(runs: dict[str, CliRun]) -> None:
    run = runs["full"]
    summary = run.summary
    expected = expectations()
    assert summary["rows"] == len(expected)
    assert summary["by_status"] == dict(Counter(e.status for e in expected))
    assert summary["by_code"] == dict(Counter(e.code for e in expected if e.code))
    assert summary["by_reason"] == dict(Counter(e.reason for e in expected))
    assert summary["flags"] == {"disposable": 0, "role": 1, "free": 0, "catch_all": 1}
    assert summary["levels"] == ["syntax", "dns", "mailbox"]
    assert summary["mailboxes_probed"] is True
    assert summary["notes"] == [
        "e2e_lab.csv: first line read as a header: 'Name', 'Email', 'Segment', 'Note' "
        "('Email' names the email column); if it is a contact, add a header line to the file"
    ]
    assert summary["input"]["email_column"] == "Email"  # type: ignore[index]

    dns = summary["dns"]
    assert isinstance(dns, dict)
    domains = {e.email.rpartition("@")[2].lower() for e in expected if e.email and e.status != "duplicate"}
    assert dns["domains"] == len(domains)  # each distinct domain resolved once
    assert dns["queries"] > 0 and dns["cache_hits"] == 0
    assert dns["timeouts"] >= 2  # a.slow.example: asked twice, no answer in time
    assert dns["servfails"] >= 2  # broken.example: SERVFAIL twice

    probe = summary["probe"]
    assert isinstance(probe, dict)
    assert probe["sessions"] >= 8 and probe["cache_hits"] == 0
    assert probe["retries"] == 4  # busy, stuck (still temporary), erin, ghost (greylisted once)
    assert probe["starttls"] >= 1 and probe["rcpt_limit_lowered"] >= 1
    assert probe["connect_failures"] >= 2 and probe["port25_blocked"] == 0
    hosts = summary["probe_hosts"]
    assert isinstance(hosts, dict)
    assert "SMTPUTF8" not in hosts["mx-noutf8.lab.example [127.0.2.2]"]["extensions"]
    assert "SMTPUTF8" in hosts["mx-main.lab.example [127.0.2.1]"]["extensions"]
    assert hosts["mx-tls.lab.example [127.0.2.8]"]["tls"] is True
    # grey.example deferred us before passing; probe-a.example answered 450/451 to busy/stuck
    assert summary["probe_greylisting_domains"] == ["grey.example", "probe-a.example"]


def test_report_names_every_code_and_reason(runs: dict[str, CliRun]) -> None:
    run = runs["full"]
    page = run.path("report", "html").read_text(encoding="utf-8")
    expected = expectations()
    for code in {e.code for e in expected if e.code}:
        assert f'id="todo-{code}"' in page, code  # a "what to do" card per forecast code
    for e in expected:
        if e.status != "deliverable":
            assert e.reason in page, e.reason  # every problem row's reason is listed
    assert "Mailboxes were probed" in page
    # the domain table shows greylisting seen at grey.example although every row there passed
    grey = re.search(r'<th scope="row">grey\.example</th>(.*?)</tr>', page, re.S)
    assert grey is not None and grey.group(1).rstrip().endswith("<td>seen</td>"), grey
    assert f"{run.stem}.results.csv" in page
    # the 550 card's "remove the address" is not for the 550 at MAIL FROM (a sender problem)
    card = re.search(r'aria-labelledby="todo-550">(.*?)</article>', page, re.S)
    assert card is not None and "1 of these rows is a sender problem (our sender was refused)" in card.group(1)


# --- the same list without --allow-private-mx, and without --probe ---------------------------


def check_decided_by_dns(run: CliRun, status: str, reason: str) -> tuple[list[dict[str, str]], list[Expected]]:
    """Check a run whose DNS has the last word on every domain that takes mail: those rows are
    ``status``/``reason`` with 250 2.0.0 and the preferred MX, the others as fully expected.
    Returns the rows and the expectations (see :func:`check_common`)."""
    rows, expected = check_common(run)
    wanted = [
        {
            "presend_status": status,
            "presend_code": "250",
            "presend_enhanced": "2.0.0",
            "presend_reason": reason,
            "presend_mx": e.dns_mx,
            "presend_catch_all": "false",
        }
        if e.domain_takes_mail
        else e.columns()
        for e in expected
    ]
    wrong = differences(rows, wanted, expected)
    assert not wrong, "\n".join(wrong)
    return rows, expected


def test_private_mx_addresses_are_risky_and_not_probed(runs: dict[str, CliRun]) -> None:
    run = runs["private"]
    rows, expected = check_decided_by_dns(run, "risky", "mx_private_address")
    for row, e in zip(rows, expected, strict=True):
        if e.domain_takes_mail:
            assert e.dns_mx in row["presend_detail"] and "127.0.2." in row["presend_detail"], row
    check_times(rows, run.summary)
    probe = run.summary["probe"]
    assert isinstance(probe, dict)
    assert probe["sessions"] == 0 and probe["rcpts"] == 0  # nothing to probe
    assert read_table(run.path("clean")) == [read_table(LIST)[0]]  # no row is safe to send
    page = run.path("report", "html").read_text(encoding="utf-8")
    assert "No mailbox was probed" in page and "--allow-private-mx" in page
    assert "Mailboxes were probed with RCPT TO" not in page


def test_without_probe_domains_that_take_mail_are_deliverable(runs: dict[str, CliRun]) -> None:
    run = runs["no_probe"]
    rows, expected = check_decided_by_dns(run, "deliverable", "domain_accepts_mail")
    by_email = {row["presend_email"]: row for row in rows}
    assert "A/AAAA" in by_email["erin@implicit.example"]["presend_detail"]
    assert "mailbox was not probed" in by_email["alice@probe-a.example"]["presend_detail"]
    check_times(rows, run.summary)
    summary = run.summary
    assert summary["levels"] == ["syntax", "dns"] and summary["mailboxes_probed"] is False
    assert not summary["probe"]
    table = read_table(LIST)
    clean = read_table(run.path("clean"))
    assert clean[1:] == [row for row, e in zip(table[1:], expected, strict=True) if e.domain_takes_mail]
    assert "Mailboxes were not probed" in run.path("report", "html").read_text(encoding="utf-8")


# --- the verdict cache ----------------------------------------------------------------------


def test_second_run_with_cache_asks_nothing(dns_lab: DnsLab, postfix_lab: PostfixLab, tmp_path: Path) -> None:
    # The rows whose verdicts are kept (not the momentary ones), without the greylisting
    # host (whose postgrey may remember an earlier run).
    table = read_table(LIST)
    expected = expectations()
    keep = [
        i
        for i, e in enumerate(expected)
        if e.reason not in MOMENTARY_REASONS and not e.email.lower().endswith("@grey.example")
    ]
    source = tmp_path / "cached.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([table[0], *(table[1:][i] for i in keep)])
    cache = tmp_path / "verdicts.sqlite"
    options = [*lab_options(dns_lab), "--cache", str(cache)]

    first = presend_clean(source, tmp_path / "first", *options)
    second = presend_clean(source, tmp_path / "second", *options)
    assert first.returncode == 0, first.explain()
    assert second.returncode == 0, second.explain()

    rows = first.results
    subset = [expected[i] for i in keep]
    wrong = differences(rows, [e.columns() for e in subset], subset)
    assert not wrong, "\n".join(wrong)
    # Cached verdicts come back as they were, checked_at included; a 501 is judged afresh
    # (no network involved), so its time is this run's.
    def looked_up(results: list[dict[str, str]]) -> list[dict[str, str]]:
        return [
            {k: v for k, v in row.items() if row["presend_code"] != "501" or k != "presend_checked_at"}
            for row in results
        ]

    assert looked_up(second.results) == looked_up(rows), "the cached verdicts must be the same"

    dns1, dns2 = first.summary["dns"], second.summary["dns"]
    probe1, probe2 = first.summary["probe"], second.summary["probe"]
    assert isinstance(dns1, dict) and isinstance(dns2, dict)
    assert isinstance(probe1, dict) and isinstance(probe2, dict)
    assert dns1["queries"] > 0 and dns1["cache_writes"] == dns1["domains"]
    assert probe1["sessions"] > 0 and probe1["cache_writes"] > 0
    assert dns2["queries"] == 0, dns2
    assert dns2["cache_hits"] == dns2["domains"] == dns1["domains"]
    assert dns2["cache_misses"] == 0
    probed = sum(1 for e in subset if e.domain_takes_mail and e.status != "duplicate")
    assert probe2["sessions"] == 0 and probe2["rcpts"] == 0, probe2
    assert probe2["cache_hits"] == probed == probe1["cache_writes"]


# --- a disposable domain (the list of them is extended in the config file) -------------------


def test_disposable_domain_is_at_best_risky(dns_lab: DnsLab, postfix_lab: PostfixLab, tmp_path: Path) -> None:
    help_text = subprocess.run(
        [sys.executable, "-m", "cli", "clean", "--help"],
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    if "--config" not in help_text:
        pytest.skip("this presend has no --config option yet: a lab domain cannot be listed as disposable")
    config = tmp_path / "presend.toml"
    config.write_text('[hygiene]\ndisposable_block = ["throwaway.example"]\n', encoding="utf-8")
    source = tmp_path / "disposable.csv"
    source.write_text("email\nolga@throwaway.example\nalice@probe-a.example\n", encoding="utf-8")
    run = presend_clean(source, tmp_path / "out", *lab_options(dns_lab), "--no-cache", "--config", str(config))
    assert run.returncode == 0, run.explain()
    olga, alice = run.results
    assert (olga["presend_status"], olga["presend_code"], olga["presend_enhanced"], olga["presend_reason"]) == (
        "risky",
        "250",
        "2.1.5",
        "disposable_domain",
    ), olga
    assert olga["presend_disposable"] == "true" and "throw-away" in olga["presend_detail"]
    assert olga["presend_mx"] == MAIN_HOST
    assert (alice["presend_status"], alice["presend_disposable"]) == ("deliverable", "false")
    assert read_table(run.path("clean")) == [["email"], ["alice@probe-a.example"]]
