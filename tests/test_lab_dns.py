"""The demo lab's DNS responder, queried with dnspython's own stub resolver over loopback."""

from __future__ import annotations

from collections.abc import Iterator

import dns.message
import dns.query
import dns.rcode
import dns.resolver
import pytest

from pipeline.lab import DEMO_ZONE
from pipeline.lab.dns_server import LabDnsServer
from pipeline.lab.hosts import DNS_SERVFAIL, DNS_TIMEOUT


@pytest.fixture(scope="module")
def server() -> Iterator[LabDnsServer]:
    with LabDnsServer(DEMO_ZONE, servfail=DNS_SERVFAIL, timeout=DNS_TIMEOUT) as running:
        yield running


@pytest.fixture
def resolver(server: LabDnsServer) -> dns.resolver.Resolver:
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = [server.host]
    res.port = server.port
    res.lifetime = 0.6
    res.timeout = 0.3
    return res


def _mx(resolver: dns.resolver.Resolver, name: str) -> list[tuple[int, str]]:
    answer = resolver.resolve(name, "MX")
    return sorted((r.preference, r.exchange.to_text()) for r in answer)


def test_loopback_only(server: LabDnsServer) -> None:
    assert server.host == "127.0.0.1" and server.port > 0


def test_mx_with_preferences(resolver: dns.resolver.Resolver) -> None:
    assert _mx(resolver, "fallback.example") == [(10, "mx-dead.fallback.example."), (20, "mx.acme.example.")]
    assert [r.to_text() for r in resolver.resolve("mx.acme.example", "A")] == ["127.0.0.2"]


def test_implicit_mx_has_an_address_but_no_mx(resolver: dns.resolver.Resolver) -> None:
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("implicit.example", "MX")
    assert [r.to_text() for r in resolver.resolve("implicit.example", "A")] == ["127.0.0.2"]


def test_null_mx(resolver: dns.resolver.Resolver) -> None:
    assert _mx(resolver, "nullmx.example") == [(0, ".")]


def test_nxdomain_inside_and_outside_the_zone(resolver: dns.resolver.Resolver) -> None:
    for name in ("nowhere.example", "gmial.com", "mx.nowhere.example"):
        with pytest.raises(dns.resolver.NXDOMAIN):
            resolver.resolve(name, "MX")


def test_no_mx_and_no_address(resolver: dns.resolver.Resolver) -> None:
    for rdtype in ("MX", "A", "AAAA"):
        with pytest.raises(dns.resolver.NoAnswer):
            resolver.resolve("nomail.example", rdtype)


def test_mx_target_without_address(resolver: dns.resolver.Resolver) -> None:
    assert _mx(resolver, "brokenmx.example") == [(10, "mx.nowhere.example."), (20, "noaddr.brokenmx.example.")]
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("mx.nowhere.example", "A")
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("noaddr.brokenmx.example", "A")


def test_cname_is_followed(resolver: dns.resolver.Resolver) -> None:
    answer = resolver.resolve("alias.example", "MX")
    assert answer.canonical_name.to_text() == "acme.example."
    assert [(r.preference, r.exchange.to_text()) for r in answer] == [(10, "mx.acme.example.")]


def test_idn_domain(resolver: dns.resolver.Resolver) -> None:
    name = "bücher.example".encode("idna").decode("ascii")
    assert name == "xn--bcher-kva.example"
    assert _mx(resolver, name) == [(10, "mx.acme.example.")]


def test_servfail(server: LabDnsServer) -> None:
    reply = dns.query.udp(dns.message.make_query("broken-dns.example", "MX"), server.host, port=server.port, timeout=1)
    assert reply.rcode() == dns.rcode.SERVFAIL


def test_timeout(resolver: dns.resolver.Resolver) -> None:
    with pytest.raises(dns.resolver.LifetimeTimeout):
        resolver.resolve("slow-dns.example", "MX")


def test_tcp_answers_too(server: LabDnsServer) -> None:
    reply = dns.query.tcp(dns.message.make_query("acme.example", "MX"), server.host, port=server.port, timeout=2)
    assert reply.rcode() == dns.rcode.NOERROR
    assert reply.answer[0][0].exchange.to_text() == "mx.acme.example."
