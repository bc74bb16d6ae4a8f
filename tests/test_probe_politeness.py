"""Hosts that cut sessions short, scripted with aiosmtpd on 127.0.5.0/24 (issue 17).

A drop mid-session, a 421 that names its wait, a host that keeps refusing, a host that
trickles its replies one byte at a time just under the reply timeout: none of them gives an
address a verdict it did not answer; what they teach is kept (cache, findings) and planned under.
"""

from __future__ import annotations

import time
from pathlib import Path

from pipeline.cache import VerdictCache
from pipeline.models import MxHost, Status
from pipeline.options import ProbeOptions
from pipeline.ports import ProbeTarget
from pipeline.probe.prober import LIMITS_KIND, SmtpProber
from tests.lab.smtphosts import HostScript, ScriptedHosts

PORT = 2525
SENDER = "probe@presend-lab.example"


def net(n: int) -> str:
    return f"127.0.5.{n}"


def route(*addresses: str) -> tuple[MxHost, ...]:
    return tuple(MxHost(10 * (i + 1), f"mx{a.rsplit('.', 1)[1]}.lab.example", (a,)) for i, a in enumerate(addresses))


def target(email: str, mx: tuple[MxHost, ...]) -> ProbeTarget:
    local, domain = email.rsplit("@", 1)
    return ProbeTarget(email, local, domain, domain, False, mx)


def prober(cache: VerdictCache | None = None, **overrides: object) -> SmtpProber:
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
        "backoff_tries": 2,
    }
    values.update(overrides)
    return SmtpProber(ProbeOptions(**values), cache)  # type: ignore[arg-type]


def test_a_named_wait_is_respected_then_the_host_answers() -> None:
    a = net(10)
    script = HostScript(
        a,
        mailboxes={"amy@wait.example"},
        refuse_sessions=1,
        refusal="421 4.7.0 Too many connections, try again in 1 seconds",
    )
    with ScriptedHosts([script], PORT) as hosts:
        p = prober(backoff=0.1)
        result = p.probe([target("amy@wait.example", route(a)), target("nobody@wait.example", route(a))])
    assert result["amy@wait.example"].verdict.reason == "mailbox_exists"
    assert result["nobody@wait.example"].verdict.reason == "mailbox_not_found"
    starts = hosts.log(a).session_starts
    assert len(starts) == 2 and starts[1] - starts[0] >= 1.0  # the host's 1 s, not our 0.1 s
    assert p.stats()["sessions_cut"] == 1 and p.stats()["backoffs"] == 1


def test_a_host_that_keeps_refusing_is_unknown_in_its_own_words() -> None:
    a = net(11)
    script = HostScript(
        a, mailboxes={"al@down.example"}, refuse_sessions=99, refusal="421 4.3.2 Service shutting down for maintenance"
    )
    with ScriptedHosts([script], PORT) as hosts:
        result = prober(backoff=0.1, backoff_tries=2).probe([target("al@down.example", route(a))])
    verdict = result["al@down.example"].verdict
    assert (verdict.status, verdict.code, verdict.enhanced, verdict.reason) == (
        Status.UNKNOWN,
        "421",
        "4.3.2",
        "host_unavailable",
    )
    assert "Service shutting down for maintenance" in verdict.detail and "2 more times" in verdict.detail
    starts = hosts.log(a).session_starts
    assert len(starts) == 3
    assert starts[2] - starts[1] >= 0.2 > starts[1] - starts[0] >= 0.1  # the backoff doubles


def test_a_drop_mid_session_is_no_answer_and_its_limit_is_kept(tmp_path: Path) -> None:
    a = net(12)
    boxes = {f"d{i}@drop.example" for i in range(6)}
    cache = VerdictCache(tmp_path / "cache.sqlite3")
    with ScriptedHosts([HostScript(a, mailboxes=boxes, drop_after_rcpts=4)], PORT) as hosts:
        first = prober(cache)
        result = first.probe([target(f"d{i}@drop.example", route(a)) for i in range(4)])
        assert {m.verdict.reason for m in result.values()} == {"mailbox_exists"}
        assert first.limits(a).rcpts_per_session == 3
        assert first.host_report()[f"mx12.lab.example [{a}]"]["limits"] == {"rcpts_per_session": 3, "cuts": 1}
        # a later run reads the limit from the cache: its sessions stop short of the hang-up
        before = len(hosts.log(a).sessions)
        later = prober(VerdictCache(tmp_path / "cache.sqlite3"))
        again = later.probe([target(f"d{i}@drop.example", route(a)) for i in (4, 5)])
    assert {m.verdict.reason for m in again.values()} == {"mailbox_exists"}
    assert cache.get(LIMITS_KIND, f"{a}|{PORT}") == {"rcpts_per_session": 3}
    for session in hosts.log(a).sessions[before:]:
        assert sum(line.startswith("RCPT") for line in session) <= 3 and session[-1] == "QUIT"
    assert later.stats()["sessions_cut"] == 0


def test_a_trickling_host_is_stopped_by_the_session_cap_and_the_backup_answers() -> None:
    slow, backup = net(13), net(14)
    scripts = [
        HostScript(slow, mailboxes={"tom@trickle.example"}, trickle=0.05),
        HostScript(backup, mailboxes={"tom@trickle.example"}),
    ]
    with ScriptedHosts(scripts, PORT):
        p = prober(timeout=1.0, session_cap=1.0)
        started = time.monotonic()
        result = p.probe([target("tom@trickle.example", route(slow, backup))])
        elapsed = time.monotonic() - started
    verdict = result["tom@trickle.example"].verdict
    assert (verdict.reason, verdict.mx) == ("mailbox_exists", "mx14.lab.example")
    assert elapsed < 3  # each byte came within the 1 s timeout: only the cap stopped it
    assert p.stats()["sessions_capped"] == 1


def test_a_trickling_host_alone_ends_unknown_saying_why() -> None:
    slow = net(15)
    with ScriptedHosts([HostScript(slow, mailboxes={"tia@trickle2.example"}, trickle=0.05)], PORT) as hosts:
        p = prober(timeout=1.0, session_cap=0.8, backoff=0.1, backoff_tries=1)
        result = p.probe([target("tia@trickle2.example", route(slow))])
    verdict = result["tia@trickle2.example"].verdict
    assert (verdict.status, verdict.reason) == (Status.UNKNOWN, "host_unavailable")
    assert "--session-cap" in verdict.detail and "once more" in verdict.detail
    assert len(hosts.log(slow).sessions) == 2
    assert p.stats()["sessions_capped"] == 2


def test_limits_learnt_elsewhere_flow_through_findings_and_absorb() -> None:
    a = net(16)
    with ScriptedHosts([HostScript(a, mailboxes={"x@lim.example", "y@lim.example"}, rcpt_limit=1)], PORT):
        worker = prober()
        worker.probe([target("x@lim.example", route(a)), target("y@lim.example", route(a))])
    found = worker.findings()
    assert found.limits[a].rcpts_per_transaction == 1
    coordinator = prober()
    coordinator.absorb(found)
    assert coordinator.limits(a).rcpts_per_transaction == 1
    assert coordinator.rcpt_limit(a) == 1


def test_a_cluster_worker_starts_from_the_limits_the_coordinator_knows() -> None:
    from pipeline.engine.cluster import probe_task
    from pipeline.probe.limits import HostLimits

    a = net(17)
    boxes = {f"w{i}@worker.example" for i in range(4)}
    with ScriptedHosts([HostScript(a, mailboxes=boxes, drop_after_rcpts=3)], PORT) as hosts:
        verdicts, found = probe_task(
            prober().options, [target(e, route(a)) for e in sorted(boxes)], limits={a: HostLimits(rcpts_per_session=2)}
        )
    assert {m.verdict.reason for m in verdicts.values()} == {"mailbox_exists"}
    assert found.counters["sessions_cut"] == 0  # sessions of two RCPTs: the host never hung up
    assert all(session[-1] == "QUIT" for session in hosts.log(a).sessions)
    assert found.limits[a] == HostLimits(rcpts_per_session=2)


def test_the_session_cap_also_stops_a_host_trickling_inside_tls(tmp_path: Path) -> None:
    slow = net(18)
    script = HostScript(
        slow, mailboxes={"tess@tls-trickle.example"}, require_tls=True, trickle=0.05, trickle_after_tls=True
    )
    with ScriptedHosts([script], PORT, cert_dir=tmp_path):
        p = prober(timeout=1.0, session_cap=1.0, backoff_tries=0)
        started = time.monotonic()
        result = p.probe([target("tess@tls-trickle.example", route(slow))])
        elapsed = time.monotonic() - started
    assert result["tess@tls-trickle.example"].verdict.reason == "host_unavailable"
    assert "--session-cap" in result["tess@tls-trickle.example"].verdict.detail
    assert p.stats()["starttls"] == 1 and p.stats()["sessions_capped"] == 1
    assert elapsed < 3
