"""Shared helpers for the report tests: result rows and tallies built from plain values."""

from __future__ import annotations

from pathlib import Path

from pipeline.columns import RESULT_COLUMNS
from pipeline.report.tally import Tally


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


#: The problem kinds of :func:`write_big_results`: 4 in 10 rows, cycling through these.
BIG_KINDS = (
    ("undeliverable", "550", "5.1.1", "mailbox_not_found", "The host said 550 5.1.1 user unknown"),
    ("unknown", "450", "4.2.0", "greylisted", "Still greylisted after the retries"),
    ("risky", "250", "2.1.5", "catch_all", "The domain accepts any address"),
    ("undeliverable", "501", "5.1.3", "consecutive_dots", "Two dots follow each other"),
    ("duplicate", "", "", "duplicate", "Same address as an earlier row"),
)


def write_big_results(path: Path, rows: int, delimiter: str = ",") -> None:
    """A synthetic results file: ``id``, ``email`` and the presend columns, 100k domains,
    6 in 10 rows deliverable, the rest cycling through :data:`BIG_KINDS` (written in blocks)."""
    d = delimiter
    with path.open("w", encoding="utf-8") as handle:
        handle.write(d.join(["id", "email", *RESULT_COLUMNS]) + "\n")
        lines: list[str] = []
        for i in range(rows):
            status, code, enhanced, reason, detail = (
                ("deliverable", "250", "2.1.5", "mailbox_exists", "Accepted") if i % 10 < 6 else BIG_KINDS[i % 5]
            )
            domain = f"d{i % 100_000}.example"
            email = f"user{i}@{domain}"
            catch_all = "true" if reason == "catch_all" else "false"
            lines.append(
                d.join([str(i), email, status, code, enhanced, reason, detail, email, "", "false", "false",
                        "false", catch_all, f"mx.{domain}", "2024-05-01T00:00:00Z"]) + "\n"
            )
            if len(lines) == 50_000:
                handle.write("".join(lines))
                lines.clear()
        handle.write("".join(lines))
