"""What a refusal is about, across the reply dialects of common mail servers (pure, table-tested).

Each row is a reply as a server of that family formats it (code, enhanced code when it sends
one, its kind of wording; the sentences are ours), what :func:`classify` says it is about, and
the verdict the RCPT stage then gives. The point of the table: a refusal of our sender or of
the probing IP never reads as "the mailbox does not exist", a limit is never a verdict, and
only a deferral that says so is called greylisting.
"""

from __future__ import annotations

import pytest

from pipeline.models import Status
from pipeline.probe.classify import Kind, Limit, classify
from pipeline.probe.reply import Action, Reply, Stage, decide

U, R, K, D = Status.UNDELIVERABLE, Status.RISKY, Status.UNKNOWN, Status.DELIVERABLE
L = Limit

# (dialect, code, message as the client library hands it, kind, limit, RCPT status, RCPT reason)
# A reason of None: the reply is a limit the session plans under (no verdict).
TABLE: list[tuple[str, int, str, Kind, Limit | None, Status | None, str | None]] = [
    # --- Postfix (enhanced codes on by default) ---
    ("postfix", 550, "5.1.1 <zed@a.example>: Recipient address rejected: User unknown in virtual mailbox table",
     Kind.MAILBOX_UNKNOWN, None, U, "mailbox_not_found"),
    ("postfix", 550, "5.1.1 <zed@a.example>: Recipient address rejected: User unknown in local recipient table",
     Kind.MAILBOX_UNKNOWN, None, U, "mailbox_not_found"),
    ("postfix", 452, "4.2.2 <full@a.example>: Recipient address rejected: Mailbox full", Kind.MAILBOX_FULL, None,
     R, "mailbox_full"),
    ("postfix", 552, "5.2.2 <quota@a.example>: Recipient address rejected: over quota", Kind.MAILBOX_FULL, None,
     U, "mailbox_full"),
    ("postfix", 554, "5.7.1 <x@elsewhere.example>: Relay access denied", Kind.RELAY_DENIED, None, U,
     "relay_denied"),
    ("postfix", 554, "5.7.1 Service unavailable; Client host [192.0.2.7] blocked using zen.spamhaus.org",
     Kind.SENDER, None, K, "sender_blocked"),
    ("postfix", 550, "5.7.1 Client host rejected: cannot find your reverse hostname, [192.0.2.7]", Kind.SENDER,
     None, K, "sender_blocked"),
    ("postfix", 450, "4.7.1 Client host rejected: cannot find your hostname, [192.0.2.7]", Kind.SENDER, None, K,
     "sender_blocked"),
    ("postfix", 550, "5.1.0 <probe@us.example>: Sender address rejected: User unknown in local recipient table",
     Kind.SENDER, None, K, "sender_blocked"),
    ("postfix", 450, "4.1.7 <probe@us.example>: Sender address rejected: unverified address: host timed out",
     Kind.SENDER, None, K, "sender_blocked"),
    ("postfix", 450, "4.1.8 <probe@us.example>: Sender address rejected: Domain not found", Kind.SENDER, None, K,
     "sender_blocked"),
    ("postfix", 450, "4.2.0 <ann@a.example>: Recipient address rejected: Greylisted, see the postgrey page",
     Kind.GREYLIST, None, K, "greylisted"),
    ("postfix", 450, "4.1.1 <ann@a.example>: Recipient address rejected: unverified address: try later",
     Kind.TEMPORARY, None, K, "temporary_failure"),
    ("postfix", 452, "4.5.3 Error: too many recipients", Kind.LIMIT, L.RECIPIENTS, None, None),
    ("postfix", 421, "4.7.0 mx.a.example Error: too many errors", Kind.LIMIT, L.ERRORS, K, "host_unavailable"),
    ("postfix", 421, "4.7.0 mx.a.example Error: too many connections from 192.0.2.7", Kind.LIMIT, L.CONNECTIONS,
     K, "host_unavailable"),
    ("postfix", 450, "4.7.1 Error: too many recipients from 192.0.2.7", Kind.LIMIT, L.RATE, K, "host_busy"),
    ("postfix", 452, "4.3.1 Insufficient system storage", Kind.SYSTEM_FULL, None, K, "system_full"),
    ("postfix", 503, "5.5.1 Error: need MAIL command", Kind.PROTOCOL, None, K, "protocol_error"),
    ("plain", 503, "Bad sequence of commands: send MAIL FROM first", Kind.PROTOCOL, None, K, "protocol_error"),
    ("postfix", 501, "5.1.3 Bad recipient address syntax", Kind.ADDRESS_REFUSED, None, U, "mailbox_rejected"),
    # --- Exim (no enhanced codes unless configured) ---
    ("exim", 550, "Unrouteable address", Kind.MAILBOX_UNKNOWN, None, U, "mailbox_not_found"),
    ("exim", 550, "Unknown user", Kind.MAILBOX_UNKNOWN, None, U, "mailbox_not_found"),
    ("exim", 550, "Verification failed for <probe@us.example>\nCalled:   192.0.2.9"
     "\nSent:     RCPT TO:<probe@us.example>\nResponse: 550 No such user here"
     "\nSender verify failed", Kind.SENDER, None, K, "sender_blocked"),
    ("exim", 451, "Could not complete sender verify callout", Kind.SENDER, None, K, "sender_blocked"),
    ("exim", 550, "Rejected because 192.0.2.7 is in a black list at bl.spamcop.net", Kind.SENDER, None, K,
     "sender_blocked"),
    ("exim", 550, "Administrative prohibition", Kind.SENDER, None, K, "sender_blocked"),
    ("exim", 550, "relay not permitted", Kind.RELAY_DENIED, None, U, "relay_denied"),
    ("exim", 421, "Too many concurrent SMTP connections from this IP address; please try again later.", Kind.LIMIT,
     L.CONNECTIONS, K, "host_unavailable"),
    ("exim", 452, "too many recipients", Kind.LIMIT, L.RECIPIENTS, None, None),
    ("exim", 451, "Temporary local problem - please try later", Kind.TEMPORARY, None, K, "temporary_failure"),
    ("exim", 451, "Please try again later", Kind.DEFERRED, None, K, "temporary_failure"),
    ("exim", 451, "4.7.1 Greylisted: please try again in 300 seconds", Kind.GREYLIST, None, K, "greylisted"),
    ("exim", 552, "Mailbox quota exceeded", Kind.MAILBOX_FULL, None, U, "mailbox_full"),
    # --- Sendmail (enhanced codes by default; older builds without) ---
    ("sendmail", 550, "5.1.1 <zed@a.example>... User unknown", Kind.MAILBOX_UNKNOWN, None, U, "mailbox_not_found"),
    ("sendmail", 550, "<zed@a.example>... User unknown", Kind.MAILBOX_UNKNOWN, None, U, "mailbox_not_found"),
    ("sendmail", 550, "5.7.1 <x@elsewhere.example>... Relaying denied", Kind.RELAY_DENIED, None, U, "relay_denied"),
    ("sendmail", 553, "5.3.0 <ann@a.example>... Spam blocked, see the site's policy page", Kind.SENDER, None, K,
     "sender_blocked"),
    ("sendmail", 451, "4.7.1 Greylisting in action, please come back later", Kind.GREYLIST, None, K, "greylisted"),
    ("sendmail", 452, "4.4.5 Insufficient disk space; try again later", Kind.SYSTEM_FULL, None, K, "system_full"),
    ("sendmail", 421, "4.3.2 Connection rate limit exceeded.", Kind.LIMIT, L.RATE, K, "host_unavailable"),
    ("sendmail", 551, "5.1.6 <old@a.example>... User has moved; please try <new@b.example>", Kind.USER_MOVED,
     None, U, "user_not_local"),
    ("sendmail", 553, "5.6.7 <ü@a.example>... SMTPUTF8 is not supported", Kind.SMTPUTF8, None, U,
     "smtputf8_unsupported"),
    # --- Haraka ---
    ("haraka", 550, "5.1.1 That recipient is not a valid mailbox here", Kind.MAILBOX_UNKNOWN, None, U,
     "mailbox_not_found"),
    ("haraka", 550, "5.7.1 host [192.0.2.7] is listed on zen.spamhaus.org", Kind.SENDER, None, K, "sender_blocked"),
    ("haraka", 450, "4.7.1 Greylisted, retry in a few minutes", Kind.GREYLIST, None, K, "greylisted"),
    ("haraka", 450, "too many recipient attempts", Kind.LIMIT, L.SESSION, K, "host_busy"),
    ("haraka", 421, "4.7.0 too many concurrent connections for this host", Kind.LIMIT, L.CONNECTIONS, K,
     "host_unavailable"),
    ("haraka", 550, "I cannot deliver mail for <x@elsewhere.example>: relay denied", Kind.RELAY_DENIED, None, U,
     "relay_denied"),
    # --- Microsoft 365 / Exchange Online ---
    ("microsoft", 550, "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
     Kind.MAILBOX_UNKNOWN, None, U, "mailbox_not_found"),
    ("microsoft", 550, "5.4.1 Recipient address rejected: Access denied. AS(201806281)", Kind.MAILBOX_UNKNOWN, None,
     U, "mailbox_not_found"),
    ("microsoft", 550, "5.7.606 Access denied, banned sending IP [192.0.2.7]. To request removal, use the portal",
     Kind.SENDER, None, K, "sender_blocked"),
    ("microsoft", 550, "5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.", Kind.SENDER,
     None, K, "sender_blocked"),
    ("microsoft", 550, "5.7.750 Service unavailable. Client blocked from sending from unregistered domains",
     Kind.SENDER, None, K, "sender_blocked"),
    ("microsoft", 550, "5.7.1 Service unavailable, Client host [192.0.2.7] blocked using Spamhaus", Kind.SENDER,
     None, K, "sender_blocked"),
    ("microsoft", 451, "4.7.500 Server busy. Please try again later from [192.0.2.7]", Kind.LIMIT, L.RATE, K,
     "host_busy"),
    ("microsoft", 452, "4.5.3 Too many recipients", Kind.LIMIT, L.RECIPIENTS, None, None),
    ("microsoft", 421, "4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing "
     "transmission channel", Kind.LIMIT, L.CONNECTIONS, K, "host_unavailable"),
    ("microsoft", 550, "5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException", Kind.MAILBOX_FULL,
     None, U, "mailbox_full"),
    # --- Gmail / Google Workspace (multi-line replies, the enhanced code on every line) ---
    ("gmail", 550, "5.1.1 The email account you asked for is not there. Check the spelling\n5.1.1 and try again.",
     Kind.MAILBOX_UNKNOWN, None, U, "mailbox_not_found"),
    ("gmail", 550, "5.2.1 The email account you asked for is disabled.", Kind.MAILBOX_DISABLED, None, U,
     "mailbox_disabled"),
    ("gmail", 452, "4.2.2 The email account you asked for is over quota.", Kind.MAILBOX_FULL, None, R,
     "mailbox_full"),
    ("gmail", 450, "4.2.1 The person you wrote to is receiving mail at a rate that stops more for now.",
     Kind.TEMPORARY, None, K, "temporary_failure"),
    ("gmail", 421, "4.7.28 An unusual rate of mail is coming from your IP; it is rate limited for now.", Kind.LIMIT,
     L.RATE, K, "host_unavailable"),
    ("gmail", 550, "5.7.1 Our system finds this likely unsolicited mail; see the sender guidelines.", Kind.SENDER,
     None, K, "sender_blocked"),
    ("gmail", 550, "5.7.26 This mail is unauthenticated; the sender domain must pass SPF or DKIM.", Kind.SENDER,
     None, K, "sender_blocked"),
    ("gmail", 452, "4.5.3 Your message has too many recipients.", Kind.LIMIT, L.RECIPIENTS, None, None),
    ("gmail", 421, "4.7.0 Try again later, closing connection. (EHLO)", Kind.CLOSING, None, K, "host_unavailable"),
    ("postfix", 504, "5.5.2 <bad_host>: Helo command rejected: need fully-qualified hostname", Kind.SENDER, None, K,
     "sender_blocked"),
    ("gmail", 451, "4.3.0 Mail server temporarily rejected message.", Kind.DEFERRED, None, K, "temporary_failure"),
    # --- Yahoo / AOL (no enhanced code; most unknown users are accepted at RCPT and bounced later) ---
    ("yahoo", 554, "delivery error: dd Sorry, this user doesn't have a yahoo.example account - mta7.lab",
     Kind.MAILBOX_UNKNOWN, None, U, "mailbox_not_found"),
    ("yahoo", 421, "4.7.0 [TSS04] Messages from 192.0.2.7 temporarily deferred due to unexpected volume",
     Kind.LIMIT, L.RATE, K, "host_unavailable"),
    ("yahoo", 553, "5.7.1 [BL21] Connections from 192.0.2.7 are not accepted: the ip is in Spamhaus's list",
     Kind.SENDER, None, K, "sender_blocked"),
    # --- generic forms without enhanced codes ---
    ("plain", 550, "Requested action not taken: mailbox unavailable", Kind.MAILBOX_UNKNOWN, None, U,
     "mailbox_not_found"),
    ("plain", 554, "Transaction failed", Kind.SENDER, None, K, "sender_blocked"),
    ("plain", 450, "Mailbox busy, try again later", Kind.HOST_BUSY, None, K, "host_busy"),
    ("plain", 550, "Your IP address is on our block list", Kind.SENDER, None, K, "sender_blocked"),
    ("plain", 550, "Mailbox disabled for this recipient", Kind.MAILBOX_DISABLED, None, U, "mailbox_disabled"),
    ("plain", 550, "5.2.1 Mailbox unavailable. Your IP is blocked", Kind.SENDER, None, K, "sender_blocked"),
    ("postfix", 450, "4.7.1 <ann@a.example>: Recipient address rejected: Service is unavailable", Kind.TEMPORARY,
     None, K, "temporary_failure"),
]


@pytest.mark.parametrize(("dialect", "code", "message", "kind", "limit", "status", "reason"), TABLE,
                         ids=[f"{row[0]}-{row[1]}-{i}" for i, row in enumerate(TABLE)])
def test_reply_dialects(
    dialect: str, code: int, message: str, kind: Kind, limit: Limit | None, status: Status | None, reason: str | None
) -> None:
    reply = Reply.parse(code, message)
    found = classify(reply.code, reply.enhanced, reply.text)
    assert (found.kind, found.limit) == (kind, limit), f"{dialect}: {reply}"
    decision = decide(reply, Stage.RCPT, "mx.a.example")
    assert decision.classification == found
    if reason is None:
        assert decision.action is Action.SHRINK and decision.verdict is None
        return
    assert decision.verdict is not None
    verdict = decision.verdict
    assert (verdict.status, verdict.reason) == (status, reason), f"{dialect}: {reply}"
    # the host's own words are in the detail, and a refusal of our side never reads as a missing mailbox
    assert reply.lines[-1] in verdict.detail
    if found.about_sender:
        assert decision.action is Action.SENDER or code < 500
        assert "sender problem" in verdict.detail and "does not exist" not in verdict.detail
        assert found.cause


def test_sender_refusals_say_which_part_of_our_side() -> None:
    def cause(code: int, message: str) -> str:
        return Reply.parse(code, message).classification.cause

    assert "block list" in cause(554, "5.7.1 Client host [192.0.2.7] blocked using b.barracudacentral.org")
    assert "verify" in cause(550, "Sender verify failed")
    assert "reverse DNS" in cause(450, "4.7.1 Client host rejected: cannot find your hostname")
    assert "probing IP" in cause(550, "5.7.606 Access denied, banned sending IP [192.0.2.7]")


def test_limits_are_not_verdicts_at_any_stage() -> None:
    # a per-message recipient limit shrinks the transaction; the others end the session with
    # the host's words and name the limit, so the planner can plan under it
    assert decide(Reply.parse(452, "4.5.3 Too many recipients"), Stage.RCPT, "mx").action is Action.SHRINK
    errors = decide(Reply.parse(421, "4.7.0 mx Error: too many errors"), Stage.RCPT, "mx")
    assert errors.action is Action.NEXT_MX and errors.classification is not None
    assert errors.classification.limit is Limit.ERRORS
    assert errors.verdict is not None and "too many refused commands" in errors.verdict.detail
    busy = decide(Reply.parse(421, "4.7.0 Too many connections from your IP"), Stage.CONNECT, "mx")
    assert busy.action is Action.NEXT_MX and busy.classification is not None
    assert busy.classification.limit is Limit.CONNECTIONS


def test_success_is_accepted() -> None:
    assert classify(250, "2.1.5", "Ok").kind is Kind.ACCEPTED
    assert decide(Reply.parse(250, "2.1.5 Ok"), Stage.RCPT, "mx").verdict.status is D  # type: ignore[union-attr]
