"""The session engine against scripted aiosmtpd hosts on 127.0.3.0/24 (politeness, odd hosts).

These hosts do what a Postfix cannot be told to do: a tarpit banner, a drop mid-session,
452 4.5.3 after N recipients, 530 until a hidden STARTTLS, odd multi-line replies, EHLO
refused. Every command they receive is recorded, so politeness is asserted, not assumed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.cache import VerdictCache
from pipeline.models import MxHost, Status
from pipeline.options import ProbeOptions
from pipeline.ports import ProbeTarget
from pipeline.probe.prober import STAT_KEYS, SmtpProber
from tests.lab.smtphosts import HostScript, ScriptedHosts

PORT = 2525
SENDER = "probe@presend-lab.example"


def net(n: int) -> str:
    return f"127.0.3.{n}"


def route(*addresses: str) -> tuple[MxHost, ...]:
    return tuple(MxHost(10 * (i + 1), f"mx{a.rsplit('.', 1)[1]}.lab.example", (a,)) for i, a in enumerate(addresses))


def target(email: str, mx: tuple[MxHost, ...], utf8: bool = False) -> ProbeTarget:
    local, domain = email.rsplit("@", 1)
    return ProbeTarget(email, local, domain, domain, utf8, mx)


def prober(cache: VerdictCache | None = None, blocked_after: int = 3, **overrides: object) -> SmtpProber:
    values: dict[str, object] = {
        "enabled": True,
        "mail_from": SENDER,
        "port": PORT,
        "timeout": 2.0,
        "retry_after": 0.5,
        "max_retries": 1,
        "concurrency": 10,
        "per_host": 2,
        "batch_size": 10,
        "backoff": 0.2,
        "backoff_tries": 1,
    }
    values.update(overrides)
    return SmtpProber(ProbeOptions(**values), cache, blocked_after=blocked_after)  # type: ignore[arg-type]


@pytest.fixture
def hosts_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def test_politeness_never_data_one_mail_per_transaction_rset_between_domains_quit() -> None:
    a = net(1)
    script = HostScript(a, mailboxes={"ann@one.example", "bob@two.example"})
    with ScriptedHosts([script], PORT) as hosts:
        p = prober()
        targets = [target("ann@one.example", route(a)), target("zed@one.example", route(a)),
                   target("bob@two.example", route(a))]
        result = p.probe(targets)
    assert {e: m.verdict.reason for e, m in result.items()} == {
        "ann@one.example": "mailbox_exists",
        "zed@one.example": "mailbox_not_found",
        "bob@two.example": "mailbox_exists",
    }
    log = hosts.log(a)
    assert len(log.sessions) == 1, "one session for the whole batch"
    verbs = log.commands()
    assert "DATA" not in verbs
    assert verbs[0] == "EHLO" and verbs[-1] == "QUIT"
    # one MAIL FROM per domain transaction, RSET between the two domains
    assert verbs == ["EHLO", "MAIL", "RCPT", "RCPT", "RCPT", "RSET", "MAIL", "RCPT", "RCPT", "QUIT"]
    session = log.sessions[0]
    assert session[1] == f"MAIL FROM:<{SENDER}>"
    # the made-up local part is asked first, on the same session, once per domain
    assert session[2].startswith("RCPT TO:<presend-check-") and session[2].endswith("@one.example>")
    assert session[7].startswith("RCPT TO:<presend-check-") and session[7].endswith("@two.example>")
    assert p.stats()["sessions"] == 1 and p.stats()["rcpts"] == 5


def test_catch_all_domain_is_risky_and_flagged() -> None:
    a = net(2)
    with ScriptedHosts([HostScript(a, mailboxes=None)], PORT):
        result = prober().probe([target("who@any.example", route(a)), target("else@any.example", route(a))])
    for mailbox in result.values():
        v = mailbox.verdict
        assert (v.status, v.code, v.enhanced, v.reason) == (Status.RISKY, "250", "2.1.5", "catch_all")
        assert mailbox.catch_all


def test_per_host_bound_is_never_exceeded() -> None:
    a = net(3)
    boxes = {f"u{i}@busy.example" for i in range(24)}
    with ScriptedHosts([HostScript(a, mailboxes=boxes, rcpt_delay=0.03)], PORT) as hosts:
        p = prober(per_host=2, concurrency=10, batch_size=2)
        result = p.probe([target(e, route(a)) for e in sorted(boxes)])
    assert all(m.verdict.reason == "mailbox_exists" for m in result.values())
    log = hosts.log(a)
    assert len(log.sessions) == 12
    assert log.open_max == 2, f"expected the bound of 2 to be reached, never passed; saw {log.open_max}"


def test_overall_concurrency_bound_across_hosts() -> None:
    addresses = [net(n) for n in (10, 11, 12, 13)]
    scripts = [HostScript(a, mailboxes=None, rcpt_delay=0.05) for a in addresses]
    with ScriptedHosts(scripts, PORT) as hosts:
        p = prober(per_host=2, concurrency=3, batch_size=1)
        p.probe([target(f"u{i}@d{a.rsplit('.', 1)[1]}.example", route(a)) for a in addresses for i in range(4)])
        starts = sorted(t for a in addresses for t in hosts.log(a).session_starts)
    assert len(starts) == 16
    total_open = sum(hosts.log(a).open_max for a in addresses)
    assert total_open >= 3  # several hosts were worked on at once ...
    assert max(hosts.log(a).open_max for a in addresses) <= 2  # ... each within its own bound


def test_tarpit_banner_times_out_and_the_next_mx_decides() -> None:
    tarpit, good = net(20), net(21)
    scripts = [HostScript(tarpit, banner_delay=30), HostScript(good, mailboxes={"tia@slow.example"})]
    with ScriptedHosts(scripts, PORT):
        started = time.monotonic()
        result = prober(timeout=0.5).probe([target("tia@slow.example", route(tarpit, good))])
        elapsed = time.monotonic() - started
    verdict = result["tia@slow.example"].verdict
    assert (verdict.reason, verdict.mx) == ("mailbox_exists", "mx21.lab.example")
    assert elapsed < 5


def test_tarpit_everywhere_is_host_unavailable() -> None:
    tarpit = net(22)
    with ScriptedHosts([HostScript(tarpit, banner_delay=30)], PORT):
        result = prober(timeout=0.3).probe([target("x@tar.example", route(tarpit))])
    verdict = result["x@tar.example"].verdict
    assert (verdict.status, verdict.code, verdict.enhanced, verdict.reason) == (
        Status.UNKNOWN, "421", "4.4.1", "host_unavailable"
    )
    assert "timed out" in verdict.detail


def test_drop_mid_session_keeps_answers_and_moves_the_rest_to_the_next_mx() -> None:
    dropper, backup = net(30), net(31)
    boxes = {f"d{i}@drop.example" for i in range(5)}
    scripts = [HostScript(dropper, mailboxes=boxes, drop_after_rcpts=3), HostScript(backup, mailboxes=boxes)]
    with ScriptedHosts(scripts, PORT) as hosts:
        result = prober().probe([target(f"d{i}@drop.example", route(dropper, backup)) for i in range(5)])
    mxs = {e: m.verdict.mx for e, m in result.items()}
    assert all(m.verdict.reason == "mailbox_exists" for m in result.values())
    # the dropper answered the catch-all question and d0, then hung up at the third RCPT
    assert mxs["d0@drop.example"] == "mx30.lab.example"
    assert {mxs[f"d{i}@drop.example"] for i in range(1, 5)} == {"mx31.lab.example"}
    assert len(hosts.log(backup).sessions) == 1


def test_drop_with_no_backup_is_asked_again_after_a_backoff_under_the_learnt_limit() -> None:
    dropper = net(32)
    boxes = {f"d{i}@drop2.example" for i in range(3)}
    with ScriptedHosts([HostScript(dropper, mailboxes=boxes, drop_after_rcpts=3)], PORT) as hosts:
        p = prober(backoff=0.3)
        result = p.probe([target(f"d{i}@drop2.example", route(dropper)) for i in range(3)])
    # the hang-up is no answer: the two addresses it left are asked in a fresh session
    assert {m.verdict.reason for m in result.values()} == {"mailbox_exists"}
    sessions = hosts.log(dropper).sessions
    assert len(sessions) == 2
    assert hosts.log(dropper).session_starts[1] - hosts.log(dropper).session_starts[0] >= 0.3  # the backoff
    # the host cut after two answered RCPTs; the fresh session sends no more than that
    assert p.limits(dropper).rcpts_per_session == 2
    assert sum(line.startswith("RCPT") for line in sessions[1]) == 2 and sessions[1][-1] == "QUIT"


def test_drop_every_time_ends_unknown_after_the_backoff_budget() -> None:
    dropper = net(33)
    with ScriptedHosts([HostScript(dropper, mailboxes={"d@drop3.example"}, drop_after_rcpts=1)], PORT) as hosts:
        result = prober(backoff=0.1, backoff_tries=2).probe([target("d@drop3.example", route(dropper))])
    verdict = result["d@drop3.example"].verdict
    assert (verdict.status, verdict.code, verdict.reason) == (Status.UNKNOWN, "421", "host_unavailable")
    assert "closed during RCPT TO" in verdict.detail and "2 more times" in verdict.detail
    assert len(hosts.log(dropper).sessions) == 3  # the first pass and two after backing off


def test_too_many_recipients_shrinks_transactions_and_everyone_is_answered() -> None:
    a = net(40)
    boxes = {f"u{i}@limit.example" for i in range(7)}
    with ScriptedHosts([HostScript(a, mailboxes=boxes, rcpt_limit=2)], PORT) as hosts:
        p = prober(batch_size=10)
        result = p.probe([target(e, route(a)) for e in sorted(boxes)])
    assert {m.verdict.reason for m in result.values()} == {"mailbox_exists"}
    verbs = hosts.log(a).commands()
    assert verbs.count("MAIL") >= 3 and "DATA" not in verbs
    assert len(hosts.log(a).sessions) == 1
    assert p.stats()["rcpt_limit_lowered"] >= 1


def test_530_until_starttls_even_when_not_advertised(tmp_path: Path) -> None:
    a = net(50)
    script = HostScript(a, mailboxes={"tess@tls.example"}, require_tls=True, hide_starttls=True)
    with ScriptedHosts([script], PORT, cert_dir=tmp_path) as hosts:
        p = prober()
        result = p.probe([target("tess@tls.example", route(a))])
    assert result["tess@tls.example"].verdict.reason == "mailbox_exists"
    verbs = hosts.log(a).commands()
    assert verbs[:5] == ["EHLO", "MAIL", "STARTTLS", "EHLO", "MAIL"]
    report = p.host_report()
    assert report[f"mx50.lab.example [{a}]"]["tls"] is True


def test_starttls_offered_is_used(tmp_path: Path) -> None:
    a = net(51)
    script = HostScript(a, mailboxes={"tom@tls2.example"}, require_tls=True)
    with ScriptedHosts([script], PORT, cert_dir=tmp_path) as hosts:
        p = prober()
        result = p.probe([target("tom@tls2.example", route(a))])
    assert result["tom@tls2.example"].verdict.reason == "mailbox_exists"
    assert hosts.log(a).commands()[:4] == ["EHLO", "STARTTLS", "EHLO", "MAIL"]
    info = p.host_report()[f"mx51.lab.example [{a}]"]
    assert "STARTTLS" in info["extensions"] and info["tls"] is True
    assert p.stats()["hosts_starttls"] == 1 and p.stats()["hosts_tls"] == 1


def test_odd_multiline_reply_is_kept_whole() -> None:
    a = net(60)
    reply = "550-5.1.1 The mailbox you tried\r\n550-does not exist here.\r\n550 5.1.1 See https://lab.example/550"
    with ScriptedHosts([HostScript(a, replies={"gone@odd.example": reply})], PORT):
        result = prober().probe([target("gone@odd.example", route(a))])
    verdict = result["gone@odd.example"].verdict
    assert (verdict.code, verdict.enhanced, verdict.reason) == ("550", "5.1.1", "mailbox_not_found")
    assert "550 5.1.1 The mailbox you tried / does not exist here. / See https://lab.example/550" in verdict.detail


def test_ehlo_refused_falls_back_to_helo() -> None:
    a = net(61)
    with ScriptedHosts([HostScript(a, mailboxes={"old@helo.example"}, refuse_ehlo=True)], PORT) as hosts:
        p = prober()
        result = p.probe([target("old@helo.example", route(a))])
    assert result["old@helo.example"].verdict.reason == "mailbox_exists"
    assert hosts.log(a).commands()[:3] == ["EHLO", "HELO", "MAIL"]
    assert p.host_report()[f"mx61.lab.example [{a}]"]["esmtp"] is False


def test_non_ascii_local_part_without_smtputf8_is_not_asked() -> None:
    plain, modern = net(62), net(63)
    scripts = [HostScript(plain, mailboxes={"ann@plain.example"}, smtputf8=False),
               HostScript(modern, mailboxes={"jürgen@modern.example"})]
    with ScriptedHosts(scripts, PORT) as hosts:
        result = prober().probe([
            target("jürgen@plain.example", route(plain), utf8=True),
            target("ann@plain.example", route(plain)),
            target("jürgen@modern.example", route(modern), utf8=True),
        ])
    refused = result["jürgen@plain.example"].verdict
    assert (refused.status, refused.code, refused.enhanced, refused.reason) == (
        Status.UNDELIVERABLE, "553", "5.6.7", "smtputf8_unsupported"
    )
    assert not any("jürgen" in line for s in hosts.log(plain).sessions for line in s)
    assert result["ann@plain.example"].verdict.reason == "mailbox_exists"
    assert result["jürgen@modern.example"].verdict.reason == "mailbox_exists"
    assert f"MAIL FROM:<{SENDER}> SMTPUTF8" in hosts.log(modern).sessions[0]


def test_greylisted_addresses_wait_without_holding_a_worker() -> None:
    grey, other = net(70), net(71)
    scripts = [
        HostScript(grey, mailboxes={"g@grey.example"}, greylist=True),
        HostScript(other, mailboxes={f"o{i}@other.example" for i in range(4)}, rcpt_delay=0.05),
    ]
    with ScriptedHosts(scripts, PORT) as hosts:
        p = prober(concurrency=1, per_host=1, batch_size=1, retry_after=1.0)
        targets = [target("g@grey.example", route(grey))] + [
            target(f"o{i}@other.example", route(other)) for i in range(4)
        ]
        result = p.probe(targets)
    assert result["g@grey.example"].verdict.reason == "mailbox_exists"
    assert "when asked again 1 s after a temporary one (greylisting" in result["g@grey.example"].verdict.detail
    assert "asked again" not in result["o0@other.example"].verdict.detail
    grey_log, other_log = hosts.log(grey), hosts.log(other)
    assert len(grey_log.sessions) == 2
    first_grey, retry_grey = grey_log.session_starts
    # with a single worker, all the other host's sessions ran while the greylisted one waited
    assert len(other_log.session_starts) == 4
    assert all(first_grey < t < retry_grey for t in other_log.session_starts)
    assert retry_grey - first_grey >= 1.0
    assert p.stats()["retries"] == 1


def test_still_greylisted_after_the_retries_is_unknown() -> None:
    a = net(72)
    reply = "451 4.7.1 Please try again later"
    with ScriptedHosts([HostScript(a, replies={"late@grey2.example": reply})], PORT) as hosts:
        result = prober(retry_after=0.2, max_retries=2).probe([target("late@grey2.example", route(a))])
    verdict = result["late@grey2.example"].verdict
    assert (verdict.status, verdict.code, verdict.enhanced, verdict.reason) == (
        Status.UNKNOWN, "451", "4.7.1", "temporary_failure"
    )  # a bare "try again later" is not called greylisting: it never passed, and it does not say so
    assert "Please try again later" in verdict.detail and "2 more times" in verdict.detail
    assert "greylisting looks like this" in verdict.detail
    assert len(hosts.log(a).sessions) == 3


def test_port_25_answering_nowhere_stops_early() -> None:
    # nothing listens on these addresses: every connection is refused
    addresses = [net(n) for n in range(90, 98)]
    p = prober(concurrency=1, blocked_after=3)
    targets = [target(f"x@dead{a.rsplit('.', 1)[1]}.example", route(a)) for a in addresses]
    result = p.probe(targets)
    assert {m.verdict.reason for m in result.values()} == {"probe_unreachable"}
    assert {m.verdict.status for m in result.values()} == {Status.UNKNOWN}
    assert p.stats()["connect_failures"] == 3, "it stopped after three hosts"
    assert p.stats()["port25_blocked"] == 1
    notes = p.notes()
    assert len(notes) == 1 and "port 25 is probably blocked" in notes[0]


def test_refused_hosts_when_others_answer_are_host_unavailable() -> None:
    good = net(80)
    dead = [net(n) for n in range(85, 89)]
    with ScriptedHosts([HostScript(good, mailboxes={"a@live.example"})], PORT):
        p = prober(concurrency=1)
        targets = [target("a@live.example", route(good))] + [
            target(f"x@dead{a.rsplit('.', 1)[1]}.example", route(a)) for a in dead
        ]
        result = p.probe(targets)
    assert result["a@live.example"].verdict.reason == "mailbox_exists"
    for a in dead:
        verdict = result[f"x@dead{a.rsplit('.', 1)[1]}.example"].verdict
        assert (verdict.code, verdict.enhanced, verdict.reason) == ("421", "4.4.1", "host_unavailable")
        assert "connection refused" in verdict.detail
    assert p.notes() == []


def test_cached_verdicts_need_no_network(tmp_path: Path) -> None:
    a = net(90)
    cache_path = tmp_path / "cache.sqlite3"
    boxes = {"kept@cache.example"}
    reply = "450 4.2.0 Greylisted"
    targets = [target("kept@cache.example", route(a)), target("gone@cache.example", route(a)),
               target("grey@cache.example", route(a))]
    with ScriptedHosts([HostScript(a, mailboxes=boxes, replies={"grey@cache.example": reply})], PORT):
        first = prober(VerdictCache(cache_path), max_retries=0, retry_after=0).probe(targets)  # due at once
    assert first["kept@cache.example"].verdict.reason == "mailbox_exists"
    assert first["gone@cache.example"].verdict.reason == "mailbox_not_found"
    assert first["grey@cache.example"].verdict.reason == "greylisted"
    # the host is gone now: cached verdicts come back without a connection, unknown ones are asked again
    second_prober = prober(VerdictCache(cache_path), max_retries=0)
    second = second_prober.probe(targets)
    for email in ("kept@cache.example", "gone@cache.example"):
        assert second[email].from_cache
        assert second[email].verdict == first[email].verdict
    assert second["grey@cache.example"].verdict.reason == "host_unavailable"
    stats = second_prober.stats()
    assert stats["cache_hits"] == 2 and stats["connect_failures"] == 1
    assert stats["cache_writes"] == 0  # host_unavailable is not kept


def test_many_refusals_split_the_work_over_fresh_sessions() -> None:
    a = net(95)
    with ScriptedHosts([HostScript(a, mailboxes={"real@many.example"})], PORT) as hosts:
        p = prober(batch_size=30)
        emails = [f"nobody{i}@many.example" for i in range(20)] + ["real@many.example"]
        result = p.probe([target(e, route(a)) for e in emails])
    assert result["real@many.example"].verdict.reason == "mailbox_exists"
    assert sum(m.verdict.reason == "mailbox_not_found" for m in result.values()) == 20
    sessions = hosts.log(a).sessions
    assert len(sessions) >= 3
    # a server counts refusals per session (Postfix slows down after 10, hangs up at 20)
    for session in sessions:
        rcpts = [line for line in session if line.startswith("RCPT")]
        assert len(rcpts) <= 9
        assert session[-1] == "QUIT"


def test_pipelined_rcpts_when_offered_keep_order_and_limits() -> None:
    a, b = net(100), net(101)
    boxes = {f"u{i}@pipe.example" for i in range(0, 12, 2)}
    scripts = [
        HostScript(a, mailboxes=boxes, pipelining=True),
        HostScript(b, mailboxes=boxes, pipelining=True, rcpt_limit=3),
    ]
    with ScriptedHosts(scripts, PORT) as hosts:
        p = prober(batch_size=12)
        first = p.probe([target(f"u{i}@pipe.example", route(a)) for i in range(12)])
        limited = p.probe([target(f"u{i}@pipe.example", route(b)) for i in range(12)])
    for result in (first, limited):
        for i in range(12):
            expected = "mailbox_exists" if i % 2 == 0 else "mailbox_not_found"
            assert result[f"u{i}@pipe.example"].verdict.reason == expected, (i, result)
    stats = p.stats()
    assert stats["pipelined_groups"] >= 2
    assert stats["rcpt_limit_lowered"] >= 1
    for host in (a, b):
        verbs = hosts.log(host).commands()
        assert "DATA" not in verbs and verbs[-1] == "QUIT"


def test_every_reply_has_a_timeout() -> None:
    slow = net(102)
    with ScriptedHosts([HostScript(slow, mailboxes={"s@slow2.example"}, rcpt_delay=2.0)], PORT):
        started = time.monotonic()
        result = prober(timeout=0.4).probe([target("s@slow2.example", route(slow))])
        elapsed = time.monotonic() - started
    verdict = result["s@slow2.example"].verdict
    assert (verdict.status, verdict.reason) == (Status.UNKNOWN, "host_unavailable")
    assert "timed out during RCPT TO" in verdict.detail
    assert elapsed < 3


def test_fast_refusals_do_not_outrun_a_slow_greeting() -> None:
    # refusals come back at once, the live host greets after 0.3 s: that is no blocked port 25
    live = net(103)
    dead = [net(n) for n in range(104, 110)]
    with ScriptedHosts([HostScript(live, mailboxes={"a@late.example"}, banner_delay=0.3)], PORT):
        p = prober(concurrency=4, blocked_after=3)  # three refusals come back while the live host greets
        targets = [target("a@late.example", route(live))] + [
            target(f"x@dead{a.rsplit('.', 1)[1]}.example", route(a)) for a in dead
        ]
        result = p.probe(targets)
    assert result["a@late.example"].verdict.reason == "mailbox_exists"
    assert {result[f"x@dead{a.rsplit('.', 1)[1]}.example"].verdict.reason for a in dead} == {"host_unavailable"}
    assert p.notes() == [] and p.stats()["port25_blocked"] == 0


def test_stats_name_every_counter_even_when_nothing_happened(tmp_path: Path) -> None:
    idle = prober().stats()
    assert {key: idle[key] for key in STAT_KEYS} == dict.fromkeys(STAT_KEYS, 0)
    assert idle["cache_writes"] == 0 and idle["hosts"] == 0 and idle["port25_blocked"] == 0
    # a run served wholly from the cache: sessions is there, and 0
    a = net(110)
    cache_path = tmp_path / "cache.sqlite3"
    with ScriptedHosts([HostScript(a, mailboxes={"kept@cache.example"})], PORT):
        prober(VerdictCache(cache_path)).probe([target("kept@cache.example", route(a))])
    cached = prober(VerdictCache(cache_path))
    cached.probe([target("kept@cache.example", route(a))])
    stats = cached.stats()
    assert (stats["sessions"], stats["rcpts"], stats["cache_hits"], stats["cache_writes"]) == (0, 0, 1, 0)


def test_cache_key_names_the_route() -> None:
    """A verdict learnt through one port / set of mail hosts never answers for another route."""
    from pipeline.models import MxHost
    from pipeline.options import ProbeOptions
    from pipeline.ports import ProbeTarget
    from pipeline.probe.prober import SmtpProber

    def target(host: str) -> ProbeTarget:
        return ProbeTarget("Ann@X.example", "Ann", "x.example", "x.example", False, (MxHost(10, host, ("127.0.3.1",)),))

    lab = SmtpProber(ProbeOptions(enabled=True, mail_from="p@lab.example", port=2525))
    real = SmtpProber(ProbeOptions(enabled=True, mail_from="p@lab.example", port=25))
    assert lab._cache_key(target("mx.x.example")) == "ann@x.example|2525|mx.x.example"
    assert lab._cache_key(target("mx.x.example")) != real._cache_key(target("mx.x.example"))
    assert lab._cache_key(target("mx.x.example")) != lab._cache_key(target("mx2.x.example"))
