"""One SMTP session of the mailbox level: connect, greet, ask RCPT TO, QUIT. Never DATA.

Blocking I/O over the standard library's :mod:`smtplib` (its reply reader parses every
reply, multi-line ones included); :mod:`pipeline.probe.prober` runs sessions in worker threads with
bounded concurrency. What a reply means is decided by :mod:`pipeline.probe.reply`; this module
only talks, in this order:

- connect; a greeting other than 220 ends the session (421 busy, 554 blocked ...);
- EHLO, HELO when EHLO is refused (RFC 5321 §4.1.1.1);
- STARTTLS when offered, or when a 530 demands it (RFC 3207); opportunistic, unverified,
  as between mail servers (RFC 7435);
- per domain: MAIL FROM (with SMTPUTF8 when a local part needs it, RFC 6531), the made-up
  local part first (catch-all question), then the real recipients; RCPTs are pipelined when
  the host offers PIPELINING (RFC 2920), in small groups so a run of refusals never piles up;
  at most ``rcpt_limit`` RCPTs per MAIL FROM, lowered on 452 4.5.3; RSET between transactions;
- QUIT. A session that collected its share of refusals ends early and says so (``more``).

A non-ASCII local part at a host without SMTPUTF8 is settled from the EHLO reply, unasked.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import ssl
from collections import Counter
from dataclasses import dataclass, field

from pipeline.models import MailboxVerdict, Verdict
from pipeline.ports import ProbeTarget
from pipeline.probe.plan import REFUSALS_PER_SESSION, by_domain, host_label
from pipeline.probe.reply import (
    Action,
    Reply,
    Stage,
    apply_catch_all,
    decide,
    is_catch_all,
    smtputf8_verdict,
    temporary_verdict,
)

_UNSENDABLE = re.compile(r"[\x00-\x1f\x7f<>]")


@dataclass(frozen=True)
class SessionPlan:
    """Everything one session needs; built by the orchestrating event loop."""

    host: str
    address: str
    port: int
    helo: str
    mail_from: str
    timeout: float
    targets: tuple[ProbeTarget, ...]
    probe_locals: dict[str, str]  # domain -> made-up local part (the same for the whole run)
    rcpt_limit: int
    tls: ssl.SSLContext


@dataclass
class SessionResult:
    """What one session settled and learnt; the caller moves the rest on."""

    decided: dict[str, MailboxVerdict] = field(default_factory=dict)
    retry: dict[str, Verdict] = field(default_factory=dict)
    failure: str = ""  # why the session could not finish (for the detail of a later verdict)
    failure_verdict: Verdict | None = None  # what that failure means if no other host answers
    answered: bool = False  # the host gave an SMTP reply
    connect_failed: bool = False  # refused, timed out or closed before any reply
    more: bool = False  # ended on purpose (refusal budget): the rest wants a new session here
    greeted: bool = False  # got past EHLO/HELO (so the extensions below are known)
    extensions: set[str] = field(default_factory=set)
    esmtp: bool = True
    tls: bool = False
    rcpt_limit: int | None = None  # a lower RCPTs-per-MAIL FROM limit learnt from 452 4.5.3
    size_limit: int | None = None  # the host's advertised SIZE (RFC 1870), for the message check
    counters: Counter[str] = field(default_factory=Counter)


class _HostTrouble(Exception):
    """The session cannot go on with this host (the caller tries the next MX host)."""

    def __init__(self, why: str, verdict: Verdict | None = None, *, settle: Action | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.verdict = verdict
        self.settle = settle  # SENDER: every address left gets ``verdict``; RETRY: all wait


class _EnoughForNow(Exception):
    """The session collected its share of refusals: QUIT, go on in a new session."""


def run_session(plan: SessionPlan) -> SessionResult:
    """Hold one SMTP session as planned and return what it settled. Blocking; never raises
    for network or protocol trouble (that is data in the result)."""
    return _Session(plan).run()


class _Session:
    def __init__(self, plan: SessionPlan) -> None:
        self.plan = plan
        self.host = plan.host
        self.label = host_label(plan.host, plan.address)
        self.result = SessionResult()
        self.smtp: smtplib.SMTP = smtplib.SMTP(local_hostname=plan.helo)  # no getfqdn() lookup
        self.limit = max(1, plan.rcpt_limit)
        self.refusals = 0
        self.lost = ""  # why the connection went away, when it did

    def run(self) -> SessionResult:
        result, plan = self.result, self.plan
        try:
            try:
                # Connecting in the constructor also sets the name TLS is negotiated for.
                self.smtp = smtplib.SMTP(plan.address, plan.port, local_hostname=plan.helo, timeout=plan.timeout)
            except smtplib.SMTPConnectError as exc:  # a greeting other than 220
                result.answered = True
                greeting = _reply(exc.smtp_code, exc.smtp_error)
                result.failure = f"{self.label}: {greeting}"
                result.failure_verdict = decide(greeting, Stage.CONNECT, self.host).verdict
                return result
            except (OSError, smtplib.SMTPException) as exc:
                result.connect_failed = True
                result.failure = f"{self.label}: {describe(exc)}"
                return result
            result.answered = True
            self.smtp.ehlo_msg = "EHLO"
            try:
                self.converse()
            except _HostTrouble as trouble:
                self.give_up(trouble)
            except _EnoughForNow:
                result.more = True
                result.counters["sessions_split"] += 1
            except (OSError, smtplib.SMTPException, ValueError) as exc:
                # ValueError: text our side cannot encode (a non-ASCII --mail-from ...)
                result.failure = f"{self.label}: {describe(exc)} during the session"
                result.counters["sessions_lost"] += 1
            if self.smtp.sock is not None:
                with contextlib.suppress(OSError, smtplib.SMTPException):
                    self.smtp.docmd("QUIT")
            return result
        finally:
            self.smtp.close()

    def give_up(self, trouble: _HostTrouble) -> None:
        result = self.result
        result.failure = f"{self.label}: {trouble.why}"
        result.failure_verdict = trouble.verdict
        if trouble.settle is None or trouble.verdict is None:
            return
        for target in self.plan.targets:
            if target.email in result.decided or target.email in result.retry:
                continue
            if trouble.settle is Action.RETRY:
                result.retry[target.email] = trouble.verdict
            else:
                result.decided[target.email] = MailboxVerdict(target.email, trouble.verdict)

    # --- greeting and TLS ----------------------------------------------------------------

    def hello(self) -> None:
        """EHLO, or HELO when EHLO is refused; records the extensions offered."""
        code, message = self.smtp.ehlo()
        if code != 250:
            first = _reply(code, message)
            if code == 421 or self.smtp.sock is None:
                raise _HostTrouble(f"EHLO: {first}", decide(first, Stage.HELO, self.host).verdict)
            code, message = self.smtp.helo()
            if code != 250:
                reply = _reply(code, message)
                decision = decide(reply, Stage.HELO, self.host)
                settle = Action.SENDER if decision.action is Action.SENDER else None
                raise _HostTrouble(f"HELO: {reply}", decision.verdict, settle=settle)
        self.result.greeted = True
        self.result.esmtp = bool(self.smtp.does_esmtp)
        self.result.extensions |= {name.upper() for name in self.smtp.esmtp_features}
        size = self.smtp.esmtp_features.get("size", "").strip()
        self.result.size_limit = int(size) if size.isdigit() and int(size) > 0 else None

    def start_tls(self) -> bool:
        """STARTTLS; a refusal keeps the plain session, a failed handshake ends it."""
        # A 530 may demand STARTTLS from a host that did not advertise it; RFC 3207 lets the
        # client try, and smtplib only checks the advertisement.
        self.smtp.esmtp_features.setdefault("starttls", "")
        try:
            code, message = self.smtp.starttls(context=self.plan.tls)
        except (OSError, smtplib.SMTPException, ssl.SSLError) as exc:
            raise _HostTrouble(f"STARTTLS failed ({describe(exc)})") from exc
        if code != 220:
            self.result.counters["starttls_refused"] += 1
            if self.smtp.sock is None:
                raise _HostTrouble(f"STARTTLS: {_reply(code, message)}")
            return False
        self.result.counters["starttls"] += 1
        self.result.tls = True
        self.hello()
        return True

    # --- the conversation ----------------------------------------------------------------

    def converse(self) -> None:
        self.hello()
        if self.smtp.has_extn("starttls"):
            self.start_tls()
        utf8_ok = self.smtp.has_extn("smtputf8")
        pipelining = self.smtp.has_extn("pipelining")
        first_transaction = True
        for domain, group in by_domain(self.plan.targets):
            asked: list[ProbeTarget] = []
            for target in group:
                if target.smtputf8 and not utf8_ok:
                    self.result.decided[target.email] = MailboxVerdict(target.email, smtputf8_verdict(self.host))
                else:
                    asked.append(target)
            if not asked:
                continue
            utf8 = any(t.smtputf8 for t in asked)
            probe_address = f"{self.plan.probe_locals[domain]}@{domain}"
            queue: list[ProbeTarget | None] = [None, *asked]  # None = the catch-all question
            probe_reply: Reply | None = None
            answered_here: list[str] = []
            try:
                while queue:
                    if not first_transaction:
                        self.reset()
                    first_transaction = False
                    self.open_transaction(utf8)
                    sent = 0
                    while queue and sent < self.limit:
                        budget = REFUSALS_PER_SESSION - self.refusals
                        if budget <= 0 and any(item is not None for item in queue):
                            raise _EnoughForNow
                        depth = min(self.limit - sent, len(queue), max(1, budget)) if pipelining else 1
                        chunk = queue[:depth]
                        addresses = [probe_address if i is None else _rcpt_address(i) for i in chunk]
                        replies = self.ask(addresses, utf8)
                        shrunk = False
                        for item, reply in zip(chunk, replies, strict=False):
                            decision = decide(reply, Stage.RCPT, self.host)
                            self.refusals += reply.code >= 400
                            if decision.action is Action.SHRINK and sent > 0:
                                self.lower_limit(sent)
                                shrunk = True
                                break
                            if decision.action in (Action.NEXT_MX, Action.STARTTLS):
                                raise _HostTrouble(f"RCPT TO: {reply}", decision.verdict)
                            queue.pop(0)
                            sent += 1
                            if item is None:
                                probe_reply = reply
                            elif decision.action in (Action.RETRY, Action.SHRINK):
                                self.result.retry[item.email] = decision.verdict or temporary_verdict(
                                    reply, self.host, Stage.RCPT
                                )
                            else:
                                assert decision.verdict is not None
                                self.result.decided[item.email] = MailboxVerdict(item.email, decision.verdict)
                                answered_here.append(item.email)
                        if shrunk:
                            break
                        if len(replies) < len(chunk) and replies[-1:] and replies[-1].code == 421:
                            raise _HostTrouble(f"RCPT TO: {replies[-1]}")
                        if len(replies) < len(chunk):
                            self.result.counters["sessions_lost"] += 1
                            raise _HostTrouble(f"{self.lost or 'connection lost'} during RCPT TO")
            finally:
                catch_all = is_catch_all(probe_reply)
                self.result.counters["catch_all_domains"] += bool(catch_all)
                for email in answered_here:
                    self.result.decided[email] = apply_catch_all(
                        self.result.decided[email], domain, probe_address, catch_all
                    )

    def open_transaction(self, utf8: bool) -> None:
        """MAIL FROM (after STARTTLS when a 530 demands it); a refusal ends the session."""
        for _ in range(2):
            options = " SMTPUTF8" if utf8 else ""
            code, message = self.smtp.docmd("MAIL", f"FROM:<{self.plan.mail_from}>{options}")
            reply = _reply(code, message)
            decision = decide(reply, Stage.MAIL, self.host)
            if decision.action is Action.OK:
                return
            if decision.action is Action.STARTTLS and not self.result.tls and self.start_tls():
                continue
            if decision.action in (Action.RETRY, Action.SENDER):
                raise _HostTrouble(f"MAIL FROM: {reply}", decision.verdict, settle=decision.action)
            raise _HostTrouble(f"MAIL FROM: {reply}", decision.verdict)
        raise _HostTrouble("MAIL FROM refused after STARTTLS")

    def ask(self, addresses: list[str], utf8: bool) -> list[Reply]:
        """RCPT TO for each address, pipelined when there are several; replies in order.

        Stops at a 421 (the host closes right after it) or a lost connection, returning the
        replies read so far.
        """
        encoding = "utf-8" if utf8 else "ascii"
        lines = []
        for address in addresses:
            if _UNSENDABLE.search(address):
                raise _HostTrouble(f"RCPT TO not sent: {address!r} cannot go on an SMTP command line")
            lines.append(f"RCPT TO:<{address}>\r\n".encode(encoding))
        self.result.counters["rcpts"] += len(lines)
        if len(lines) > 1:
            self.result.counters["pipelined_groups"] += 1
        self.smtp.send(b"".join(lines))
        replies: list[Reply] = []
        for _ in lines:
            try:
                code, message = self.smtp.getreply()
            except smtplib.SMTPServerDisconnected as exc:
                self.lost = describe(exc)
                break
            replies.append(_reply(code, message))
            if code == 421:
                break
        return replies

    def reset(self) -> None:
        code, message = self.smtp.docmd("RSET")
        if code != 250:
            raise _HostTrouble(f"RSET: {_reply(code, message)}")

    def lower_limit(self, limit: int) -> None:
        self.limit = max(1, min(self.limit, limit))
        self.result.rcpt_limit = self.limit
        self.result.counters["rcpt_limit_lowered"] += 1


def _reply(code: int, message: bytes | str) -> Reply:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return Reply.parse(code, text)


def _rcpt_address(target: ProbeTarget) -> str:
    return f"{target.local}@{target.ascii_domain}"


def describe(exc: BaseException) -> str:
    """A few words for a failed connection or session, from the root cause."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, TimeoutError):
            return "timed out"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        seen = seen.__cause__ or seen.__context__
    text = str(exc) or type(exc).__name__
    if "timed out" in text:
        return "timed out"
    return text.rstrip(".")
