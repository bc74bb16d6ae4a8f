"""The mailbox level against a real Postfix (+ postgrey) on 127.0.2.0/24, and end to end.

One private Postfix instance plays eight mail hosts (see tests/lab/postfixlab.py): virtual
mailboxes with Postfix's own 550 5.1.1, access maps answering 452 / 552 / 551 / 553 / 451,
421 and 554 at connect, 550 to our MAIL FROM, ``smtputf8_enable = no``, a catch-all domain,
``smtpd_recipient_limit = 3``, STARTTLS required, and postgrey greylisting with a 2 s delay.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.models import MxHost, Status
from pipeline.options import CacheOptions, DnsOptions, ProbeOptions, RunOptions
from pipeline.ports import ProbeTarget
from pipeline.probe.prober import SmtpProber
from pipeline.run import run
from tests.conftest import postfix_binaries
from tests.lab.postfixlab import LAB_MX, LAB_SENDER, PostfixLab, lab_mx, probe_lab_spec, start_postfix
from tests.lab.staticdns import StaticResolver

pytestmark = pytest.mark.lab

GREY_DELAY = 2
RETRY_AFTER = 3.0  # a little longer than the greylisting delay
E2E_CSV = Path(__file__).parent / "data" / "probe_e2e.csv"


@pytest.fixture(scope="module")
def postfix_lab() -> Iterator[PostfixLab]:
    postfix, postgrey = postfix_binaries()
    lab = start_postfix(PostfixLab(probe_lab_spec(GREY_DELAY), postfix=postfix, postgrey=postgrey))
    try:
        yield lab
    finally:
        lab.stop()


def options(**overrides: object) -> ProbeOptions:
    values: dict[str, object] = {
        "enabled": True,
        "mail_from": LAB_SENDER,
        "helo": "probe.presend-lab.example",
        "port": 25,
        "retry_after": RETRY_AFTER,
        "max_retries": 1,
        "timeout": 5.0,
        "concurrency": 8,
        "per_host": 2,
        "batch_size": 25,
        "backoff": 0.3,
        "backoff_tries": 1,
    }
    values.update(overrides)
    return ProbeOptions(**values)  # type: ignore[arg-type]


def target(email: str, utf8: bool = False) -> ProbeTarget:
    local, domain = email.rsplit("@", 1)
    hosts = tuple(MxHost(p, h, a) for p, h, a in lab_mx(domain))
    return ProbeTarget(email, local, domain, domain, utf8, hosts)


# email -> (status, code, enhanced, reason, mx)
EXPECTED = {
    "bob@probe-a.example": (Status.DELIVERABLE, "250", "2.1.5", "mailbox_exists", "mx-main"),
    "nosuch@probe-a.example": (Status.UNDELIVERABLE, "550", "5.1.1", "mailbox_not_found", "mx-main"),
    "full@probe-a.example": (Status.RISKY, "452", "4.2.2", "mailbox_full", "mx-main"),
    "quota@probe-a.example": (Status.UNDELIVERABLE, "552", "5.2.2", "mailbox_full", "mx-main"),
    "moved@probe-a.example": (Status.UNDELIVERABLE, "551", "5.1.6", "user_not_local", "mx-main"),
    "odd@probe-a.example": (Status.UNDELIVERABLE, "553", "5.1.3", "mailbox_rejected", "mx-main"),
    "busy@probe-a.example": (Status.UNKNOWN, "451", "4.3.0", "temporary_failure", "mx-main"),
    "jürgen@probe-a.example": (Status.DELIVERABLE, "250", "2.1.5", "mailbox_exists", "mx-main"),
    "someone@catchall.example": (Status.RISKY, "250", "2.1.5", "catch_all", "mx-main"),
    "carol@noutf8.example": (Status.DELIVERABLE, "250", "2.1.5", "mailbox_exists", "mx-noutf8"),
    "jörg@noutf8.example": (Status.UNDELIVERABLE, "553", "5.6.7", "smtputf8_unsupported", "mx-noutf8"),
    "frank@fallback.example": (Status.DELIVERABLE, "250", "2.1.5", "mailbox_exists", "mx-main"),
    "ben@busy.example": (Status.UNKNOWN, "421", "4.7.0", "host_unavailable", "mx-busy"),
    "bea@blocked.example": (Status.UNKNOWN, "554", "5.7.1", "sender_blocked", "mx-blocking"),
    "sam@senderblock.example": (Status.UNKNOWN, "550", "5.7.1", "sender_blocked", "mx-senderblock"),
    "dave@grey.example": (Status.DELIVERABLE, "250", "2.1.5", "mailbox_exists", "mx-grey"),
    "nobody@grey.example": (Status.UNDELIVERABLE, "550", "5.1.1", "mailbox_not_found", "mx-grey"),
    **{
        f"user{i}@limit.example": (Status.DELIVERABLE, "250", "2.1.5", "mailbox_exists", "mx-limit")
        for i in range(8)
    },
    "tina@tls.example": (Status.DELIVERABLE, "250", "2.1.5", "mailbox_exists", "mx-tls"),
    "x@dead.example": (Status.UNKNOWN, "421", "4.4.1", "host_unavailable", "dead-99"),
}


def test_every_postfix_answer_is_forecast(postfix_lab: PostfixLab) -> None:
    prober = SmtpProber(options())
    targets = [target(email, utf8=not email.split("@")[0].isascii()) for email in EXPECTED]
    result = prober.probe(targets)
    wrong = {}
    for email, (status, code, enhanced, reason, mx) in EXPECTED.items():
        v = result[email].verdict
        got = (v.status, v.code, v.enhanced, v.reason, v.mx)
        if got != (status, code, enhanced, reason, f"{mx}.lab.example"):
            wrong[email] = (got, v.detail)
    assert not wrong, f"{wrong}\n--- maillog ---\n{postfix_lab.log_text()[-4000:]}"

    details = {email: result[email].verdict.detail for email in EXPECTED}
    assert "User unknown in virtual mailbox table" in details["nosuch@probe-a.example"]
    assert "not asked" in details["jörg@noutf8.example"]
    assert "sender problem" in details["bea@blocked.example"]
    assert "sender problem" in details["sam@senderblock.example"]
    assert "Too busy right now" in details["ben@busy.example"]
    assert "once more" in details["busy@probe-a.example"]
    assert "connection refused" in details["x@dead.example"]
    assert result["someone@catchall.example"].catch_all

    stats = prober.stats()
    assert stats["retries"] >= 3  # dave, nobody (greylisted) and busy (451) went round again
    assert stats["rcpt_limit_lowered"] >= 1  # smtpd_recipient_limit = 3 answered 452 4.5.3
    assert stats["starttls"] >= 1
    assert stats["pipelined_groups"] >= 1  # Postfix offers PIPELINING (RFC 2920)
    hosts = prober.host_report()
    assert "SMTPUTF8" not in hosts["mx-noutf8.lab.example [127.0.2.2]"]["extensions"]
    assert "SMTPUTF8" in hosts["mx-main.lab.example [127.0.2.1]"]["extensions"]
    assert "STARTTLS" in hosts["mx-tls.lab.example [127.0.2.8]"]["extensions"]
    assert hosts["mx-tls.lab.example [127.0.2.8]"]["tls"] is True
    assert "SIZE" in hosts["mx-main.lab.example [127.0.2.1]"]["extensions"]
    assert "8BITMIME" in hosts["mx-main.lab.example [127.0.2.1]"]["extensions"]
    # Postfix's own log: recipients asked, never a message (no DATA, nothing queued)
    log = postfix_lab.log_text()
    assert "rcpt=" in log and "data=" not in log


def test_end_to_end_csv_every_row_right(postfix_lab: PostfixLab, tmp_path: Path) -> None:
    resolver = StaticResolver({domain: lab_mx(domain) for domain in LAB_MX})
    opts = RunOptions(
        input=E2E_CSV,
        out_dir=tmp_path,
        email_column="email",
        dns=DnsOptions(enabled=True, allow_private_mx=True),
        probe=options(),
        cache=CacheOptions(enabled=False),
    )
    result = run(opts, resolver=resolver, prober=SmtpProber(opts.probe))
    rows = _read(result.paths["results"])
    assert len(rows) == len(_read(E2E_CSV))
    wrong = []
    for row in rows:
        expected = {
            "presend_status": row["expected_status"],
            "presend_code": row["expected_code"],
            "presend_enhanced": row["expected_enhanced"],
            "presend_catch_all": row["expected_catch_all"],
        }
        if row["expected_reason"]:
            expected["presend_reason"] = row["expected_reason"]
        if row["expected_mx"]:
            expected["presend_mx"] = row["expected_mx"]
        got = {k: row[k] for k in expected}
        if got != expected:
            wrong.append((row["email"], got, expected, row["presend_detail"]))
    assert not wrong, "\n".join(map(str, wrong))
    assert result.summary["probe"]["sessions"] >= 8
    assert result.summary["mailboxes_probed"] is True
    hosts = result.summary["probe_hosts"]
    assert "SMTPUTF8" not in hosts["mx-noutf8.lab.example [127.0.2.2]"]["extensions"]
    assert {"SIZE", "8BITMIME", "SMTPUTF8"} <= set(hosts["mx-main.lab.example [127.0.2.1]"]["extensions"])


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))
