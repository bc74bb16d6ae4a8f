"""The mailbox level's pure decisions: replies → verdicts, catch-all, batching, lifetimes."""

from __future__ import annotations

import pytest

from pipeline.models import MailboxVerdict, MxHost, Status
from pipeline.ports import ProbeTarget
from pipeline.probe.plan import BlockedDetector, by_domain, mx_attempts, plan_batches, preferred_host
from pipeline.probe.reply import (
    DAY,
    Action,
    Reply,
    Stage,
    answered_on_retry,
    apply_catch_all,
    cache_lifetime,
    connection_failed_verdict,
    decide,
    exists_verdict,
    is_catch_all,
    smtputf8_verdict,
    temporary_verdict,
    unreachable_verdict,
    with_retries,
)


def test_reply_parse_single_line_keeps_enhanced_code_and_text() -> None:
    reply = Reply.parse(550, "5.1.1 <x@a.example>: Recipient address rejected: User unknown")
    assert (reply.code, reply.enhanced) == (550, "5.1.1")
    assert reply.text == "<x@a.example>: Recipient address rejected: User unknown"
    assert str(reply) == "550 5.1.1 <x@a.example>: Recipient address rejected: User unknown"


def test_reply_parse_multiline_joins_lines_and_strips_repeated_enhanced_code() -> None:
    reply = Reply.parse(550, "5.1.1 The mailbox\n5.1.1 does not exist\nsee https://help.example/550")
    assert reply.enhanced == "5.1.1"
    assert reply.text == "The mailbox / does not exist / see https://help.example/550"


def test_reply_parse_ignores_enhanced_code_of_another_class() -> None:
    reply = Reply.parse(550, "2.1.5 odd server")
    assert reply.enhanced == ""
    assert reply.status_code == "5.1.1"  # the default for 550
    assert reply.text == "2.1.5 odd server"


def test_reply_without_text() -> None:
    reply = Reply.parse(250, "")
    assert (reply.enhanced, reply.text, str(reply)) == ("", "", "250")


# (stage, code, message) -> (action, status, code, enhanced, reason)
CASES = [
    (Stage.RCPT, 250, "2.1.5 Ok", Action.DECIDED, Status.DELIVERABLE, "250", "2.1.5", "mailbox_exists"),
    (Stage.RCPT, 251, "User not local; will forward", Action.DECIDED, Status.DELIVERABLE, "250", "2.1.5",
     "mailbox_exists"),
    (Stage.RCPT, 550, "5.1.1 User unknown", Action.DECIDED, Status.UNDELIVERABLE, "550", "5.1.1",
     "mailbox_not_found"),
    (Stage.RCPT, 550, "Mailbox unavailable", Action.DECIDED, Status.UNDELIVERABLE, "550", "5.1.1",
     "mailbox_not_found"),
    (Stage.RCPT, 550, "5.2.1 Mailbox disabled", Action.DECIDED, Status.UNDELIVERABLE, "550", "5.2.1",
     "mailbox_disabled"),
    (Stage.RCPT, 551, "5.1.6 User has moved", Action.DECIDED, Status.UNDELIVERABLE, "551", "5.1.6",
     "user_not_local"),
    (Stage.RCPT, 551, "try <new@b.example>", Action.DECIDED, Status.UNDELIVERABLE, "551", "5.1.6",
     "user_not_local"),
    (Stage.RCPT, 552, "5.2.2 Mailbox over quota", Action.DECIDED, Status.UNDELIVERABLE, "552", "5.2.2",
     "mailbox_full"),
    (Stage.RCPT, 452, "4.2.2 Mailbox full", Action.DECIDED, Status.RISKY, "452", "4.2.2", "mailbox_full"),
    (Stage.RCPT, 452, "Mailbox is full", Action.DECIDED, Status.RISKY, "452", "4.2.2", "mailbox_full"),
    (Stage.RCPT, 452, "4.3.1 Insufficient system resources", Action.RETRY, Status.UNKNOWN, "452", "4.3.1",
     "system_full"),
    (Stage.RCPT, 450, "4.2.0 Greylisted, come back later", Action.RETRY, Status.UNKNOWN, "450", "4.2.0",
     "greylisted"),
    (Stage.RCPT, 451, "Try again later", Action.RETRY, Status.UNKNOWN, "451", "4.3.0", "temporary_failure"),
    (Stage.RCPT, 421, "4.3.2 Shutting down", Action.NEXT_MX, Status.UNKNOWN, "421", "4.3.2",
     "host_unavailable"),
    (Stage.RCPT, 421, "Service not available", Action.NEXT_MX, Status.UNKNOWN, "421", "4.4.1",
     "host_unavailable"),
    (Stage.RCPT, 553, "5.6.7 SMTPUTF8 required", Action.DECIDED, Status.UNDELIVERABLE, "553", "5.6.7",
     "smtputf8_unsupported"),
    (Stage.RCPT, 553, "5.1.3 Mailbox name not allowed", Action.DECIDED, Status.UNDELIVERABLE, "553", "5.1.3",
     "mailbox_rejected"),
    (Stage.RCPT, 554, "5.7.1 Client host rejected: on a block list", Action.SENDER, Status.UNKNOWN, "554",
     "5.7.1", "sender_blocked"),
    (Stage.RCPT, 501, "5.1.3 Bad recipient address syntax", Action.DECIDED, Status.UNDELIVERABLE, "501",
     "5.1.3", "mailbox_rejected"),
    (Stage.CONNECT, 421, "4.7.0 Too busy", Action.NEXT_MX, Status.UNKNOWN, "421", "4.7.0", "host_unavailable"),
    (Stage.CONNECT, 554, "5.7.1 Your IP is listed", Action.SENDER, Status.UNKNOWN, "554", "5.7.1",
     "sender_blocked"),
    (Stage.CONNECT, 554, "No SMTP service here", Action.SENDER, Status.UNKNOWN, "554", "5.7.1",
     "sender_blocked"),
    (Stage.HELO, 550, "5.7.1 HELO name rejected", Action.SENDER, Status.UNKNOWN, "550", "5.7.1",
     "sender_blocked"),
    (Stage.MAIL, 550, "5.7.1 Sender rejected", Action.SENDER, Status.UNKNOWN, "550", "5.7.1",
     "sender_blocked"),
    (Stage.MAIL, 553, "5.7.1 Sender not allowed", Action.SENDER, Status.UNKNOWN, "553", "5.7.1",
     "sender_blocked"),
    (Stage.MAIL, 451, "4.1.8 Sender domain does not resolve", Action.RETRY, Status.UNKNOWN, "451", "4.1.8",
     "sender_blocked"),
    (Stage.MAIL, 421, "4.3.2 Closing", Action.NEXT_MX, Status.UNKNOWN, "421", "4.3.2", "host_unavailable"),
    (Stage.MAIL, 530, "5.7.0 Must issue a STARTTLS command first", Action.STARTTLS, Status.UNKNOWN, "530",
     "5.7.0", "host_unavailable"),
]


@pytest.mark.parametrize(("stage", "code", "message", "action", "status", "fcode", "enhanced", "reason"), CASES)
def test_decide_table(
    stage: Stage, code: int, message: str, action: Action, status: Status, fcode: str, enhanced: str, reason: str
) -> None:
    decision = decide(Reply.parse(code, message), stage, "mx.lab.example")
    assert decision.action is action
    assert decision.verdict is not None
    v = decision.verdict
    assert (v.status, v.code, v.enhanced, v.reason, v.mx) == (status, fcode, enhanced, reason, "mx.lab.example")
    if message.split(" ", 1)[-1]:
        # the server's own words are in the detail
        assert message.split(" ", 1)[-1].split()[-1] in v.detail


def test_decide_success_before_rcpt_goes_on() -> None:
    for stage in (Stage.CONNECT, Stage.HELO, Stage.MAIL):
        assert decide(Reply.parse(250, "Ok"), stage, "mx").action is Action.OK


@pytest.mark.parametrize(
    ("code", "message"),
    [(452, "4.5.3 Error: too many recipients"), (452, "Too many recipients received this session"),
     (552, "Too many recipients")],
)
def test_too_many_recipients_is_not_a_verdict(code: int, message: str) -> None:
    decision = decide(Reply.parse(code, message), Stage.RCPT, "mx")
    assert decision.action is Action.SHRINK
    assert decision.verdict is None


def test_sender_blocked_detail_names_the_sender_side() -> None:
    verdict = decide(Reply.parse(554, "5.7.1 blocked"), Stage.CONNECT, "mx").verdict
    assert verdict is not None
    assert "sender problem" in verdict.detail and "not the recipient" in verdict.detail


def test_host_and_special_verdicts() -> None:
    down = connection_failed_verdict(["a [127.0.0.9]: connection refused", "b [127.0.0.8]: timed out"], "a")
    assert (down.status, down.code, down.enhanced, down.reason) == (Status.UNKNOWN, "421", "4.4.1", "host_unavailable")
    assert "connection refused" in down.detail and "timed out" in down.detail
    utf8 = smtputf8_verdict("mx")
    assert (utf8.status, utf8.code, utf8.enhanced, utf8.reason) == (
        Status.UNDELIVERABLE, "553", "5.6.7", "smtputf8_unsupported"
    )
    assert "not asked" in utf8.detail
    gone = unreachable_verdict("mx")
    assert (gone.status, gone.reason) == (Status.UNKNOWN, "probe_unreachable")
    assert "port 25" in gone.detail


def test_with_retries_says_how_often() -> None:
    base = temporary_verdict(Reply.parse(450, "4.2.0 Greylisted"), "mx", Stage.RCPT)
    assert "once more, 3 s apart" in with_retries(base, 1, 3).detail
    assert "--max-retries 0" in with_retries(base, 0, 3).detail
    assert with_retries(smtputf8_verdict("mx"), 2, 3) == smtputf8_verdict("mx")


def test_answered_on_retry_says_the_domain_defers_at_first() -> None:
    accepted = exists_verdict(Reply.parse(250, "2.1.5 Ok"), "mx")
    once = answered_on_retry(accepted, 1, 3)
    assert once.detail == (
        "mx accepted the address at RCPT TO (250 2.1.5 Ok). This answer came when asked again 3 s after a "
        "temporary one (greylisting, most likely), so a real send would be deferred at first too."
    )
    assert (once.status, once.code, once.enhanced, once.reason) == (accepted.status, "250", "2.1.5", "mailbox_exists")
    assert "on try 3, 3 s after each temporary one" in answered_on_retry(accepted, 2, 3).detail
    assert answered_on_retry(accepted, 0, 3) == accepted  # the first answer: nothing to say
    temporary = temporary_verdict(Reply.parse(450, "4.2.0 Greylisted"), "mx", Stage.RCPT)
    assert answered_on_retry(temporary, 1, 3) == temporary  # with_retries() words those


def test_catch_all_decision() -> None:
    assert is_catch_all(Reply.parse(250, "Ok")) is True
    assert is_catch_all(Reply.parse(550, "5.1.1 unknown")) is False
    assert is_catch_all(Reply.parse(450, "4.2.0 greylisted")) is None
    assert is_catch_all(None) is None
    ok = decide(Reply.parse(250, "2.1.5 Ok"), Stage.RCPT, "mx").verdict
    gone = decide(Reply.parse(550, "5.1.1 no"), Stage.RCPT, "mx").verdict
    assert ok is not None and gone is not None
    risky = apply_catch_all(MailboxVerdict("a@c.example", ok), "c.example", "presend-check-1@c.example", True)
    assert (risky.verdict.status, risky.verdict.reason, risky.catch_all) == (Status.RISKY, "catch_all", True)
    assert (risky.verdict.code, risky.verdict.enhanced) == ("250", "2.1.5")
    assert "presend-check-1@c.example" in risky.verdict.detail
    # a refusal at a catch-all domain stays what it was, but carries the flag
    refused = apply_catch_all(MailboxVerdict("b@c.example", gone), "c.example", "p@c.example", True)
    assert (refused.verdict.reason, refused.catch_all) == ("mailbox_not_found", True)
    # undecided or not catch-all: unchanged
    for flag in (False, None):
        same = MailboxVerdict("a@c.example", ok)
        assert apply_catch_all(same, "c.example", "p@c.example", flag) == same


@pytest.mark.parametrize(
    ("code", "message", "catch_all", "days"),
    [
        (250, "2.1.5 Ok", False, 30),
        (250, "2.1.5 Ok", True, 7),
        (550, "5.1.1 unknown", False, 90),
        (551, "5.1.6 moved", False, 90),
        (552, "5.2.2 quota", False, 90),
        (452, "4.2.2 full", False, 7),
        (553, "5.1.3 not allowed", False, 90),
        (450, "4.2.0 greylisted", False, 0),
        (554, "5.7.1 blocked", False, 0),
        (421, "4.3.2 closing", False, 0),
    ],
)
def test_cache_lifetime_per_outcome(code: int, message: str, catch_all: bool, days: int) -> None:
    verdict = decide(Reply.parse(code, message), Stage.RCPT, "mx").verdict
    assert verdict is not None
    mailbox = apply_catch_all(MailboxVerdict("a@b.example", verdict), "b.example", "p@b.example", catch_all)
    assert cache_lifetime(mailbox) == days * DAY


def test_unknown_outcomes_are_not_cached() -> None:
    for verdict in (unreachable_verdict("mx"), connection_failed_verdict(["x"], "mx")):
        assert cache_lifetime(MailboxVerdict("a@b.example", verdict)) == 0


def _target(email: str, route: tuple[MxHost, ...]) -> ProbeTarget:
    local, domain = email.split("@")
    return ProbeTarget(email, local, domain, domain, False, route)


def test_plan_batches_groups_by_route_keeps_domains_together_and_input_order() -> None:
    r1 = (MxHost(10, "mx1", ("127.0.0.11",)),)
    r2 = (MxHost(10, "mx2", ("127.0.0.12",)),)
    targets = [
        _target("a@one.example", r1),
        _target("b@two.example", r2),
        _target("c@three.example", r1),
        _target("d@one.example", r1),
        _target("e@one.example", r1),
    ]
    batches = plan_batches(targets, batch_size=2)
    assert [[t.email for t in b.targets] for b in batches] == [
        ["a@one.example", "d@one.example"],
        ["e@one.example", "c@three.example"],
        ["b@two.example"],
    ]
    assert [b.route for b in batches] == [r1, r1, r2]
    assert [d for d, _ in by_domain(batches[1].targets)] == ["one.example", "three.example"]


def test_mx_attempts_follow_preference_then_given_order() -> None:
    route = (
        MxHost(20, "backup", ("127.0.0.3",)),
        MxHost(10, "primary", ("127.0.0.1", "127.0.0.2")),
        MxHost(10, "twin", ("127.0.0.4",)),
        MxHost(5, "nowhere", ()),
    )
    assert mx_attempts(route) == [
        ("primary", "127.0.0.1"),
        ("primary", "127.0.0.2"),
        ("twin", "127.0.0.4"),
        ("backup", "127.0.0.3"),
    ]
    assert preferred_host(route) == "nowhere"


def test_blocked_detector_needs_distinct_hosts_no_answer_and_nothing_under_way() -> None:
    detector = BlockedDetector(3)
    for address in ("127.0.0.1", "127.0.0.1", "127.0.0.2"):
        detector.failed_to_connect(address)
    assert not detector.suspect
    detector.failed_to_connect("127.0.0.3")
    assert detector.suspect
    assert not detector.settle(in_flight=2)  # attempts still under way may yet answer
    assert not detector.blocked
    assert detector.settle(in_flight=0)
    assert detector.blocked and not detector.suspect
    assert not detector.settle(in_flight=0)  # declared once

    late = BlockedDetector(2)
    late.failed_to_connect("127.0.0.1")
    late.failed_to_connect("127.0.0.2")
    assert late.suspect
    late.connected("127.0.0.9")  # an attempt under way got a greeting after all
    assert not late.suspect
    assert not late.settle(in_flight=0) and not late.blocked
