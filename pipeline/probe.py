"""The mailbox level: ask each address's mail host with RCPT TO, politely, never DATA.

A thin asyncio loop around :mod:`aiosmtplib`. Every decision (what a reply means, catch-all,
batching, cache lifetimes, when to give up) is made by the pure modules
:mod:`pipeline.smtpreply` and :mod:`pipeline.probeplan`.

One session per batch of addresses that share their MX hosts: connect, EHLO (HELO when EHLO
is refused), STARTTLS when offered or demanded, then per domain one MAIL FROM, one made-up
local part (catch-all question) and the real recipients, RSET between transactions, QUIT.
MX hosts are tried in preference order; a refused connection, a timeout or a 421 moves on
to the next. Temporary answers (450/451 greylisting) wait in a retry queue (a timer, holding
no session) and are asked again after ``retry_after`` seconds, up to ``max_retries`` times.
Sessions are bounded overall and per host address; every reply has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aiosmtplib

from .cache import VerdictCache, mailbox_from_dict, mailbox_to_dict
from .models import MailboxVerdict, Verdict
from .options import CacheOptions, ProbeOptions
from .probeplan import (
    BLOCKED_AFTER,
    REFUSALS_PER_SESSION,
    Batch,
    BlockedDetector,
    by_domain,
    extension_names,
    host_label,
    mx_attempts,
    plan_batches,
    preferred_host,
    random_local_part,
)
from .smtpreply import (
    Action,
    Reply,
    Stage,
    apply_catch_all,
    cache_lifetime,
    connection_failed_verdict,
    decide,
    is_catch_all,
    smtputf8_verdict,
    temporary_verdict,
    unreachable_verdict,
    with_retries,
)
from .stages import MailboxProber, ProbeTarget, ProgressCallback, no_progress

CACHE_KIND = "mailbox"


def make_prober(probe: ProbeOptions, cache: CacheOptions) -> MailboxProber:
    """Build the mailbox level's prober from options (opens the verdict cache if enabled)."""
    return SmtpProber(probe, VerdictCache.from_options(cache))


def utc_now() -> str:
    """The current time as ISO-8601 UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class HostInfo:
    """What one mail host address told us about itself (EHLO extensions, TLS)."""

    host: str
    address: str
    extensions: list[str] = field(default_factory=list)
    esmtp: bool = True
    tls: bool = False
    sessions: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for summary.json."""
        return {
            "host": self.host,
            "address": self.address,
            "extensions": self.extensions,
            "esmtp": self.esmtp,
            "tls": self.tls,
            "sessions": self.sessions,
        }


class _HostTrouble(Exception):
    """The session cannot go on with this host (move to the next MX host)."""

    def __init__(self, why: str, verdict: Verdict | None = None, *, settle: Action | None = None) -> None:
        super().__init__(why)
        self.why = why
        self.verdict = verdict
        self.settle = settle  # SENDER: every address left gets ``verdict``; RETRY: all wait


@dataclass
class _SessionOutcome:
    """What one session settled; the rest goes to the next MX host."""

    decided: dict[str, MailboxVerdict] = field(default_factory=dict)
    retry: dict[str, Verdict] = field(default_factory=dict)
    failure: str = ""
    failure_verdict: Verdict | None = None
    answered: bool = False
    more: bool = False  # ended on purpose (refusal budget): the rest wants a new session here


class _EnoughForNow(Exception):
    """The session collected its share of refusals: QUIT, go on in a new session."""


class SmtpProber:
    """The :class:`~pipeline.stages.MailboxProber` of presend, built on aiosmtplib."""

    def __init__(
        self,
        options: ProbeOptions,
        cache: VerdictCache | None = None,
        *,
        blocked_after: int = BLOCKED_AFTER,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.options = options
        self.cache = cache
        self.helo = options.helo or _domain_of(options.mail_from) or "localhost"
        self.counters: Counter[str] = Counter()
        self.hosts: dict[str, HostInfo] = {}
        self._notes: list[str] = []
        self._probe_locals: dict[str, str] = {}
        self._rcpt_limits: dict[str, int] = {}
        self._blocked = BlockedDetector(blocked_after)
        self._tls = tls_context or _opportunistic_tls()

    # --- the MailboxProber protocol ----------------------------------------------------

    def probe(
        self, targets: Sequence[ProbeTarget], progress: ProgressCallback = no_progress
    ) -> dict[str, MailboxVerdict]:
        """Return a verdict per target (keyed by ``target.email``), from cache or RCPT TO."""
        results: dict[str, MailboxVerdict] = {}
        todo: list[ProbeTarget] = []
        cached: dict[str, dict[str, Any]] = {}
        if self.cache is not None:
            cached = self.cache.get_many(CACHE_KIND, (_cache_key(t.email) for t in targets))
        for target in targets:
            hit = cached.get(_cache_key(target.email))
            if hit is not None:
                results[target.email] = replace(mailbox_from_dict(hit), email=target.email)
                self.counters["cache_hits"] += 1
            else:
                todo.append(target)
        if todo:
            fresh = _run_coroutine(_Run(self, todo, progress).go())
            results.update(fresh)
            if self.cache is not None:
                self.cache.put_many(
                    CACHE_KIND,
                    ((_cache_key(m.email), mailbox_to_dict(m), cache_lifetime(m)) for m in fresh.values()),
                )
        return results

    def stats(self) -> dict[str, int]:
        """Counters for summary.json: sessions, RCPTs, retries, cache hits, hosts seen ..."""
        counts = dict(self.counters)
        counts["hosts"] = len(self.hosts)
        for ext in ("STARTTLS", "SMTPUTF8", "8BITMIME", "SIZE", "PIPELINING"):
            counts[f"hosts_{ext.lower()}"] = sum(1 for h in self.hosts.values() if ext in h.extensions)
        counts["hosts_tls"] = sum(1 for h in self.hosts.values() if h.tls)
        counts["port25_blocked"] = int(self._blocked.blocked)
        return counts

    def notes(self) -> list[str]:
        """Run-level observations (e.g. outbound port 25 looks blocked)."""
        return list(self._notes)

    def host_report(self) -> dict[str, dict[str, Any]]:
        """Per mail host address: its EHLO extensions, whether TLS was used, sessions."""
        return {label: info.as_dict() for label, info in sorted(self.hosts.items())}

    # --- helpers the run uses ------------------------------------------------------------

    def probe_local(self, domain: str) -> str:
        """The made-up local part for ``domain``: one per domain for the whole run.

        The same one is asked again on a retry, so greylisting treats it like the real ones.
        """
        if domain not in self._probe_locals:
            self._probe_locals[domain] = random_local_part()
        return self._probe_locals[domain]

    def rcpt_limit(self, address: str) -> int:
        """RCPTs per MAIL FROM at this host: the batch size plus the catch-all question,
        lowered when the host said 452 4.5.3 (too many recipients)."""
        return self._rcpt_limits.get(address, max(1, self.options.batch_size) + 1)

    def lower_rcpt_limit(self, address: str, limit: int) -> None:
        """Remember a smaller transaction size for this host address."""
        self._rcpt_limits[address] = max(1, min(limit, self.rcpt_limit(address)))
        self.counters["rcpt_limit_lowered"] += 1

    def record_host(self, host: str, address: str, extensions: dict[str, str], esmtp: bool, tls: bool) -> None:
        """Keep a host's EHLO extensions (before and after STARTTLS) for the summary."""
        info = self.hosts.setdefault(host_label(host, address), HostInfo(host, address))
        info.extensions = sorted(set(info.extensions) | set(extension_names(list(extensions))))
        info.esmtp = esmtp
        info.tls = info.tls or tls

    def sessions_at(self, host: str, address: str) -> None:
        """Count a session that got past the greeting."""
        info = self.hosts.setdefault(host_label(host, address), HostInfo(host, address))
        info.sessions += 1

    def connection_failed(self, address: str) -> None:
        """Count a refused/timed-out connection; give up on port 25 when it looks blocked."""
        self.counters["connect_failures"] += 1
        if self._blocked.failed_to_connect(address):
            hosts = len(self._blocked.failed)
            self._notes.append(
                f"Probing stopped early: the SMTP port ({self.options.port}) answered on none of "
                f"the first {hosts} mail hosts tried; outbound port 25 is probably blocked "
                "here, so the remaining addresses are marked unknown (probe_unreachable)."
            )

    @property
    def blocked(self) -> bool:
        """True once probing gave up because port 25 seems blocked."""
        return self._blocked.blocked

    def answered(self, address: str) -> None:
        """A host gave an SMTP reply."""
        self._blocked.connected(address)


class _Run:
    """The state of one ``probe()`` call: semaphores, results, the retry timers."""

    def __init__(self, prober: SmtpProber, targets: Sequence[ProbeTarget], progress: ProgressCallback) -> None:
        self.prober = prober
        self.options = prober.options
        self.targets = targets
        self.progress = progress
        self.results: dict[str, MailboxVerdict] = {}
        self.connect_only: set[str] = set()  # emails that failed with no host ever answering
        self.host_sems: dict[str, asyncio.Semaphore] = {}
        self.all_sem = asyncio.Semaphore(max(1, self.options.concurrency))
        self.tasks: set[asyncio.Task[None]] = set()

    async def go(self) -> dict[str, MailboxVerdict]:
        self.progress("probe", 0, len(self.targets))
        for batch in plan_batches(self.targets, self.options.batch_size):
            self.spawn(self.run_batch(batch))
        while self.tasks:
            done, _ = await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                self.tasks.discard(task)
                if task.exception() is not None:
                    for other in self.tasks:
                        other.cancel()
                    raise task.exception()  # type: ignore[misc]
        if self.prober.blocked:
            for email in self.connect_only:
                verdict = self.results[email].verdict
                self.results[email] = MailboxVerdict(email, unreachable_verdict(verdict.mx))
        return self.results

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)

    def finish(self, email: str, mailbox: MailboxVerdict) -> None:
        verdict = mailbox.verdict
        if not verdict.checked_at:
            mailbox = replace(mailbox, verdict=replace(verdict, checked_at=utc_now()))
        self.results[email] = mailbox
        self.progress("probe", len(self.results), len(self.targets))

    async def run_batch(self, batch: Batch) -> None:
        pending = list(batch.targets)
        failures: list[str] = []
        fallback: Verdict | None = None
        answered = False
        async for outcome in self.sessions_along(batch, pending):
            answered = answered or outcome.answered
            for email, mailbox in outcome.decided.items():
                self.finish(email, mailbox)
            retry = [t for t in pending if t.email in outcome.retry]
            if retry:
                self.schedule_retry(batch, retry, outcome.retry)
            settled = set(outcome.decided) | set(outcome.retry)
            pending[:] = [t for t in pending if t.email not in settled]  # seen by sessions_along
            if outcome.failure:
                failures.append(outcome.failure)
            if _outranks(outcome.failure_verdict, fallback):
                fallback = outcome.failure_verdict
        if not pending:
            return
        preferred = preferred_host(batch.route)
        if self.prober.blocked and not answered:
            verdict = unreachable_verdict(preferred)
        elif fallback is not None:
            verdict = fallback
            if len(failures) > 1:
                verdict = replace(verdict, detail=f"{verdict.detail} Tried: {'; '.join(failures)}.")
        elif failures:
            verdict = connection_failed_verdict(failures, preferred)
        else:
            verdict = connection_failed_verdict(["no MX host has an address"], preferred)
        for target in pending:
            if not answered:
                self.connect_only.add(target.email)
            self.finish(target.email, MailboxVerdict(target.email, verdict))

    async def sessions_along(
        self, batch: Batch, pending: list[ProbeTarget]
    ) -> AsyncIterator[_SessionOutcome]:
        """Sessions over the MX hosts in order; the caller shrinks ``pending`` in between."""
        for host, address in mx_attempts(batch.route):
            while pending and not self.prober.blocked:
                outcome = await self.session(host, address, pending, batch)
                yield outcome
                if not outcome.more:
                    break
            if not pending or self.prober.blocked:
                return

    def schedule_retry(self, batch: Batch, targets: list[ProbeTarget], verdicts: dict[str, Verdict]) -> None:
        """Queue temporary answers for another try later; give up after ``max_retries``."""
        if batch.attempt >= self.options.max_retries:
            for target in targets:
                verdict = with_retries(verdicts[target.email], batch.attempt, self.options.retry_after)
                self.finish(target.email, MailboxVerdict(target.email, verdict))
            return
        self.prober.counters["retries"] += len(targets)
        self.spawn(self.retry_later(Batch(batch.route, tuple(targets), batch.attempt + 1)))

    async def retry_later(self, batch: Batch) -> None:
        # Waiting here holds no semaphore: other hosts' sessions go on meanwhile.
        await asyncio.sleep(self.options.retry_after)
        await self.run_batch(batch)

    # --- one SMTP session ----------------------------------------------------------------

    async def session(self, host: str, address: str, targets: list[ProbeTarget], batch: Batch) -> _SessionOutcome:
        label = host_label(host, address)
        sem = self.host_sems.setdefault(address, asyncio.Semaphore(max(1, self.options.per_host)))
        async with sem, self.all_sem:
            outcome = _SessionOutcome()
            if self.prober.blocked:
                outcome.failure = f"{label}: not tried"
                return outcome
            self.prober.counters["sessions"] += 1
            smtp = aiosmtplib.SMTP(
                hostname=address,
                port=self.options.port,
                local_hostname=self.prober.helo,
                timeout=self.options.timeout,
                start_tls=False,
                validate_certs=False,
                tls_context=self.prober._tls,
            )
            try:
                try:
                    await smtp.connect()
                except aiosmtplib.SMTPConnectResponseError as exc:
                    self.prober.answered(address)
                    outcome.answered = True
                    reply = Reply.parse(exc.code, exc.message)
                    decision = decide(reply, Stage.CONNECT, host)
                    outcome.failure = f"{label}: {reply}"
                    outcome.failure_verdict = decision.verdict
                    return outcome
                except (aiosmtplib.SMTPException, OSError) as exc:
                    self.prober.connection_failed(address)
                    outcome.failure = f"{label}: {_describe(exc)}"
                    return outcome
                self.prober.answered(address)
                outcome.answered = True
                try:
                    await self.converse(smtp, host, address, targets, outcome)
                except _HostTrouble as trouble:
                    outcome.failure = f"{label}: {trouble.why}"
                    outcome.failure_verdict = trouble.verdict
                    if trouble.settle is not None and trouble.verdict is not None:
                        for target in targets:
                            if target.email in outcome.decided or target.email in outcome.retry:
                                continue
                            if trouble.settle is Action.RETRY:
                                outcome.retry[target.email] = trouble.verdict
                            else:
                                outcome.decided[target.email] = MailboxVerdict(target.email, trouble.verdict)
                except _EnoughForNow:
                    outcome.more = True
                    self.prober.counters["sessions_split"] += 1
                except (aiosmtplib.SMTPException, OSError) as exc:
                    outcome.failure = f"{label}: {_describe(exc)} during the session"
                    self.prober.counters["sessions_lost"] += 1
                if smtp.is_connected:
                    with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                        await smtp.quit()
                return outcome
            finally:
                smtp.close()

    async def greet(self, smtp: aiosmtplib.SMTP, host: str, address: str) -> bool:
        """EHLO (HELO when refused), then STARTTLS when the host offers it; True when on TLS."""
        await self.hello(smtp, host, address)
        if smtp.supports_extension("starttls"):
            return await self.start_tls(smtp, host, address)
        return False

    async def hello(self, smtp: aiosmtplib.SMTP, host: str, address: str, tls: bool = False) -> None:
        """EHLO, or HELO when EHLO is refused; records the host's extensions."""
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError as exc:
            first = Reply.parse(exc.code, exc.message)
            if first.code == 421 or not smtp.is_connected:
                raise _HostTrouble(f"EHLO: {first}", decide(first, Stage.HELO, host).verdict) from exc
            try:
                await smtp.helo()
            except aiosmtplib.SMTPHeloError as exc2:
                reply = Reply.parse(exc2.code, exc2.message)
                decision = decide(reply, Stage.HELO, host)
                if decision.action is Action.SENDER:
                    raise _HostTrouble(f"HELO: {reply}", decision.verdict, settle=Action.SENDER) from exc2
                raise _HostTrouble(f"HELO: {reply}", decision.verdict) from exc2
        self.prober.record_host(host, address, smtp.esmtp_extensions, smtp.supports_esmtp, tls)

    async def start_tls(self, smtp: aiosmtplib.SMTP, host: str, address: str) -> bool:
        """Upgrade to TLS (RFC 3207); a refusal keeps the plain session, a failed handshake ends it."""
        # A 530 may demand STARTTLS from a host that did not advertise it; RFC 3207 lets
        # the client try, and aiosmtplib only checks the advertisement.
        smtp.esmtp_extensions.setdefault("starttls", "")
        try:
            await smtp.starttls()
        except aiosmtplib.SMTPResponseException as exc:
            if smtp.is_connected:
                self.prober.counters["starttls_refused"] += 1
                return False
            raise _HostTrouble(f"STARTTLS: {Reply.parse(exc.code, exc.message)}") from exc
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise _HostTrouble(f"STARTTLS failed ({_describe(exc)})") from exc
        self.prober.counters["starttls"] += 1
        await self.hello(smtp, host, address, tls=True)
        return True

    async def mail_from(self, smtp: aiosmtplib.SMTP, host: str, utf8: bool) -> Reply:
        options = ["SMTPUTF8"] if utf8 else []
        try:
            response = await smtp.mail(self.options.mail_from, options=options)
        except aiosmtplib.SMTPResponseException as exc:
            return Reply.parse(exc.code, exc.message)
        return Reply.parse(response.code, response.message)

    async def rcpt_to(self, smtp: aiosmtplib.SMTP, address: str, utf8: bool) -> Reply:
        """One RCPT TO; returns the reply whatever its code.

        The address is already validated and normalised by the syntax layer, so it goes out
        as ``<address>`` through aiosmtplib's command path (which still refuses control
        characters) without re-parsing it as a header address for every recipient.
        """
        self.prober.counters["rcpts"] += 1
        try:
            argument = b"TO:<" + address.encode("utf-8" if utf8 else "ascii") + b">"
            response = await smtp.execute_command(b"RCPT", argument)
        except (ValueError, UnicodeError) as exc:
            # Characters an SMTP command line cannot carry: the address cannot be sent as is.
            raise _HostTrouble(f"RCPT TO not sent ({exc})") from exc
        return Reply.parse(response.code, response.message)

    async def converse(
        self, smtp: aiosmtplib.SMTP, host: str, address: str, targets: list[ProbeTarget], outcome: _SessionOutcome
    ) -> None:
        """The session after the greeting: per domain MAIL FROM, RCPTs, RSET; never DATA."""
        self.prober.sessions_at(host, address)
        tls = await self.greet(smtp, host, address)
        utf8_ok = smtp.supports_extension("smtputf8")
        first_transaction = True
        refusals = 0
        for domain, group in by_domain(targets):
            asked: list[ProbeTarget] = []
            for target in group:
                if target.smtputf8 and not utf8_ok:
                    outcome.decided[target.email] = MailboxVerdict(target.email, smtputf8_verdict(host))
                else:
                    asked.append(target)
            if not asked:
                continue
            utf8 = any(t.smtputf8 for t in asked)
            probe_address = f"{self.prober.probe_local(domain)}@{domain}"
            queue: list[ProbeTarget | None] = [None, *asked]  # None = the catch-all question
            probe_reply: Reply | None = None
            domain_decided: list[str] = []
            try:
                while queue:
                    if not first_transaction:
                        await self.reset(smtp, host)
                    first_transaction = False
                    tls = await self.open_transaction(smtp, host, address, utf8, tls)
                    limit = self.prober.rcpt_limit(address)
                    sent = 0
                    while queue and sent < limit:
                        if refusals >= REFUSALS_PER_SESSION and any(i is not None for i in queue):
                            raise _EnoughForNow
                        item = queue[0]
                        rcpt = probe_address if item is None else _rcpt_address(item)
                        reply = await self.rcpt_to(smtp, rcpt, utf8)
                        decision = decide(reply, Stage.RCPT, host)
                        refusals += reply.code >= 400
                        if decision.action is Action.SHRINK and sent > 0:
                            self.prober.lower_rcpt_limit(address, sent)
                            break
                        if decision.action is Action.NEXT_MX or decision.action is Action.STARTTLS:
                            raise _HostTrouble(f"RCPT TO: {reply}", decision.verdict)
                        queue.pop(0)
                        sent += 1
                        if item is None:
                            probe_reply = reply
                            continue
                        if decision.action in (Action.RETRY, Action.SHRINK):
                            outcome.retry[item.email] = decision.verdict or _shrink_verdict(reply, host)
                        else:
                            assert decision.verdict is not None
                            outcome.decided[item.email] = MailboxVerdict(item.email, decision.verdict)
                            domain_decided.append(item.email)
            finally:
                catch_all = is_catch_all(probe_reply)
                if catch_all:
                    self.prober.counters["catch_all_domains"] += 1
                for email in domain_decided:
                    outcome.decided[email] = apply_catch_all(outcome.decided[email], domain, probe_address, catch_all)

    async def open_transaction(self, smtp: aiosmtplib.SMTP, host: str, address: str, utf8: bool, tls: bool) -> bool:
        """MAIL FROM (after STARTTLS when a 530 demands it); a refusal ends the session.

        Returns whether the session is now on TLS.
        """
        for _ in range(2):
            reply = await self.mail_from(smtp, host, utf8)
            decision = decide(reply, Stage.MAIL, host)
            if decision.action is Action.OK:
                return tls
            if decision.action is Action.STARTTLS and not tls and await self.start_tls(smtp, host, address):
                tls = True
                continue
            if decision.action in (Action.RETRY, Action.SENDER):
                raise _HostTrouble(f"MAIL FROM: {reply}", decision.verdict, settle=decision.action)
            raise _HostTrouble(f"MAIL FROM: {reply}", decision.verdict)
        raise _HostTrouble("MAIL FROM refused after STARTTLS")

    async def reset(self, smtp: aiosmtplib.SMTP, host: str) -> None:
        try:
            await smtp.rset()
        except aiosmtplib.SMTPResponseException as exc:
            raise _HostTrouble(f"RSET: {Reply.parse(exc.code, exc.message)}") from exc


# --- small helpers ------------------------------------------------------------------------


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2] if "@" in address else ""


def _cache_key(email: str) -> str:
    return email.casefold()


def _rcpt_address(target: ProbeTarget) -> str:
    return f"{target.local}@{target.ascii_domain}"


def _opportunistic_tls() -> ssl.SSLContext:
    # Like MTAs between each other (RFC 7435): encrypt when offered, do not authenticate.
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _describe(exc: BaseException) -> str:
    """A few words for a failed connection or session, from the root cause."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, asyncio.TimeoutError | TimeoutError):
            return "timed out"
        if isinstance(seen, ConnectionResetError):
            return "connection reset"
        seen = seen.__cause__
    return (str(exc) or type(exc).__name__).rstrip(".")


def _outranks(new: Verdict | None, old: Verdict | None) -> bool:
    """A sender block says more than a busy host (421) when every MX failed."""
    if new is None:
        return False
    if old is None:
        return True
    rank = {"sender_blocked": 2, "host_unavailable": 1}
    return rank.get(new.reason, 0) > rank.get(old.reason, 0)


def _shrink_verdict(reply: Reply, host: str) -> Verdict:
    # 452 4.5.3 on the first RCPT of a transaction is no recipient limit: treat as temporary.
    return temporary_verdict(reply, host, Stage.RCPT)


def _run_coroutine(coro: Any) -> dict[str, MailboxVerdict]:
    """Run the engine to completion from synchronous code (in a thread if a loop runs here)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        result: dict[str, MailboxVerdict] = asyncio.run(coro)
        return result
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=target, name="presend-probe")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    out: dict[str, MailboxVerdict] = box["result"]
    return out


__all__ = ["SmtpProber", "make_prober"]
