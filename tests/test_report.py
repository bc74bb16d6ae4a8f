"""The HTML report: content, escaping, self-containment, caps, and re-rendering from results."""

from __future__ import annotations

import csv
import html
import re
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.columns import RESULT_COLUMNS
from pipeline.options import RunOptions
from pipeline.report.html import STATUSES, problem_rows_html, render_report, report_context
from pipeline.report.tally import ProblemRow, Tally, read_results, results_summary
from pipeline.run import run
from tests.report_helpers import SAMPLE, SUMMARY, columns, sample_tally

REPO = Path(__file__).resolve().parent.parent


def _text(page: str) -> str:
    """The page's visible-ish text: tags dropped, entities decoded, blanks squeezed."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _domain_cells(page: str, domain: str) -> list[str]:
    """The data cells of one row of the domain table."""
    row = re.search(rf'<th scope="row">{re.escape(domain)}</th>(.*?)</tr>', page, re.S)
    assert row is not None, domain
    return [html.unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))]


def test_cards_give_counts_shares_codes_and_reasons() -> None:
    context = report_context(SUMMARY, sample_tally())
    cards = {card["status"]: card for card in context["cards"]}
    assert cards["deliverable"]["count"] == 3
    assert cards["undeliverable"]["count"] == 5
    assert cards["undeliverable"]["why"] == [
        "550 Mailbox or domain unavailable × 4",
        "501 Syntax error in the address × 1",
    ]
    assert cards["unknown"]["count"] == 2
    reasons = {w.split(" × ")[0] for w in cards["unknown"]["why"]}
    assert reasons == {"Greylisted, still deferred", "Our sender was refused"}
    assert round(cards["risky"]["share"], 2) == round(100 / 12, 2)
    assert cards["duplicate"]["count"] == 1


def test_page_shows_answer_codes_todo_domains_typos_and_facts() -> None:
    page = render_report(SUMMARY, sample_tally())
    text = _text(page)
    assert "3 of 12 rows (25.0%) are safe to send" in text
    # Every code present gets a what-to-do card with the catalogue's cause and remedy.
    for code, title in [
        ("250", "Accepted"),
        ("550", "Mailbox or domain unavailable"),
        ("501", "Syntax error"),
        ("450", "Mailbox temporarily unavailable"),
        ("554", "Transaction failed"),
    ]:
        assert f'id="todo-{code}"' in page
        assert f"{code} {title}" in text
    assert "Temporary — retry later" in text and "Permanent — do not send" in text
    assert "A sender problem" in text  # 554 is about us, not the recipient
    # Domains: acme has 3 rows (duplicate excluded), one problem; Google recognised from the MX.
    assert _domain_cells(page, "acme.example")[:3] == ["3", "1", "33.3%"]
    assert _domain_cells(page, "corp.example")[3] == "Google"
    assert _domain_cells(page, "catchall.example")[5:] == ["yes", "—"]
    assert _domain_cells(page, "grey.example")[5:] == ["no", "seen"]
    assert "gmial.com → gmail.com 2" in text
    assert "f" * 64 in text and "syntax, dns, mailbox" in text
    assert "Mailboxes were probed with RCPT TO" in text


def test_report_says_plainly_when_mailboxes_were_not_probed() -> None:
    summary = {**SUMMARY, "levels": ["syntax", "dns"], "mailboxes_probed": False}
    text = _text(render_report(summary, sample_tally()))
    assert "Mailboxes were not probed" in text
    assert "Mailboxes were probed with RCPT TO" not in text


def test_page_is_self_contained() -> None:
    page = render_report(SUMMARY, sample_tally())
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", page, re.I)
    assert "@import" not in page and "url(http" not in page
    assert not re.search(r"<(?:link|iframe|img|object|embed)\b", page, re.I)
    assert "<style>" in page and "<script>" in page and page.count('class="bars" role="img"') == 3


# The problem table's row as a template loop wrote it before rows were built in Python.
_ROW_TEMPLATE = (
    '\n      <tr data-status="{{ r.status }}" data-code="{{ r.code or \'-\' }}" data-reason="{{ r.reason }}">'
    '<td class="mono">{{ r.input }}</td><td class="num">{{ r.row }}</td><td class="st-{{ r.status }}">'
    '<span aria-hidden="true">{{ glyphs[r.status] if r.status in glyphs else "" }}</span> {{ r.status }}</td>'
    '<td class="mono">{{ r.code }}{% if r.enhanced %} {{ r.enhanced }}{% endif %}</td><td>{{ r.reason }}</td>'
    '<td>{{ r.detail }}</td><td class="mono">{{ r.suggestion }}</td></tr>'
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([*STATUSES, "odd<status>"]), st.text(alphabet="ab &<>'\"é", max_size=12),
                          st.sampled_from(["", "501", "550"])), max_size=5))
def test_problem_rows_are_written_as_the_escaping_template_writes_them(cases: list[tuple[str, str, str]]) -> None:
    rows = [
        ProblemRow(i + 1, text, status, code, text[:3], text, text + "!", text, text[::-1], "")
        for i, (status, text, code) in enumerate(cases)
    ]
    env = jinja2.Environment(autoescape=True)
    glyphs = {status: glyph for status, (glyph, _) in STATUSES.items()}
    expected = "".join(env.from_string(_ROW_TEMPLATE).render(r=row, glyphs=glyphs) for row in rows)
    assert str(problem_rows_html(rows)) == expected


def test_untrusted_cells_are_escaped() -> None:
    tally = Tally()
    evil = '<script>alert("x")</script>@evil.example'
    tally.add(
        1,
        evil,
        columns("undeliverable", "501", "invalid_syntax", "", detail='bad <img src=x onerror=alert(1)> "quoted"'),
    )
    page = render_report(SUMMARY, tally)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;@evil.example" in page


def test_problem_rows_are_capped_with_a_pointer_to_the_results() -> None:
    tally = Tally(row_cap=3)
    for number in range(1, 11):
        email = f"u{number}@gone.example"
        tally.add(number, email, columns("undeliverable", "550", "nxdomain", email))
    page = render_report(SUMMARY, tally)
    body = re.search(r'<table class="data rows" id="problem-table">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body is not None and body.group(1).count("<tr ") == 3
    text = _text(page)
    assert "10 rows are risky, undeliverable, uncertain or duplicates" in text
    assert "This page shows the first 3" in text and "leads.results.csv" in text


def test_domain_table_memory_is_bounded_and_keeps_the_largest() -> None:
    tally = Tally(domain_cap=100)
    number = 0
    for i in range(5_000):
        for _ in range(3 if i % 50 == 0 else 1):  # every 50th domain is bigger
            number += 1
            email = f"u{number}@d{i}.example"
            tally.add(number, email, columns("deliverable", "250", "mailbox_exists", email))
    assert len(tally.domains) <= 200 and tally.domains_pruned
    top = tally.top_domains(5)
    assert all(entry.rows == 3 for _, entry in top)
    assert "only the largest were counted exactly" in render_report(SUMMARY, tally)


def _write_results(path: Path, rows: list[tuple[str, list[str]]], delimiter: str, encoding: str) -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(["name", "email", *RESULT_COLUMNS])
        for i, (cell, cols) in enumerate(rows):
            writer.writerow([f"Person; {i}", cell, *cols])


@pytest.mark.parametrize(("delimiter", "encoding"), [(",", "utf-8"), (";", "utf-8-sig"), ("\t", "utf-8")])
def test_results_file_rebuilds_the_same_tally(tmp_path: Path, delimiter: str, encoding: str) -> None:
    path = tmp_path / "leads.results.csv"
    _write_results(path, SAMPLE, delimiter, encoding)
    rebuilt, info = read_results(path)
    live = sample_tally()
    assert info.delimiter == delimiter and info.email_index == 1
    assert rebuilt.counts() == live.counts()
    assert rebuilt.by_status_code == live.by_status_code and rebuilt.by_code_reason == live.by_code_reason
    assert rebuilt.problem_rows == live.problem_rows
    assert {d: (e.rows, e.problems, e.mx) for d, e in rebuilt.domains.items()} == {
        d: (e.rows, e.problems, e.mx) for d, e in live.domains.items()
    }


def test_results_file_without_summary_infers_levels(tmp_path: Path) -> None:
    path = tmp_path / "leads.results.csv"
    _write_results(path, SAMPLE, ",", "utf-8")
    tally, info = read_results(path)
    summary = results_summary(info, tally)
    assert summary["levels"] == ["syntax", "dns", "mailbox"] and summary["mailboxes_probed"]
    assert "(inferred from the results)" in _text(render_report(summary, tally))


def test_not_a_results_file_is_an_input_error(tmp_path: Path) -> None:
    from pipeline.errors import InputError

    path = tmp_path / "plain.csv"
    path.write_text("email\nx@acme.example\n", encoding="utf-8")
    with pytest.raises(InputError, match="presend_status"):
        read_results(path)


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [("mailchimp_export.csv", ","), ("hubspot_export.csv", ","), ("excel_semicolon_cp1252.csv", ";")],
)
def test_sample_exports_round_trip_through_presend_report(tmp_path: Path, sample: str, delimiter: str) -> None:
    """clean --no-dns on each realistic export, then `presend report` on its results file."""
    result = run(RunOptions(input=REPO / "sample_lists" / sample, out_dir=tmp_path, dns=_no_dns()))
    results_path = result.paths["results"]
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "report", str(results_path), "--out", str(tmp_path / "again.html")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    again = (tmp_path / "again.html").read_text(encoding="utf-8")
    first = result.paths["report"].read_text(encoding="utf-8")
    tally, info = read_results(results_path)
    assert info.delimiter == delimiter
    assert tally.counts() == result.tally.counts()
    assert tally.problem_rows == result.tally.problem_rows
    # Same page but for the moment it was made (and the link, which is relative to each page).
    strip = re.compile(r"<dt>Report made</dt><dd>[^<]*</dd>")
    assert strip.sub("", again) == strip.sub("", first)


def _no_dns():  # type: ignore[no-untyped-def]
    from pipeline.options import DnsOptions

    return DnsOptions(enabled=False)


def test_cli_report_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "report", str(tmp_path / "missing.results.csv")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("presend: error: ")


@pytest.mark.parametrize(
    ("levels", "probed", "expected"),
    [
        (["syntax"], False, "are well formed and nothing was found against them; they are in the clean list. "
                            "Their domains and mailboxes were not checked"),
        (["syntax", "dns"], False, "are safe to send as far as DNS can tell"),
        (["syntax", "dns", "mailbox"], True, "are safe to send; they are in the clean list"),
    ],
)
def test_answer_says_how_far_the_checks_went(levels: list[str], probed: bool, expected: str) -> None:
    summary = {**SUMMARY, "levels": levels, "mailboxes_probed": probed}
    assert expected in _text(render_report(summary, sample_tally()))


def test_nested_level_stats_are_shown_as_words() -> None:
    summary = {**SUMMARY, "dns": {"queries": 7, "providers": {"Google": 2, "other": 1}}}
    text = _text(render_report(summary, sample_tally()))
    assert "providers Google 2, other 1" in text
    assert "{'Google'" not in text


def _todo_card(page: str, code: str) -> str:
    """The visible text of one "what to do" card."""
    card = re.search(rf'<article class="todo-card[^"]*" aria-labelledby="todo-{code}">(.*?)</article>', page, re.S)
    assert card is not None, code
    return _text(card.group(1))


def test_code_cards_note_rows_their_advice_is_not_for() -> None:
    tally = sample_tally()
    # a 550 at MAIL FROM: the host refuses us, the address itself was not judged
    tally.add(
        13,
        "sam@senderblock.example",
        columns("unknown", "550", "sender_blocked", "sam@senderblock.example", enhanced="5.7.1"),
    )
    page = render_report(SUMMARY, tally)
    card550 = _todo_card(page, "550")
    assert "Remove the address from the list" in card550  # the catalogue's advice stays ...
    assert (
        "Note: 1 of these rows is a sender problem (our sender was refused), not a verdict on the "
        "address: keep it, fix how you send and check again."
    ) in card550  # ... with the exception said
    card250 = _todo_card(page, "250")
    assert "Note: 1 of these rows is risky (domain accepts any address), so not counted as safe to send." in card250
    # codes whose rows all have the status the advice is for get no note
    for code in ("501", "554", "450"):
        assert "Note:" not in _todo_card(page, code), code
    assert "1 row (" in _todo_card(page, "501") and "1 rows" not in _text(page)


def test_report_does_not_claim_probing_when_no_address_reached_a_mail_host() -> None:
    tally = Tally()
    tally.add(1, "a@lab.example", columns("risky", "250", "mx_private_address", "a@lab.example", mx="mx.lab.example"))
    tally.add(2, "b@lab.example", columns("risky", "250", "mx_private_address", "b@lab.example", mx="mx.lab.example"))
    tally.add(3, "c@nowhere.example", columns("undeliverable", "550", "nxdomain", "c@nowhere.example"))
    idle = {**SUMMARY, "probe": {"hosts": 0, "port25_blocked": 0}}
    text = _text(render_report(idle, tally))
    assert "No mailbox was probed" in text
    assert (
        "DNS decided every row before the mailbox level (2 rows have their mail host on a private "
        "address; add --allow-private-mx to probe lab or intranet hosts)."
    ) in text
    assert "Mailbox probing was on, but no address got as far as a mail host." in text
    assert "Mailboxes were probed with RCPT TO" not in text
    # one session, or verdicts from the cache, is probing
    for stats in ({"sessions": 1}, {"cache_hits": 2}):
        text = _text(render_report({**SUMMARY, "probe": stats}, tally))
        assert "Mailboxes were probed with RCPT TO" in text and "No mailbox was probed" not in text


def test_domain_table_shows_greylisting_that_a_retry_passed() -> None:
    """acme.example's rows all ended as found/not found, but its host deferred us once."""
    summary = {**SUMMARY, "probe_greylisting_domains": ["acme.example"]}
    assert _domain_cells(render_report(summary, sample_tally()), "acme.example")[-1] == "seen"
    assert _domain_cells(render_report(SUMMARY, sample_tally()), "acme.example")[-1] == "—"


def test_compiled_template_is_cached_and_a_broken_cache_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline.report import html as report

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    report._environment.cache_clear()
    try:
        assert report._environment().get_template("report.html.j2") is not None
        cached = list((tmp_path / "cache" / "presend" / "templates").iterdir())
        assert len(cached) == 1 and cached[0].stat().st_size > 1000
        cached[0].write_bytes(b"not bytecode")  # a damaged cache: compiled again, and stored again
        report._environment.cache_clear()
        assert report._environment().get_template("report.html.j2") is not None
        assert cached[0].stat().st_size > 1000
        (tmp_path / "blocked").write_text("a file where the folder should be")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "blocked"))
        report._environment.cache_clear()
        assert report._environment().bytecode_cache is None
        assert report._environment().get_template("report.html.j2") is not None
    finally:
        report._environment.cache_clear()
