"""summary.json: what a finished run did, assembled from the records its stages return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline import __version__
from pipeline.engine.base import EngineOutcome, stage_timings
from pipeline.engine.chunks import utc_now
from pipeline.io.commit import RunCommit, options_as_data
from pipeline.io.safetext import json_safe
from pipeline.options import RunOptions
from pipeline.ports import DomainResolver, MailboxProber
from pipeline.report.tally import Tally
from pipeline.rules.probe_trust import probe_trust
from pipeline.rules.tlds import tld_list

#: At most this many greylisting domains are listed in summary.json.
GREYLIST_LIST_CAP = 10_000


@dataclass(frozen=True)
class NetworkReport:
    """What the network levels report: their counters, the mail hosts met, greylisting domains."""

    dns: dict[str, Any] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)
    probe_hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    greylisting_domains: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, resolver: DomainResolver | None, prober: MailboxProber | None) -> NetworkReport:
        """The report of the levels that ran (None: the level was off)."""
        dns = dict(resolver.stats()) if resolver is not None else {}
        if prober is None:
            return cls(dns=dns)
        return cls(dns, dict(prober.stats()), prober.host_report(), prober.greylisting_domains()[:GREYLIST_LIST_CAP])


def levels_of(options: RunOptions) -> list[str]:
    """The levels a run checks, in order: syntax always, then dns and mailbox when enabled."""
    levels = ["syntax"]
    if options.dns.enabled:
        levels.append("dns")
    if options.probe.enabled:
        levels.append("mailbox")
    return levels


def build_summary(
    options: RunOptions,
    *,
    input_report: dict[str, Any],
    commit: RunCommit,
    tally: Tally,
    outcome: EngineOutcome,
    network: NetworkReport,
    notes: list[str],
    seconds: float,
) -> dict[str, Any]:
    """summary.json's content, safe to write as UTF-8 JSON and HTML.

    ``input_report`` is the table's report (format, encoding, read counters); ``seconds`` the
    run's wall time so far.
    """
    summary: dict[str, Any] = {
        "presend_version": __version__,
        "input": {"name": options.input.name, "path": str(options.input), "sha256": commit.fingerprint.sha256,
                  **input_report},
        "levels": levels_of(options),
        # The offline knowledge a run without DNS judged domains by.
        **({} if options.dns.enabled else {"tld_list": tld_list(options.hygiene.tld_list).about()}),
        "mailboxes_probed": options.probe.enabled,
        **tally.counts(),
        "started_at": commit.started_at,
        "finished_at": utc_now(),
        "resumed": commit.resumed,
        "resumed_from_row": commit.resumed_from,
        "timings_seconds": _timings(outcome, seconds),
        "syntax": outcome.syntax,
        "engine": outcome.name,
        "workers": outcome.workers,
        "verdicts_from_cache": _from_cache(network, options),
        "dns": network.dns,
        "probe": network.probe,
        "probe_hosts": network.probe_hosts,
        "probe_greylisting_domains": network.greylisting_domains,
        "probe_trust": probe_trust(network.dns.get("providers"), catch_all_check=options.probe.catch_all_check),
        "notes": notes,
        "options": options_as_data(options),
    }
    # A file name's undecodable bytes as \xNN: valid UTF-8 JSON and HTML.
    safe: dict[str, Any] = json_safe(summary)
    return safe


def _timings(outcome: EngineOutcome, seconds: float) -> dict[str, float]:
    """Seconds per stage (every stage named, even one an engine does not time), then the total."""
    timings = {**stage_timings(), **outcome.timings}
    return {**{stage: round(spent, 3) for stage, spent in timings.items()}, "total": round(seconds, 3)}


def _from_cache(network: NetworkReport, options: RunOptions) -> dict[str, Any]:
    """How many domain and mailbox verdicts came from the persistent cache, per level."""
    result: dict[str, Any] = {"cache_enabled": options.cache.enabled, "max_age_seconds": options.cache.max_age}
    for level, stats in (("domains", network.dns), ("mailboxes", network.probe)):
        if stats:
            result[level] = {
                "from_cache": int(stats.get("cache_hits", 0)),
                "looked_up": int(stats.get("cache_misses", 0)),
            }
    return result


__all__ = ["GREYLIST_LIST_CAP", "NetworkReport", "build_summary", "levels_of"]
