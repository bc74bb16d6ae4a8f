"""The mailbox level's finer reasons in the report: labels, advice on the code cards, probe trust."""

from __future__ import annotations

import re

from pipeline.probe import reply
from pipeline.report.advice import REASON_ADVICE
from pipeline.report.html import REASONS, render_report, report_context
from pipeline.report.tally import MAILBOX_REASONS, Tally
from pipeline.rules.probe_trust import RCPT_ACCEPTS_ALL, probe_trust
from tests.report_helpers import SUMMARY, columns

#: Every reason slug the mailbox level can give.
SLUGS = {
    value for name, value in vars(reply).items()
    if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z0-9_]+", value)
} | {RCPT_ACCEPTS_ALL}


def test_every_mailbox_reason_is_known_to_the_report() -> None:
    assert {"mailbox_disabled", "relay_denied", "host_busy", "system_full", "protocol_error",
            "temporary_failure", "mailbox_rejected"} <= SLUGS
    assert not SLUGS - MAILBOX_REASONS, "a results file with these reasons must read as probed"
    assert not SLUGS - set(REASONS), "every reason has a label"


def test_code_cards_give_advice_for_the_finer_reasons() -> None:
    tally = Tally(row_cap=100)
    rows = [
        columns("undeliverable", "550", "relay_denied", "a@relay.example", enhanced="5.7.1"),
        columns("unknown", "451", "host_busy", "b@busy.example", enhanced="4.7.500"),
        columns("risky", "250", RCPT_ACCEPTS_ALL, "c@yahoo.example", enhanced="2.1.5"),
        columns("undeliverable", "554", "mx_loops_back", "d@home.example", enhanced="5.4.6"),
    ]
    for number, cols in enumerate(rows, start=1):
        tally.add(number, f"row{number}@x.example", cols)
    summary = {**SUMMARY, "probe_trust": probe_trust({"Yahoo": 1})}
    context = report_context(summary, tally)
    advice = {card["code"]: card["advice"] for card in context["what_to_do"]}
    assert any(REASON_ADVICE["relay_denied"] in a for a in advice["550"])
    assert any(REASON_ADVICE["host_busy"] in a for a in advice["451"])
    assert any(REASON_ADVICE[RCPT_ACCEPTS_ALL] in a for a in advice["250"])
    assert any(REASON_ADVICE["mx_loops_back"] in a for a in advice["554"])
    page = render_report(summary, tally)
    assert 'id="trust-h"' in page and "Yahoo" in page
    assert "https://senders.yahooinc.com/smtp-error-codes/" in page
    # a run without the key (an older summary.json) shows no trust table
    assert 'id="trust-h"' not in render_report(SUMMARY, tally)
