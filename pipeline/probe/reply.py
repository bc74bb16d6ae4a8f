"""SMTP replies → mailbox verdicts: the pure decisions of the mailbox level (no I/O).

The session engine (:mod:`pipeline.probe.prober`) hands every reply it gets here together with the
stage it came at; :mod:`pipeline.probe.classify` says what the reply is about (the mailbox, our
sender, a limit, greylisting ...) and :func:`decide` what it means (a verdict, a retry, try the next
MX host, shrink the transaction, upgrade to TLS). The verdict builders, the catch-all rule and
the cache lifetimes per outcome live here too, so one table of cases tests them all.

Codes and enhanced codes: RFC 5321 §4.2 (reply codes) and RFC 3463 (enhanced status codes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from pipeline.models import MailboxVerdict, Status, Verdict
from pipeline.probe.classify import Classification, Kind, Limit, classify

DAY = 86_400.0

#: Slugs of the mailbox level (the product contract; the report and the demo use them).
MAILBOX_EXISTS = "mailbox_exists"
CATCH_ALL = "catch_all"
MAILBOX_NOT_FOUND = "mailbox_not_found"
USER_NOT_LOCAL = "user_not_local"
MAILBOX_FULL = "mailbox_full"
MAILBOX_REJECTED = "mailbox_rejected"
MAILBOX_DISABLED = "mailbox_disabled"
RELAY_DENIED = "relay_denied"
PROTOCOL_ERROR = "protocol_error"
SMTPUTF8_UNSUPPORTED = "smtputf8_unsupported"
GREYLISTED = "greylisted"
TEMPORARY_FAILURE = "temporary_failure"
HOST_BUSY = "host_busy"
SYSTEM_FULL = "system_full"
HOST_UNAVAILABLE = "host_unavailable"
SENDER_BLOCKED = "sender_blocked"
PROBE_UNREACHABLE = "probe_unreachable"

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")

#: Enhanced code used when the server gave none (by reply code).
DEFAULT_ENHANCED: dict[int, str] = {
    250: "2.1.5",
    251: "2.1.5",
    421: "4.4.1",
    450: "4.2.0",
    451: "4.3.0",
    452: "4.3.1",
    530: "5.7.0",
    550: "5.1.1",
    551: "5.1.6",
    552: "5.2.2",
    553: "5.1.3",
    554: "5.7.1",
}


class Stage(StrEnum):
    """Where in the session a reply came."""

    CONNECT = "connect"
    HELO = "helo"
    STARTTLS = "starttls"
    MAIL = "mail"
    RCPT = "rcpt"


class Action(StrEnum):
    """What the session engine does with a reply."""

    OK = "ok"  # go on (2xx at connect/HELO/MAIL)
    DECIDED = "decided"  # the verdict is final
    RETRY = "retry"  # temporary: into the retry queue (greylisting ...)
    NEXT_MX = "next_mx"  # this host will not talk now: try the next MX host
    SHRINK = "shrink"  # too many recipients in one transaction: fewer per MAIL FROM
    STARTTLS = "starttls"  # 530: the host wants TLS first
    SENDER = "sender"  # the host refuses us (our IP, HELO or MAIL FROM), not the recipient


@dataclass(frozen=True, slots=True)
class Reply:
    """One SMTP reply: code, enhanced status code (or empty), and the server's text.

    ``lines`` keeps every line of a multi-line reply, without code and enhanced code.
    """

    code: int
    enhanced: str
    lines: tuple[str, ...]

    @classmethod
    def parse(cls, code: int, message: str) -> Reply:
        """Build from a code and the message text as an SMTP client library returns it.

        The message holds one line per reply line, the code already stripped. An enhanced
        code is kept only when its class digit matches the reply code's (RFC 3463 §2).
        """
        enhanced = ""
        lines: list[str] = []
        for raw in message.splitlines() or [""]:
            line = raw.strip()
            match = _ENHANCED.match(line)
            if match and match.group(1) == str(code)[:1]:
                if not enhanced:
                    enhanced = match.group(0)
                if match.group(0) == enhanced:
                    line = line[match.end() :].strip()
            if line:
                lines.append(line)
        return cls(code, enhanced, tuple(lines))

    @property
    def text(self) -> str:
        """The server's text, multi-line replies joined with `` / ``."""
        return " / ".join(self.lines)

    @property
    def status_code(self) -> str:
        """The enhanced code given, else the default for this reply code."""
        return self.enhanced or default_enhanced(self.code)

    def __str__(self) -> str:
        parts = [str(self.code)]
        if self.enhanced:
            parts.append(self.enhanced)
        if self.text:
            parts.append(self.text)
        return " ".join(parts)

    @property
    def classification(self) -> Classification:
        """What the reply is about (:func:`pipeline.probe.classify.classify`)."""
        return classify(self.code, self.enhanced, self.text)

    @property
    def too_many_recipients(self) -> bool:
        """452 4.5.3 (or the old 552 form, RFC 5321 §4.5.3.1.10): a per-message limit."""
        return self.classification.limit is Limit.RECIPIENTS


def default_enhanced(code: int) -> str:
    """A sensible enhanced code for a reply that carried none."""
    if code in DEFAULT_ENHANCED:
        return DEFAULT_ENHANCED[code]
    first = str(code)[:1]
    return f"{first}.0.0" if first in "245" else ""


@dataclass(frozen=True, slots=True)
class Decision:
    """What one reply means: an action, and the verdict when it settles something."""

    action: Action
    verdict: Verdict | None = None
    #: what the reply is about; a limit the planner can plan under is ``classification.limit``
    classification: Classification | None = None


def decide(reply: Reply, stage: Stage, mx: str) -> Decision:
    """Classify ``reply`` met at ``stage`` on mail host ``mx``.

    What the reply is about comes from :func:`pipeline.probe.classify.classify`; this turns
    it into an action and a verdict. RCPT-stage verdicts follow the forecast table of
    PRODUCT.md; replies before RCPT only say whether the session can go on, and when it
    cannot, whose problem it is.
    """
    found = reply.classification
    if stage is not Stage.RCPT:
        return Decision(*_before_rcpt(reply, found, stage, mx), found)
    return Decision(*_at_rcpt(reply, found, mx), found)


def _before_rcpt(reply: Reply, found: Classification, stage: Stage, mx: str) -> tuple[Action, Verdict | None]:
    code = reply.code
    if 200 <= code < 400:
        return Action.OK, None
    if code == 530:
        return Action.STARTTLS, host_reply_verdict(reply, mx, stage)
    if code == 421 or (400 <= code < 500 and stage in (Stage.CONNECT, Stage.HELO, Stage.STARTTLS)):
        if found.about_sender:
            return Action.NEXT_MX, sender_blocked_verdict(reply, mx, stage, found)
        return Action.NEXT_MX, host_reply_verdict(reply, mx, stage, found)
    if 400 <= code < 500:  # 4xx at MAIL FROM: temporary for every recipient of the batch
        return Action.RETRY, temporary_verdict(reply, mx, Stage.MAIL)
    return Action.SENDER, sender_blocked_verdict(reply, mx, stage, found)


#: Permanent RCPT refusals about the address: (status, reason, fallback enhanced code, words).
_REFUSALS: dict[Kind, tuple[Status, str, str, str]] = {
    Kind.MAILBOX_UNKNOWN: (Status.UNDELIVERABLE, MAILBOX_NOT_FOUND, "", "the mailbox does not exist there"),
    Kind.USER_MOVED: (Status.UNDELIVERABLE, USER_NOT_LOCAL, "5.1.6", "the user is not local there"),
    Kind.MAILBOX_FULL: (Status.UNDELIVERABLE, MAILBOX_FULL, "5.2.2", "the mailbox is over its quota"),
    Kind.MAILBOX_DISABLED: (Status.UNDELIVERABLE, MAILBOX_DISABLED, "5.2.1", "the mailbox is disabled"),
    Kind.RELAY_DENIED: (
        Status.UNDELIVERABLE, RELAY_DENIED, "5.7.1",
        "this mail host does not take mail for the domain, so a send would bounce",
    ),
    Kind.PROTOCOL: (
        Status.UNKNOWN, PROTOCOL_ERROR, "5.5.0",
        "the conversation went wrong (a protocol error, not a verdict on the address)",
    ),
}


def _at_rcpt(reply: Reply, found: Classification, mx: str) -> tuple[Action, Verdict | None]:
    code, kind = reply.code, found.kind
    if 200 <= code < 300:
        return Action.DECIDED, exists_verdict(reply, mx)
    if code == 421:
        if found.about_sender:
            return Action.NEXT_MX, sender_blocked_verdict(reply, mx, Stage.RCPT, found)
        return Action.NEXT_MX, host_reply_verdict(reply, mx, Stage.RCPT, found)
    if found.limit is Limit.RECIPIENTS:
        return Action.SHRINK, None
    if code == 530:
        return Action.STARTTLS, host_reply_verdict(reply, mx, Stage.RCPT)
    if 400 <= code < 500:
        if kind is Kind.MAILBOX_FULL:
            full = _verdict(Status.RISKY, reply, MAILBOX_FULL, mx, "4.2.2", "the mailbox is full for now")
            return Action.DECIDED, full
        return Action.RETRY, temporary_verdict(reply, mx, Stage.RCPT)
    if kind is Kind.SMTPUTF8:
        return Action.DECIDED, smtputf8_verdict(mx, reply)
    if kind is Kind.SENDER:
        return Action.SENDER, sender_blocked_verdict(reply, mx, Stage.RCPT, found)
    if kind is Kind.LIMIT:  # a limit given with a 5xx: this host will not go on now
        return Action.NEXT_MX, host_reply_verdict(reply, mx, Stage.RCPT, found)
    if kind in _REFUSALS:
        status, reason, enhanced, what = _REFUSALS[kind]
        return Action.DECIDED, _verdict(status, reply, reason, mx, enhanced, what)
    return Action.DECIDED, _verdict(
        Status.UNDELIVERABLE, reply, MAILBOX_REJECTED, mx, "", "the address is refused there"
    )


# --- verdict builders ---------------------------------------------------------------------


def _verdict(status: Status, reply: Reply, reason: str, mx: str, enhanced: str, what: str) -> Verdict:
    """A verdict with the server's own code and enhanced code (``enhanced`` as fallback)."""
    return Verdict(
        status,
        str(reply.code),
        reply.enhanced or enhanced or default_enhanced(reply.code),
        reason,
        f"{mx} answered RCPT TO with {reply}: {what}.",
        mx=mx,
    )


def exists_verdict(reply: Reply, mx: str) -> Verdict:
    """RCPT 250/251: the host would take the message (forecast 250 2.1.5)."""
    enhanced = reply.enhanced if reply.enhanced.startswith("2.") else "2.1.5"
    return Verdict(
        Status.DELIVERABLE,
        "250",
        enhanced,
        MAILBOX_EXISTS,
        f"{mx} accepted the address at RCPT TO ({reply}).",
        mx=mx,
    )


def catch_all_verdict(verdict: Verdict, domain: str, probe_address: str) -> Verdict:
    """Turn an accepted address at a catch-all domain into a risky forecast."""
    return replace(
        verdict,
        status=Status.RISKY,
        reason=CATCH_ALL,
        detail=(
            f"{verdict.mx} accepts any address at {domain} (it also accepted the made-up "
            f"{probe_address}), so acceptance says nothing about this mailbox; "
            f"the reply was {verdict.code} {verdict.enhanced}."
        ),
    )


#: Temporary reasons by what the deferral is about (others: ``temporary_failure``).
_TEMPORARY_REASONS: dict[Kind, tuple[str, str]] = {
    Kind.GREYLIST: (GREYLISTED, "greylisting, as the host says"),
    Kind.DEFERRED: (
        TEMPORARY_FAILURE,
        "a deferral without a stated reason; greylisting looks like this, so it is asked again",
    ),
    Kind.HOST_BUSY: (HOST_BUSY, "the host is busy or not taking mail now"),
    Kind.SYSTEM_FULL: (SYSTEM_FULL, "the host's own storage is full"),
    Kind.LIMIT: (HOST_BUSY, "a limit of the host on how much one client may ask"),
    Kind.CLOSING: (HOST_BUSY, "the host is closing the session"),
}


def temporary_verdict(reply: Reply, mx: str, stage: Stage) -> Verdict:
    """A 4xx answer, named for what it is about: ``greylisted`` only when the host says so;
    a refusal of our sender is ``sender_blocked``; ``host_busy``, ``system_full`` or
    ``temporary_failure`` otherwise."""
    found = reply.classification
    if found.about_sender:
        return sender_blocked_verdict(reply, mx, stage, found)
    reason, what = _TEMPORARY_REASONS.get(found.kind, (TEMPORARY_FAILURE, "a temporary condition"))
    if found.limit is not None:
        what = f"{what}: {_LIMIT_WORDS[found.limit]}"
    at = "MAIL FROM" if stage is Stage.MAIL else "RCPT TO"
    return Verdict(
        Status.UNKNOWN,
        str(reply.code),
        reply.status_code,
        reason,
        f"{mx} answered {at} with {reply} ({what}); a later send may succeed.",
        mx=mx,
    )


_LIMIT_WORDS: dict[Limit, str] = {
    Limit.RECIPIENTS: "too many recipients in one message",
    Limit.SESSION: "too many recipients in one session",
    Limit.ERRORS: "too many refused commands in one session",
    Limit.CONNECTIONS: "too many connections at once from this client",
    Limit.RATE: "too many connections, messages or recipients per unit of time",
}


def with_retries(verdict: Verdict, retries: int, retry_after: float) -> Verdict:
    """The final form of a temporary verdict: say how often it was asked."""
    if verdict.status is not Status.UNKNOWN:
        return verdict
    if not retries:
        return replace(verdict, detail=f"{verdict.detail} Not retried (--max-retries 0).")
    times = "once more" if retries == 1 else f"{retries} more times"
    return replace(
        verdict,
        detail=f"{verdict.detail} Still temporary after asking {times}, {retry_after:g} s apart.",
    )


def answered_on_retry(verdict: Verdict, retries: int, retry_after: float) -> Verdict:
    """A final answer that came only when asked again: say so (the domain defers at first).

    Greylisting passed is worth knowing: a real send to this domain is deferred too. Temporary
    verdicts are left to :func:`with_retries`.
    """
    if not retries or verdict.status is Status.UNKNOWN:
        return verdict
    if retries == 1:
        when = f"when asked again {retry_after:g} s after a temporary one"
    else:
        when = f"on try {retries + 1}, {retry_after:g} s after each temporary one"
    return replace(
        verdict,
        detail=f"{verdict.detail} This answer came {when} (greylisting, most likely), so a real send "
        "would be deferred at first too.",
    )


def host_reply_verdict(reply: Reply, mx: str, stage: Stage, found: Classification | None = None) -> Verdict:
    """A host that answered but would not work with us now (421, 4xx greeting, 530).

    When the reply names a limit (too many errors, connections ...), the detail says so: it
    is the host's limit on us, not a verdict on any address.
    """
    limit = f" (a limit of the host: {_LIMIT_WORDS[found.limit]})" if found and found.limit else ""
    return Verdict(
        Status.UNKNOWN,
        str(reply.code),
        reply.enhanced or ("4.4.1" if reply.code == 421 else default_enhanced(reply.code)),
        HOST_UNAVAILABLE,
        f"{mx} answered {_stage_words(stage)} with {reply}{limit}.",
        mx=mx,
    )


def sender_blocked_verdict(reply: Reply, mx: str, stage: Stage, found: Classification | None = None) -> Verdict:
    """A refusal of our side (554, a 5xx before RCPT, a block list, a failed callout ...):
    the host refuses the sender or the probing IP, not the recipient."""
    cause = (found or reply.classification).cause or "our IP, HELO name or MAIL FROM address is refused"
    return Verdict(
        Status.UNKNOWN,
        str(reply.code),
        reply.status_code,
        SENDER_BLOCKED,
        f"{mx} refused us at {_stage_words(stage)} with {reply}: a sender problem ({cause}), "
        "not the recipient's, so nothing is known of the mailbox; fix the sending side and probe again.",
        mx=mx,
    )


def connection_failed_verdict(failures: list[str], mx: str) -> Verdict:
    """Every MX host refused the connection, timed out or dropped it before answering."""
    return Verdict(
        Status.UNKNOWN,
        "421",
        "4.4.1",
        HOST_UNAVAILABLE,
        f"No mail host gave an answer for this address: {'; '.join(failures)}.",
        mx=mx,
    )


def smtputf8_verdict(mx: str, reply: Reply | None = None) -> Verdict:
    """A non-ASCII local part at a host without SMTPUTF8 (RFC 6531): 553 5.6.7."""
    if reply is not None:
        detail = f"{mx} answered RCPT TO with {reply}: it cannot take a non-ASCII mailbox name."
        return Verdict(Status.UNDELIVERABLE, "553", "5.6.7", SMTPUTF8_UNSUPPORTED, detail, mx=mx)
    return Verdict(
        Status.UNDELIVERABLE,
        "553",
        "5.6.7",
        SMTPUTF8_UNSUPPORTED,
        f"The local part is not ASCII and {mx} does not offer SMTPUTF8, so it cannot take "
        "this address (decided from its EHLO reply, not asked).",
        mx=mx,
    )


def unreachable_verdict(mx: str) -> Verdict:
    """Probing stopped early: no mail host answered on the SMTP port from this machine."""
    return Verdict(
        Status.UNKNOWN,
        "",
        "",
        PROBE_UNREACHABLE,
        "Not probed: no mail host answered on the SMTP port from this machine (outbound "
        "port 25 is probably blocked), so the mailbox was not checked.",
        mx=mx,
    )


def _stage_words(stage: Stage) -> str:
    return {
        Stage.CONNECT: "the connection",
        Stage.HELO: "EHLO/HELO",
        Stage.STARTTLS: "STARTTLS",
        Stage.MAIL: "MAIL FROM",
        Stage.RCPT: "RCPT TO",
    }[stage]


# --- catch-all ----------------------------------------------------------------------------


def is_catch_all(probe_reply: Reply | None) -> bool | None:
    """What the random local part's reply says: True (accepted), False (refused), None (unknown).

    Only a 2xx makes a domain catch-all; a 5xx proves the host does check mailboxes; a 4xx
    or no reply leaves it open (the real addresses' 250s then stay deliverable).
    """
    if probe_reply is None:
        return None
    if 200 <= probe_reply.code < 300:
        return True
    if 500 <= probe_reply.code < 600:
        return False
    return None


def apply_catch_all(mailbox: MailboxVerdict, domain: str, probe_address: str, catch_all: bool | None) -> MailboxVerdict:
    """Mark an address of a catch-all domain; its 250 becomes ``catch_all`` / risky."""
    if not catch_all:
        return mailbox
    verdict = mailbox.verdict
    if verdict.reason == MAILBOX_EXISTS:
        verdict = catch_all_verdict(verdict, domain, probe_address)
    return replace(mailbox, verdict=verdict, catch_all=True)


def catch_all_unchecked(mailbox: MailboxVerdict) -> MailboxVerdict:
    """An accepted address asked without the catch-all question (``--no-catch-all-check``):
    the detail says that a domain accepting any address would have answered the same."""
    verdict = mailbox.verdict
    if verdict.reason != MAILBOX_EXISTS:
        return mailbox
    detail = (
        f"{verdict.detail} The catch-all check was off (--no-catch-all-check), so whether {verdict.mx} "
        "accepts any address at this domain is not known."
    )
    return replace(mailbox, verdict=replace(verdict, detail=detail))


# --- cache lifetimes ----------------------------------------------------------------------

#: Seconds a mailbox verdict stays in the cache, by reason. Unknown outcomes (greylisting,
#: hosts down, sender blocked, probing unreachable) describe the moment, not the mailbox,
#: and are not kept.
LIFETIMES: dict[str, float] = {
    MAILBOX_EXISTS: 30 * DAY,
    CATCH_ALL: 7 * DAY,
    MAILBOX_NOT_FOUND: 90 * DAY,
    USER_NOT_LOCAL: 90 * DAY,
    MAILBOX_REJECTED: 90 * DAY,
    MAILBOX_DISABLED: 90 * DAY,
    RELAY_DENIED: 7 * DAY,
    SMTPUTF8_UNSUPPORTED: 30 * DAY,
}


def cache_lifetime(mailbox: MailboxVerdict) -> float:
    """How long to keep ``mailbox`` in the verdict cache (0 = do not keep)."""
    verdict = mailbox.verdict
    if verdict.reason == MAILBOX_FULL:
        # A full mailbox may be emptied: 452 (risky) a week, 552 (undeliverable) 90 days.
        return 7 * DAY if verdict.status is Status.RISKY else 90 * DAY
    if verdict.status is Status.UNKNOWN:
        return 0.0
    return LIFETIMES.get(verdict.reason, 0.0)
