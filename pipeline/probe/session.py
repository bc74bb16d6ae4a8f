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
- QUIT. A session that collected its share of refusals (or of RCPTs, when the host is known
  to hang up after some) ends early and says so (``more``).

A 421, a connection lost mid-session or the session's own wall-clock cap (a host trickling
bytes just under the reply timeout) is a :class:`~pipeline.probe.limits.Cut`: the addresses
not answered yet are left unsettled for a fresh session later, never given a verdict here.

A non-ASCII local part at a host without SMTPUTF8 is settled from the EHLO reply, unasked.
"""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field, replace

from pipeline.models import MailboxVerdict, Verdict
from pipeline.ports import ProbeTarget
from pipeline.probe.connect import ProxySpec, open_tunnel
from pipeline.probe.limits import Cut, CutKind, limit_kind, named_wait
from pipeline.probe.plan import REFUSALS_PER_SESSION, by_domain, host_label
from pipeline.probe.reply import (
    Action,
    Reply,
    Stage,
    apply_catch_all,
    catch_all_unchecked,
    decide,
    host_reply_verdict,
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
    catch_all_check: bool = True  # ask the made-up local part first (off: --no-catch-all-check)
    proxy: ProxySpec | None = None  # carry the session through this SOCKS5 proxy (--proxy)
    #: refused RCPTs a session may collect before it ends (lower when the host cuts earlier)
    refusal_budget: int = REFUSALS_PER_SESSION
    #: RCPTs one session may send (None: no limit), when the host hangs up after some
    rcpt_budget: int | None = None
    #: wall-clock seconds the whole session may take (None: only the per-reply timeout)
    cap: float | None = None
    #: domains whose catch-all question an earlier session settled (True / False)
    catch_all_known: dict[str, bool] = field(default_factory=dict)


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
    cut: Cut | None = None  # the session ended early; what is unsettled wants a fresh one
    catch_all: dict[str, bool] = field(default_factory=dict)  # domains whose question was settled


class _HostTrouble(Exception):
    """The session cannot go on with this host (the caller tries the next MX host)."""

    def __init__(
        self, why: str, verdict: Verdict | None = None, *, settle: Action | None = None, cut: Cut | None = None
    ) -> None:
        super().__init__(why)
        self.why = why
        self.verdict = verdict
        self.settle = settle  # SENDER: every address left gets ``verdict``; RETRY: all wait
        self.cut = cut  # the host cut the session short (421 or a drop): no verdicts from it


class _EnoughForNow(Exception):
    """The session collected its share of refusals: QUIT, go on in a new session."""


def run_session(plan: SessionPlan) -> SessionResult:
    """Hold one SMTP session as planned and return what it settled. Blocking; never raises
    for network or protocol trouble (that is data in the result)."""
    return _Session(plan).run()


class _CappedSMTP(smtplib.SMTP):
    """smtplib's client, handing its socket to the session's wall-clock cap as it opens; the
    socket is a SOCKS5 tunnel when a ``proxy`` is given (``--proxy``)."""

    def __init__(self, cap: _Cap, proxy: ProxySpec | None, **kwargs: object) -> None:
        self.cap = cap
        self.proxy = proxy
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        if self.proxy is not None:
            sock = open_tunnel(self.proxy, host, port, timeout)
        else:
            sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        self.cap.watch(self, sock)
        return sock


class _Cap:
    """The wall-clock cap of one session: when it runs out, the socket is shut, so a host that
    trickles bytes just under the per-reply timeout cannot hold the session (or its thread)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.ran_out = False
        self._sock: socket.socket | None = None
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._cut) if seconds else None
        if self._timer is not None:
            self._timer.daemon = True
            self._timer.start()

    def watch(self, smtp: smtplib.SMTP, sock: socket.socket) -> None:
        with self._lock:
            self._smtp, self._sock = smtp, sock
            if self.ran_out:
                _shut(sock)

    def _cut(self) -> None:
        with self._lock:
            self.ran_out = True
            # after STARTTLS the client reads from a TLS socket that took over the plain one
            current = self._smtp.sock if self._smtp is not None else None
            for sock in (current, self._sock):
                if sock is not None:
                    _shut(sock)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class _Session:
    def __init__(self, plan: SessionPlan) -> None:
        self.plan = plan
        self.host = plan.host
        self.label = host_label(plan.host, plan.address)
        self.result = SessionResult()
        self.cap = _Cap(plan.cap)
        self.smtp: smtplib.SMTP = smtplib.SMTP(local_hostname=plan.helo)  # no getfqdn() lookup
        self.limit = max(1, plan.rcpt_limit)
        self.refusals = 0
        self.rcpts_sent = 0
        self.rcpts_answered = 0
        self.lost = ""  # why the connection went away, when it did

    def run(self) -> SessionResult:
        try:
            return self._run()
        finally:
            self.cap.stop()
            self.smtp.close()
            if self.cap.ran_out and self.unsettled():
                self.cut_by_cap()

    def _run(self) -> SessionResult:
        result, plan = self.result, self.plan
        try:
            # Connecting in the constructor also sets the name TLS is negotiated for.
            self.smtp = _CappedSMTP(
                self.cap, plan.proxy, host=plan.address, port=plan.port, local_hostname=plan.helo, timeout=plan.timeout
            )
        except smtplib.SMTPConnectError as exc:  # a greeting other than 220
            result.answered = True
            greeting = _reply(exc.smtp_code, exc.smtp_error)
            result.failure = f"{self.label}: {greeting}"
            result.failure_verdict = decide(greeting, Stage.CONNECT, self.host).verdict
            if greeting.code == 421:
                result.cut = _cut_by(greeting, at_connect=True)
            return result
        except (OSError, smtplib.SMTPException) as exc:
            if self.cap.ran_out:
                return result
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
            if not isinstance(exc, ValueError) and not self.cap.ran_out:
                result.cut = Cut(CutKind.DROP, result.failure, refusals=self.refusals, rcpts=self.rcpts_answered)
        if self.smtp.sock is not None and not self.cap.ran_out:
            self.quit()
        return result

    def quit(self) -> None:
        """QUIT; a 421 in its place means the host had cut us off already (too many errors ...)."""
        with contextlib.suppress(OSError, smtplib.SMTPException):
            code, message = self.smtp.docmd("QUIT")
            if code == 421 and self.result.cut is None:
                self.result.cut = replace(_cut_by(_reply(code, message)), refusals=self.refusals,
                                          rcpts=self.rcpts_answered)

    def unsettled(self) -> bool:
        """Some address of the plan has neither a verdict nor a place in the retry queue."""
        done = self.result.decided.keys() | self.result.retry.keys()
        return any(target.email not in done for target in self.plan.targets)

    def cut_by_cap(self) -> None:
        """The cap ran out: whatever the session was doing, nothing it did not settle is a verdict."""
        result = self.result
        result.answered = result.answered or self.rcpts_answered > 0
        result.connect_failed = False
        result.failure = (
            f"{self.label}: the session was stopped after {self.plan.cap:g} s (--session-cap), "
            "the host answering too slowly"
        )
        result.failure_verdict = None
        result.counters["sessions_capped"] += 1
        result.cut = Cut(CutKind.CAP, result.failure, refusals=self.refusals, rcpts=self.rcpts_answered)

    def give_up(self, trouble: _HostTrouble) -> None:
        result = self.result
        result.failure = f"{self.label}: {trouble.why}"
        result.failure_verdict = trouble.verdict
        if trouble.cut is not None:
            result.cut = replace(trouble.cut, refusals=self.refusals, rcpts=self.rcpts_answered)
            return
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
                raise _HostTrouble(
                    f"EHLO: {first}", decide(first, Stage.HELO, self.host).verdict, cut=_cut_by(first)
                )
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
            known = self.plan.catch_all_known.get(domain)
            # None = the catch-all question, unless it is off or an earlier session settled it
            ask_first = self.plan.catch_all_check and known is None
            queue: list[ProbeTarget | None] = [None, *asked] if ask_first else [*asked]
            probe_reply: Reply | None = None
            answered_here: list[str] = []
            try:
                while queue:
                    if not first_transaction:
                        self.reset()
                    first_transaction = False
                    self.open_transaction(utf8)
                    sent = accepted = 0
                    while queue and sent < self.limit:
                        budget = self.plan.refusal_budget - self.refusals
                        room = self.rcpt_room()
                        if (budget <= 0 or room <= 0) and any(item is not None for item in queue):
                            raise _EnoughForNow
                        depth = min(self.limit - sent, len(queue), max(1, budget), max(1, room)) if pipelining else 1
                        chunk = queue[:depth]
                        addresses = [probe_address if i is None else _rcpt_address(i) for i in chunk]
                        replies = self.ask(addresses, utf8)
                        shrunk = False
                        for item, reply in zip(chunk, replies, strict=False):
                            decision = decide(reply, Stage.RCPT, self.host)
                            if reply.code == 421:
                                raise _HostTrouble(f"RCPT TO: {reply}", decision.verdict, cut=_cut_by(reply))
                            # every refusal counts, as the host counts them (errors per session)
                            self.refusals += reply.code >= 400
                            self.rcpts_answered += 1
                            if shrunk:
                                continue  # refused for the transaction's size: asked in the next one
                            if decision.action is Action.SHRINK and sent > 0:
                                # hosts count the recipients they accepted (Postfix's
                                # smtpd_recipient_limit does), so that is the size learnt
                                self.lower_limit(accepted or sent)
                                shrunk = True
                                continue
                            if decision.action in (Action.NEXT_MX, Action.STARTTLS):
                                raise _HostTrouble(f"RCPT TO: {reply}", decision.verdict)
                            queue.pop(0)
                            sent += 1
                            accepted += 200 <= reply.code < 300
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
                        if len(replies) < len(chunk):
                            self.result.counters["sessions_lost"] += 1
                            why = f"{self.lost or 'connection lost'} during RCPT TO"
                            raise _HostTrouble(why, cut=Cut(CutKind.DROP, f"{self.label}: {why}"))
                        if shrunk:
                            break
            finally:
                catch_all = is_catch_all(probe_reply) if known is None else known
                if known is None and catch_all is not None:
                    self.result.catch_all[domain] = catch_all
                    self.result.counters["catch_all_domains"] += bool(catch_all)
                for email in answered_here:
                    mailbox = apply_catch_all(self.result.decided[email], domain, probe_address, catch_all)
                    if not self.plan.catch_all_check:
                        mailbox = catch_all_unchecked(mailbox)
                    self.result.decided[email] = mailbox

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
            cut = _cut_by(reply) if reply.code == 421 else None
            raise _HostTrouble(f"MAIL FROM: {reply}", decision.verdict, cut=cut)
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
        self.rcpts_sent += len(lines)
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
            reply = _reply(code, message)
            cut = _cut_by(reply) if code == 421 else None
            raise _HostTrouble(f"RSET: {reply}", host_reply_verdict(reply, self.host, Stage.RCPT), cut=cut)

    def rcpt_room(self) -> int:
        """RCPTs this session may still send (the host hangs up after some, when known)."""
        if self.plan.rcpt_budget is None:
            return 1 << 30
        return self.plan.rcpt_budget - self.rcpts_sent

    def lower_limit(self, limit: int) -> None:
        self.limit = max(1, min(self.limit, limit))
        self.result.rcpt_limit = self.limit
        self.result.counters["rcpt_limit_lowered"] += 1


def _cut_by(reply: Reply, *, at_connect: bool = False) -> Cut:
    """The cut a closing reply (421) makes; anything else that ends a session is a drop."""
    kind = limit_kind(reply) if reply.code == 421 else CutKind.DROP
    return Cut(kind, str(reply), at_connect=at_connect, wait=named_wait(reply.text))


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
