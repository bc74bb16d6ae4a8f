"""Format tests: every outcomes parser on a sample written from its format's documentation.

The samples live in tests/data/outcomes/ (fields as each format documents them, values of
our own); each holds lines or records a parser must count as unknown, not choke on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.calibrate.outcome import Kind, iso_utc
from pipeline.calibrate.parsers import FileReport, detect_format, read_file
from pipeline.errors import InputError

SAMPLES = Path(__file__).parent / "data" / "outcomes"


def _read(name: str) -> tuple[FileReport, list[tuple[str, str, str, str, str]]]:
    path = SAMPLES / name
    report = FileReport(path, detect_format(path))
    found = [(o.address, o.kind.value, o.code, o.enhanced, o.stage) for o in read_file(path, report)]
    return report, found


def test_postfix_log_joins_lines_by_queue_id() -> None:
    report, found = _read("postfix.maillog")
    assert report.format == "postfix"
    assert found == [
        ("alice@good.example", "delivered", "250", "2.0.0", ""),
        ("ghost@good.example", "bounced", "550", "5.1.1", "rcpt"),
        ("slow@grey.example", "deferred", "450", "4.2.0", "rcpt"),
        ("gone@down.example", "deferred", "", "4.4.1", ""),
        ("slow@grey.example", "delivered", "250", "2.0.0", ""),
        # status=expired names only the queue file: its recipient is the one still deferred
        ("gone@down.example", "expired", "", "4.4.1", ""),
        ("late@data.example", "bounced", "554", "5.7.1", "data"),
    ]
    # a line of no mail program, and a status line cut short
    assert (report.counts.unknown, report.counts.first_unknown) == (2, "postfix.maillog:9")
    assert report.counts.ignored == 5


def test_postfix_keeps_the_remote_text_and_time() -> None:
    path = SAMPLES / "postfix.maillog"
    outcomes = list(read_file(path, FileReport(path, "postfix")))
    ghost = outcomes[1]
    assert ghost.text.startswith("550 5.1.1 <ghost@good.example>: Recipient address rejected: no such user here")
    assert "in reply to" not in ghost.text
    assert ghost.at.endswith("-12-04T09:00:02Z")
    assert outcomes[-1].at == "2026-12-04T09:10:00Z"


def test_exim_log() -> None:
    report, found = _read("exim.mainlog")
    assert report.format == "exim"
    assert found == [
        ("alice@good.example", "delivered", "250", "2.0.0", ""),
        ("ghost@good.example", "bounced", "550", "5.1.1", "rcpt"),
        ("slow@grey.example", "deferred", "451", "4.7.1", "rcpt"),
        ("slow@grey.example", "delivered", "250", "", ""),
        ("bob@good.example", "delivered", "250", "2.0.0", ""),
        ("gone@down.example", "expired", "", "", ""),
    ]
    assert (report.counts.unknown, report.counts.ignored) == (1, 3)


@pytest.mark.parametrize("name", ["bounce.eml", "bounces.mbox"])
def test_dsn_message_and_mbox(name: str) -> None:
    report, found = _read(name)
    assert report.format == "dsn"
    assert found == [
        ("ghost@good.example", "bounced", "550", "5.1.1", ""),
        ("slow@grey.example", "deferred", "450", "4.2.0", ""),
        # Action failed on a 4.x.x status: the sender gave up retrying
        ("gone@down.example", "expired", "", "4.4.1", ""),
    ]
    # a recipient block without an Action; in the mbox also a message that is no DSN
    assert report.counts.unknown == (1 if name.endswith(".eml") else 2)


def test_dsn_keeps_the_folded_diagnostic_as_one_line() -> None:
    path = SAMPLES / "bounce.eml"
    ghost = next(read_file(path, FileReport(path, "dsn")))
    assert ghost.text == "550 5.1.1 <ghost@good.example>: Recipient address rejected: no such user here"
    assert ghost.at == "2026-12-04T09:00:02Z"


def test_ses_notifications_and_events() -> None:
    report, found = _read("ses.jsonl")
    assert report.format == "json" and report.records == {"ses": 5}
    assert found == [
        ("ghost@good.example", "bounced", "550", "5.1.1", ""),  # inside an SNS envelope
        ("full@good.example", "deferred", "452", "4.2.2", ""),  # a Transient bounce is soft
        ("alice@good.example", "delivered", "250", "2.0.0", ""),
        ("grumpy@good.example", "complaint", "", "", ""),
    ]
    assert (report.counts.ignored, report.counts.unknown) == (1, 2)  # an Open; a cut line and a stranger


def test_sendgrid_events() -> None:
    report, found = _read("sendgrid.json")
    assert report.records == {"sendgrid": 6}
    assert found == [
        ("alice@good.example", "delivered", "250", "2.0.0", ""),
        ("ghost@good.example", "bounced", "550", "5.1.1", ""),
        ("blocked@good.example", "deferred", "421", "4.7.1", ""),  # type blocked: not the address's fault
        ("slow@grey.example", "deferred", "451", "4.7.1", ""),
        ("grumpy@good.example", "complaint", "", "", ""),
    ]
    assert (report.counts.ignored, report.counts.unknown) == (1, 1)


def test_mailgun_events() -> None:
    report, found = _read("mailgun.json")
    assert report.records == {"mailgun": 5}
    assert found == [
        ("alice@good.example", "delivered", "250", "", ""),
        ("ghost@good.example", "bounced", "550", "5.1.1", ""),
        ("slow@grey.example", "deferred", "451", "4.7.1", ""),
        ("grumpy@good.example", "complaint", "", "", ""),
    ]
    assert (report.counts.ignored, report.counts.unknown) == (1, 1)


def test_postmark_json_webhook_and_csv() -> None:
    report, found = _read("postmark.json")
    assert found == [("ghost@good.example", "bounced", "550", "5.1.1", ""),
                     ("full@good.example", "deferred", "452", "4.2.2", "")]
    assert (report.counts.ignored, report.counts.unknown) == (1, 1)  # an auto-reply; a record without fields
    report, found = _read("postmark-webhook.json")
    assert found == [("alice@good.example", "delivered", "250", "2.0.0", "")]
    report, found = _read("postmark.csv")
    assert report.format == "postmark-csv"
    assert found == [("ghost@good.example", "bounced", "550", "5.1.1", ""),
                     ("full@good.example", "deferred", "452", "4.2.2", "")]
    assert (report.counts.ignored, report.counts.unknown) == (1, 1)


def test_format_comes_from_content_not_name(tmp_path: Path) -> None:
    renamed = tmp_path / "export.txt"
    renamed.write_bytes((SAMPLES / "exim.mainlog").read_bytes())
    assert detect_format(renamed) == "exim"
    (tmp_path / "list.csv").write_text("email,name\na@b.example,A\n")
    with pytest.raises(InputError, match=r"list\.csv: not a format presend reads"):
        detect_format(tmp_path / "list.csv")


def test_dates() -> None:
    assert iso_utc(0) == "1970-01-01T00:00:00Z"
    assert iso_utc("2026-12-04T09:00:02.1234567Z") == "2026-12-04T09:00:02Z"
    assert iso_utc("Fri, 04 Dec 2026 10:00:02 +0100") == "2026-12-04T09:00:02Z"
    assert iso_utc("not a date") == ""
    assert Kind.EXPIRED.value == "expired"
