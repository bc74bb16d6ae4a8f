"""What an SMTP refusal is about: the mailbox, our sender, a limit, greylisting, the host.

One pure function, :func:`classify`, reads a reply's code, enhanced status code and text
and says what the reply is *about*, before anyone turns it into a verdict (that is
:func:`pipeline.probe.reply.decide`). The enhanced code is read first (RFC 3463 gives its
middle number a subject: X.1 address, X.2 mailbox, X.3 mail system, X.4 network and
routing, X.5 protocol, X.6 content, X.7 security and policy), then the text, because many
hosts send no enhanced code and some put a policy refusal under an address code.

The distinctions that matter for a list cleaner:

- a refusal of *the mailbox* (it does not exist, is full, is disabled, has moved) is a
  verdict on the address;
- a refusal of *our sender or probing IP* (a failed sender-verification callout, a block
  list, a banned sending IP, a 5.7.x policy) says nothing about the address;
- a *limit* (too many recipients per message or per session, too many errors, too many
  connections, a rate) is something to plan under, not a verdict; :class:`Limit` says which;
- a deferral that looks like *greylisting* is only called so when the text says so
  (:attr:`Kind.GREYLIST`); a bare "try again later" is :attr:`Kind.DEFERRED` (it may be
  greylisting: asking again will tell); other 4xx are the host being busy, the host's
  storage, or a plain temporary failure.

The patterns describe reply dialects of Postfix, Exim, Sendmail, Haraka, Microsoft 365 and
Gmail, as their documentation describes them; the table test holds samples of each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """What a reply is about."""

    ACCEPTED = "accepted"  # 2xx
    MAILBOX_UNKNOWN = "mailbox_unknown"  # no such user
    USER_MOVED = "user_moved"  # 551 / X.1.6: the user is no longer there
    MAILBOX_FULL = "mailbox_full"  # X.2.2 over quota
    MAILBOX_DISABLED = "mailbox_disabled"  # X.2.1 disabled, suspended, inactive
    ADDRESS_REFUSED = "address_refused"  # the address is refused for another stated reason
    RELAY_DENIED = "relay_denied"  # the host does not take mail for this domain
    SMTPUTF8 = "smtputf8"  # a non-ASCII mailbox name the host cannot take (X.6.7)
    SENDER = "sender"  # our sender address, HELO name or probing IP is refused
    LIMIT = "limit"  # a per-message, per-session or per-client limit (see Limit)
    GREYLIST = "greylist"  # a deferral that says it is greylisting
    DEFERRED = "deferred"  # "try again later" without a reason: may be greylisting
    HOST_BUSY = "host_busy"  # the host is overloaded or not taking mail now
    SYSTEM_FULL = "system_full"  # the host's own storage is full (X.3.1)
    TEMPORARY = "temporary"  # another temporary failure
    CLOSING = "closing"  # 421 without a more precise reason: the host ends the session
    TLS_REQUIRED = "tls_required"  # 530: STARTTLS first
    PROTOCOL = "protocol"  # the conversation went wrong (X.5.x): not about the address


class Limit(StrEnum):
    """Which limit a host says we hit."""

    RECIPIENTS = "recipients"  # too many RCPTs in one message (452 4.5.3)
    SESSION = "session"  # too many RCPTs in one session, whatever the transactions
    ERRORS = "errors"  # too many refused commands in one session
    CONNECTIONS = "connections"  # too many sessions at once from us
    RATE = "rate"  # too many sessions, messages or recipients per unit of time


@dataclass(frozen=True, slots=True)
class Classification:
    """What one reply is about: its :class:`Kind`, the limit (for ``Kind.LIMIT``) and, for
    sender refusals, a few words on which part of our sending side was refused."""

    kind: Kind
    limit: Limit | None = None
    cause: str = ""

    @property
    def about_sender(self) -> bool:
        """True when the reply refuses our side of the conversation, not the recipient."""
        return self.kind is Kind.SENDER

    @property
    def greylist_like(self) -> bool:
        """A deferral that greylisting would give (it says so, or says only "try later")."""
        return self.kind in (Kind.GREYLIST, Kind.DEFERRED)


#: Addresses a reply echoes (``<busy@a.example>``, ``[192.0.2.7]`` stays: it names our IP).
_ADDRESSES = re.compile(r"<[^<>@\s]*@[^<>\s]*>|\b[\w.+-]+@[\w-]+(\.[\w-]+)+\b")


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(patterns), re.IGNORECASE)


# --- texts (no sentence copied from any server: these are the words such replies use) ------

_GREY = _words(r"gr[ae]y[- ]?list", r"\bgreylisted\b", r"postgrey")
_LATER = _words(
    r"try (again )?later", r"(try|come back|retry|please retry) (again )?(later|in \d+)", r"come back later",
    r"retry later", r"please retry", r"temporar(il)?y (deferred|rejected)", r"deferred\b", r"try again in",
)
_TOO_MANY_RCPTS = _words(
    r"too many (recipients|rcpt)", r"recipient limit", r"too many recipient attempts",
    r"max(imum)? (number of )?recipients",
)
_SESSION_RCPTS = _words(r"too many recipient attempts", r"recipients? (per|in this) (session|connection)")
_TOO_MANY_ERRORS = _words(r"too many (errors|bad commands|invalid|failed|unknown)", r"error limit")
_TOO_MANY_CONNECTIONS = _words(
    r"too many (concurrent |simultaneous |open )?(smtp )?(connections|sessions)",
    r"concurrent (server )?connections", r"connection (count )?limit",
    r"maximum number of (concurrent )?(server )?connections",
)
_RATE = _words(
    r"rate limit", r"rate-limit", r"\brate\b.*\b(exceeded|limited)", r"unusual rate", r"too (much|many) mail",
    r"too many (messages|connection attempts)", r"throttl", r"sending too fast",
    r"too many recipients from", r"server busy", r"unexpected volume", r"excessive (volume|unknown recipients)",
)
_BUSY = _words(
    r"too busy", r"\bbusy\b", r"overload", r"not accepting (network )?messages", r"resources? temporarily",
    r"system (is )?(congested|overloaded)", r"shutting down", r"service (temporarily )?unavailable",
)
_STORAGE = _words(r"insufficient (system )?storage", r"disk (is )?full", r"insufficient disk", r"no space left")
_FULL = _words(r"mailbox (is )?full", r"over ?quota", r"quota exceeded", r"exceeded (its|the|their) quota",
               r"storage (allocation )?exceeded", r"\bfull\b", r"insufficient storage")
_DISABLED = _words(r"disabled", r"suspended", r"deactivated", r"inactive", r"account (is )?(locked|closed)",
                   r"no longer (active|in use|available)")
_UNKNOWN_USER = _words(
    r"user unknown", r"unknown user", r"no such (user|mailbox|recipient|address)", r"does ?n[o']t exist",
    r"not exist", r"unknown (recipient|mailbox|address)", r"recipient (not found|unknown)", r"not found",
    r"invalid (recipient|mailbox)", r"mailbox unavailable", r"mailbox not available", r"unrouteable address",
    r"unroutable address", r"no mailbox", r"address rejected", r"not a valid (recipient|mailbox|user)",
    r"account .*(does not|doesn't) exist", r"rejected: user", r"no account",
    r"(does not|doesn't) have an? [\w.-]+ account",
)
_MOVED = _words(r"user not local", r"has moved", r"no longer (here|at)", r"forward(ed)? to")
_RELAY = _words(r"relay(ing)? (access )?(denied|not (permitted|allowed))", r"unable to relay",
                r"not permitted to relay", r"we do not relay", r"relay not permitted", r"cannot relay")
_RECIPIENT = _words(r"recipient address", r"<[^>]*>: recipient")
_UTF8 = _words(r"smtputf8", r"utf-?8", r"non-ascii", r"internationali[sz]ed")
#: Our sender address: sender verification (callouts), the MAIL FROM domain or address.
_SENDER_ADDRESS = _words(
    r"sender (address )?(verif|rejected|not allowed|denied|domain)", r"verification failed",
    r"callout", r"sender address", r"return path", r"envelope sender", r"unverified address",
    r"bad sender", r"sender (is )?(blocked|not permitted)", r"unregistered domain", r"null mx",
)
#: Our probing IP or HELO: block lists, reputation, reverse DNS, bans.
_SENDER_IP = _words(
    r"spamhaus", r"barracuda", r"spamcop", r"sorbs", r"\bsurbl\b", r"\buribl\b", r"\brbl\b", r"dnsbl",
    r"block ?list", r"black ?list", r"blocked using", r"listed (at|on|in|by)", r"\blisted\b", r"banned",
    r"client host( \[[^\]]*\])? (rejected|blocked)", r"(your|sending|source|client|remote) ip",
    r"ip address .*(blocked|listed|rejected|not allowed)", r"traffic not accepted", r"reputation",
    r"reverse (dns|hostname)", r"\bptr\b", r"\brdns\b", r"cannot find your (reverse )?hostname",
    r"(helo|ehlo)[^.;]{0,30}(rejected|refused|invalid|not (allowed|accepted|valid))",
    r"(invalid|bad|forged|unknown) (helo|ehlo)", r"dynamic ip", r"residential", r"\bspam\b", r"unsolicited",
    r"blocked\b",
    r"not authori[sz]ed", r"access denied", r"prohibited", r"administrative prohibition", r"policy",
    r"authenticat", r"\bspf\b", r"\bdkim\b", r"\bdmarc\b",
)

#: Block lists and bans: our IP, whatever else the text says.
_BLOCKLIST = _words(
    r"spamhaus", r"barracuda", r"spamcop", r"sorbs", r"\brbl\b", r"dnsbl", r"block ?list", r"black ?list",
    r"blocked using", r"\blisted\b", r"banned",
)

#: Microsoft 365's block codes for the sending IP (5.7.606 to 5.7.649 "banned sending IP",
#: 5.7.7xx tenant and traffic blocks, 5.7.750 unregistered domains).
_MICROSOFT_BLOCKS = re.compile(r"^5\.7\.(6[0-4]\d|7\d\d)$")


def classify(code: int, enhanced: str = "", text: str = "") -> Classification:
    """What the reply ``code`` ``enhanced`` ``text`` is about (see the module docstring).

    ``enhanced`` is the RFC 3463 code the host gave ("" when it gave none); ``text`` the
    host's words, multi-line replies joined.
    """
    if 200 <= code < 400:
        return Classification(Kind.ACCEPTED)
    text = _ADDRESSES.sub("<>", text)  # an echoed address says nothing (busy@..., spam@...)
    limit = _limit(code, enhanced, text)
    if limit is not None:
        return Classification(Kind.LIMIT, limit)
    if code == 530:
        return Classification(Kind.TLS_REQUIRED)
    by_code = _by_enhanced(code, enhanced, text) if enhanced else None
    found = by_code or _by_text(code, text)
    if code == 421 and found.kind not in (Kind.SENDER, Kind.HOST_BUSY, Kind.SYSTEM_FULL):
        return Classification(Kind.CLOSING)
    return found


def _limit(code: int, enhanced: str, text: str) -> Limit | None:
    """A limit the reply names, if any (recipients per message first: it is the one to shrink)."""
    subject_detail = enhanced.split(".", 1)[1] if "." in enhanced else ""
    if _SESSION_RCPTS.search(text):
        return Limit.SESSION
    if subject_detail == "5.3" or (code in (452, 552, 451, 450) and _TOO_MANY_RCPTS.search(text)
                                   and not _RATE.search(text)):
        return Limit.RECIPIENTS
    if _TOO_MANY_ERRORS.search(text):
        return Limit.ERRORS
    if _TOO_MANY_CONNECTIONS.search(text):
        return Limit.CONNECTIONS
    if 400 <= code < 500 and (_RATE.search(text) or re.match(r"^4\.7\.(28|5\d\d)$", enhanced)):
        return Limit.RATE
    return None


def _by_enhanced(code: int, enhanced: str, text: str) -> Classification | None:
    """Read the enhanced code's subject and detail; None when it does not decide."""
    _, subject, detail = enhanced.split(".")
    temporary = 400 <= code < 500
    if subject == "7" or (subject == "1" and detail in ("7", "8")):
        return _policy(code, enhanced, text)
    if subject == "1":
        return _address(detail, text, temporary)
    if subject == "2":
        return _mailbox(detail, text, temporary)
    if subject == "3":
        if detail in ("1", "4") or _STORAGE.search(text):
            return Classification(Kind.SYSTEM_FULL) if temporary else Classification(Kind.ADDRESS_REFUSED)
        if _SENDER_IP.search(text):
            return Classification(Kind.SENDER, cause=_sender_cause(text))
        if not temporary:
            return Classification(Kind.ADDRESS_REFUSED)
        if detail == "2" or _BUSY.search(text):
            return Classification(Kind.HOST_BUSY)
        return Classification(Kind.DEFERRED if _LATER.search(text) else Kind.TEMPORARY)
    if subject == "4":
        return _routing(detail, text, temporary)
    if subject == "5":
        if _UNKNOWN_USER.search(text):
            return _address("1", text, temporary)
        if _SENDER_IP.search(text):
            return Classification(Kind.SENDER, cause=_sender_cause(text))
        return Classification(Kind.PROTOCOL)
    if subject == "6":
        if detail == "7" or _UTF8.search(text):
            return Classification(Kind.SMTPUTF8)
        return Classification(Kind.TEMPORARY if temporary else Kind.ADDRESS_REFUSED)
    return None  # X.0.x: other or undefined; the text decides


def _policy(code: int, enhanced: str, text: str) -> Classification:
    """X.7.x (and X.1.7 / X.1.8, the sender's address): about us, unless the text says otherwise."""
    temporary = 400 <= code < 500
    if _MICROSOFT_BLOCKS.match(enhanced):
        return Classification(Kind.SENDER, cause="the probing IP or sending domain is blocked by the provider")
    if enhanced.endswith(".1.7") or enhanced.endswith(".1.8") or _SENDER_ADDRESS.search(text):
        return Classification(Kind.SENDER, cause=_sender_cause(text, address=True))
    if temporary and _GREY.search(text):
        return Classification(Kind.GREYLIST)
    if temporary and _BUSY.search(text) and not _BLOCKLIST.search(text):
        return Classification(Kind.HOST_BUSY)
    if _RELAY.search(text):
        return Classification(Kind.RELAY_DENIED)
    if _SENDER_IP.search(text):
        return Classification(Kind.SENDER, cause=_sender_cause(text))
    if temporary and _LATER.search(text):
        return Classification(Kind.DEFERRED)
    if temporary:
        return Classification(Kind.TEMPORARY)
    if _UNKNOWN_USER.search(text) and not re.search(r"access denied|policy", text, re.IGNORECASE):
        return Classification(Kind.MAILBOX_UNKNOWN)
    return Classification(Kind.SENDER, cause="a security or policy rule of the host (RFC 3463 X.7)")


def _address(detail: str, text: str, temporary: bool) -> Classification:
    """X.1.x: the address. X.1.1 no such mailbox, X.1.6 moved, X.1.10 (Microsoft: not found)."""
    if _SENDER_ADDRESS.search(text) and not _RECIPIENT.search(text):
        return Classification(Kind.SENDER, cause=_sender_cause(text, address=True))
    if temporary:
        if _GREY.search(text):
            return Classification(Kind.GREYLIST)
        return Classification(Kind.TEMPORARY)
    if detail == "6" or _MOVED.search(text):
        return Classification(Kind.USER_MOVED)
    if detail in ("1", "10", "0") and not _RELAY.search(text):
        if _SENDER_IP.search(text) and not _UNKNOWN_USER.search(text):
            return Classification(Kind.SENDER, cause=_sender_cause(text))
        return Classification(Kind.MAILBOX_UNKNOWN)
    if _RELAY.search(text) or detail == "2":
        return Classification(Kind.RELAY_DENIED) if _RELAY.search(text) else Classification(Kind.ADDRESS_REFUSED)
    return Classification(Kind.ADDRESS_REFUSED)


def _mailbox(detail: str, text: str, temporary: bool) -> Classification:
    """X.2.x: the mailbox. X.2.1 disabled, X.2.2 full; X.2.0 with greylist words is greylisting."""
    if detail == "2" or (detail == "0" and _FULL.search(text) and not _GREY.search(text)):
        return Classification(Kind.MAILBOX_FULL)
    if temporary:
        if _GREY.search(text):
            return Classification(Kind.GREYLIST)
        if _RATE.search(text):
            return Classification(Kind.TEMPORARY)
        if detail == "0" and _LATER.search(text):
            return Classification(Kind.DEFERRED)
        return Classification(Kind.TEMPORARY)
    if _SENDER_IP.search(text) and not _DISABLED.search(text):
        return Classification(Kind.SENDER, cause=_sender_cause(text))
    if detail == "1" or _DISABLED.search(text):
        return Classification(Kind.MAILBOX_DISABLED)
    return Classification(Kind.MAILBOX_UNKNOWN)


def _routing(detail: str, text: str, temporary: bool) -> Classification:
    """X.4.x: network and routing. Microsoft answers 5.4.1 for a recipient its directory lacks."""
    if temporary:
        if _STORAGE.search(text):
            return Classification(Kind.SYSTEM_FULL)
        if detail == "5" or _BUSY.search(text):
            return Classification(Kind.HOST_BUSY)
        return Classification(Kind.TEMPORARY)
    if _RELAY.search(text):
        return Classification(Kind.RELAY_DENIED)
    if detail == "1" and re.search(r"recipient", text, re.IGNORECASE):
        return Classification(Kind.MAILBOX_UNKNOWN)
    return Classification(Kind.ADDRESS_REFUSED)


def _by_text(code: int, text: str) -> Classification:
    """No enhanced code (or one that does not decide): the reply code and the words."""
    if 400 <= code < 500:
        return _temporary_text(code, text)
    if _UTF8.search(text) and code == 553:
        return Classification(Kind.SMTPUTF8)
    if _SENDER_ADDRESS.search(text) and not _RECIPIENT.search(text):
        return Classification(Kind.SENDER, cause=_sender_cause(text, address=True))
    if _RELAY.search(text):
        return Classification(Kind.RELAY_DENIED)
    if _UNKNOWN_USER.search(text) and not _SENDER_IP.search(text):
        return Classification(Kind.MAILBOX_UNKNOWN)
    if _SENDER_IP.search(text):
        return Classification(Kind.SENDER, cause=_sender_cause(text))
    if code == 551 or _MOVED.search(text):
        return Classification(Kind.USER_MOVED)
    if code == 552 or _FULL.search(text):
        return Classification(Kind.MAILBOX_FULL)
    if _DISABLED.search(text):
        return Classification(Kind.MAILBOX_DISABLED)
    if code in (500, 501, 502, 503, 504) and not _UNKNOWN_USER.search(text) and not re.search(
        r"address|mailbox|recipient", text, re.IGNORECASE
    ):
        return Classification(Kind.PROTOCOL)
    if code == 554:
        return Classification(Kind.SENDER, cause="the host refused the transaction (554)")
    if code == 550:
        return Classification(Kind.MAILBOX_UNKNOWN)
    return Classification(Kind.ADDRESS_REFUSED)


def _temporary_text(code: int, text: str) -> Classification:
    """A 4xx without a deciding enhanced code."""
    if _GREY.search(text):
        return Classification(Kind.GREYLIST)
    if _SENDER_ADDRESS.search(text) and not _RECIPIENT.search(text):
        return Classification(Kind.SENDER, cause=_sender_cause(text, address=True))
    if _SENDER_IP.search(text) and (_BLOCKLIST.search(text) or not _BUSY.search(text)):
        return Classification(Kind.SENDER, cause=_sender_cause(text))
    if _STORAGE.search(text):
        return Classification(Kind.SYSTEM_FULL)
    if code == 452 and _FULL.search(text):
        return Classification(Kind.MAILBOX_FULL)
    if _BUSY.search(text):
        return Classification(Kind.HOST_BUSY)
    if code in (450, 451) and _LATER.search(text) and not re.search(r"local (problem|error)", text, re.IGNORECASE):
        return Classification(Kind.DEFERRED)
    return Classification(Kind.TEMPORARY)


def _sender_cause(text: str, *, address: bool = False) -> str:
    """Which part of our sending side the host refused, in a few words."""
    if re.search(r"callout|verif", text, re.IGNORECASE):
        return "the host could not verify the MAIL FROM address (a sender-verification callout failed)"
    if address:
        return "the host refused the MAIL FROM address or its domain"
    if re.search(r"spamhaus|barracuda|spamcop|sorbs|rbl|block ?list|black ?list|listed", text, re.IGNORECASE):
        return "the probing IP is on a block list the host uses"
    if re.search(r"reverse|ptr|rdns|hostname", text, re.IGNORECASE):
        return "the probing IP has no (matching) reverse DNS name"
    if re.search(r"(helo|ehlo)\b.*(rejected|refused|invalid|not)|(invalid|bad|forged|unknown) (helo|ehlo)",
                 text, re.IGNORECASE):
        return "the host refused the HELO name"
    if re.search(r"banned|ip|traffic not accepted|reputation|dynamic|residential", text, re.IGNORECASE):
        return "the host refuses mail from the probing IP"
    return "a security or policy rule of the host refused our side of the conversation"


__all__ = ["Classification", "Kind", "Limit", "classify"]
