"""The DNS level against a real DNS service on loopback: NSD authoritative, Unbound recursive.

One lab serves the whole module (started once, stopped at the end). Each case below is a
zone situation the resolver meets in the wild; verdicts, TTL-based caching, concurrency and
the "no resolver at all" failure are checked against the real servers.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipeline.cache import VerdictCache
from pipeline.dns.resolver import DnsResolver, Nameserver, make_resolver, parse_nameserver
from pipeline.errors import ResolverUnreachable, UsageError
from pipeline.models import Status
from pipeline.options import CacheOptions, DnsOptions
from tests.conftest import require_binary
from tests.lab.dnslab import DnsLab

pytestmark = pytest.mark.lab

ZONE = """
multi.example. 600 MX 20 mx2.multi.example.
multi.example. 600 MX 10 mx1.multi.example.
multi.example. 600 MX 30 mx3.multi.example.
mx1.multi.example. A 127.0.1.61
mx2.multi.example. A 127.0.1.62
mx2.multi.example. AAAA fd00::62
mx3.multi.example. A 127.0.1.63
implicit.example. A 127.0.1.70
nullmx.example. MX 0 .
nomail.example. TXT "v=spf1 -all"
dangling.example. MX 10 gone.dangling.example.
dangling.example. MX 20 noaddr.dangling.example.
noaddr.dangling.example. TXT "no address here"
alias.example. CNAME real.example.
real.example. MX 10 mx.real.example.
mx.real.example. A 127.0.1.71
broken.example. NS ns.nowhere.example.
a.slow.example. MX 10 mx.a.slow.example.
xn--bcher-kva.example. MX 10 mx.xn--bcher-kva.example.
mx.xn--bcher-kva.example. A 127.0.1.72
workspace.example. MX 1 aspmx.l.google.com.
workspace.example. MX 5 alt1.aspmx.l.google.com.
aspmx.l.google.com. A 1.2.3.4
alt1.aspmx.l.google.com. A 1.2.3.5
private.example. MX 10 mx.private.example.
mx.private.example. A 10.1.2.3
shared1.example. MX 10 mx.hosting.example.
shared2.example. MX 10 mx.hosting.example.
shared3.example. MX 10 mx.hosting.example.
shared4.example. MX 10 mx.hosting.example.
mx.hosting.example. A 127.0.1.80
big.example. MX 10 mx.big.example.
mx.big.example. A 127.0.1.82
ttl.example. 120 MX 10 mx.ttl.example.
mx.ttl.example. 60 A 127.0.1.81
""".strip().splitlines()

# Enough backup hosts with long names that the MX answer exceeds the 1232-byte UDP size.
ZONE += [f"big.example. MX {20 + i} backup-{i:02d}-with-a-rather-long-name.mail.big.example." for i in range(60)]

NEGATIVE_TTL = 300


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    nsd = require_binary("nsd")
    unbound = require_binary("unbound")
    with DnsLab(
        ZONE,
        tmp_path_factory.mktemp("dnslab"),
        negative_ttl=NEGATIVE_TTL,
        slow_zones=["slow.example"],
        slow_delay=3.0,
        nsd_binary=nsd,
        unbound_binary=unbound,
    ) as running:
        yield running


def resolver(
    lab: DnsLab, *, cache: VerdictCache | None = None, allow_private: bool = True, **options: float
) -> DnsResolver:
    dns_options = DnsOptions(
        nameservers=(lab.nameserver,),
        allow_private_mx=allow_private,
        timeout=float(options.get("timeout", 2.0)),
        concurrency=int(options.get("concurrency", 16)),
    )
    return DnsResolver(dns_options, cache)


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def __call__(self) -> float:
        return self.now


# --- verdicts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "status", "code", "enhanced", "reason", "mx"),
    [
        ("multi.example", None, "", "", "", "mx1.multi.example"),
        ("implicit.example", None, "", "", "", "implicit.example"),
        ("nullmx.example", Status.UNDELIVERABLE, "556", "5.1.10", "null_mx", ""),
        ("nothere.example", Status.UNDELIVERABLE, "550", "5.1.2", "nxdomain", ""),
        ("nomail.example", Status.UNDELIVERABLE, "550", "5.1.2", "no_mail_host", ""),
        ("dangling.example", Status.UNDELIVERABLE, "550", "5.4.4", "mx_unresolvable", "gone.dangling.example"),
        ("alias.example", None, "", "", "", "mx.real.example"),
        ("broken.example", Status.UNKNOWN, "451", "4.4.3", "dns_error", ""),
        ("xn--bcher-kva.example", None, "", "", "", "mx.xn--bcher-kva.example"),
        ("workspace.example", None, "", "", "", "aspmx.l.google.com"),
    ],
)
def test_zone_situations(
    lab: DnsLab, domain: str, status: Status | None, code: str, enhanced: str, reason: str, mx: str
) -> None:
    result = resolver(lab).resolve([domain])
    record = result[domain]
    assert record.preferred_mx == mx or (record.verdict is not None and record.verdict.mx == mx)
    if status is None:
        assert record.accepts_mail, record.verdict
        assert record.mx_hosts[0].addresses
    else:
        assert record.verdict is not None
        v = record.verdict
        assert (v.status, v.code, v.enhanced, v.reason) == (status, code, enhanced, reason)
        assert v.detail and v.checked_at.endswith("Z")


def test_several_mx_in_preference_order_with_all_addresses(lab: DnsLab) -> None:
    record = resolver(lab).resolve(["multi.example"])["multi.example"]
    assert [(h.preference, h.host) for h in record.mx_hosts] == [
        (10, "mx1.multi.example"),
        (20, "mx2.multi.example"),
        (30, "mx3.multi.example"),
    ]
    assert record.mx_hosts[1].addresses == ("127.0.1.62", "fd00::62")
    assert not record.implicit_mx


def test_implicit_mx_is_the_domain_itself(lab: DnsLab) -> None:
    record = resolver(lab).resolve(["implicit.example"])["implicit.example"]
    assert record.implicit_mx
    assert record.mx_hosts[0].addresses == ("127.0.1.70",)


def test_servfail_detail_names_the_rcode(lab: DnsLab) -> None:
    r = resolver(lab)
    record = r.resolve(["broken.example"])["broken.example"]
    assert record.verdict is not None and "SERVFAIL" in record.verdict.detail
    assert r.stats()["retries"] == 1 and r.stats()["servfails"] == 2


def test_timeout_is_unknown_after_one_retry(lab: DnsLab) -> None:
    # The slow zone answers after 3 s; the client waits 0.4 s per try.
    r = resolver(lab, timeout=0.4)
    record = r.resolve(["a.slow.example"])["a.slow.example"]
    assert record.verdict is not None
    assert (record.verdict.status, record.verdict.code, record.verdict.reason) == (Status.UNKNOWN, "451", "dns_error")
    assert "within 0.4s, twice" in record.verdict.detail
    stats = r.stats()
    assert stats["timeouts"] == 2 and stats["retries"] == 1


def test_idn_and_uppercase_forms_resolve_once_keyed_as_given(lab: DnsLab) -> None:
    r = resolver(lab)
    given = ["bücher.example", "XN--BCHER-KVA.example", "xn--bcher-kva.example.", "MULTI.Example", "multi.example"]
    result = r.resolve(given)
    assert set(result) == set(given)
    for name in given[:3]:
        assert result[name].preferred_mx == "mx.xn--bcher-kva.example"
        assert result[name].domain == name
    assert result["MULTI.Example"].preferred_mx == "mx1.multi.example"
    stats = r.stats()
    assert stats["domains"] == 2
    # 2 MX questions + A and AAAA for 1 + 3 mail hosts: each name asked once.
    assert stats["queries"] == 2 + 2 * 4


def test_private_mx_is_risky_unless_allowed(lab: DnsLab) -> None:
    strict = resolver(lab, allow_private=False).resolve(["private.example", "multi.example", "workspace.example"])
    v = strict["private.example"].verdict
    assert v is not None
    assert (v.status, v.code, v.enhanced, v.reason, v.mx) == (
        Status.RISKY, "250", "2.0.0", "mx_private_address", "mx.private.example",
    )
    assert "10.1.2.3" in v.detail
    assert strict["multi.example"].verdict is not None  # 127.0.1.61 is loopback
    assert strict["workspace.example"].accepts_mail  # a public address is fine
    allowed = resolver(lab, allow_private=True).resolve(["private.example"])
    assert allowed["private.example"].accepts_mail


def test_provider_and_stats(lab: DnsLab) -> None:
    r = resolver(lab)
    result = r.resolve(["workspace.example", "multi.example", "nothere.example"])
    assert result["workspace.example"].provider == "Google"
    assert r.stats()["providers"] == {"Google": 1, "other": 2}


def test_large_answer_is_fetched_over_tcp(lab: DnsLab) -> None:
    r = resolver(lab)
    record = r.resolve(["big.example"])["big.example"]
    assert r.stats()["tcp_fallbacks"] >= 1
    assert record.accepts_mail and record.preferred_mx == "mx.big.example"
    assert r.stats()["queries"] == 1 + 2 * 61  # every backup host was looked up (none resolves)


# --- once per run, shared mail hosts, concurrency -----------------------------------------


def test_shared_mail_host_looked_up_once_per_run_across_calls(lab: DnsLab) -> None:
    r = resolver(lab)
    first = r.resolve(["shared1.example", "shared2.example", "shared3.example"])
    assert all(v.preferred_mx == "mx.hosting.example" for v in first.values())
    assert r.stats()["queries"] == 3 + 2  # three MX, one A + one AAAA
    r.resolve(["shared4.example"])
    assert r.stats()["queries"] == 3 + 2 + 1  # only the new domain's MX
    assert r.stats()["mail_hosts_resolved"] == 1


class CountingResolver(DnsResolver):
    """Records how many queries are in flight at once (observation only)."""

    inflight = 0
    peak = 0

    async def _exchange(self, query, server):  # type: ignore[no-untyped-def]
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        try:
            return await super()._exchange(query, server)
        finally:
            self.inflight -= 1


def test_concurrency_is_bounded_and_used(lab: DnsLab) -> None:
    domains = [f"d{i}.nothere.example" for i in range(40)]
    bounded = CountingResolver(DnsOptions(nameservers=(lab.nameserver,), concurrency=4))
    bounded.resolve(domains)
    assert 2 <= bounded.peak <= 4
    single = CountingResolver(DnsOptions(nameservers=(lab.nameserver,), concurrency=1))
    single.resolve(domains[:5])
    assert single.peak == 1


def test_progress_reports_domains(lab: DnsLab) -> None:
    calls: list[tuple[str, int, int | None]] = []
    r = resolver(lab)
    r.resolve(["multi.example", "implicit.example", "nullmx.example"], lambda s, d, t: calls.append((s, d, t)))
    r.resolve(["real.example"], lambda s, d, t: calls.append((s, d, t)))
    assert {c[0] for c in calls} == {"domains"}
    assert calls[-1] == ("domains", 4, 4)
    assert [c[1] for c in calls] == sorted(c[1] for c in calls)


def test_failover_to_the_next_nameserver(lab: DnsLab) -> None:
    options = DnsOptions(nameservers=(lab.blackhole, lab.nameserver), timeout=0.3, concurrency=1, allow_private_mx=True)
    r = DnsResolver(options)
    result = r.resolve(["multi.example", "implicit.example", "nullmx.example"])
    assert result["multi.example"].accepts_mail and result["implicit.example"].accepts_mail
    assert result["nullmx.example"].verdict is not None and result["nullmx.example"].verdict.reason == "null_mx"
    # Only the very first query went to the silent server; then the answering one comes first.
    assert r.stats()["timeouts"] == 1


# --- the persistent cache --------------------------------------------------------------------


def test_second_run_is_served_from_cache_without_queries(lab: DnsLab, tmp_path: Path) -> None:
    domains = ["multi.example", "nothere.example", "nullmx.example", "implicit.example", "workspace.example"]
    first = resolver(lab, cache=VerdictCache(tmp_path / "c.sqlite3"))
    fresh = first.resolve(domains)
    assert first.stats()["cache_writes"] == len(domains)
    second = resolver(lab, cache=VerdictCache(tmp_path / "c.sqlite3"))
    cached = second.resolve(domains)
    stats = second.stats()
    assert stats["queries"] == 0 and stats.get("cache_hits") == len(domains) and stats["cache_misses"] == 0
    for name in domains:
        assert cached[name].from_cache
        assert cached[name].verdict == fresh[name].verdict
        assert cached[name].mx_hosts == fresh[name].mx_hosts
    assert cached["workspace.example"].provider == "Google"


def test_ttl_expiry_forces_a_new_lookup(lab: DnsLab, tmp_path: Path) -> None:
    clock = Clock()
    cache = VerdictCache(tmp_path / "c.sqlite3", clock=clock)
    resolver(lab, cache=cache).resolve(["ttl.example"])
    clock.now += 30
    again = resolver(lab, cache=cache)
    assert again.resolve(["ttl.example"])["ttl.example"].from_cache
    assert again.stats()["queries"] == 0
    clock.now += 31  # past the A record's 60 s, the shortest TTL the verdict rests on
    expired = resolver(lab, cache=cache)
    record = expired.resolve(["ttl.example"])["ttl.example"]
    assert not record.from_cache and record.accepts_mail
    assert expired.stats()["queries"] == 3


def test_negative_answers_cached_for_the_soa_minimum(lab: DnsLab, tmp_path: Path) -> None:
    clock = Clock()
    cache = VerdictCache(tmp_path / "c.sqlite3", clock=clock)
    resolver(lab, cache=cache).resolve(["gone1.example"])
    clock.now += NEGATIVE_TTL * 0.5
    assert resolver(lab, cache=cache).resolve(["gone1.example"])["gone1.example"].from_cache
    clock.now += NEGATIVE_TTL * 0.5 + 1
    later = resolver(lab, cache=cache)
    record = later.resolve(["gone1.example"])["gone1.example"]
    assert not record.from_cache and record.verdict is not None and record.verdict.reason == "nxdomain"
    assert later.stats()["queries"] == 1


def test_failures_are_not_cached(lab: DnsLab, tmp_path: Path) -> None:
    first = resolver(lab, cache=VerdictCache(tmp_path / "c.sqlite3"))
    first.resolve(["broken.example", "nullmx.example"])
    assert first.stats()["cache_writes"] == 1
    second = resolver(lab, cache=VerdictCache(tmp_path / "c.sqlite3"))
    result = second.resolve(["broken.example", "nullmx.example"])
    assert result["nullmx.example"].from_cache and not result["broken.example"].from_cache
    assert second.stats()["queries"] == 2  # broken.example asked again (and retried)


def test_cached_verdict_follows_the_private_mx_option(lab: DnsLab, tmp_path: Path) -> None:
    cache = VerdictCache(tmp_path / "c.sqlite3")
    resolver(lab, cache=cache, allow_private=True).resolve(["private.example"])
    strict = resolver(lab, cache=cache, allow_private=False).resolve(["private.example"])["private.example"]
    assert strict.from_cache and strict.verdict is not None and strict.verdict.reason == "mx_private_address"


# --- a resolver that answers nothing --------------------------------------------------------


def test_unreachable_resolver_stops_the_run(lab: DnsLab) -> None:
    r = DnsResolver(DnsOptions(nameservers=(lab.blackhole,), timeout=0.2))
    with pytest.raises(ResolverUnreachable) as caught:
        r.resolve(["multi.example"])
    message = str(caught.value)
    assert lab.blackhole in message and "\n" not in message
    assert r.stats()["queries"] == 0  # it gave up after the probe, not after every domain


def test_resolver_that_goes_away_mid_run_stops_the_run(tmp_path: Path) -> None:
    nsd, unbound = require_binary("nsd"), require_binary("unbound")
    own = DnsLab(["one.example. MX 10 mx.one.example.", "mx.one.example. A 127.0.1.90"], tmp_path,
                 nsd_binary=nsd, unbound_binary=unbound)
    with own:
        r = DnsResolver(DnsOptions(nameservers=(own.nameserver,), timeout=0.2, allow_private_mx=True))
        assert r.resolve(["one.example"])["one.example"].accepts_mail
    # Same resolver object, next chunk: the server is gone. Not one answer → stop, don't
    # report every remaining domain as a DNS error.
    with pytest.raises(ResolverUnreachable):
        r.resolve(["two.example", "three.example"])


def test_nameserver_syntax() -> None:
    assert parse_nameserver("127.0.1.2") == Nameserver("127.0.1.2", 53)
    assert parse_nameserver("127.0.1.2:5353") == Nameserver("127.0.1.2", 5353)
    assert parse_nameserver("[::1]:5353") == Nameserver("::1", 5353)
    assert parse_nameserver("::1") == Nameserver("::1", 53)
    for bad in ("dns.example", "127.0.1.2:0", "127.0.1.2:x", ""):
        with pytest.raises(UsageError):
            parse_nameserver(bad)


def test_make_resolver_uses_cache_options(lab: DnsLab, tmp_path: Path) -> None:
    options = DnsOptions(nameservers=(lab.nameserver,), allow_private_mx=True)
    built = make_resolver(options, CacheOptions(path=tmp_path / "m.sqlite3"))
    built.resolve(["multi.example"])
    assert built.stats()["cache_writes"] == 1
    off = make_resolver(DnsOptions(nameservers=(lab.nameserver,)), CacheOptions(enabled=False))
    off.resolve(["multi.example"])
    assert off.stats()["cache_writes"] == 0 and off.stats()["queries"] > 0


# --- the command line, end to end ------------------------------------------------------------


def test_clean_command_forecasts_dns_rows(lab: DnsLab, tmp_path: Path) -> None:
    from cli.main import app

    source = tmp_path / "list.csv"
    source.write_text(
        "email,name\n"
        "ann@multi.example,Ann\n"
        "bob@nullmx.example,Bob\n"
        "cy@nothere.example,Cy\n"
        "di@dangling.example,Di\n"
        "ed@broken.example,Ed\n"
        "fay@implicit.example,Fay\n"
        "gus@BÜCHER.example,Gus\n"
        "hal@multi.example,Hal\n"
        "ivy@private.example,Ivy\n",
        encoding="utf-8",
    )
    args = ["clean", str(source), "--out", str(tmp_path / "out"), "--nameserver", lab.nameserver,
            "--cache", str(tmp_path / "cache.sqlite3"), "--dns-timeout", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "list.results.csv").open(encoding="utf-8") as handle:
        rows = {row["name"]: row for row in csv.DictReader(handle)}

    def forecast(name: str) -> tuple[str, str, str, str, str]:
        row = rows[name]
        columns = ("status", "code", "enhanced", "reason", "mx")
        status, code, enhanced, reason, mx = (row[f"presend_{c}"] for c in columns)
        return status, code, enhanced, reason, mx

    assert forecast("Bob") == ("undeliverable", "556", "5.1.10", "null_mx", "")
    assert forecast("Cy") == ("undeliverable", "550", "5.1.2", "nxdomain", "")
    assert forecast("Di") == ("undeliverable", "550", "5.4.4", "mx_unresolvable", "gone.dangling.example")
    assert forecast("Ed") == ("unknown", "451", "4.4.3", "dns_error", "")
    # Without --allow-private-mx the loopback lab hosts are risky...
    assert forecast("Ann") == ("risky", "250", "2.0.0", "mx_private_address", "mx1.multi.example")
    assert forecast("Ivy")[3] == "mx_private_address"
    summary = json.loads((tmp_path / "out" / "list.summary.json").read_text())
    assert summary["dns"]["domains"] == 8 and summary["dns"]["cache_misses"] == 8

    # ...and with it they accept mail. Same cache file: verdicts come from it, no queries.
    result = CliRunner().invoke(app, [*args, "--allow-private-mx"])
    assert result.exit_code == 0, result.output
    with (tmp_path / "out" / "list.results.csv").open(encoding="utf-8") as handle:
        rows = {row["name"]: row for row in csv.DictReader(handle)}
    assert forecast("Ann") == ("deliverable", "250", "2.0.0", "domain_accepts_mail", "mx1.multi.example")
    assert forecast("Fay") == ("deliverable", "250", "2.0.0", "domain_accepts_mail", "implicit.example")
    assert forecast("Gus") == ("deliverable", "250", "2.0.0", "domain_accepts_mail", "mx.xn--bcher-kva.example")
    assert rows["Hal"]["presend_mx"] == "mx1.multi.example"
    summary = json.loads((tmp_path / "out" / "list.summary.json").read_text())
    dns_stats = summary["dns"]
    assert dns_stats["cache_hits"] == 7 and dns_stats["cache_misses"] == 1  # broken.example was not cached
    assert dns_stats["queries"] == 2


def test_clean_command_unreachable_resolver_exits_1(lab: DnsLab, tmp_path: Path) -> None:
    from cli.main import app

    source = tmp_path / "list.csv"
    source.write_text("email\nann@multi.example\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["clean", str(source), "--nameserver", lab.blackhole, "--dns-timeout", "0.2", "--no-cache", "-q"]
    )
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("presend: error: no DNS resolver answered")
