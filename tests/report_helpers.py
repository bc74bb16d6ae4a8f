"""Shared helpers for the report tests: result rows and tallies built from plain values."""

from __future__ import annotations

from pipeline.models import RESULT_COLUMNS
from pipeline.summary import Tally


def columns(
    status: str,
    code: str = "",
    reason: str = "",
    email: str = "",
    *,
    enhanced: str = "",
    detail: str = "",
    suggestion: str = "",
    catch_all: bool = False,
    role: bool = False,
    mx: str = "",
) -> list[str]:
    """The values of RESULT_COLUMNS for one row."""
    values = {
        "presend_status": status,
        "presend_code": code,
        "presend_enhanced": enhanced,
        "presend_reason": reason,
        "presend_detail": detail or f"{reason} detail",
        "presend_email": email,
        "presend_suggestion": suggestion,
        "presend_disposable": "false",
        "presend_role": "true" if role else "false",
        "presend_free": "false",
        "presend_catch_all": "true" if catch_all else "false",
        "presend_mx": mx,
        "presend_checked_at": "2024-05-01T12:00:00Z",
    }
    return [values[name] for name in RESULT_COLUMNS]


#: A small, varied set of rows: (input cell, columns).
SAMPLE: list[tuple[str, list[str]]] = [
    ("ok1@acme.example", columns("deliverable", "250", "mailbox_exists", "ok1@acme.example", mx="mx.acme.example")),
    ("ok2@acme.example", columns("deliverable", "250", "mailbox_exists", "ok2@acme.example", mx="mx.acme.example")),
    ("ok@corp.example", columns("deliverable", "250", "mailbox_exists", "ok@corp.example", mx="aspmx.l.google.com")),
    ("gone@acme.example", columns("undeliverable", "550", "mailbox_not_found", "gone@acme.example",
                                  enhanced="5.1.1", mx="mx.acme.example")),
    ("x@nowhere.example", columns("undeliverable", "550", "nxdomain", "x@nowhere.example", enhanced="5.1.2")),
    ("ann@gmial.com", columns("undeliverable", "550", "nxdomain", "ann@gmial.com", enhanced="5.1.2",
                              suggestion="ann@gmail.com")),
    ("bo@gmial.com", columns("undeliverable", "550", "nxdomain", "bo@gmial.com", enhanced="5.1.2",
                             suggestion="bo@gmail.com")),
    ("bad@@x", columns("undeliverable", "501", "invalid_syntax", "", enhanced="5.1.3")),
    ("any@catchall.example", columns("risky", "250", "catch_all", "any@catchall.example", catch_all=True,
                                     mx="mx.catchall.example")),
    ("sam@grey.example", columns("unknown", "450", "greylisted", "sam@grey.example", enhanced="4.2.0",
                                 mx="mx.grey.example")),
    ("hank@strict.example", columns("unknown", "554", "sender_blocked", "hank@strict.example", enhanced="5.7.1")),
    ("OK1@acme.example", columns("duplicate", "", "duplicate", "OK1@acme.example")),
]


def sample_tally(row_cap: int = 5_000) -> Tally:
    """A Tally over :data:`SAMPLE`."""
    tally = Tally(row_cap=row_cap)
    for number, (cell, cols) in enumerate(SAMPLE, start=1):
        tally.add(number, cell, cols)
    return tally


SUMMARY = {
    "presend_version": "0.1.0",
    "input": {"name": "leads.csv", "sha256": "f" * 64, "encoding": "utf-8", "delimiter": ",", "email_column": "email"},
    "levels": ["syntax", "dns", "mailbox"],
    "mailboxes_probed": True,
    "timings_seconds": {"syntax": 0.1, "dns": 1.0, "probe": 2.0, "total": 3.1},
    "options": {"dns": {"nameservers": ["127.0.0.1:53"], "timeout": 1.0}, "probe": {"mail_from": "me@presend.example",
                "port": 25, "retry_after": 300, "max_retries": 1}, "cache": {"enabled": False}},
    "notes": [],
}
