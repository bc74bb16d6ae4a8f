"""A strict real Postfix on 127.0.5.1: its limits are obeyed, learnt, kept and reported.

The host (tests/lab/postfixlab.py ``STRICT``) takes 3 recipients per transaction, ends a
session with ``421 4.7.0 Error: too many errors`` at the 4th refused command, and anvil refuses
a second connection at once and a fifth within its (1 s) time unit with ``421 4.7.0 Error:
too many connections``. The list has more addresses, more unknown users and needs more
sessions than that allows. Every row must get the host's real answer for its mailbox, and the
host's own log must show each limit enforced once at most: after the first refusal of a kind
the probe plans under what it learnt, and a later run starts from the cache.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cache import VerdictCache
from pipeline.options import CacheOptions, DnsOptions, ProbeOptions, RunOptions
from pipeline.probe.prober import SmtpProber
from pipeline.run import RunResult, run
from tests.conftest import postfix_binaries
from tests.lab.postfixlab import (
    LAB_SENDER,
    STRICT,
    STRICT_LIMITS,
    STRICT_RATE_UNIT,
    PostfixLab,
    limit_events,
    mx,
    start_postfix,
    strict_lab_spec,
)
from tests.lab.staticdns import StaticResolver

pytestmark = pytest.mark.lab

DOMAIN = "strict.example"
KNOWN = [f"user{i}" for i in range(24)]
#: anvil counts in whole seconds: a backoff above its unit plus one second clears its window
BACKOFF = STRICT_RATE_UNIT + 1.3


@pytest.fixture(scope="module")
def strict_lab() -> Iterator[PostfixLab]:
    postfix, postgrey = postfix_binaries()
    lab = start_postfix(PostfixLab(strict_lab_spec(KNOWN, DOMAIN), postfix=postfix, postgrey=postgrey))
    # the lab's own "is it listening" connection counts towards anvil's rate: let it age out
    time.sleep(STRICT_RATE_UNIT + 1)
    try:
        yield lab
    finally:
        lab.stop()


def probe_run(lab_list: list[str], folder: Path, cache: Path) -> RunResult:
    """One probed run of ``lab_list`` (DNS answers written down: the MX is the strict host)."""
    folder.mkdir()
    source = folder / "list.csv"
    source.write_text("email\n" + "".join(f"{local}@{DOMAIN}\n" for local in lab_list), encoding="utf-8")
    probe = ProbeOptions(
        enabled=True,
        mail_from=LAB_SENDER,
        helo="probe.presend-lab.example",
        port=25,
        timeout=5.0,
        batch_size=4,
        per_host=2,
        backoff=BACKOFF,
        backoff_tries=3,
        retry_after=1.0,
    )
    options = RunOptions(
        input=source,
        out_dir=folder,
        email_column="email",
        dns=DnsOptions(enabled=True, allow_private_mx=True),
        probe=probe,
        cache=CacheOptions(enabled=True, path=cache),
    )
    prober = SmtpProber(probe, VerdictCache(cache))
    return run(options, resolver=StaticResolver({DOMAIN: mx(STRICT)}), prober=prober)


def check_rows(result: RunResult) -> None:
    """Each row is the host's real answer: 250 for a configured user, 550 5.1.1 for the rest."""
    with result.paths["results"].open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    wrong = []
    for row in rows:
        local = row["email"].split("@")[0]
        want = (
            ("deliverable", "250", "mailbox_exists")
            if local in KNOWN
            else ("undeliverable", "550", "mailbox_not_found")
        )
        got = (row["presend_status"], row["presend_code"], row["presend_reason"])
        # no verdict comes from a disconnect or a limit
        if got != want or "421" in row["presend_detail"] or "too many" in row["presend_detail"]:
            wrong.append((row["email"], got, want, row["presend_detail"]))
    assert not wrong, "\n".join(map(str, wrong))


def test_a_strict_host_is_obeyed_learnt_and_remembered(strict_lab: PostfixLab, tmp_path: Path) -> None:
    known, unknown = KNOWN[:18], [f"nobody{i}" for i in range(18)]
    # a batch of known users (recipient limit), one of unknown users (error limit), then mixed
    first = known[:4] + unknown[:4] + [x for pair in zip(known[4:], unknown[4:], strict=True) for x in pair]
    cache = tmp_path / "cache.sqlite3"
    result = probe_run(first, tmp_path / "run1", cache)
    check_rows(result)
    events = limit_events(strict_lab.log_text())
    # no limit enforced twice (the first time teaches it); the list did run into them
    assert max(events.values()) == 1, strict_lab.log_text()
    assert events["errors"] == 1 and events["concurrency"] + events["rate"] >= 1, strict_lab.log_text()
    assert result.summary["probe"]["rcpt_limit_lowered"] >= 1  # the host said 452 4.5.3
    limits = result.summary["probe_hosts"][f"{STRICT.host} [{STRICT.address}]"]["limits"]
    assert limits["rcpts_per_transaction"] == int(STRICT_LIMITS["smtpd_recipient_limit"])
    assert limits["errors_per_session"] == int(STRICT_LIMITS["smtpd_hard_error_limit"])
    if events["concurrency"]:
        assert limits["sessions_at_once"] == int(STRICT_LIMITS["smtpd_client_connection_count_limit"])
    if events["rate"]:  # at most the host's rate, in a window at least its time unit
        assert 1 <= limits["sessions_per_window"] <= int(STRICT_LIMITS["smtpd_client_connection_rate_limit"])
        assert limits["window_seconds"] >= STRICT_RATE_UNIT
    assert limits["cuts"] == result.summary["probe"]["sessions_cut"] == sum(events.values())
    json.dumps(result.summary)  # summary.json holds it as plain JSON

    # a later run with the same cache starts from the learnt limits: the host refuses nothing
    time.sleep(STRICT_RATE_UNIT + 1)  # the first run's connections age out of anvil's window
    second = KNOWN[18:] + [f"other{i}" for i in range(12)]
    again = probe_run(second, tmp_path / "run2", cache)
    check_rows(again)
    assert limit_events(strict_lab.log_text()) == events
    assert again.summary["probe"]["sessions_cut"] == 0
    assert again.summary["probe"]["rcpt_limit_lowered"] == 0  # transactions planned at 3 from the start
    assert "data=" not in strict_lab.log_text()
