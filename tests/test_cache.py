"""The SQLite verdict cache: lifetimes, max-age, round trips of records."""

from __future__ import annotations

from pathlib import Path

from pipeline.cache import (
    VerdictCache,
    domain_from_dict,
    domain_to_dict,
    mailbox_from_dict,
    mailbox_to_dict,
)
from pipeline.models import DomainVerdict, MailboxVerdict, MxHost, Status, Verdict


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_lifetime_and_max_age(tmp_path: Path) -> None:
    clock = Clock()
    cache = VerdictCache(tmp_path / "c.sqlite3", clock=clock)
    cache.put_many("domain", [("a.example", {"x": 1}, 60), ("b.example", {"x": 2}, 3600), ("c.example", {}, 0)])
    assert set(cache.get_many("domain", ["a.example", "b.example", "c.example"])) == {"a.example", "b.example"}
    clock.now += 61
    assert cache.get("domain", "a.example") is None
    assert cache.get("domain", "b.example") == {"x": 2}
    assert cache.stats("domain") == {"cache_hits": 3, "cache_misses": 2, "cache_writes": 2}
    cache.close()
    # A second process with --max-age 30 refuses the 61-second-old record.
    strict = VerdictCache(tmp_path / "c.sqlite3", max_age=30, clock=clock)
    assert strict.get("domain", "b.example") is None
    relaxed = VerdictCache(tmp_path / "c.sqlite3", max_age=120, clock=clock)
    assert relaxed.get("domain", "b.example") == {"x": 2}
    assert relaxed.purge_expired() == 1


def test_record_round_trip() -> None:
    domain = DomainVerdict(
        "mx.example", None, (MxHost(10, "mx1.mx.example", ("127.0.0.2",)),), provider="Lab", checked_at="t"
    )
    back = domain_from_dict(domain_to_dict(domain))
    assert back.from_cache and back.mx_hosts == domain.mx_hosts and back.verdict is None
    dead = DomainVerdict("nx.example", Verdict(Status.UNDELIVERABLE, "550", "5.1.2", "nxdomain", "gone"))
    assert domain_from_dict(domain_to_dict(dead)).verdict == dead.verdict
    box = MailboxVerdict("a@mx.example", Verdict(Status.RISKY, "250", "2.1.5", "catch_all", "d", "mx1"), True)
    again = mailbox_from_dict(mailbox_to_dict(box))
    assert again.verdict == box.verdict and again.catch_all and again.from_cache
