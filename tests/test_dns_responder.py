"""Fast unit tests of the DNS loop against an in-process responder (dnspython on 127.0.1.x).

The responder answers from a Python function and logs every question it receives, so
these tests see from the server's side what the resolver asked — and can produce answers
a well-behaved recursive resolver would not (REFUSED, a negative answer without SOA).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from pipeline.cache import VerdictCache
from pipeline.dns.resolver import DnsResolver
from pipeline.models import DomainVerdict
from pipeline.options import DnsOptions

Handler = Callable[[dns.message.Message, dns.message.Message], None]
HOST = "127.0.1.20"


class Responder:
    """A UDP DNS server in a thread: ``handler(query, response)`` fills each response."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.questions: Counter[tuple[str, str]] = Counter()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((HOST, 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                wire, client = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(wire)
            question = query.question[0]
            self.questions[(question.name.to_text(omit_final_dot=True), dns.rdatatype.to_text(question.rdtype))] += 1
            response = dns.message.make_response(query)
            try:
                self.handler(query, response)
                wire = response.to_wire()
            except Exception:  # a broken test handler must show as SERVFAIL, not as silence
                response = dns.message.make_response(query)
                response.set_rcode(dns.rcode.SERVFAIL)
                wire = response.to_wire()
            self.sock.sendto(wire, client)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], Responder]]:
    started: list[Responder] = []

    def start(handler: Handler) -> Responder:
        responder = Responder(handler)
        started.append(responder)
        return responder

    yield start
    for responder in started:
        responder.close()


def rr(name: str, ttl: int, rdtype: str, *data: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(name.rstrip(".") + ".", ttl, "IN", rdtype, *data)


SOA = rr(".", 600, "SOA", "ns.lab. hostmaster.lab. 1 3600 600 86400 120")


def zone_handler(records: dict[tuple[str, str], dns.rrset.RRset], *, soa: bool = True) -> Handler:
    """Answer from ``records`` keyed by (name, type); names under ``.example`` exist if listed."""
    names = {name for name, _ in records}

    def handle(query: dns.message.Message, response: dns.message.Message) -> None:
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        found = records.get((name, dns.rdatatype.to_text(question.rdtype)))
        if found is not None:
            response.answer.append(found)
            return
        if name not in names:
            response.set_rcode(dns.rcode.NXDOMAIN)
        if soa:
            response.authority.append(SOA)

    return handle


def test_each_question_reaches_the_server_once(serve: Callable[[Handler], Responder]) -> None:
    records: dict[tuple[str, str], dns.rrset.RRset] = {}
    domains = [f"d{i}.example" for i in range(40)]
    for i, name in enumerate(domains):
        records[(name, "MX")] = rr(name, 300, "MX", f"10 mx{i % 3}.hosting.example.", "20 bk.hosting.example.")
    for host in ("mx0", "mx1", "mx2", "bk"):
        records[(f"{host}.hosting.example", "A")] = rr(f"{host}.hosting.example", 300, "A", "192.0.2.1")
    server = serve(zone_handler(records))
    options = DnsOptions(timeout=1.0, allow_private_mx=True, nameservers=(server.address,), concurrency=8)
    resolver = DnsResolver(options)
    result = resolver.resolve(domains + [d.upper() for d in domains])
    assert all(v.accepts_mail for v in result.values())
    asked = {q: n for q, n in server.questions.items() if q != (".", "NS")}  # not the reachability probe
    assert set(asked.values()) == {1}
    assert len(asked) == 40 + 4 * 2  # 40 MX, A and AAAA for 4 hosts
    assert resolver.stats()["queries"] == len(asked)


def test_refused_is_a_dns_error_after_one_retry(serve: Callable[[Handler], Responder]) -> None:
    def refuse(query: dns.message.Message, response: dns.message.Message) -> None:
        if query.question[0].rdtype != dns.rdatatype.NS:
            response.set_rcode(dns.rcode.REFUSED)

    server = serve(refuse)
    resolver = DnsResolver(DnsOptions(timeout=1.0, allow_private_mx=True, nameservers=(server.address,)))
    verdict = resolver.resolve(["a.example"])["a.example"].verdict
    assert verdict is not None
    assert (verdict.code, verdict.enhanced, verdict.reason) == ("451", "4.4.3", "dns_error")
    assert "REFUSED, twice" in verdict.detail
    assert server.questions[("a.example", "MX")] == 2


def test_negative_answer_without_soa_is_not_cached(serve: Callable[[Handler], Responder], tmp_path: Path) -> None:
    records = {("bare.example", "TXT"): rr("bare.example", 300, "TXT", '"x"')}
    server = serve(zone_handler(records, soa=False))
    cache = VerdictCache(tmp_path / "c.sqlite3")
    resolver = DnsResolver(DnsOptions(timeout=1.0, allow_private_mx=True, nameservers=(server.address,)), cache)
    verdict = resolver.resolve(["bare.example"])["bare.example"].verdict
    assert verdict is not None and verdict.reason == "no_mail_host"
    assert resolver.stats()["cache_writes"] == 0  # RFC 2308: no SOA, no negative caching


def test_cname_ttl_bounds_the_cached_lifetime(serve: Callable[[Handler], Responder], tmp_path: Path) -> None:
    cname = rr("alias.example", 30, "CNAME", "real.example.")
    mx = rr("real.example", 3600, "MX", "10 mx.real.example.")

    def handle(query: dns.message.Message, response: dns.message.Message) -> None:
        question = query.question[0]
        name = question.name.to_text(omit_final_dot=True)
        if name == "alias.example" and question.rdtype == dns.rdatatype.MX:
            response.answer += [cname, mx]  # the whole chain in one answer, as resolvers send it
        elif name == "mx.real.example" and question.rdtype == dns.rdatatype.A:
            response.answer.append(rr("mx.real.example", 3600, "A", "192.0.2.7"))
        else:
            response.authority.append(SOA)

    server = serve(handle)
    now = [1_000_000.0]
    cache = VerdictCache(tmp_path / "c.sqlite3", clock=lambda: now[0])

    def look_up() -> DomainVerdict:
        options = DnsOptions(timeout=1.0, allow_private_mx=True, nameservers=(server.address,))
        return DnsResolver(options, cache).resolve(["alias.example"])["alias.example"]

    record = look_up()
    assert record.accepts_mail and record.preferred_mx == "mx.real.example"
    now[0] += 29
    assert look_up().from_cache
    now[0] += 2  # past the CNAME's 30 s
    assert not look_up().from_cache


def test_a_cname_loop_is_a_malformed_answer_not_a_verdict(serve: Callable[[Handler], Responder]) -> None:
    """A chain that loops (a → b → a) is followed by dnspython's resolve_chaining up to its
    limit, then reported as a failed lookup (unknown, 451 4.4.3), never as "no mail host"."""
    loop = [rr("loop-a.example", 60, "CNAME", "loop-b.example."), rr("loop-b.example", 60, "CNAME", "loop-a.example.")]

    def handle(query: dns.message.Message, response: dns.message.Message) -> None:
        response.answer += loop

    server = serve(handle)
    options = DnsOptions(timeout=1.0, allow_private_mx=True, nameservers=(server.address,))
    verdict = DnsResolver(options, None).resolve(["loop-a.example"])["loop-a.example"].verdict
    assert verdict is not None
    assert (verdict.status.value, verdict.code, verdict.enhanced) == ("unknown", "451", "4.4.3")
    assert "CNAME loop" in verdict.detail


def test_resolve_works_when_called_inside_a_running_event_loop(serve: Callable[[Handler], Responder]) -> None:
    records = {
        ("in.example", "MX"): rr("in.example", 300, "MX", "10 mx.in.example."),
        ("mx.in.example", "A"): rr("mx.in.example", 300, "A", "192.0.2.3"),
    }
    server = serve(zone_handler(records))
    resolver = DnsResolver(DnsOptions(timeout=1.0, allow_private_mx=True, nameservers=(server.address,)))

    async def caller() -> DomainVerdict:
        return resolver.resolve(["in.example"])["in.example"]  # sync API from async code

    assert asyncio.run(caller()).preferred_mx == "mx.in.example"
