"""The DNS level: resolve each domain's mail hosts the way a sending MTA would.

:class:`DnsResolver` is a thin asynchronous loop around the pure rules of
:mod:`pipeline.dns.decide`. For each distinct domain it asks ``MX``, then ``A`` and ``AAAA``
for every mail host (or for the domain itself when it has no MX), with at most
``concurrency`` queries in flight and ``timeout`` seconds per query; a SERVFAIL or a timeout
gets one more try (on the next name server when several are configured). A mail host's
addresses are looked up once per run however many domains share it.

Verdicts go to the persistent cache (kind ``"domain"``) for as long as the DNS answers
they rest on live (record TTLs; negative answers by the SOA minimum, RFC 2308). Failed
lookups are never cached. A domain's failure is data; only a resolver that answers nothing
at all stops the run (:class:`~pipeline.errors.ResolverUnreachable`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import sqlite3
import time
from collections import Counter, OrderedDict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import idna

from pipeline.aiorun import run_sync
from pipeline.cache import VerdictCache, domain_from_dict, domain_to_dict
from pipeline.dns.decide import (
    AddressLookup,
    Decision,
    MxLookup,
    Outcome,
    apply_private_policy,
    decide,
    hosts_to_look_up,
    merge_addresses,
)
from pipeline.dns.sockets import SocketPool
from pipeline.errors import ResolverUnreachable, UsageError
from pipeline.models import DomainVerdict, Status, Verdict
from pipeline.options import CacheOptions, DnsOptions
from pipeline.ports import DomainResolver, ProgressCallback, no_progress

CACHE_KIND = "domain"
_EDNS_PAYLOAD = 1232  # the DNS flag day 2020 size: avoids fragmentation and most truncation
_TARGET_MEMO = 100_000  # mail hosts whose addresses are kept for the rest of the run
_MAX_TTL = 2**31 - 1
_MALFORMED = "the answer did not hold together (a CNAME loop or no question)"



@dataclass(frozen=True, slots=True)
class Nameserver:
    """One resolver to send queries to."""

    host: str
    port: int = 53

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_nameserver(text: str) -> Nameserver:
    """``"IP"``, ``"IP:PORT"`` or ``"[IPv6]:PORT"`` → :class:`Nameserver`; UsageError otherwise."""
    raw = text.strip()
    host, port = raw, "53"
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "53"
    elif raw.count(":") == 1:
        host, port = raw.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise UsageError(f"--nameserver {text}: expected IP or IP:PORT (an address, not a name)") from None
    if not 0 < number < 65536:
        raise UsageError(f"--nameserver {text}: port must be between 1 and 65535")
    return Nameserver(host, number)


def system_nameservers() -> list[Nameserver]:
    """The system's resolvers (``/etc/resolv.conf`` or the platform's equivalent)."""
    try:
        configured = dns.resolver.Resolver(configure=True)
    except dns.resolver.NoResolverConfiguration as exc:
        raise ResolverUnreachable(
            "no system DNS resolver is configured; pass --nameserver IP, or --no-dns"
        ) from exc
    servers = [Nameserver(str(ns), 53) for ns in configured.nameservers]
    if not servers:
        raise ResolverUnreachable("no system DNS resolver is configured; pass --nameserver IP, or --no-dns")
    return servers


_now_cache: tuple[int, str] = (0, "")


def _now_text() -> str:
    """:func:`utc_now`, formatted at most once per second (it is asked once per domain)."""
    global _now_cache
    second = int(time.time())
    if _now_cache[0] != second:
        _now_cache = (second, utc_now())
    return _now_cache[1]


def utc_now() -> str:
    """The current time as ISO-8601 UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def ascii_domain(domain: str) -> str | None:
    """The lower-case IDNA (A-label) form used for DNS, or None when it has none."""
    name = domain.strip().rstrip(".").lower()
    if not name:
        return None
    if not name.isascii():
        try:
            name = idna.encode(name, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            return None
    labels = name.split(".")
    if len(name) > 253 or not all(0 < len(label) < 64 for label in labels):
        return None
    return name


def _invalid_domain(domain: str, checked_at: str) -> DomainVerdict:
    verdict = Verdict(
        Status.UNDELIVERABLE,
        "501",
        "5.1.3",
        "invalid_domain",
        f"The domain {domain} cannot be written as a DNS name, so it cannot receive mail.",
        checked_at=checked_at,
    )
    return DomainVerdict(domain, verdict, checked_at=checked_at)


@dataclass(slots=True)
class _Reply:
    """One question's raw result, before it is read as MX or addresses."""

    outcome: Outcome
    response: dns.message.Message | None = None
    failure: str = ""


class FreshResolution(Protocol):
    """Resolves the domains the cache did not know, elsewhere than in this process (an
    engine spreading the questions over a cluster: see :mod:`pipeline.engine.cluster`).

    It asks the same questions :meth:`DnsResolver.resolve_fresh_here` would, through
    :meth:`DnsResolver.look_up_mx` and :meth:`DnsResolver.look_up_hosts` of resolvers made
    with the same options, and adds their counters with :meth:`DnsResolver.count`.
    """

    def __call__(self, resolver: DnsResolver, names: list[str], progress: ProgressCallback) -> dict[str, Decision]:
        """A decision for each of ``names``."""
        ...


class DnsResolver:
    """Resolves domains into :class:`DomainVerdict` records (see the module docstring).

    ``nameservers`` overrides ``options.nameservers`` (already parsed); with neither, the
    system's resolvers are used. ``cache`` is the persistent verdict cache, or None.
    """

    # Bound to one event loop: made afresh by each resolve() call.
    _gate: asyncio.Semaphore
    _inflight: dict[str, asyncio.Future[AddressLookup]]
    _sockets: SocketPool

    def __init__(
        self,
        options: DnsOptions,
        cache: VerdictCache | None = None,
        *,
        nameservers: list[Nameserver] | None = None,
    ) -> None:
        self.options = options
        self.cache = cache
        if nameservers is not None:
            self.nameservers = list(nameservers)
        elif options.nameservers:
            self.nameservers = [parse_nameserver(text) for text in options.nameservers]
        else:
            self.nameservers = system_nameservers()
        if not self.nameservers:
            raise UsageError("no name server to ask")
        # Answers differ between resolvers (a lab's are not the internet's), so verdicts
        # learnt through explicitly chosen resolvers are kept apart in the cache.
        explicit = nameservers is not None or bool(options.nameservers)
        self._cache_suffix = "@" + ",".join(sorted(str(ns) for ns in self.nameservers)) if explicit else ""
        self._targets: OrderedDict[str, tuple[AddressLookup, float]] = OrderedDict()
        self._reachable_checked = False
        self._primary = 0  # index of the name server tried first
        self._counters: Counter[str] = Counter()
        self._providers: Counter[str] = Counter()
        self._done = 0
        self._total = 0
        self._reported_at = 0.0
        #: Where the domains the cache did not know are resolved (None: here).
        self.fresh_resolution: FreshResolution | None = None

    # --- the DomainResolver protocol -----------------------------------------------------

    def resolve(
        self, domains: Collection[str], progress: ProgressCallback = no_progress
    ) -> dict[str, DomainVerdict]:
        """Return a verdict for every domain given, keyed by the form given."""
        return run_sync(lambda: self.resolve_async(domains, progress), name="presend-dns")

    def stats(self) -> dict[str, Any]:
        """Counters for summary.json: domains, queries, failures, cache use, providers."""
        counters = self._counters
        data: dict[str, Any] = {
            "domains": counters["domains"],
            "domains_resolved": counters["resolved"],
            "mail_hosts_resolved": counters["targets"],
            "queries": counters["queries"],
            "answers": counters["answers"],
            "retries": counters["retries"],
            "timeouts": counters["timeouts"],
            "servfails": counters["servfails"],
            "tcp_fallbacks": counters["tcp_fallbacks"],
            "cache_errors": counters["cache_errors"],
        }
        if self.cache is not None:
            data.update(self.cache.stats(CACHE_KIND))
        else:
            data.update({"cache_hits": 0, "cache_misses": 0, "cache_writes": 0})
        data["providers"] = dict(self._providers.most_common())
        return data

    # --- the loop ------------------------------------------------------------------------

    async def resolve_async(
        self, domains: Collection[str], progress: ProgressCallback = no_progress
    ) -> dict[str, DomainVerdict]:
        """The asynchronous form of :meth:`resolve`."""
        checked_at = utc_now()
        forms: dict[str, str | None] = {given: ascii_domain(given) for given in domains}
        names = list(dict.fromkeys(name for name in forms.values() if name))
        self._total += len(names)
        found: dict[str, DomainVerdict] = {}

        if self.cache is not None and names:
            keys = {name + self._cache_suffix: name for name in names}
            try:
                cached = self.cache.get_many(CACHE_KIND, keys)
            except sqlite3.Error:
                self._counters["cache_errors"] += 1  # a broken cache costs lookups, not the run
                cached = {}
            for key, value in cached.items():
                found[keys[key]] = domain_from_dict(value)
            self._advance(len(found), progress)

        missing = [name for name in names if name not in found]
        if missing:
            if not self._reachable_checked:
                await self._check_reachable()
                self._reachable_checked = True
            answers_before = self._counters["answers"]
            if self.fresh_resolution is None:
                decisions = await self._resolve_fresh(missing, progress)
            else:
                decisions = await asyncio.to_thread(self.fresh_resolution, self, missing, progress)
            if self._counters["answers"] == answers_before:
                # Not one answer for any domain: tell "the resolver went away" from data.
                await self._check_reachable()
            self._counters["resolved"] += len(decisions)
            if self.cache is not None:
                items = [
                    (name + self._cache_suffix, domain_to_dict(d.domain), d.ttl)
                    for name, d in decisions.items()
                    if d.ttl > 0
                ]
                try:
                    self.cache.put_many(CACHE_KIND, items)
                except sqlite3.Error:
                    self._counters["cache_errors"] += 1
            found.update((name, d.domain) for name, d in decisions.items())

        result: dict[str, DomainVerdict] = {}
        for given, name in forms.items():
            if name is None:
                result[given] = _invalid_domain(given, checked_at)
                continue
            record = apply_private_policy(found[name], self.options.allow_private_mx)
            result[given] = record if record.domain == given else replace(record, domain=given)
        for name in names:
            self._providers[found[name].provider or "other"] += 1
        self._counters["domains"] += len(names)
        return result

    async def _resolve_fresh(self, names: list[str], progress: ProgressCallback) -> dict[str, Decision]:
        """Resolve ``names`` with a pool of workers; queries are bounded by a semaphore."""
        decisions: dict[str, Decision] = await self._each(names, self._one, progress)
        return decisions

    # --- the questions in bulk, for a resolution spread over many processes -------------------

    def look_up_mx(self, names: list[str]) -> dict[str, MxLookup]:
        """The MX answer of each name (asked as :meth:`resolve` asks it)."""
        return run_sync(lambda: self._each(names, self._mx), name="presend-dns")

    def look_up_hosts(self, hosts: list[str]) -> dict[str, AddressLookup]:
        """The A and AAAA answers of each mail host (asked as :meth:`resolve` asks them)."""
        return run_sync(lambda: self._each(hosts, self._look_up_host), name="presend-dns")

    async def _each(self, names: list[str], ask: Any, progress: ProgressCallback | None = None) -> dict[str, Any]:
        """``ask(name)`` for every name, by a pool of ``concurrency`` workers sharing this
        resolver's gate and sockets; ``progress`` hears of each name answered."""
        self._gate = asyncio.Semaphore(self.options.concurrency)
        self._inflight = {}
        pending: Iterator[str] = iter(names)
        answers: dict[str, Any] = {}

        async def worker() -> None:
            for name in pending:
                answers[name] = await ask(name)
                if progress is not None:
                    self._advance(1, progress)

        self._sockets = SocketPool()
        try:
            await asyncio.gather(*(worker() for _ in range(min(len(names), max(1, self.options.concurrency)))))
        finally:
            await self._sockets.close()
        return answers

    def known_hosts(self, hosts: Collection[str]) -> dict[str, AddressLookup]:
        """The address answers this resolver holds (still within their TTL) for ``hosts``."""
        found: dict[str, AddressLookup] = {}
        for host in hosts:
            known = self._targets.get(host)
            if known is None:
                continue
            lookup, learnt = known
            age = int(time.monotonic() - learnt)
            if age < lookup.ttl:
                found[host] = replace(lookup, ttl=lookup.ttl - age) if age else lookup
        return found

    def remember_hosts(self, lookups: dict[str, AddressLookup]) -> None:
        """Keep address answers learnt elsewhere for the rest of the run, as :meth:`resolve` does."""
        now = time.monotonic()
        for host, lookup in lookups.items():
            if lookup.complete:
                self._targets[host] = (lookup, now)
        while len(self._targets) > _TARGET_MEMO:
            self._targets.popitem(last=False)

    def count(self, counters: Counter[str], done: int, progress: ProgressCallback) -> None:
        """Add the counters of questions asked elsewhere; ``done`` domains were resolved."""
        self._counters.update(counters)
        self._advance(done, progress)

    @property
    def counters(self) -> Counter[str]:
        """The questions asked so far, by kind (queries, answers, retries, timeouts ...)."""
        return self._counters

    async def _one(self, domain: str) -> Decision:
        mx = await self._mx(domain)
        hosts = hosts_to_look_up(domain, mx)
        if len(hosts) == 1:  # the common case: no need for a task per host
            lookups = [await self._addresses(hosts[0])]
        else:
            lookups = await asyncio.gather(*(self._addresses(host) for host in hosts))
        return decide(domain, mx, dict(zip(hosts, lookups, strict=True)), _now_text())

    def _advance(self, count: int, progress: ProgressCallback) -> None:
        """Count finished domains; tell ``progress`` at most ten times a second, and at the end."""
        if not count:
            return
        self._done += count
        now = time.monotonic()
        if self._done >= self._total or now - self._reported_at >= 0.1:
            self._reported_at = now
            progress("domains", self._done, self._total)

    # --- questions -----------------------------------------------------------------------

    async def _mx(self, domain: str) -> MxLookup:
        reply = await self._ask(domain, dns.rdatatype.MX)
        if reply.response is None:
            return MxLookup(reply.outcome, failure=reply.failure)
        read = _read_answer(reply.response)
        if read is None:
            return MxLookup(Outcome.SERVFAIL, failure=_MALFORMED)
        answer, ttl = read
        if reply.outcome is Outcome.NXDOMAIN:
            return MxLookup(Outcome.NXDOMAIN, ttl=ttl)
        if answer is None:
            return MxLookup(Outcome.NODATA, ttl=ttl)
        records = tuple((int(rd.preference), rd.exchange.to_text(omit_final_dot=True) or ".") for rd in answer)
        return MxLookup(Outcome.ANSWER, records, ttl)

    async def _addresses(self, host: str) -> AddressLookup:
        """A and AAAA of one host, once per run (shared by every domain naming it)."""
        known = self._targets.get(host)
        if known is not None:
            lookup, learnt = known
            age = int(time.monotonic() - learnt)
            if age < lookup.ttl:  # a long run must not use an answer past its TTL
                self._targets.move_to_end(host)
                return replace(lookup, ttl=lookup.ttl - age) if age else lookup
            del self._targets[host]
        future = self._inflight.get(host)
        if future is None:
            future = self._inflight[host] = asyncio.ensure_future(self._look_up_host(host))
        lookup = await future
        self._inflight.pop(host, None)
        return lookup

    async def _look_up_host(self, host: str) -> AddressLookup:
        aaaa_task = asyncio.ensure_future(self._address_family(host, dns.rdatatype.AAAA))
        a = await self._address_family(host, dns.rdatatype.A)
        aaaa = await aaaa_task
        lookup = merge_addresses(a, aaaa)
        self._counters["targets"] += 1
        if lookup.complete:
            self._targets[host] = (lookup, time.monotonic())
            if len(self._targets) > _TARGET_MEMO:
                self._targets.popitem(last=False)
        return lookup

    async def _address_family(self, host: str, rdtype: dns.rdatatype.RdataType) -> AddressLookup:
        reply = await self._ask(host, rdtype)
        if reply.response is None:
            return AddressLookup(reply.outcome, failure=reply.failure, complete=False)
        read = _read_answer(reply.response)
        if read is None:
            return AddressLookup(Outcome.SERVFAIL, failure=_MALFORMED, complete=False)
        answer, ttl = read
        if reply.outcome is Outcome.NXDOMAIN:
            return AddressLookup(Outcome.NXDOMAIN, ttl=ttl)
        if answer is None:
            return AddressLookup(Outcome.NODATA, ttl=ttl)
        return AddressLookup(Outcome.ANSWER, tuple(rd.address for rd in answer), ttl)

    async def _ask(self, name: str, rdtype: dns.rdatatype.RdataType) -> _Reply:
        """One question, with one more try after a SERVFAIL/timeout/error."""
        failures: list[str] = []
        outcome = Outcome.SERVFAIL
        first = self._primary
        for attempt in range(2):
            index = (first + attempt) % len(self.nameservers)
            server = self.nameservers[index]
            if attempt:
                self._counters["retries"] += 1
            try:
                query = dns.message.make_query(name, rdtype, use_edns=0, payload=_EDNS_PAYLOAD)
            except dns.exception.DNSException as exc:
                return _Reply(Outcome.SERVFAIL, None, f"{name} is not a usable DNS name ({exc})")
            self._counters["queries"] += 1
            try:
                async with self._gate:
                    response = await self._exchange(query, server)
            except dns.exception.Timeout:
                self._counters["timeouts"] += 1
                outcome = Outcome.TIMEOUT
                failures.append(f"no answer from the resolver {server} within {self.options.timeout:g}s")
                continue
            except (OSError, dns.exception.DNSException) as exc:
                outcome = Outcome.SERVFAIL
                failures.append(f"the resolver {server} could not be asked: {exc}")
                continue
            self._counters["answers"] += 1
            rcode = response.rcode()
            if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                if index != first:
                    self._primary = index  # the first choice failed and this one answered
                return _Reply(Outcome.ANSWER if rcode == dns.rcode.NOERROR else Outcome.NXDOMAIN, response)
            self._counters["servfails"] += rcode == dns.rcode.SERVFAIL
            outcome = Outcome.SERVFAIL
            failures.append(f"the resolver {server} answered {dns.rcode.to_text(rcode)}")
        return _Reply(outcome, None, _summarize(failures))

    async def _exchange(self, query: dns.message.Message, server: Nameserver) -> dns.message.Message:
        timeout = self.options.timeout
        sock, uses = await self._sockets.take(server.host)
        healthy = False
        try:
            response = await dns.asyncquery.udp(
                query, server.host, timeout=timeout, port=server.port, ignore_unexpected=True, sock=sock
            )
            healthy = True
        finally:
            self._sockets.give(server.host, sock, uses + 1, healthy)
        if response.flags & dns.flags.TC:
            self._counters["tcp_fallbacks"] += 1
            response = await dns.asyncquery.tcp(query, server.host, timeout=timeout, port=server.port)
        return response

    async def _check_reachable(self) -> None:
        """Raise ResolverUnreachable unless some name server answers a root NS query."""
        query = dns.message.make_query(".", dns.rdatatype.NS)

        async def probe(server: Nameserver) -> bool:
            for _ in range(2):
                self._counters["probes"] += 1
                try:
                    await dns.asyncquery.udp(query, server.host, timeout=self.options.timeout, port=server.port)
                except (OSError, dns.exception.DNSException):
                    continue
                return True
            return False

        tasks = {asyncio.ensure_future(probe(server)) for server in self.nameservers}
        answered = False
        while tasks and not answered:
            done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            answered = any(task.result() for task in done)
        for task in tasks:
            task.cancel()
        if not answered:
            servers = ", ".join(str(s) for s in self.nameservers)
            raise ResolverUnreachable(
                f"no DNS resolver answered ({servers}, {self.options.timeout:g}s per try); "
                "check --nameserver and the network, or run with --no-dns"
            )


def _read_answer(response: dns.message.Message) -> tuple[dns.rrset.RRset | None, int] | None:
    """The answer RRset with CNAMEs followed (None for a negative answer), and its lifetime.

    dnspython's ``resolve_chaining`` follows the chain and takes the smallest TTL along it;
    a negative answer lives as long as the SOA of the authority section allows (min of its
    TTL and minimum field, RFC 2308), and not at all without an SOA (where dnspython would
    assume a default). Returns None for a malformed answer (no single question, a chain too
    long or looping, an answer beside NXDOMAIN).
    """
    if not isinstance(response, dns.message.QueryMessage):
        return None
    try:
        chain = response.resolve_chaining()
    except (dns.exception.FormError, dns.message.ChainTooLong, dns.message.AnswerForNXDOMAIN,
            dns.message.NotQueryResponse):
        return None
    ttl = min(chain.minimum_ttl, _MAX_TTL)
    if chain.answer is not None:
        return chain.answer, ttl
    if any(rrset.rdtype == dns.rdatatype.SOA for rrset in response.authority):
        return None, ttl
    return None, 0


def _summarize(failures: list[str]) -> str:
    unique = list(dict.fromkeys(failures))
    if len(unique) == 1 and len(failures) == 2:
        return unique[0] + ", twice"
    return "; then ".join(unique)


def make_resolver(dns: DnsOptions, cache: CacheOptions) -> DomainResolver:
    """Build the DNS level's resolver from options."""
    return DnsResolver(dns, VerdictCache.from_options(cache))

