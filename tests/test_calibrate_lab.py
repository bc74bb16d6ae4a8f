"""The real thing on loopback: forecast, send through a real relay, read what happened, calibrate.

1. ``clean --probe`` of the lab list against the Postfix lab's mail hosts (127.0.2.0/24, postgrey
   included) gives the forecast.
2. A second Postfix, the relay on 127.0.7.1, takes one message per row presend did not rule out
   and sends it (the only place DATA is ever sent, all on loopback) to those same mail hosts: the
   greylisted address is deferred, then delivered on the retry; unknown users bounce at RCPT; what
   stays deferred expires. Its bounces come back as DSNs to a local mbox.
3. ``presend calibrate`` reads the relay's real maillog and its DSN mbox: each row's outcome is the
   one its forecast said, and the matrix says so.
4. ``--suppress`` end to end: the bounces are kept; with the mail hosts down, a ``clean`` of the
   same list still marks the bounced rows (``bounced_before``), without asking about them.
"""

from __future__ import annotations

import json
import re
import smtplib
import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from pipeline.options import CacheOptions, DnsOptions, RunOptions
from pipeline.probe.prober import SmtpProber
from pipeline.run import run
from tests.conftest import postfix_binaries
from tests.lab.postfixlab import (
    LAB_MX,
    RELAY_SENDER,
    Listener,
    PostfixLab,
    lab_mx,
    probe_lab_spec,
    relay_lab_spec,
    start_postfix,
)
from tests.lab.staticdns import StaticResolver
from tests.run_helpers import REPO, result_rows, run_cli
from tests.test_probe_postfix import GREY_DELAY, options

pytestmark = pytest.mark.lab

#: The loopback block reserved for the calibrate relay.
RELAY_NET = "127.0.7"
LAB_LIST = Path(__file__).parent / "data" / "calibrate_lab.csv"
PRESEND = [str(REPO / ".venv" / "bin" / "presend")]
#: Rows presend rules out before any send: not sent (no such domain, not an address, a repeat).
NOT_SENT = ("undeliverable:domain_not_found", "undeliverable:invalid_domain", "duplicate:duplicate")


def _forecast(tmp_path: Path) -> Path:
    resolver = StaticResolver({domain: lab_mx(domain) for domain in LAB_MX})
    opts = RunOptions(input=LAB_LIST, out_dir=tmp_path / "forecast", email_column="email",
                      dns=DnsOptions(enabled=True, allow_private_mx=True), probe=options(),
                      cache=CacheOptions(enabled=False))
    return run(opts, resolver=resolver, prober=SmtpProber(opts.probe)).paths["results"]


def _sendable(results: Path) -> list[str]:
    rows = result_rows(results)
    at = {name: rows[0].index(name) for name in ("presend_status", "presend_reason", "presend_email")}
    return [row[at["presend_email"]] for row in rows[1:]
            if f"{row[at['presend_status']]}:{row[at['presend_reason']]}" not in NOT_SENT]


def _send(relay: Listener, addresses: list[str]) -> None:
    with smtplib.SMTP(relay.address, 25, timeout=10) as session:
        for address in addresses:
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = RELAY_SENDER, address, "December news"
            message.set_content("Hello from the lab campaign.\n")
            session.send_message(message, from_addr=RELAY_SENDER, to_addrs=[address])


def _wait_settled(relay_lab: PostfixLab, addresses: list[str], timeout: float = 40.0) -> str:
    """The relay's log once every address has a final status and every bounce reached the mbox."""
    deadline = time.monotonic() + timeout
    wanted = {a.lower() for a in addresses}
    while True:
        log = relay_lab.log_text()
        final = {m.group(1).lower() for m in re.finditer(r"to=<([^>]+)>.*status=(?:sent|bounced)", log)}
        expired = len(re.findall(r"status=expired", log))
        settled = {a for a in wanted if a in final}
        dsns = len(re.findall(rf"to=<{re.escape(RELAY_SENDER)}>.*status=sent", log))
        # every recipient either got a final status line or sits in a queue file that expired
        if len(settled) + expired >= len(wanted) and dsns >= len(wanted) - len(settled & _delivered(log)):
            return log
        if time.monotonic() > deadline:
            pytest.fail(f"the relay did not settle in {timeout:g} s:\n{log[-5000:]}")
        time.sleep(0.5)


def _delivered(log: str) -> set[str]:
    return {m.group(1).lower() for m in re.finditer(r"to=<([^>]+)>.*status=sent \(250", log)}


def test_forecast_send_calibrate_suppress(tmp_path: Path) -> None:
    postfix, postgrey = postfix_binaries()
    hosts = start_postfix(PostfixLab(probe_lab_spec(GREY_DELAY), postfix=postfix, postgrey=postgrey))
    routes = {domain: LAB_MX[domain][0].address for domain in ("probe-a.example", "catchall.example",
                                                                 "noutf8.example", "grey.example")}
    relay_spec = relay_lab_spec(RELAY_NET, routes)
    relay_lab = PostfixLab(relay_spec, postfix=postfix)
    try:
        results = _forecast(tmp_path)
        sendable = _sendable(results)
        relay_lab.start()
        _send(relay_spec.listeners[0], sendable)
        _wait_settled(relay_lab, sendable)
        outcomes = tmp_path / "outcomes"
        outcomes.mkdir()
        (outcomes / "maillog").write_bytes(relay_lab.maillog.read_bytes())
        (outcomes / "bounces.mbox").write_bytes((relay_lab.root / "mail" / "news").read_bytes())
    finally:
        relay_lab.stop()
        hosts.stop()  # from here on the mail hosts are down
    log = (outcomes / "maillog").read_text()
    assert re.search(r"to=<dave@grey\.example>.*status=deferred.*[Gg]reylist", log), log[-3000:]
    assert re.search(r"to=<dave@grey\.example>.*status=sent", log)

    cache = tmp_path / "cache.sqlite3"
    done = run_cli([*PRESEND, "calibrate", str(results), str(outcomes), "--out", str(tmp_path / "cal"),
                    "--suppress", "--cache", str(cache)])
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "cal" / "calibrate_lab.calibration.json").read_text())
    formats = {Path(f["file"]).name: f["format"] for f in data["outcome_files"]}
    assert formats == {"maillog": "postfix", "bounces.mbox": "dsn"}
    assert all(f["unknown"] == 0 for f in data["outcome_files"]), data["outcome_files"]
    matrix = data["matrix"]["forecast"]
    assert matrix == EXPECTED_MATRIX, json.dumps(matrix, indent=1)
    # the one bounce not forecast as such was forecast risky (452 mailbox full), a hedge
    assert data["will_bounce"] == {"precision": 1.0, "recall": 0.8333, "true_positive": 5, "false_positive": 0,
                                   "false_negative": 1}
    assert data["safe_but_bounced"]["count"] == 0 and data["bounce_but_delivered"]["count"] == 0
    assert data["rows"]["duplicates"] == 1
    # the one outcome address not in the list: the relay's own sender, to whom the bounces went
    assert data["outcome_addresses"]["not_in_list"] == 1
    assert data["suppressed"]["hard"] == 6  # the five bounces and the full mailbox that expired
    # every row sent got the very reply code its forecast named
    assert {(c["forecast"], c["actual"], c["rows"]) for c in data["codes"]} == {
        ("250", "250", 5), ("550", "550", 2), ("551", "551", 1), ("552", "552", 1), ("553", "553", 1),
        ("452", "452", 1)}
    assert "0 forecast safe bounced" in done.stdout

    # --suppress end to end: the mail hosts are down, the bounced rows still come from the cache.
    resolver = StaticResolver({domain: lab_mx(domain) for domain in LAB_MX})
    again = RunOptions(input=LAB_LIST, out_dir=tmp_path / "again", email_column="email",
                       dns=DnsOptions(enabled=True, allow_private_mx=True), probe=options(max_retries=0),
                       cache=CacheOptions(path=cache))
    run(again, resolver=resolver, prober=SmtpProber(again.probe))
    rows = result_rows(tmp_path / "again" / "calibrate_lab.results.csv")
    at = {name: rows[0].index(name) for name in ("presend_email", "presend_reason", "presend_detail")}
    reasons = {row[at["presend_email"]].lower(): row[at["presend_reason"]] for row in rows[1:]
               if row[at["presend_reason"]] != "duplicate"}
    bounced = {email for email, reason in reasons.items() if reason == "bounced_before"}
    assert bounced == {"nosuch@probe-a.example", "quota@probe-a.example", "moved@probe-a.example",
                       "odd@probe-a.example", "nobody@grey.example", "full@probe-a.example"}
    # the others were asked, and no mail host answered (port 25 refused everywhere)
    for email in ("alice@probe-a.example", "bob@probe-a.example", "dave@grey.example", "someone@catchall.example"):
        assert reasons[email] == "probe_unreachable", (email, reasons)
    detail = next(row[at["presend_detail"]] for row in rows[1:] if row[at["presend_email"]] == "moved@probe-a.example")
    assert "551 5.1.6" in detail and "User has moved" in detail


def _row(delivered: int = 0, bounced: int = 0, none: int = 0) -> dict[str, int]:
    return {"delivered": delivered, "complaint": 0, "bounced": bounced, "deferred": 0, "none": none}


#: Forecast status × actual outcome of the lab list: every decisive forecast came true.
EXPECTED_MATRIX = {
    "deliverable": _row(delivered=4),  # alice, bob, carol, and dave after greylisting
    "risky": _row(delivered=1, bounced=1),  # the catch-all took it; the full mailbox stayed full, then expired
    "undeliverable": _row(bounced=5, none=2),  # four RCPT refusals, one quota; no domain and a typo were not sent
    "unknown": _row(),
}
