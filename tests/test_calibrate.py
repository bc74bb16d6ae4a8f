"""``presend calibrate`` and ``presend suppress`` without a lab: the join, the scores, the outputs.

The forecast comes from a real ``presend clean --no-dns`` run; the outcomes are a Postfix log
written here in Postfix's own line shapes, so every count below follows from the rows.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.calibrate.join import settle
from pipeline.calibrate.outcome import Kind, Outcome
from tests.run_helpers import REPO, one_error_line, result_rows, run_cli

PRESEND = [str(REPO / ".venv" / "bin" / "presend")]

LIST = """email,name
alice@good-shop.com,Alice
Ghost@Good-shop.com,Ghost
slow@grey-shop.com,Slow
gone@down-shop.com,Gone
never@good-shop.com,Never sent
ghost@good-shop.com,Ghost again
broken@@good-shop.com,Broken
"""


def _log(lines: list[tuple[str, str, str, str]]) -> str:
    """Postfix smtp status lines: (time, address, dsn, status + reply)."""
    return "".join(
        f"Dec  4 {at} relay postfix/smtp[2103]: 4F1A22C0001: to=<{to}>, relay=mx.example[127.0.2.10]:25, "
        f"delay=0.4, delays=0.1/0/0.2/0.1, dsn={dsn}, status={what}\n"
        for at, to, dsn, what in lines
    )


LOG = _log([
    ("09:00:01", "alice@good-shop.com", "2.0.0", "sent (250 2.0.0 Ok: queued as 7C3B1D0002)"),
    ("09:00:01", "ghost@good-shop.com", "5.1.1",
     "bounced (host mx.example[127.0.2.10] said: 550 5.1.1 <ghost@good-shop.com>: Recipient address rejected: "
     "unknown user (in reply to RCPT TO command))"),
    ("09:00:02", "slow@grey-shop.com", "4.2.0",
     "deferred (host mx.example[127.0.2.10] said: 450 4.2.0 Greylisted, try again (in reply to RCPT TO command))"),
    ("09:05:02", "slow@grey-shop.com", "2.0.0", "sent (250 2.0.0 Ok: queued as 9D4E2F0003)"),
    ("09:00:03", "gone@down-shop.com", "4.4.1",
     "deferred (connect to mx.down.example[127.0.2.30]:25: Connection refused)"),
    ("09:00:04", "stranger@else-shop.com", "2.0.0", "sent (250 2.0.0 Ok)"),
]) + "not a log line\n"


def _forecast(tmp_path: Path) -> Path:
    listing = tmp_path / "list.csv"
    listing.write_text(LIST)
    done = run_cli([*PRESEND, "clean", str(listing), "--no-dns", "--no-cache", "-q"])
    assert done.returncode == 0, done.stderr
    return tmp_path / "list.results.csv"


def test_final_outcome_rules() -> None:
    settled = settle([
        Outcome("a@x.example", Kind.DEFERRED, "450", at="2026-12-04T09:00:00Z"),
        Outcome("A@x.example", Kind.DELIVERED, "250", at="2026-12-04T09:05:00Z"),  # same address, other case
        Outcome("b@x.example", Kind.DELIVERED, "250", at="2026-12-04T09:00:00Z"),
        Outcome("b@x.example", Kind.BOUNCED, "550", at="2026-12-04T09:00:30Z"),  # a bounce after acceptance
        Outcome("c@x.example", Kind.DEFERRED, "451", at="2026-12-04T09:00:00Z"),
        Outcome("c@x.example", Kind.EXPIRED, "451", at="2026-12-09T09:00:00Z"),
        Outcome("d@x.example", Kind.DELIVERED, "250"),
        Outcome("d@x.example", Kind.COMPLAINT),
        Outcome("e@x.example", Kind.DEFERRED, "452"),
        Outcome("not an address", Kind.BOUNCED, "550"),
    ])
    got = {key: (a.label, a.code, a.deferrals) for key, a in settled.actual.items()}
    assert got == {
        "a@x.example": ("delivered", "250", 1),
        "b@x.example": ("bounced", "550", 0),
        "c@x.example": ("bounced", "451", 1),  # expired is a bounce
        "d@x.example": ("complaint", "250", 0),
        "e@x.example": ("deferred", "452", 1),
    }
    assert settled.unreadable == 1


def test_calibrate_scores_the_forecast(tmp_path: Path) -> None:
    results = _forecast(tmp_path)
    log = tmp_path / "maillog"
    log.write_text(LOG)
    before = results.read_bytes(), log.read_bytes()
    done = run_cli([*PRESEND, "calibrate", str(results), str(log), "--out", str(tmp_path / "cal")])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("calibrate: 4 of 7 rows have an outcome (3 settled); ")
    assert "1 forecast safe bounced" in lines[0]
    data = json.loads((tmp_path / "cal" / "list.calibration.json").read_text())
    assert data["rows"] == {"total": 7, "duplicates": 1, "with_outcome": 4, "without_outcome": 2, "settled": 3}
    assert data["outcome_addresses"] == {"total": 5, "in_list": 4, "not_in_list": 1, "unreadable": 0}
    matrix = data["matrix"]["forecast"]
    # --no-dns leaves every well-formed address unchecked (yet in the clean list): the bounce was not foreseen
    assert matrix["unknown"] == {"delivered": 2, "complaint": 0, "bounced": 1, "deferred": 1, "none": 1}
    assert matrix["undeliverable"] == {"delivered": 0, "complaint": 0, "bounced": 0, "deferred": 0, "none": 1}
    assert data["safe_to_send"] == {"precision": 0.6667, "recall": 1.0, "true_positive": 2, "false_positive": 1,
                                    "false_negative": 0}
    assert data["will_bounce"]["recall"] == 0.0 and data["will_bounce"]["precision"] is None
    assert data["wrong_reasons"] == [{"reason": "domain_not_checked", "wrong": 1, "settled_rows": 3}]
    [row] = data["safe_but_bounced"]["rows"]
    assert (row["row"], row["email"]) == (2, "Ghost@good-shop.com")
    assert row["actual"]["code"] == "550" and "unknown user" in row["actual"]["text"]
    assert row["forecast"]["reason"] == "domain_not_checked" and row["forecast"]["detail"]
    assert {"forecast": "-", "actual": "550", "rows": 1} in data["codes"]
    assert data["outcome_files"][0]["format"] == "postfix" and data["outcome_files"][0]["unknown"] == 1
    # the run's report, rendered again beside the calibration, carries the calibration section
    report = (tmp_path / "cal" / "list.report.html").read_text(encoding="utf-8")
    assert '<section aria-labelledby="cal-h" id="calibration">' in report
    assert "Forecast against reality" in report and "Ghost@good-shop.com" in report
    assert report.index('id="calibration"') < report.index('id="method-h"')
    page = (tmp_path / "cal" / "list.calibration.html").read_text()
    assert "Forecast status × actual outcome" in page and "Ghost@good-shop.com" in page and "<style>" in page
    assert "http://" not in page and "https://" not in page  # self-contained
    assert (results.read_bytes(), log.read_bytes()) == before  # inputs never touched
    assert sorted(p.name for p in (tmp_path / "cal").iterdir()) == [
        "list.calibration.html", "list.calibration.json", "list.report.html"
    ]


def test_bad_input_is_one_line_naming_the_file(tmp_path: Path) -> None:
    results = _forecast(tmp_path)
    log = tmp_path / "maillog"
    log.write_text(LOG)
    cases = [
        ([str(tmp_path / "missing.csv"), str(log)], "missing.csv: no such file"),
        ([str(tmp_path / "list.csv"), str(log)], "list.csv: no presend_status column"),
        ([str(results), str(tmp_path / "list.csv")], "list.csv: not a format presend reads"),
        ([str(results), str(tmp_path / "nothing.log")], "nothing.log: no such file"),
        ([str(results), str(log), "--cache", str(tmp_path / "c.sqlite3")], "--cache is where --suppress keeps"),
    ]
    for arguments, expected in cases:
        done = run_cli([*PRESEND, "calibrate", *arguments])
        assert done.returncode == 2, (arguments, done.stderr)
        assert expected in one_error_line(done.stderr)
    assert not list(tmp_path.glob("*.calibration.*"))


def test_suppress_then_clean_then_remove(tmp_path: Path) -> None:
    results = _forecast(tmp_path)
    log = tmp_path / "maillog"
    log.write_text(LOG)
    cache = str(tmp_path / "cache.sqlite3")
    done = run_cli([*PRESEND, "calibrate", str(results), str(log), "--suppress", "--cache", cache])
    assert done.returncode == 0, done.stderr
    assert "kept 1 hard, 1 soft bounces" in done.stdout  # ghost bounced; gone stayed deferred
    listed = run_cli([*PRESEND, "suppress", "--list", "--cache", cache]).stdout.splitlines()
    assert [line.split()[:2] for line in listed] == [["ghost@good-shop.com", "hard"], ["gone@down-shop.com", "soft"]]
    out = tmp_path / "again"
    done = run_cli([*PRESEND, "clean", str(tmp_path / "list.csv"), "--no-dns", "--cache", cache, "--out", str(out),
                    "-q"])
    assert done.returncode == 0, done.stderr
    rows = result_rows(out / "list.results.csv")
    reason = rows[0].index("presend_reason")
    assert [row[reason] for row in rows[1:]] == [
        "domain_not_checked", "bounced_before", "domain_not_checked", "domain_not_checked", "domain_not_checked",
        "duplicate", "invalid_domain",
    ]
    detail = rows[2][rows[0].index("presend_detail")]
    assert "550 5.1.1 <ghost@good-shop.com>: Recipient address rejected: unknown user" in detail
    assert run_cli([*PRESEND, "suppress", "--remove", "GHOST@good-shop.com", "--cache", cache]).returncode == 0
    gone = run_cli([*PRESEND, "suppress", "--remove", "ghost@good-shop.com", "--cache", cache])
    assert gone.returncode == 2 and "not kept: ghost@good-shop.com" in one_error_line(gone.stderr)
    run_cli([*PRESEND, "clean", str(tmp_path / "list.csv"), "--no-dns", "--cache", cache, "--out", str(out), "-q"])
    rows = result_rows(out / "list.results.csv")
    assert rows[2][reason] == "domain_not_checked"


def test_the_same_log_read_twice_counts_a_soft_bounce_once(tmp_path: Path) -> None:
    results = _forecast(tmp_path)
    cache = str(tmp_path / "cache.sqlite3")
    log = tmp_path / "maillog"
    log.write_text(LOG)
    for _ in range(2):
        run_cli([*PRESEND, "calibrate", str(results), str(log), "--suppress", "--cache", cache])
    listed = run_cli([*PRESEND, "suppress", "--list", "--cache", cache]).stdout
    assert "gone@down-shop.com  soft x1" in listed


def test_a_delivery_clears_a_kept_bounce(tmp_path: Path) -> None:
    results = _forecast(tmp_path)
    cache = str(tmp_path / "cache.sqlite3")
    first, later = tmp_path / "first.log", tmp_path / "later.log"
    first.write_text(LOG)
    later.write_text(_log([("10:00:00", "ghost@good-shop.com", "2.0.0", "sent (250 2.0.0 Ok)")]))
    run_cli([*PRESEND, "calibrate", str(results), str(first), "--suppress", "--cache", cache])
    done = run_cli([*PRESEND, "calibrate", str(results), str(later), "--suppress", "--cache", cache])
    assert done.returncode == 0, done.stderr
    listed = run_cli([*PRESEND, "suppress", "--list", "--cache", cache]).stdout
    assert "ghost@good-shop.com" not in listed and "gone@down-shop.com" in listed


def test_presend_report_keeps_the_calibration_beside_the_results(tmp_path: Path) -> None:
    results = _forecast(tmp_path)
    log = tmp_path / "maillog"
    log.write_text(LOG)
    assert "calibration" not in (tmp_path / "list.report.html").read_text(encoding="utf-8")
    assert run_cli([*PRESEND, "calibrate", str(results), str(log)]).returncode == 0
    done = run_cli([*PRESEND, "report", str(results), "--out", str(tmp_path / "again.html")])
    assert done.returncode == 0, done.stderr
    again = (tmp_path / "again.html").read_text(encoding="utf-8")
    assert "Forecast against reality" in again and "will bounce" in again.lower()
    (tmp_path / "list.calibration.json").write_text("{not json", encoding="utf-8")
    assert run_cli([*PRESEND, "report", str(results), "--out", str(tmp_path / "plain.html")]).returncode == 0
    assert "Forecast against reality" not in (tmp_path / "plain.html").read_text(encoding="utf-8")
