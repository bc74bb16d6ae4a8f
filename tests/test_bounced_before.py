"""``bounced_before``: a real bounce kept by ``calibrate --suppress`` is one more input of decide().

Through the verdict path (decide → encode), then whole runs: every engine gives the same
outputs with kept bounces, the bounced rows are decided without the network levels asking
about them, and repeated soft bounces over ``--soft-bounce-limit`` lower a row to risky.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.bounced import BOUNCED_REASON, SOFT_BOUNCED_REASON, BounceFact
from pipeline.cache import VerdictCache
from pipeline.calibrate.suppress import KEEP_SECONDS, KIND, load
from pipeline.columns import RESULT_COLUMNS, encode
from pipeline.models import Status
from pipeline.options import BounceOptions, CacheOptions, DnsOptions, RunOptions
from pipeline.rules.syntax import check_address
from pipeline.run import run
from pipeline.verdict import RowFacts, decide
from tests.lab.staticdns import StaticResolver
from tests.run_helpers import assert_same_outputs, result_rows
from tests.test_engines import _generated

HARD = BounceFact("ghost@acme-co.com", True, "550", "5.1.1", "550 5.1.1 no such user here", "2026-11-30T08:00:00Z",
                  "maillog:12")
SOFT = BounceFact("slow@acme-co.com", False, soft_count=3, soft_at="2026-11-30T09:00:00Z",
                  soft_text="452 4.2.2 mailbox full")
NOW = "2026-12-04T10:00:00Z"


def test_a_hard_bounce_decides_the_row_with_the_real_reply() -> None:
    outcome = decide(RowFacts(check_address("Ghost@acme-co.com"), checked_at=NOW, bounced=HARD))
    columns = dict(zip(RESULT_COLUMNS, encode(outcome), strict=True))
    assert (columns["presend_status"], columns["presend_code"], columns["presend_enhanced"]) == (
        "undeliverable", "550", "5.1.1")
    assert columns["presend_reason"] == BOUNCED_REASON
    assert "550 5.1.1 no such user here" in columns["presend_detail"]
    assert "2026-11-30T08:00:00Z" in columns["presend_detail"]
    assert columns["presend_checked_at"] == "2026-11-30T08:00:00Z"  # the bounce was the deciding check


def test_an_expiry_counts_as_a_permanent_reply_but_quotes_the_real_one() -> None:
    expired = replace(HARD, code="", enhanced="4.4.1", text="connect to mx: Connection refused")
    verdict = decide(RowFacts(check_address("ghost@acme-co.com"), checked_at=NOW, bounced=expired)).verdict
    assert (verdict.status, verdict.code, verdict.enhanced) == (Status.UNDELIVERABLE, "550", "5.0.0")
    assert "4.4.1 connect to mx: Connection refused" in verdict.detail


def test_a_repeat_of_a_bounced_address_is_still_a_duplicate() -> None:
    outcome = decide(RowFacts(check_address("ghost@acme-co.com"), first_row=2, checked_at=NOW, bounced=HARD))
    assert outcome.verdict.status is Status.DUPLICATE


def test_soft_bounces_lower_only_a_deliverable_row() -> None:
    verdict = decide(RowFacts(check_address("slow@acme-co.com"), checked_at=NOW, bounced=SOFT)).verdict
    assert (verdict.status, verdict.reason) == (Status.RISKY, SOFT_BOUNCED_REASON)
    assert "3 real sends" in verdict.detail and "452 4.2.2 mailbox full" in verdict.detail
    invalid = decide(RowFacts(check_address("slow@@acme-co.com"), checked_at=NOW, bounced=SOFT)).verdict
    assert invalid.reason != SOFT_BOUNCED_REASON


def _keep(cache_path: Path, facts: list[BounceFact]) -> None:
    cache = VerdictCache(cache_path)
    cache.put_many(KIND, [(f.email.lower(), f.as_dict(), KEEP_SECONDS) for f in facts])
    cache.close()


def _kept_in_generated() -> list[BounceFact]:
    # Addresses the generated list holds (user<n>@<domain>, some repeated in other case).
    hard = [replace(HARD, email=f"user{n}@acme-co.com", at=f"2026-11-{10 + n % 10}T08:00:00Z")
            for n in range(0, 400, 7)]
    soft = [replace(SOFT, email=f"user{n}@acme-co.net") for n in range(3, 400, 11)]
    return hard + soft


@pytest.mark.parametrize("dns_level", [False, True])
def test_every_engine_agrees_with_kept_bounces(tmp_path: Path, dns_level: bool) -> None:
    listing = _generated(tmp_path / "generated.csv")
    cache_path = tmp_path / "cache.sqlite3"
    _keep(cache_path, _kept_in_generated())
    table = {d: ((10, f"mx.{d}", ("127.0.0.1",)),) for d in ("acme-co.com", "acme-co.net", "mail.example")}
    outs = {}
    for engine in ("local", "processes"):
        out = tmp_path / engine
        options = RunOptions(input=listing, out_dir=out, engine=engine, chunk_size=1_500, workers=2,
                             dns=DnsOptions(enabled=dns_level), cache=CacheOptions(path=cache_path))
        run(options, resolver=StaticResolver(table) if dns_level else None)
        outs[engine] = out
    assert_same_outputs(outs["processes"], outs["local"], "generated")
    rows = result_rows(outs["local"] / "generated.results.csv")
    header = rows[0]
    at = {name: header.index(name) for name in ("presend_status", "presend_reason", "presend_email")}
    by_reason: dict[str, set[str]] = {}
    for row in rows[1:]:
        if len(row) == len(header):
            by_reason.setdefault(row[at["presend_reason"]], set()).add(row[at["presend_email"]].lower())
    hard = {f"user{n}@acme-co.com" for n in range(0, 400, 7)}
    bounced = by_reason[BOUNCED_REASON]
    assert bounced and bounced <= hard
    # every kept address the list holds as a first occurrence is decided by its bounce
    firsts = {row[at["presend_email"]].lower() for row in rows[1:]
              if len(row) == len(header) and row[at["presend_status"]] != "duplicate"}
    assert bounced == hard & firsts
    # the soft ones are under the default limit (3 soft bounces, limit 3: at it, so risky)
    assert by_reason[SOFT_BOUNCED_REASON] <= {f"user{n}@acme-co.net" for n in range(3, 400, 11)}


def test_the_soft_bounce_limit_is_an_option(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("email\nslow@acme-co.com\nok@acme-co.com\n")
    cache_path = tmp_path / "cache.sqlite3"
    _keep(cache_path, [SOFT])
    for limit, reason in ((3, SOFT_BOUNCED_REASON), (4, "domain_not_checked")):
        out = tmp_path / f"limit{limit}"
        run(RunOptions(input=listing, out_dir=out, dns=DnsOptions(enabled=False), cache=CacheOptions(path=cache_path),
                       bounces=BounceOptions(soft_limit=limit)))
        rows = result_rows(out / "list.results.csv")
        assert rows[1][RESULT_COLUMNS.index("presend_reason") + 1] == reason
    cache = VerdictCache(cache_path)
    assert set(load(cache, 3).facts) == {"slow@acme-co.com"} and not load(cache, 4)
    cache.close()


def test_bounced_addresses_are_not_asked_about(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("email\nghost@only-bounced.example\nfine@other.example\n")
    cache_path = tmp_path / "cache.sqlite3"
    _keep(cache_path, [replace(HARD, email="ghost@only-bounced.example")])
    table = {d: ((10, f"mx.{d}", ("127.0.0.1",)),) for d in ("only-bounced.example", "other.example")}
    for engine in ("local", "processes"):
        resolver = StaticResolver(table)
        run(RunOptions(input=listing, out_dir=tmp_path / engine, engine=engine, cache=CacheOptions(path=cache_path)),
            resolver=resolver)
        assert resolver.lookups == 1  # other.example only: the bounced address's domain was never resolved
        rows = result_rows(tmp_path / engine / "list.results.csv")
        assert rows[1][1 + RESULT_COLUMNS.index("presend_reason")] == BOUNCED_REASON


def test_the_dask_engine_agrees_with_kept_bounces(dask_cluster, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    listing = _generated(tmp_path / "generated.csv")
    cache_path = tmp_path / "cache.sqlite3"
    _keep(cache_path, _kept_in_generated())
    outs = {}
    for engine in ("local", "dask"):
        out = tmp_path / engine
        options = RunOptions(input=listing, out_dir=out, engine=engine, chunk_size=1_500,
                             scheduler=dask_cluster.address if engine == "dask" else None,
                             dns=DnsOptions(enabled=False), cache=CacheOptions(path=cache_path))
        run(options)
        outs[engine] = out
    assert_same_outputs(outs["dask"], outs["local"], "generated")
    results = (outs["dask"] / "generated.results.csv").read_text()
    assert results.count(BOUNCED_REASON) > 10


def test_a_run_without_dns_makes_no_cache_to_look_for_bounces(tmp_path: Path) -> None:
    listing = tmp_path / "list.csv"
    listing.write_text("email\na@acme-co.com\n")
    cache_path = tmp_path / "nowhere" / "cache.sqlite3"
    run(RunOptions(input=listing, out_dir=tmp_path / "out", dns=DnsOptions(enabled=False),
                   cache=CacheOptions(path=cache_path)))
    assert not cache_path.parent.exists()
