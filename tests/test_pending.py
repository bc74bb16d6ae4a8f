"""Temporary answers across runs: ``--retry-after`` schedules and pending addresses.

Unit tests for the schedule option (flag, config file, Python callers), a scripted aiosmtpd host
on 127.0.6.50 (the block reserved for these tests) that counts what it is asked, and the real
Postfix lab's postgrey: run 1 ends with the address pending, run 2 before the wait says when,
run 3 after the wait resolves it without asking anything else again.
"""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cache import VerdictCache
from pipeline.config import load_config
from pipeline.errors import UsageError
from pipeline.models import MxHost, Status, Verdict
from pipeline.options import (
    CacheOptions,
    DnsOptions,
    OutOfRange,
    ProbeOptions,
    RunOptions,
    build_options,
    check_options,
)
from pipeline.ports import ProbeTarget
from pipeline.probe.pending import PENDING_KIND, Pending, due_first
from pipeline.probe.prober import SmtpProber
from pipeline.run import run
from tests.conftest import postfix_binaries
from tests.lab.postfixlab import LAB_MX, LAB_SENDER, PostfixLab, lab_mx, probe_lab_spec, start_postfix
from tests.lab.smtphosts import HostScript, ScriptedHosts
from tests.lab.staticdns import StaticResolver

UTC_TIME = re.compile(r"asks again from (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \(UTC\)")
NEXT_RUN = re.compile(r"the next run from (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) \(UTC\) asks it again")

# --- the schedule option ----------------------------------------------------------------------


def test_one_number_keeps_its_meaning_and_a_schedule_sets_the_waits() -> None:
    old = ProbeOptions(retry_after=300)  # type: ignore[arg-type]  # a Python caller of before
    assert old.retry_after == (300.0,) and old.retries == 1
    assert [old.wait_before(n) for n in (1, 2, 5)] == [300.0, 300.0, 300.0]
    assert ProbeOptions(retry_after=(300.0,), max_retries=3).retries == 3  # today's --max-retries
    schedule = ProbeOptions(retry_after="60,300,900")  # type: ignore[arg-type]
    assert schedule.retry_after == (60.0, 300.0, 900.0) and schedule.retries == 3
    assert [schedule.wait_before(n) for n in (1, 2, 3, 4, 9)] == [60.0, 300.0, 900.0, 900.0, 900.0]
    assert ProbeOptions(retry_after=(60.0, 300.0), max_retries=0).retries == 0  # cron: never wait in the run
    with pytest.raises(OutOfRange, match="at least one wait"):
        check_options(ProbeOptions(retry_after=()))


def test_the_flag_and_the_config_file_take_a_number_or_a_schedule(tmp_path: Path) -> None:
    def built(value: object) -> tuple[float, ...]:
        options = build_options(RunOptions, {"input": str(tmp_path / "a.csv"), "retry_after": value})
        check_options(options)
        return options.probe.retry_after

    assert built("300") == (300.0,)
    assert built("60, 5m,15m") == (60.0, 300.0, 900.0)
    for bad in ("60,,900", "", "abc", "60;300"):
        with pytest.raises(UsageError, match=r"^--retry-after: "):
            built(bad)
    with pytest.raises(OutOfRange, match=r"^--retry-after: expected 0 to 86_400 seconds"):
        built("60,100000")

    config = tmp_path / "presend.toml"
    for text, expected in (
        ("retry_after = 300\n", (300.0,)),  # a config of before
        ("[probe]\nretry_after = 120.5\n", (120.5,)),
        ('retry_after = "60,300,900"\n', (60.0, 300.0, 900.0)),
        ("[probe]\nretry_after = [60, 300]\n", (60.0, 300.0)),
    ):
        config.write_text(text)
        assert built(load_config(config).values["retry_after"]) == expected, text
    config.write_text("retry_after = true\n")
    with pytest.raises(UsageError, match="retry_after must be seconds or a schedule"):
        load_config(config)


def test_due_addresses_are_asked_first() -> None:
    targets = [scripted_target(f"{name}@x.example") for name in ("a", "b", "c", "d")]
    ordered = due_first(targets, {"c@x.example", "a@x.example"})
    assert [t.email for t in ordered] == ["a@x.example", "c@x.example", "b@x.example", "d@x.example"]


# --- a scripted host that counts what it is asked -----------------------------------------------

HOST = "127.0.6.50"
PORT = 2525


def scripted_prober(cache: VerdictCache, **overrides: object) -> SmtpProber:
    values: dict[str, object] = {"enabled": True, "mail_from": "probe@sender.example", "port": PORT, "timeout": 2.0}
    values.update(overrides)
    return SmtpProber(ProbeOptions(**values), cache)  # type: ignore[arg-type]


def scripted_target(email: str, host: str = HOST) -> ProbeTarget:
    local, domain = email.rsplit("@", 1)
    mx = MxHost(10, f"mx{host.rsplit('.', 1)[1]}.lab.example", (host,))
    return ProbeTarget(email, local, domain, domain, False, (mx,))


def test_a_schedule_within_the_run_then_pending_then_answered(tmp_path: Path) -> None:
    late, fine = "late@slow.example", "fine@slow.example"
    script = HostScript(HOST, mailboxes={late, fine}, replies={late: "451 4.7.1 Greylisted, try again later"})
    cache = VerdictCache(tmp_path / "cache.sqlite3")
    targets = [scripted_target(fine), scripted_target(late)]
    with ScriptedHosts([script], PORT) as hosts:
        first = scripted_prober(cache, retry_after="0.2,1")
        result = first.probe(targets)
        log = hosts.log(HOST)
        asks = [t for t, address in log.rcpt_times if address == late]
        assert len(asks) == 3  # the first ask and two retries, 0.2 s and 1 s later
        assert asks[1] - asks[0] >= 0.2 and asks[2] - asks[1] >= 1.0
        verdict = result[late].verdict
        assert (verdict.status, verdict.code, verdict.enhanced, verdict.reason) == (
            Status.UNKNOWN,
            "451",
            "4.7.1",
            "greylisted",
        )
        assert "Still temporary after asking 2 more times, after waits of 0.2 and 1 s." in verdict.detail
        assert NEXT_RUN.search(verdict.detail), verdict.detail
        assert first.stats()["pending_recorded"] == 1
        assert any(note.startswith("Pending addresses: 1 deferred") for note in first.notes())
        made_up = {address for _, address in log.rcpt_times if address.startswith("presend-check-")}
        assert len(made_up) == 1

        # at once: the wait (1 s, the last of the schedule) has not passed: nothing is asked
        sessions = len(log.sessions)
        second = scripted_prober(cache, retry_after="0.2,1")
        waiting = second.probe(targets)
        assert len(log.sessions) == sessions
        still = waiting[late].verdict
        assert (still.status, still.code, still.reason) == (Status.UNKNOWN, "451", "greylisted")
        assert "deferred 3 times so far" in still.detail and UTC_TIME.search(still.detail), still.detail
        assert waiting[fine].from_cache and second.stats()["pending_waiting"] == 1

        # after the wait the host takes it: only the pending address is asked (with the same
        # made-up address beside it), and the record is gone
        script.replies.clear()
        time.sleep(1.1)
        rcpts = len(log.rcpt_times)
        third = scripted_prober(cache, retry_after="0.2,1")
        answered = third.probe(targets)
    asked_now = [address for _, address in log.rcpt_times[rcpts:]]
    assert sorted(asked_now) == sorted([late, *made_up])
    verdict = answered[late].verdict
    assert (verdict.status, verdict.reason) == (Status.DELIVERABLE, "mailbox_exists")
    assert "An earlier run was deferred 3 times" in verdict.detail
    assert third.stats()["pending_asked"] == 1 and third.stats()["pending_resolved"] == 1
    assert cache.get_many(PENDING_KIND, [k for k in _keys(third, targets)]) == {}


def _keys(prober: SmtpProber, targets: list[ProbeTarget]) -> list[str]:
    return [prober._cache_key(t) for t in targets]


def test_a_worker_elsewhere_goes_on_with_the_history() -> None:
    """--engine dask: the coordinator hands each worker the pending records of its due addresses."""
    from pipeline.engine.cluster import probe_task

    a = "127.0.6.52"
    email = "again@hist.example"
    script = HostScript(a, replies={email: "450 4.2.0 Greylisted"})
    target = scripted_target(email, a)
    before = Verdict(
        Status.UNKNOWN, "450", "4.2.0", "greylisted", "deferred", "mx52.lab.example", "2026-01-01T00:00:00Z"
    )
    history = {email: Pending(email, before, 2, 0.0, "presend-check-0123456789ab")}
    options = ProbeOptions(enabled=True, mail_from="p@s.example", port=PORT, max_retries=0, retry_after=(10, 20, 30))
    with ScriptedHosts([script], PORT) as hosts:
        started = time.time()
        verdicts, findings = probe_task(options, [target], history)
    asked = [address for _, address in hosts.log(a).rcpt_times]
    assert sorted(asked) == sorted([email, "presend-check-0123456789ab@hist.example"])  # the same made-up address
    assert verdicts[email].verdict.reason == "greylisted"
    pending = findings.deferred[email]
    assert pending.asked == 3  # two asks in earlier runs, one here
    assert 30 <= pending.next_at - started < 40  # the schedule's third wait comes next


def test_without_the_cache_nothing_is_pending() -> None:
    a = "127.0.6.51"
    script = HostScript(a, replies={"late@nocache.example": "450 4.2.0 Greylisted"})
    with ScriptedHosts([script], PORT):
        prober = SmtpProber(ProbeOptions(enabled=True, mail_from="p@s.example", port=PORT, max_retries=0))
        verdict = prober.probe([scripted_target("late@nocache.example", a)])["late@nocache.example"].verdict
    assert verdict.reason == "greylisted" and "Pending" not in verdict.detail
    assert prober.notes() == [] and prober.stats()["pending_recorded"] == 0


# --- the real Postfix lab's postgrey ----------------------------------------------------------------

GREY_DELAY = 2  # postgrey's --delay
WAIT = 5.0  # --retry-after: longer than postgrey's delay (and than run 2 takes)


@pytest.fixture(scope="module")
def postgrey_lab() -> Iterator[PostfixLab]:
    postfix, postgrey = postfix_binaries()
    lab = start_postfix(PostfixLab(probe_lab_spec(GREY_DELAY), postfix=postfix, postgrey=postgrey))
    try:
        yield lab
    finally:
        lab.stop()


def _rcpts_since(log: str, mark: int) -> dict[str, int]:
    """RCPT commands per listener address in the sessions that ended after ``mark`` (log offset)."""
    counts: dict[str, int] = {}
    pattern = r"postfix/([0-9.]+)/smtpd\[\d+\]: disconnect from .* rcpt=(\d+)(?:/(\d+))?"
    for match in re.finditer(pattern, log[mark:]):  # rcpt=2, or rcpt=1/2 when one was refused
        counts[match.group(1)] = counts.get(match.group(1), 0) + int(match.group(3) or match.group(2))
    return counts


def test_greylisted_in_run_1_pending_in_run_2_resolved_in_run_3(postgrey_lab: PostfixLab, tmp_path: Path) -> None:
    listing = tmp_path / "grey.csv"
    listing.write_text("email\ndave@grey.example\nbob@probe-a.example\nnosuch@probe-a.example\n")
    cache = CacheOptions(path=tmp_path / "cache.sqlite3")
    resolver = StaticResolver({domain: lab_mx(domain) for domain in LAB_MX})
    probe = ProbeOptions(
        enabled=True,
        mail_from=LAB_SENDER,
        helo="probe.presend-lab.example",
        retry_after=(WAIT,),
        max_retries=0,
        timeout=5.0,
    )

    def one_run(name: str) -> dict[str, dict[str, str]]:
        out = tmp_path / name
        options = RunOptions(
            input=listing,
            out_dir=out,
            email_column="email",
            dns=DnsOptions(allow_private_mx=True),
            probe=probe,
            cache=cache,
        )
        run(options, resolver=resolver, prober=SmtpProber(probe, VerdictCache.from_options(cache)))
        with (out / "grey.results.csv").open(newline="", encoding="utf-8") as handle:
            return {row["email"]: row for row in csv.DictReader(handle)}

    # run 1: postgrey defers dave (450 4.2.0), the others are answered and cached
    first = one_run("run1")
    started = time.time()
    dave = first["dave@grey.example"]
    assert (dave["presend_status"], dave["presend_code"], dave["presend_reason"]) == ("unknown", "450", "greylisted")
    assert "Greylisted" in dave["presend_detail"]
    when = NEXT_RUN.search(dave["presend_detail"])
    assert when, dave["presend_detail"]
    assert first["bob@probe-a.example"]["presend_status"] == "deliverable"
    assert first["nosuch@probe-a.example"]["presend_status"] == "undeliverable"

    # run 2, before the wait: nothing is asked; dave's row names the time it will be
    mark = len(postgrey_lab.log_text())
    second = one_run("run2")
    assert time.time() - started < WAIT, "run 2 came too late to be before the wait"
    dave = second["dave@grey.example"]
    assert (dave["presend_status"], dave["presend_code"], dave["presend_reason"]) == ("unknown", "450", "greylisted")
    said = UTC_TIME.search(dave["presend_detail"])
    assert said and said.group(1) == when.group(1), dave["presend_detail"]
    assert dave["presend_checked_at"] == first["dave@grey.example"]["presend_checked_at"]  # the deciding check
    assert {k: v["presend_status"] for k, v in second.items()} == {k: v["presend_status"] for k, v in first.items()}
    assert _rcpts_since(postgrey_lab.log_text(), mark) == {}, "run 2 asked a mail host"

    # run 3, after the wait: postgrey lets the triplet through; only dave (and the made-up
    # address asked beside him in run 1) are asked, nothing else again
    time.sleep(max(0.0, started + WAIT + 0.2 - time.time()))
    mark = len(postgrey_lab.log_text())
    third = one_run("run3")
    dave = third["dave@grey.example"]
    assert (dave["presend_status"], dave["presend_code"], dave["presend_reason"]) == (
        "deliverable",
        "250",
        "mailbox_exists",
    ), dave["presend_detail"]
    assert "An earlier run was deferred once" in dave["presend_detail"]
    assert _rcpts_since(postgrey_lab.log_text(), mark) == {"127.0.2.6": 2}  # dave + the catch-all question
    for email in ("bob@probe-a.example", "nosuch@probe-a.example"):
        assert third[email]["presend_status"] == first[email]["presend_status"]
