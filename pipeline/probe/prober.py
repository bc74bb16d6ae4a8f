"""The mailbox level: ask each address's mail host with RCPT TO, politely, never DATA.

An asyncio loop that only schedules: it groups addresses into batches per mail host
(:mod:`pipeline.probe.plan`), bounds sessions overall and per host address, keeps the retry
queue, walks the MX hosts in preference order and fills the cache. Each SMTP session is one
blocking conversation (:mod:`pipeline.probe.session`, over the standard library's smtplib) in a
worker thread; what replies mean is decided in :mod:`pipeline.probe.reply`.

One session per batch of addresses that share their MX hosts. A refused connection, a
timeout or a 421 moves on to the next MX host. A session the host cuts short (a 421, a drop
mid-session, or our own ``--session-cap`` running out) settles nothing it had not answered:
once every MX host was tried, those addresses are asked again in a fresh pass after a backoff
that doubles (or the wait the host named), up to ``--backoff-tries`` passes, and only then
take the host's own words as an ``unknown`` verdict. What the cuts teach (see
:mod:`pipeline.probe.limits`) plans the later sessions at that host (:mod:`pipeline.probe.pace`)
and is kept in the verdict cache (kind ``host_limits``) for later runs. Temporary answers
(450/451 greylisting) wait in a retry queue (a timer that holds no session) and are asked
again after the waits of ``retry_after`` (a schedule), ``retries`` times; an address still
deferred then is left pending in the verdict cache for a later run
(:mod:`pipeline.probe.pending`). When the first few hosts all fail to connect and none ever
answered, outbound port 25 is taken to be blocked and probing stops. With ``--proxy`` every
session goes through a SOCKS5 proxy (:mod:`pipeline.probe.connect`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from pipeline.aiorun import run_sync
from pipeline.cache import VerdictCache, mailbox_from_dict, mailbox_to_dict
from pipeline.models import MailboxVerdict, Verdict
from pipeline.options import CacheOptions, ProbeOptions
from pipeline.ports import MailboxProber, ProbeTarget, ProgressCallback, no_progress
from pipeline.probe.connect import parse_proxy
from pipeline.probe.limits import HostLimits
from pipeline.probe.pace import HostPace, PaceGate, Ticket
from pipeline.probe.pending import (
    PENDING_KIND,
    PENDING_STATS,
    Pending,
    answered_later,
    due_first,
    iso_utc,
    recorded,
    waiting,
)
from pipeline.probe.plan import (
    BLOCKED_AFTER,
    REFUSALS_PER_SESSION,
    Batch,
    BlockedDetector,
    extension_names,
    host_label,
    mx_attempts,
    plan_batches,
    preferred_host,
    random_local_part,
)
from pipeline.probe.reply import (
    answered_on_retry,
    cache_lifetime,
    connection_failed_verdict,
    unreachable_verdict,
    with_retries,
)
from pipeline.probe.session import SessionPlan, SessionResult, run_session
from pipeline.rules.probe_trust import accepts_every_rcpt, gentle_per_host

CACHE_KIND = "mailbox"

#: The cache kind of what mail hosts allow (learnt limits), per host address and port.
LIMITS_KIND = "host_limits"

#: Learnt limits stay in the cache this long (hosts change their settings now and then).
LIMITS_LIFETIME = 30 * 86_400.0

#: Reply codes that mark a greylisting (or greylisting-like) deferral of a recipient.
GREYLIST_CODES = frozenset({"450", "451"})

#: The counters of :meth:`SmtpProber.stats` (host counts and cache writes come on top).
STAT_KEYS = (
    "sessions",
    "sessions_split",
    "sessions_lost",
    "connect_failures",
    "rcpts",
    "pipelined_groups",
    "rcpt_limit_lowered",
    "retries",
    "catch_all_domains",
    "sessions_cut",
    "sessions_capped",
    "backoffs",
    "starttls",
    "starttls_refused",
    "cache_hits",
)


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


def _limits_report(pace: HostPace) -> dict[str, Any]:
    """The ``limits`` entry of a host in summary.json: what it allows, and how often it cut us."""
    return {**pace.limits.as_dict(), "cuts": pace.cuts}


class SpreadProbing(Protocol):
    """Asks mail hosts elsewhere than in this process (an engine spreading the sessions over
    a cluster: see :mod:`pipeline.engine.cluster`), each group of hosts by one prober made with
    the same options, whose findings come back through :meth:`SmtpProber.findings` and are
    added with :meth:`SmtpProber.absorb`."""

    def __call__(
        self, prober: SmtpProber, targets: Sequence[ProbeTarget], progress: ProgressCallback
    ) -> dict[str, MailboxVerdict]:
        """A verdict per target, keyed by ``target.email``."""
        ...


@dataclass(slots=True)
class ProbeFindings:
    """What one prober learnt besides its verdicts: counters, hosts, greylisting, notes."""

    counters: Counter[str]
    hosts: dict[str, HostInfo]
    greylisting: set[str]
    notes: list[str]
    blocked: bool
    deferred: dict[str, Pending] = field(default_factory=dict)  # addresses left pending (see pending.py)
    limits: dict[str, HostLimits] = field(default_factory=dict)  # per host address
    cuts: dict[str, int] = field(default_factory=dict)  # sessions cut short, per host address


class SmtpProber:
    """The :class:`~pipeline.ports.MailboxProber` of presend (SMTP sessions over smtplib)."""

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
        self.greylisting: set[str] = set()
        self._probe_locals: dict[str, str] = {}
        #: per host address: learnt limits, backoff, sessions open (see pipeline.probe.pace)
        self.paces: dict[str, HostPace] = {}
        #: domains whose catch-all question was settled in this run
        self.catch_all: dict[str, bool] = {}
        self._blocked = BlockedDetector(blocked_after)
        self.tls_context = tls_context or _opportunistic_tls()
        #: the SOCKS5 proxy every session goes through (--proxy), or None
        self.proxy = parse_proxy(options.proxy)
        self.clock = time.time
        self._history: dict[str, Pending] = {}  # due pending addresses asked in this run
        self._deferred: dict[str, Pending] = {}  # addresses this run leaves pending (not written yet)
        self._pending_next: list[float] = []  # when the addresses left pending may be asked again
        #: Where the addresses the cache did not know are asked (None: here).
        self.spread: SpreadProbing | None = None

    # --- the MailboxProber protocol ----------------------------------------------------

    def probe(
        self, targets: Sequence[ProbeTarget], progress: ProgressCallback = no_progress
    ) -> dict[str, MailboxVerdict]:
        """Return a verdict per target (keyed by ``target.email``), from cache or RCPT TO."""
        results: dict[str, MailboxVerdict] = {}
        todo: list[ProbeTarget] = []
        cached: dict[str, dict[str, Any]] = {}
        keys = {target.email: self._cache_key(target) for target in targets}
        if self.cache is not None:
            cached = self.cache.get_many(CACHE_KIND, keys.values())
        for target in targets:
            hit = cached.get(keys[target.email])
            if hit is not None:
                results[target.email] = replace(mailbox_from_dict(hit), email=target.email)
                self.counters["cache_hits"] += 1
            else:
                todo.append(target)
        if todo and self.cache is not None:
            todo = self._sort_out_pending(todo, keys, results)
        if todo:
            self._recall_limits(todo)
            if self.spread is not None:
                fresh = self.spread(self, todo, progress)
            else:
                fresh = run_sync(_Run(self, todo, progress).go, name="presend-probe")
            if self.cache is not None:
                fresh = self._settle_pending(fresh, keys)
            results.update(fresh)
            if self.cache is not None:
                self.cache.put_many(
                    CACHE_KIND,
                    ((keys[email], mailbox_to_dict(m), cache_lifetime(m)) for email, m in fresh.items()),
                )
                self._keep_limits()
        return results

    def _sort_out_pending(
        self, todo: list[ProbeTarget], keys: dict[str, str], results: dict[str, MailboxVerdict]
    ) -> list[ProbeTarget]:
        """Addresses pending from an earlier run: those still waiting get their row from the
        record (unasked); the due ones are asked first, with their history."""
        assert self.cache is not None
        found = self.cache.get_many(PENDING_KIND, (keys[t.email] for t in todo))
        now = self.clock()
        asked: list[ProbeTarget] = []
        for target in todo:
            data = found.get(keys[target.email])
            if data is None:
                asked.append(target)
                continue
            pending = replace(Pending.from_dict(data), email=target.email)
            if not pending.due(now):
                results[target.email] = waiting(pending)
                self.counters["pending_waiting"] += 1
                self._pending_next.append(pending.next_at)
                continue
            self.adopt({target.email: pending}, [target])
            self.counters["pending_asked"] += 1
            asked.append(target)
        return due_first(asked, self._history)

    def adopt(self, history: dict[str, Pending], targets: Sequence[ProbeTarget]) -> None:
        """Ask these due pending ``targets`` as their ``history`` says: the schedule goes on from
        their number of asks, with the made-up address a greylisting host saw beside them."""
        for target in targets:
            pending = history.get(target.email)
            if pending is None:
                continue
            self._history[target.email] = pending
            if pending.probe_local:
                self._probe_locals.setdefault(target.ascii_domain, pending.probe_local)

    def history_of(self, targets: Sequence[ProbeTarget]) -> dict[str, Pending]:
        """The pending history of those ``targets`` that have one (for a prober elsewhere)."""
        return {t.email: self._history[t.email] for t in targets if t.email in self._history}

    def _settle_pending(self, fresh: dict[str, MailboxVerdict], keys: dict[str, str]) -> dict[str, MailboxVerdict]:
        """Record the addresses this run leaves pending; drop the records a real answer settled."""
        assert self.cache is not None
        now = self.clock()
        settled: dict[str, MailboxVerdict] = {}
        records: list[tuple[str, dict[str, Any], float]] = []
        resolved: list[str] = []
        for email, mailbox in fresh.items():
            pending = self._deferred.pop(email, None)
            before = self._history.pop(email, None)
            if pending is not None:
                records.append((keys[email], pending.to_dict(), pending.lifetime(now)))
                self._pending_next.append(pending.next_at)
                mailbox = recorded(mailbox, pending)
            elif before is not None and cache_lifetime(mailbox) > 0:
                resolved.append(keys[email])
                mailbox = answered_later(mailbox, before)
            settled[email] = mailbox
        self.cache.put_many(PENDING_KIND, records)
        self.cache.delete(PENDING_KIND, resolved)
        self.counters["pending_recorded"] += len(records)
        self.counters["pending_resolved"] += len(resolved)
        return settled

    def defer(self, target: ProbeTarget, verdict: Verdict, asks_here: int) -> None:
        """``target`` is still deferred after ``asks_here`` asks in this run: pending from now."""
        asked = self.asked_before(target.email) + asks_here
        stamped = verdict if verdict.checked_at else replace(verdict, checked_at=utc_now())
        self._deferred[target.email] = Pending(
            target.email, stamped, asked, self.clock() + self.options.wait_before(asked),
            self.probe_local(target.ascii_domain),
        )

    def asked_before(self, email: str) -> int:
        """How many times earlier runs asked ``email`` (it was pending)."""
        pending = self._history.get(email)
        return pending.asked if pending is not None else 0

    def waits(self, email: str, retries: int) -> tuple[float, ...]:
        """The waits before this run's first ``retries`` retries of ``email``."""
        before = self.asked_before(email)
        return tuple(self.options.wait_before(before + n) for n in range(1, retries + 1))
    def _limits_key(self, address: str) -> str:
        return f"{address}|{self.options.port}"

    def _recall_limits(self, targets: Sequence[ProbeTarget]) -> None:
        """Limits earlier runs learnt for the hosts of ``targets`` (those not met in this run yet)."""
        if self.cache is None:
            return
        addresses = {a for t in targets for mx in t.mx_hosts for a in mx.addresses if a not in self.paces}
        found = self.cache.get_many(LIMITS_KIND, (self._limits_key(a) for a in addresses))
        for address in addresses:
            data = found.get(self._limits_key(address))
            if data is not None:
                self.paces[address] = HostPace(HostLimits.from_dict(data))

    def _keep_limits(self) -> None:
        """Store every host's learnt limits for later runs."""
        assert self.cache is not None
        self.cache.put_many(
            LIMITS_KIND,
            ((self._limits_key(a), pace.limits.as_dict(), LIMITS_LIFETIME) for a, pace in self.paces.items()
             if pace.limits),
        )

    def limits(self, address: str) -> HostLimits:
        """What the host at ``address`` is known to allow (learnt in this run or an earlier one)."""
        pace = self.paces.get(address)
        return pace.limits if pace is not None else HostLimits()

    def seed_limits(self, limits: dict[str, HostLimits]) -> None:
        """Start from limits learnt elsewhere (a prober on a cluster worker gets the coordinator's)."""
        for address, known in limits.items():
            pace = self.paces.setdefault(address, HostPace())
            pace.limits = pace.limits.merged(known)

    def _cache_key(self, target: ProbeTarget) -> str:
        """The cache key of one question: the address (lower-cased, like the duplicate key, so
        straße and strasse stay apart) plus the route asked (port and mail hosts), so verdicts
        learnt in a lab or an intranet never answer for a run that reaches other hosts."""
        hosts = ",".join(mx.host.lower() for mx in target.mx_hosts)
        unchecked = "" if self.options.catch_all_check else "|no-catch-all-check"
        return f"{target.email.lower()}|{self.options.port}|{hosts}{unchecked}"

    def stats(self) -> dict[str, int]:
        """Counters for summary.json: sessions, RCPTs, retries, cache hits, hosts seen ...

        Every counter of :data:`STAT_KEYS` is there, 0 when nothing happened, so a script can
        read ``summary["probe"]["sessions"]`` whatever the run did.
        """
        counts = dict.fromkeys(STAT_KEYS + PENDING_STATS, 0)
        counts.update(self.counters)
        counts["hosts"] = len(self.hosts)
        for ext in ("STARTTLS", "SMTPUTF8", "8BITMIME", "SIZE", "PIPELINING"):
            counts[f"hosts_{ext.lower()}"] = sum(1 for h in self.hosts.values() if ext in h.extensions)
        counts["hosts_tls"] = sum(1 for h in self.hosts.values() if h.tls)
        counts["port25_blocked"] = int(self._blocked.blocked)
        counts["cache_writes"] = self.cache.writes[CACHE_KIND] if self.cache is not None else 0
        return counts

    def notes(self) -> list[str]:
        """Run-level observations (e.g. outbound port 25 looks blocked, addresses pending)."""
        return list(self._notes) + self._pending_notes()

    def _pending_notes(self) -> list[str]:
        if not self._pending_next:
            return []
        count = len(self._pending_next)
        first, last = iso_utc(min(self._pending_next)), iso_utc(max(self._pending_next))
        span = f"from {first} (UTC)" if first == last else f"from {first} to {last} (UTC)"
        return [
            f"Pending addresses: {count} deferred by their mail host (greylisting or another temporary "
            f"answer) and kept in the verdict cache; a run asks them again {span}."
        ]

    def greylisting_domains(self) -> list[str]:
        """Domains whose hosts answered 450/451 at least once in this run (sorted)."""
        return sorted(self.greylisting)

    def host_report(self) -> dict[str, dict[str, Any]]:
        """Per mail host address: its EHLO extensions, whether TLS was used, sessions, and
        ``limits``: what it was found to allow (learnt here or in earlier runs) and its cuts."""
        report: dict[str, dict[str, Any]] = {}
        for label, info in sorted(self.hosts.items()):
            report[label] = info.as_dict()
            pace = self.paces.get(info.address)
            if pace is not None and (pace.limits or pace.cuts):
                report[label]["limits"] = _limits_report(pace)
        return report

    def findings(self) -> ProbeFindings:
        """What this prober learnt besides its verdicts (for a prober that spreads its work)."""
        return ProbeFindings(Counter(self.counters), dict(self.hosts), set(self.greylisting), self.notes(),
                             self._blocked.blocked, dict(self._deferred),
                             {a: pace.limits for a, pace in self.paces.items() if pace.limits},
                             {a: pace.cuts for a, pace in self.paces.items() if pace.cuts})

    def absorb(self, found: ProbeFindings) -> None:
        """Add what another prober with the same options learnt (see :class:`SpreadProbing`)."""
        self.counters.update(found.counters)
        for label, info in found.hosts.items():
            mine = self.hosts.get(label)
            if mine is None:
                self.hosts[label] = replace(info)
                continue
            mine.extensions = sorted(set(mine.extensions) | set(info.extensions))
            mine.esmtp = mine.esmtp or info.esmtp
            mine.tls = mine.tls or info.tls
            mine.sessions += info.sessions
        self.greylisting |= found.greylisting
        self.seed_limits(found.limits)
        for address, cuts in found.cuts.items():
            self.paces.setdefault(address, HostPace()).cuts += cuts
        self._notes.extend(note for note in found.notes if note not in self._notes)
        self._blocked.blocked = self._blocked.blocked or found.blocked
        self._deferred.update(found.deferred)

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
        learnt = self.limits(address).rcpts_per_transaction
        return learnt if learnt is not None else max(1, self.options.batch_size) + 1

    def lower_rcpt_limit(self, address: str, limit: int) -> None:
        """Remember a smaller transaction size for this host address."""
        pace = self.paces.setdefault(address, HostPace())
        pace.limits = pace.limits.merged(HostLimits(rcpts_per_transaction=max(1, limit)))
        self.counters["rcpt_limit_lowered"] += 1

    def refusal_budget(self, address: str) -> int:
        """Refused RCPTs a session at this host may collect: one fewer than the host takes."""
        learnt = self.limits(address).errors_per_session
        return REFUSALS_PER_SESSION if learnt is None else max(1, min(REFUSALS_PER_SESSION, learnt - 1))

    def record_host(self, host: str, address: str, extensions: set[str], esmtp: bool, tls: bool) -> None:
        """Keep a host's EHLO extensions (before and after STARTTLS) and count the session."""
        info = self.hosts.setdefault(host_label(host, address), HostInfo(host, address))
        info.extensions = sorted(set(info.extensions) | set(extension_names(list(extensions))))
        info.esmtp = esmtp
        info.tls = info.tls or tls
        info.sessions += 1

    def connection_failed(self, address: str) -> None:
        """Count a refused/timed-out connection (towards the port-25-blocked question)."""
        self.counters["connect_failures"] += 1
        self._blocked.failed_to_connect(address)

    @property
    def block_suspected(self) -> bool:
        """Several hosts failed to connect and none answered: wait before starting more."""
        return self._blocked.suspect

    def settle_block(self, in_flight: int) -> None:
        """Give up on port 25 when the suspicion holds after every attempt under way ended."""
        if self._blocked.settle(in_flight):
            hosts = len(self._blocked.failed)
            self._notes.append(
                f"Probing stopped early: the SMTP port ({self.options.port}) answered on none of "
                f"the first {hosts} mail hosts tried; outbound port 25 is probably blocked "
                f"{'beyond the proxy ' + self.proxy.shown if self.proxy else 'here'}, so the remaining "
                "addresses are marked unknown (probe_unreachable)."
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
        self.gate = PaceGate(prober.paces, self.options.per_host, self.options.backoff)
        self.all_sem = asyncio.Semaphore(max(1, self.options.concurrency))
        self.tasks: set[asyncio.Task[None]] = set()
        self.in_flight = 0  # sessions handed to worker threads and not back yet
        self.attempts_ended = asyncio.Condition()
        # one worker thread per session slot: a session blocks its thread, never the loop
        self.pool = ThreadPoolExecutor(max_workers=max(1, self.options.concurrency), thread_name_prefix="smtp")

    async def go(self) -> dict[str, MailboxVerdict]:
        try:
            return await self._go()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)

    async def _go(self) -> dict[str, MailboxVerdict]:
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
        self.prober.settle_block(self.in_flight)
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
        tally = _BatchTally()
        passes = 0
        while True:
            cut = False
            async for outcome in self.sessions_along(batch, pending):
                self.settle(batch, pending, outcome, tally)
                cut = cut or outcome.cut is not None
            if not pending or not cut or self.prober.blocked or passes >= self.options.backoff_tries:
                break
            # Cut short on every MX host: the rest waits for a fresh pass (the gate holds
            # each host back for its backoff).
            passes += 1
            self.prober.counters["backoffs"] += 1
        if pending:
            self.give_up(batch, pending, tally, passes)

    def settle(self, batch: Batch, pending: list[ProbeTarget], outcome: SessionResult, tally: _BatchTally) -> None:
        """Take what one session settled; ``pending`` keeps the rest (seen by sessions_along)."""
        tally.answered = tally.answered or outcome.answered
        for email, mailbox in outcome.decided.items():
            if batch.attempt:
                waits = self.prober.waits(email, batch.attempt)
                verdict = answered_on_retry(mailbox.verdict, batch.attempt, waits)
                mailbox = replace(mailbox, verdict=verdict)
            self.finish(email, mailbox)
        retry = [t for t in pending if t.email in outcome.retry]
        if retry:
            self.schedule_retry(batch, retry, outcome.retry)
        settled = set(outcome.decided) | set(outcome.retry)
        pending[:] = [t for t in pending if t.email not in settled]
        if outcome.failure and outcome.failure not in tally.failures:
            tally.failures.append(outcome.failure)
        if _outranks(outcome.failure_verdict, tally.fallback):
            tally.fallback = outcome.failure_verdict

    def give_up(self, batch: Batch, pending: list[ProbeTarget], tally: _BatchTally, passes: int) -> None:
        """No MX host answered these addresses (after ``passes`` fresh passes): say why, in the
        hosts' own words."""
        preferred = preferred_host(batch.route)
        failures, fallback = tally.failures, tally.fallback
        if self.prober.blocked and not tally.answered:
            verdict = unreachable_verdict(preferred)
        elif fallback is not None:
            verdict = fallback
            if len(failures) > 1:
                verdict = replace(verdict, detail=f"{verdict.detail} Tried: {'; '.join(failures)}.")
        elif failures:
            verdict = connection_failed_verdict(failures, preferred)
        else:
            verdict = connection_failed_verdict(["no MX host has an address"], preferred)
        if passes:
            again = "once more" if passes == 1 else f"{passes} more times"
            verdict = replace(
                verdict, detail=f"{verdict.detail} Asked {again} in fresh sessions after backing off, "
                "with no answer for this address."
            )
        for target in pending:
            if not tally.answered:
                self.connect_only.add(target.email)
            self.finish(target.email, MailboxVerdict(target.email, verdict))

    async def sessions_along(
        self, batch: Batch, pending: list[ProbeTarget]
    ) -> AsyncIterator[SessionResult]:
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
        self.prober.greylisting.update(
            t.ascii_domain for t in targets if verdicts[t.email].code in GREYLIST_CODES
        )
        prober = self.prober
        if batch.attempt >= self.options.retries:
            for target in targets:
                waits = prober.waits(target.email, batch.attempt)
                verdict = with_retries(verdicts[target.email], batch.attempt, waits)
                prober.defer(target, verdicts[target.email], batch.attempt + 1)  # pending across runs
                self.finish(target.email, MailboxVerdict(target.email, verdict))
            return
        prober.counters["retries"] += len(targets)
        by_wait: dict[float, list[ProbeTarget]] = {}
        for target in targets:  # the schedule goes on where each address's history left it
            wait = self.options.wait_before(prober.asked_before(target.email) + batch.attempt + 1)
            by_wait.setdefault(wait, []).append(target)
        for wait, group in by_wait.items():
            self.spawn(self.retry_later(Batch(batch.route, tuple(group), batch.attempt + 1), wait))

    async def retry_later(self, batch: Batch, wait: float) -> None:
        # Waiting here holds no semaphore: other hosts' sessions go on meanwhile.
        await asyncio.sleep(wait)
        await self.run_batch(batch)

    # --- one SMTP session ------------------------------------------------------------------

    async def session(self, host: str, address: str, targets: list[ProbeTarget], batch: Batch) -> SessionResult:
        """One session at ``address`` for ``targets``, within the host's pace and the overall bound."""
        async with self.gate.turn(address, gentle_per_host(host, self.options.per_host)) as ticket:
            result = await self.held_session(host, address, targets)
            await self.learn(address, ticket, result)
        return result

    async def learn(self, address: str, ticket: Ticket, result: SessionResult) -> None:
        """What a session's end says about its host: a cut backs off and tightens its limits."""
        if result.cut is not None:
            self.prober.counters["sessions_cut"] += 1
            await self.gate.cut(address, ticket, result.cut)
        elif result.answered:
            self.gate.pace(address).smooth()

    async def held_session(self, host: str, address: str, targets: list[ProbeTarget]) -> SessionResult:
        """The session itself, once the host's turn came."""
        prober = self.prober
        async with self.all_sem:
            if prober.block_suspected:
                # Several hosts failed and none answered: let the attempts under way finish
                # before deciding that outbound port 25 is blocked.
                async with self.attempts_ended:
                    await self.attempts_ended.wait_for(lambda: not prober.block_suspected or self.in_flight == 0)
                prober.settle_block(self.in_flight)
            if prober.blocked:
                return SessionResult(failure=f"{host_label(host, address)}: not tried")
            prober.counters["sessions"] += 1
            plan = SessionPlan(
                host=host,
                address=address,
                port=self.options.port,
                helo=prober.helo,
                mail_from=self.options.mail_from,
                timeout=self.options.timeout,
                targets=tuple(targets),
                probe_locals={t.ascii_domain: prober.probe_local(t.ascii_domain) for t in targets},
                rcpt_limit=prober.rcpt_limit(address),
                tls=prober.tls_context,
                catch_all_check=self.options.catch_all_check and not accepts_every_rcpt(host),
                proxy=prober.proxy,
                refusal_budget=prober.refusal_budget(address),
                rcpt_budget=prober.limits(address).rcpts_per_session,
                cap=self.options.session_cap or None,
                catch_all_known={t.ascii_domain: prober.catch_all[t.ascii_domain] for t in targets
                                 if t.ascii_domain in prober.catch_all},
            )
            self.in_flight += 1
            try:
                result = await asyncio.get_running_loop().run_in_executor(self.pool, run_session, plan)
            finally:
                self.in_flight -= 1
        # back on the event loop: shared state is only touched here
        prober.counters.update(result.counters)
        if result.connect_failed:
            prober.connection_failed(address)
        elif result.answered:
            prober.answered(address)
        if result.greeted:
            prober.record_host(host, address, result.extensions, result.esmtp, result.tls)
        if result.greeted:
            size, extensions = result.size_limit, tuple(sorted(result.extensions))
            result.decided = {
                e: replace(m, size_limit=size, extensions=extensions) for e, m in result.decided.items()
            }
        if result.rcpt_limit is not None:
            prober.lower_rcpt_limit(address, result.rcpt_limit)
        prober.catch_all.update(result.catch_all)
        async with self.attempts_ended:
            self.attempts_ended.notify_all()
        return result


# --- small helpers ------------------------------------------------------------------------


@dataclass
class _BatchTally:
    """What a batch's sessions said that did not settle an address (for the last verdict)."""

    failures: list[str] = field(default_factory=list)
    fallback: Verdict | None = None
    answered: bool = False


def _domain_of(address: str) -> str:
    return address.rpartition("@")[2] if "@" in address else ""




def _opportunistic_tls() -> ssl.SSLContext:
    # Like MTAs between each other (RFC 7435): encrypt when offered, do not authenticate.
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _outranks(new: Verdict | None, old: Verdict | None) -> bool:
    """A sender block says more than a busy host (421) when every MX failed."""
    if new is None:
        return False
    if old is None:
        return True
    rank = {"sender_blocked": 2, "host_unavailable": 1}
    return rank.get(new.reason, 0) > rank.get(old.reason, 0)


__all__ = ["SmtpProber", "make_prober"]
