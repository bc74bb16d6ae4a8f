"""SMTP replies → mailbox verdicts: the pure decisions of the mailbox level (no I/O).

The session engine (:mod:`pipeline.probe.prober`) hands every reply it gets here together with the
stage it came at; :func:`decide` says what the reply means (a verdict, a retry, try the next
MX host, shrink the transaction, upgrade to TLS). The verdict builders, the catch-all rule and
the cache lifetimes per outcome live here too, so one table of cases tests them all.

Codes and enhanced codes: RFC 5321 §4.2 (reply codes) and RFC 3463 (enhanced status codes).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from pipeline.models import MailboxVerdict, Status, Verdict

DAY = 86_400.0

#: Slugs of the mailbox level (the product contract; the report and the demo use them).
MAILBOX_EXISTS = "mailbox_exists"
CATCH_ALL = "catch_all"
MAILBOX_NOT_FOUND = "mailbox_not_found"
USER_NOT_LOCAL = "user_not_local"
MAILBOX_FULL = "mailbox_full"
MAILBOX_REJECTED = "mailbox_rejected"
SMTPUTF8_UNSUPPORTED = "smtputf8_unsupported"
GREYLISTED = "greylisted"
TEMPORARY_FAILURE = "temporary_failure"
HOST_UNAVAILABLE = "host_unavailable"
SENDER_BLOCKED = "sender_blocked"
PROBE_UNREACHABLE = "probe_unreachable"

_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
_TOO_MANY = re.compile(r"too many recipients|recipient limit|too many rcpt", re.IGNORECASE)
_FULL = re.compile(r"full|quota|over ?limit|insufficient storage|storage exceeded", re.IGNORECASE)
_UTF8 = re.compile(r"smtputf8|utf-?8|non-ascii|internationali[sz]ed", re.IGNORECASE)

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
    def too_many_recipients(self) -> bool:
        """452 4.5.3 (or the old 552 form, RFC 5321 §4.5.3.1.10): a per-message limit."""
        if self.code not in (452, 552):
            return False
        return self.enhanced.endswith(".5.3") or bool(_TOO_MANY.search(self.text))

    @property
    def mailbox_full(self) -> bool:
        """A quota reply: enhanced X.2.2, or words saying so."""
        return self.enhanced.endswith(".2.2") or bool(_FULL.search(self.text))


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


def decide(reply: Reply, stage: Stage, mx: str) -> Decision:
    """Classify ``reply`` met at ``stage`` on mail host ``mx``.

    RCPT-stage verdicts follow the forecast table of PRODUCT.md; replies before RCPT only
    say whether the session can go on, and when it cannot, whose problem it is.
    """
    code = reply.code
    if stage is not Stage.RCPT:
        if 200 <= code < 400:
            return Decision(Action.OK)
        if code == 530:
            return Decision(Action.STARTTLS, host_reply_verdict(reply, mx, stage))
        if code == 421 or (400 <= code < 500 and stage in (Stage.CONNECT, Stage.HELO, Stage.STARTTLS)):
            return Decision(Action.NEXT_MX, host_reply_verdict(reply, mx, stage))
        if 400 <= code < 500:  # 4xx at MAIL FROM: temporary for every recipient of the batch
            return Decision(Action.RETRY, temporary_verdict(reply, mx, Stage.MAIL))
        return Decision(Action.SENDER, sender_blocked_verdict(reply, mx, stage))

    if 200 <= code < 300:
        return Decision(Action.DECIDED, exists_verdict(reply, mx))
    if code == 421:
        return Decision(Action.NEXT_MX, host_reply_verdict(reply, mx, stage))
    if reply.too_many_recipients:
        return Decision(Action.SHRINK)
    if code == 530:
        return Decision(Action.STARTTLS, host_reply_verdict(reply, mx, stage))
    if code == 452 and reply.mailbox_full:
        return Decision(
            Action.DECIDED,
            _verdict(Status.RISKY, reply, MAILBOX_FULL, mx, "4.2.2", "the mailbox is full for now"),
        )
    if 400 <= code < 500:
        return Decision(Action.RETRY, temporary_verdict(reply, mx, stage))
    if code == 551:
        return Decision(
            Action.DECIDED,
            _verdict(Status.UNDELIVERABLE, reply, USER_NOT_LOCAL, mx, "", "the user is not local there"),
        )
    if code == 552:
        return Decision(
            Action.DECIDED,
            _verdict(Status.UNDELIVERABLE, reply, MAILBOX_FULL, mx, "", "the mailbox is over its quota"),
        )
    if code == 553 and (reply.enhanced == "5.6.7" or _UTF8.search(reply.text)):
        return Decision(Action.DECIDED, smtputf8_verdict(mx, reply))
    if code == 554:
        return Decision(Action.SENDER, sender_blocked_verdict(reply, mx, stage))
    if code == 550:
        return Decision(
            Action.DECIDED,
            _verdict(Status.UNDELIVERABLE, reply, MAILBOX_NOT_FOUND, mx, "", "the mailbox does not exist there"),
        )
    return Decision(
        Action.DECIDED,
        _verdict(Status.UNDELIVERABLE, reply, MAILBOX_REJECTED, mx, "", "the address is refused there"),
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


def temporary_verdict(reply: Reply, mx: str, stage: Stage) -> Verdict:
    """A 4xx answer: ``greylisted`` for 450/451, ``temporary_failure`` otherwise."""
    reason = GREYLISTED if reply.code in (450, 451) else TEMPORARY_FAILURE
    what = "greylisting or another temporary condition" if reason == GREYLISTED else "a temporary condition"
    at = "MAIL FROM" if stage is Stage.MAIL else "RCPT TO"
    return Verdict(
        Status.UNKNOWN,
        str(reply.code),
        reply.status_code,
        reason,
        f"{mx} answered {at} with {reply} ({what}); a later send may succeed.",
        mx=mx,
    )


def with_retries(verdict: Verdict, retries: int, retry_after: float | Sequence[float]) -> Verdict:
    """The final form of a temporary verdict: say how often it was asked (``retry_after``: the
    wait before every retry, or the waits before each)."""
    if verdict.reason not in (GREYLISTED, TEMPORARY_FAILURE):
        return verdict
    if not retries:
        return replace(verdict, detail=f"{verdict.detail} Not retried (--max-retries 0).")
    times = "once more" if retries == 1 else f"{retries} more times"
    waits = _waits(retry_after)
    spacing = f"{waits[0]:g} s apart" if len(set(waits)) == 1 else f"after waits of {_seconds(waits)}"
    return replace(verdict, detail=f"{verdict.detail} Still temporary after asking {times}, {spacing}.")


def _waits(retry_after: float | Sequence[float]) -> tuple[float, ...]:
    return (float(retry_after),) if isinstance(retry_after, int | float) else tuple(retry_after) or (0.0,)


def _seconds(waits: Sequence[float]) -> str:
    """``60, 300 and 900 s``."""
    named = [f"{wait:g}" for wait in waits]
    return f"{', '.join(named[:-1])} and {named[-1]} s" if len(named) > 1 else f"{named[0]} s"


def answered_on_retry(verdict: Verdict, retries: int, retry_after: float | Sequence[float]) -> Verdict:
    """A final answer that came only when asked again: say so (the domain defers at first).

    Greylisting passed is worth knowing: a real send to this domain is deferred too. Temporary
    verdicts are left to :func:`with_retries`.
    """
    if not retries or verdict.reason in (GREYLISTED, TEMPORARY_FAILURE):
        return verdict
    waits = _waits(retry_after)
    if retries == 1:
        when = f"when asked again {waits[0]:g} s after a temporary one"
    elif len(set(waits)) == 1:
        when = f"on try {retries + 1}, {waits[0]:g} s after each temporary one"
    else:
        when = f"on try {retries + 1}, after waits of {_seconds(waits)}"
    return replace(
        verdict,
        detail=f"{verdict.detail} This answer came {when} (greylisting, most likely), so a real send "
        "would be deferred at first too.",
    )


def host_reply_verdict(reply: Reply, mx: str, stage: Stage) -> Verdict:
    """A host that answered but would not work with us now (421, 4xx greeting, 530)."""
    return Verdict(
        Status.UNKNOWN,
        str(reply.code),
        reply.enhanced or ("4.4.1" if reply.code == 421 else default_enhanced(reply.code)),
        HOST_UNAVAILABLE,
        f"{mx} answered {_stage_words(stage)} with {reply}.",
        mx=mx,
    )


def sender_blocked_verdict(reply: Reply, mx: str, stage: Stage) -> Verdict:
    """554, or a 5xx before RCPT: the host refuses the sender, not the recipient."""
    return Verdict(
        Status.UNKNOWN,
        str(reply.code),
        reply.status_code,
        SENDER_BLOCKED,
        f"{mx} refused us at {_stage_words(stage)} with {reply}: a sender problem (our IP, "
        "HELO name or MAIL FROM address is blocked), not the recipient's; fix the sending "
        "side and probe again.",
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
