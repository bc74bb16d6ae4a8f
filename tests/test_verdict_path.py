"""The one verdict path: decide() → encode() → the tally's key, and the templates made of them.

Every layer of PRODUCT.md's forecast table is taken through the real layer functions (syntax,
DNS decisions, RCPT reply decisions, hygiene) into :func:`pipeline.verdict.decide`, encoded and
keyed; the templates the fast paths write from are checked against :func:`encode` and the
outputs' own CSV formatting; and whole runs with templates are compared with the reference
runs that decide every row on its own (``--plain-syntax``).
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.columns import (
    CHECKED_AT,
    DETAIL,
    EMAIL,
    RESULT_COLUMNS,
    TALLY_KEY_COLUMNS,
    Template,
    encode,
    tally_key,
    tally_key_of,
)
from pipeline.dns import decide as dns
from pipeline.io.outputs import LINE_END, CsvLines
from pipeline.models import DomainVerdict, HygieneFlags, MailboxVerdict, RowOutcome, Status, Verdict
from pipeline.options import CacheOptions, DnsOptions, HygieneOptions, RunOptions
from pipeline.probe import reply as rcpt
from pipeline.report.tally import Tally
from pipeline.rules.hygiene import Hygiene
from pipeline.rules.syntax import check_address
from pipeline.run import run
from pipeline.verdict import RowFacts, VerdictOptions, decide, duplicate_detail
from tests.lab.staticdns import StaticResolver

NOW = "2026-03-01T12:00:00Z"
DNS_TIME = "2026-03-01T11:59:58Z"
MX = "mx1.example.net"


def _domain(name: str, mx: dns.MxLookup, addresses: dict[str, dns.AddressLookup] | None = None) -> DomainVerdict:
    return dns.decide(name, mx, addresses or {}, DNS_TIME).domain


def _accepting(name: str) -> DomainVerdict:
    lookup = dns.AddressLookup(dns.Outcome.ANSWER, ("192.0.2.25",), 300)
    return _domain(name, dns.MxLookup(dns.Outcome.ANSWER, ((10, MX),), 300), {MX: lookup})


def _mailbox(email: str, code: int, message: str, *, catch_all: bool = False) -> MailboxVerdict:
    decision = rcpt.decide(rcpt.Reply.parse(code, message), rcpt.Stage.RCPT, MX)
    assert decision.verdict is not None
    mailbox = MailboxVerdict(email, decision.verdict)
    domain = email.rpartition("@")[2]
    return rcpt.apply_catch_all(mailbox, domain, f"presend-check-x@{domain}", True if catch_all else None)


def _facts(cell: str, **layers: object) -> RowFacts:
    """The facts of a row whose email cell is ``cell``, with its hygiene flags as the run makes them."""
    check = check_address(cell)
    domain = layers.get("domain")
    assert domain is None or isinstance(domain, DomainVerdict)
    hygiene = Hygiene(HygieneOptions())
    flags = hygiene.flags(check, domain) if check.ok else HygieneFlags()
    offline = hygiene.offline(check.ascii_domain) if check.ok else ""
    return replace(RowFacts(check, flags=flags, checked_at=NOW, offline=offline), **layers)  # type: ignore[arg-type]


_NO_MX = dns.MxLookup(dns.Outcome.NODATA, (), 300)
_NONE = dns.AddressLookup(dns.Outcome.NODATA, (), 300)

# (layer, situation, facts, options) → (status, code, enhanced, reason): PRODUCT.md's table.
FORECAST_TABLE = [
    ("input", "empty cell", _facts(""), VerdictOptions(),
     (Status.UNDELIVERABLE, "501", "5.1.3", "missing_address")),
    ("input", "fields do not line up", RowFacts(problem="line 7 has 4 fields, the header 3"), VerdictOptions(),
     (Status.UNKNOWN, "", "", "malformed_row")),
    ("input", "same address as row 3", _facts("Ann@Example.com", first_row=3), VerdictOptions(),
     (Status.DUPLICATE, "", "", "duplicate")),
    ("syntax", "bad dots", _facts("ann..lee@example.com"), VerdictOptions(),
     (Status.UNDELIVERABLE, "501", "5.1.3", "consecutive_dots")),
    ("syntax", "local part over 64 octets", _facts("x" * 65 + "@example.com"), VerdictOptions(),
     (Status.UNDELIVERABLE, "501", "5.1.3", "local_part_too_long")),
    ("syntax", "cleaned, then judged (offline)", _facts("mailto:Ann Lee <ann@acme-corp.com>"), VerdictOptions(),
     (Status.UNKNOWN, "", "", "domain_not_checked")),
    ("offline", "top-level domain that does not exist", _facts("ann@acme.con"), VerdictOptions(),
     (Status.UNDELIVERABLE, "550", "5.1.2", "unknown_tld")),
    ("offline", "special-use top-level name", _facts("ann@lab.example"), VerdictOptions(),
     (Status.UNDELIVERABLE, "550", "5.1.2", "special_use_domain")),
    ("offline", "documentation domain (null MX)", _facts("ann@example.com"), VerdictOptions(),
     (Status.UNDELIVERABLE, "556", "5.1.10", "special_use_domain")),
    ("offline", "known typo domain", _facts("ann@gmial.com"), VerdictOptions(),
     (Status.UNDELIVERABLE, "", "", "typo_domain")),
    ("dns", "special-use name served by the resolver: DNS decides",
     _facts("ann@lab.example", domain=_accepting("lab.example")), VerdictOptions(),
     (Status.DELIVERABLE, "250", "2.0.0", "domain_accepts_mail")),
    ("dns", "known typo domain that takes mail", _facts("ann@gmial.com", domain=_accepting("gmial.com")),
     VerdictOptions(), (Status.UNDELIVERABLE, "250", "2.0.0", "typo_domain")),
    ("dns", "NXDOMAIN", _facts("ann@gone.example", domain=_domain("gone.example", dns.MxLookup(dns.Outcome.NXDOMAIN))),
     VerdictOptions(), (Status.UNDELIVERABLE, "550", "5.1.2", "nxdomain")),
    ("dns", "no MX and no A/AAAA",
     _facts("ann@bare.example", domain=_domain("bare.example", _NO_MX, {"bare.example": _NONE})),
     VerdictOptions(), (Status.UNDELIVERABLE, "550", "5.1.2", None)),
    ("dns", "null MX", _facts("ann@null.example", domain=_domain("null.example", dns.MxLookup(
        dns.Outcome.ANSWER, ((0, "."),), 300))), VerdictOptions(), (Status.UNDELIVERABLE, "556", "5.1.10", "null_mx")),
    ("dns", "no MX target resolves",
     _facts("ann@lost.example", domain=_domain("lost.example", dns.MxLookup(dns.Outcome.ANSWER, ((10, MX),), 300),
                                               {MX: _NONE})),
     VerdictOptions(), (Status.UNDELIVERABLE, "550", "5.4.4", "mx_unresolvable")),
    ("dns", "SERVFAIL", _facts("ann@flaky.example", domain=_domain("flaky.example", dns.MxLookup(
        dns.Outcome.SERVFAIL, failure="SERVFAIL twice"))), VerdictOptions(), (Status.UNKNOWN, "451", "4.4.3", None)),
    ("dns", "accepts mail, no probe", _facts("ann@example.com", domain=_accepting("example.com")), VerdictOptions(),
     (Status.DELIVERABLE, "250", "2.0.0", "domain_accepts_mail")),
    ("mailbox", "RCPT 250", _facts("ann@example.com", domain=_accepting("example.com"),
                                   mailbox=_mailbox("ann@example.com", 250, "2.1.5 Ok")),
     VerdictOptions(), (Status.DELIVERABLE, "250", "2.1.5", "mailbox_exists")),
    ("mailbox", "catch-all", _facts("ann@example.com", domain=_accepting("example.com"),
                                    mailbox=_mailbox("ann@example.com", 250, "2.1.5 Ok", catch_all=True)),
     VerdictOptions(), (Status.RISKY, "250", "2.1.5", "catch_all")),
    ("mailbox", "RCPT 550", _facts("ann@example.com", domain=_accepting("example.com"),
                                   mailbox=_mailbox("ann@example.com", 550, "5.1.1 No such user")),
     VerdictOptions(), (Status.UNDELIVERABLE, "550", "5.1.1", "mailbox_not_found")),
    ("mailbox", "RCPT 452 full", _facts("ann@example.com", domain=_accepting("example.com"),
                                        mailbox=_mailbox("ann@example.com", 452, "4.2.2 Mailbox full")),
     VerdictOptions(), (Status.RISKY, "452", "4.2.2", "mailbox_full")),
    ("mailbox", "RCPT 450 greylisting", _facts("ann@example.com", domain=_accepting("example.com"),
                                               mailbox=_mailbox("ann@example.com", 450, "4.7.1 Greylisted")),
     VerdictOptions(), (Status.UNKNOWN, "450", "4.7.1", "greylisted")),
    ("hygiene", "disposable domain", _facts("ann@mailinator.com"), VerdictOptions(),
     (Status.RISKY, "", "", "disposable_domain")),
    ("hygiene", "disposable domain, DNS accepts", _facts("ann@mailinator.com", domain=_accepting("mailinator.com")),
     VerdictOptions(), (Status.RISKY, "250", "2.0.0", "disposable_domain")),
    ("hygiene", "role account, flag only", _facts("info@acme-corp.com"), VerdictOptions(),
     (Status.UNKNOWN, "", "", "domain_not_checked")),
    ("hygiene", "role account, --role-risky", _facts("info@acme-corp.com"), VerdictOptions(role_is_risky=True),
     (Status.RISKY, "", "", "role_account")),
    ("hygiene", "free provider, flag only", _facts("ann@gmail.com"), VerdictOptions(),
     (Status.UNKNOWN, "", "", "domain_not_checked")),
]


@pytest.mark.parametrize(("layer", "situation", "facts", "options", "expected"), FORECAST_TABLE,
                         ids=[f"{row[0]}: {row[1]}" for row in FORECAST_TABLE])
def test_every_layer_of_the_forecast_table(
    layer: str, situation: str, facts: RowFacts, options: VerdictOptions, expected: tuple[Status, str, str, str | None]
) -> None:
    outcome = decide(facts, options)
    columns = dict(zip(RESULT_COLUMNS, encode(outcome), strict=True))
    status, code, enhanced, reason = expected
    assert (columns["presend_status"], columns["presend_code"], columns["presend_enhanced"]) == (status, code, enhanced)
    if reason is not None:
        assert columns["presend_reason"] == reason
    assert columns["presend_detail"], "every outcome says why in words"
    assert tally_key(outcome) == tuple(columns[name] for name in TALLY_KEY_COLUMNS)
    # What each layer adds to the row: the address only when it is sendable or repeated,
    # the check's time unless the row was not judged or repeats an earlier one.
    check = facts.check
    valid = check is not None and check.ok and not facts.problem
    assert columns["presend_email"] == (check.email if valid and check is not None else "")
    unstamped = bool(facts.problem) or facts.first_row is not None
    assert bool(columns["presend_checked_at"]) is not unstamped
    if facts.domain is not None and facts.mailbox is None and columns["presend_checked_at"]:
        assert columns["presend_checked_at"] == DNS_TIME  # the deciding layer's stamp
    if layer == "mailbox":
        assert columns["presend_mx"] == MX
        assert columns["presend_catch_all"] == ("true" if reason == "catch_all" else "false")


def test_hygiene_flags_never_raise_a_verdict() -> None:
    # A disposable address whose domain takes no mail stays undeliverable, with its flag.
    gone = _domain("mailinator.com", dns.MxLookup(dns.Outcome.NXDOMAIN))
    outcome = decide(_facts("ann@mailinator.com", domain=gone))
    columns = dict(zip(RESULT_COLUMNS, encode(outcome), strict=True))
    assert columns["presend_status"] == Status.UNDELIVERABLE and columns["presend_reason"] == "nxdomain"
    assert columns["presend_disposable"] == "true"


def test_a_duplicate_names_its_first_row_and_the_mailbox_note() -> None:
    plain = decide(_facts("Ann@Example.com", first_row=12))
    assert plain.verdict.detail == duplicate_detail(12, "Ann@example.com")
    assert "row 12" in plain.verdict.detail and "Ann@example.com" in plain.verdict.detail
    noted = decide(_facts("a.nn+x@gmail.com", first_row=4, duplicate_note="Gmail ignores dots and +tags"))
    assert noted.verdict.detail.startswith("Same mailbox as row 4") and "Gmail ignores dots" in noted.verdict.detail


def test_a_row_without_a_check_must_name_its_problem() -> None:
    with pytest.raises(ValueError, match="problem"):
        decide(RowFacts())


def test_encode_puts_each_value_under_its_column() -> None:
    verdict = Verdict(Status.RISKY, "452", "4.2.2", "mailbox_full", "full", mx="mx.example", checked_at=NOW)
    outcome = RowOutcome(verdict, "ann@example.com", HygieneFlags(True, False, True, "ann@example.org"), True)
    assert dict(zip(RESULT_COLUMNS, encode(outcome), strict=True)) == {
        "presend_status": "risky", "presend_code": "452", "presend_enhanced": "4.2.2",
        "presend_reason": "mailbox_full", "presend_detail": "full", "presend_email": "ann@example.com",
        "presend_suggestion": "ann@example.org", "presend_disposable": "true", "presend_role": "false",
        "presend_free": "true", "presend_catch_all": "true", "presend_mx": "mx.example",
        "presend_checked_at": NOW,
    }
    assert tally_key(outcome) == ("risky", "452", "mailbox_full", "true", "false", "true", "true")


# -- templates ----------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.sampled_from(list('ab .@,;|\t"é')), max_size=8)
_OUTCOMES = st.builds(
    RowOutcome,
    st.builds(Verdict, st.sampled_from(list(Status)), st.sampled_from(["", "250", "550"]),
              st.sampled_from(["", "5.1.1"]), st.sampled_from(["syntax_ok", "duplicate", "catch_all"]), _TEXT,
              mx=_TEXT, checked_at=_TEXT),
    _TEXT.map(lambda local: f"{local}@example.com"),
    st.builds(HygieneFlags, st.booleans(), st.booleans(), st.booleans(), _TEXT),
    st.booleans(),
)


def _csv_tail(delimiter: str, columns: list[str]) -> str:
    """The end of a results line as csv.writer writes the columns after some input cell."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, quotechar='"', lineterminator=LINE_END).writerow(["cell", *columns])
    return buffer.getvalue()[len("cell") : -len(LINE_END)]


@settings(max_examples=300, deadline=None)
@given(_OUTCOMES, st.sampled_from([",", ";", "\t", "|"]), st.booleans())
def test_template_text_is_the_csv_formatting_of_encode(outcome: RowOutcome, delimiter: str, detail: bool) -> None:
    template = Template.like(outcome, detail=detail)
    lines = CsvLines(delimiter)
    columns = encode(outcome)
    assert template.fill(outcome.email, outcome.verdict.detail) == columns
    assert template.key == tally_key(outcome)
    assert template.tail_text(lines, outcome.email, outcome.verdict.detail) == _csv_tail(delimiter, columns)
    # The parts are the line cut where the row's own values go (the detail before the address).
    parts = template.tail_texts(lines)
    values = [lines.field(outcome.verdict.detail)] * detail + [lines.field(outcome.email)]
    assert "".join(part + value for part, value in zip(parts, [*values, ""], strict=True)) == _csv_tail(
        delimiter, columns
    )


def test_a_template_of_an_unstamped_outcome_leaves_the_time_to_each_row() -> None:
    facts = _facts("ann@acme-corp.com", checked_at="\x1fchecked_at\x1f")
    template = Template.like(decide(facts))
    assert template.with_time and not template.with_detail
    assert template.fill("bob@acme-corp.com", "", NOW) == encode(decide(_facts("bob@acme-corp.com")))
    with pytest.raises(ValueError, match="one check time"):
        template.tail_texts(CsvLines(","))
    stamped = Template.like(decide(_facts("ann@example.com", domain=_accepting("example.com"),
                                          checked_at="\x1fchecked_at\x1f")))
    assert not stamped.with_time and stamped.columns[CHECKED_AT] == DNS_TIME


def test_a_duplicate_template_fills_detail_and_address() -> None:
    template = Template.like(decide(_facts("ann@example.com", first_row=2)), detail=True)
    assert template.columns[DETAIL] != template.columns[EMAIL]
    expected = encode(decide(_facts("Bob|Lee@example.com", first_row=9)))
    assert template.fill("Bob|Lee@example.com", duplicate_detail(9, "Bob|Lee@example.com")) == expected
    with pytest.raises(ValueError, match="more than the address"):
        template.around_address()


def test_the_tally_counts_a_template_as_each_of_its_rows() -> None:
    template = Template.like(decide(_facts("ann@acme-corp.com")))
    rows = [template.fill(f"u{i}@acme-corp.com") for i in range(5)]
    one, alike = Tally(), Tally()
    one.add_many(list(range(1, 6)), ["c"] * 5, rows)
    alike.count_alike(template.columns, 5)
    assert alike.counts() == one.counts() and alike.reason_codes == one.reason_codes
    problem = Template.like(decide(_facts("ann@mailinator.com")))
    with pytest.raises(ValueError, match="one by one"):
        alike.count_alike(problem.columns, 1)
    # Duplicates are counted alike once the run's tally has no room left for them (the
    # coordinator's call): they are counted, never kept.
    duplicate = Template.like(decide(_facts("ann@acme-corp.com", first_row=1)), detail=True)
    full = Tally(row_cap=0)
    full.count_alike(duplicate.columns, 3)
    assert full.problem_rows_total == 3 and full.by_status == {"duplicate": 3}
    assert tally_key_of(duplicate.columns) == duplicate.key


# -- whole runs: templates against rows decided one by one --------------------------------

_CELLS = [
    "ann@example.com", "Ann@Example.com", "bob@example.com", "info@example.com", "INFO@example.com",
    "sales@gmail.com", "carl@gmail.com", "c.arl+news@gmail.com", "dee@mailinator.com", "dee@mailinator.com",
    "eve@gmial.com", "eve@gmial.com", "fay@gone.example", "fay@gone.example", "gus@example.con",
    "not an address", "", "mailto:Hal <hal@example.com>", 'o"q@example.com', "semi;colon@example.com",
    "ivy@bücher.example", "ivy@bücher.example", "jo@null.example", "postmaster@example.com",
    "kim@acme-corp.com", "Kim@Acme-Corp.com", "info@acme-corp.com", "lee@acme.con", "max@gmail.com",
]


def _list(path: Path) -> Path:
    rows = ["name,email,note"]
    for number, cell in enumerate(_CELLS * 3):
        quoted = '"' + cell.replace('"', '""') + '"'
        rows.append(f"P{number},{quoted},n{number % 4}")
    rows.append("Short row")
    rows.append("Long,row@example.com,a,b")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _results(out: Path) -> list[list[str]]:
    with (out / "list.results.csv").open(encoding="utf-8", newline="") as handle:
        return [row[:-1] for row in csv.reader(handle)]  # all but presend_checked_at


_RESOLVER_TABLE = {
    "example.com": ((10, "mx.example.com", ("192.0.2.10",)),),
    "gmail.com": ((5, "gmail-smtp-in.l.google.com", ("192.0.2.11",)),),
    "mailinator.com": ((10, "mail.mailinator.com", ("192.0.2.12",)),),
    "gmial.com": ((10, "mx.gmial.com", ("192.0.2.13",)),),
    "xn--bcher-kva.example": ((10, "mx.bücher.example", ("192.0.2.14",)),),
}


@pytest.mark.parametrize("dns_level", [False, True], ids=["no-dns", "static-dns"])
@pytest.mark.parametrize(
    "hygiene",
    [HygieneOptions(), HygieneOptions(role_is_risky=True), HygieneOptions(canonical_duplicates=True)],
    ids=["default", "role-risky", "canonical"],
)
def test_templates_give_what_deciding_each_row_gives(tmp_path: Path, dns_level: bool, hygiene: HygieneOptions) -> None:
    listing = _list(tmp_path / "list.csv")
    outputs = {}
    for fast in (True, False):
        out = tmp_path / ("fast" if fast else "plain")
        options = RunOptions(
            input=listing, out_dir=out, dns=DnsOptions(enabled=dns_level), hygiene=hygiene, fast_syntax=fast,
            cache=CacheOptions(enabled=False), workers=1, chunk_size=17,
        )
        resolver = StaticResolver(_RESOLVER_TABLE) if dns_level else None
        run(options, resolver=resolver)
        outputs[fast] = (_results(out), (out / "list.clean.csv").read_bytes())
    assert outputs[True] == outputs[False]
    statuses = {row[len(row) - len(RESULT_COLUMNS) + 1] for row in outputs[True][0][1:]}
    if dns_level:
        assert {"deliverable", "risky", "undeliverable", "unknown", "duplicate"} <= statuses
    else:  # offline, nothing is called deliverable; the unchecked rows are still clean
        assert {"risky", "undeliverable", "unknown", "duplicate"} <= statuses and "deliverable" not in statuses
        reasons = {row[len(row) - len(RESULT_COLUMNS) + 4] for row in outputs[True][0][1:]}
        assert {"domain_not_checked", "unknown_tld", "special_use_domain", "typo_domain"} <= reasons
        assert b"kim@acme-corp.com" in outputs[True][1]
