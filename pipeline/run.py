"""One ``presend clean`` run, stage by stage.

check the options → open the table → guard the run's files → take the lock → start the commit
(fresh, or from an interrupted run's partial outputs with ``--resume``) → the engine judges,
writes and commits every row in file order (:mod:`pipeline.engine`) → check that the input
held still → rename the outputs into place → summary.json → the HTML report.

After each chunk (or piece) the partial outputs are synced and a resume state recorded
(:mod:`pipeline.io.commit`), so a run that is killed can continue with ``--resume`` from its
last commit, under any engine; the DNS and mailbox levels write what they learn to the
verdict cache as they go, so a resumed run does not ask the network again for what it had.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.bounced import Suppressions
from pipeline.engine.base import EngineOutcome, InOrder, Job, check_engine, pick_engine
from pipeline.engine.chunks import utc_now
from pipeline.io.commit import RunCommit
from pipeline.io.downloads import downloads_summary, write_downloads
from pipeline.io.ingest import Table, open_table
from pipeline.io.lock import RunLock
from pipeline.io.outputs import atomic_write_json, atomic_write_text, ensure_writable_dir, remove_stale_temps
from pipeline.io.runfiles import RunFiles, guard_run_files
from pipeline.io.safetext import json_safe
from pipeline.io.state import InputFingerprint, check_held_still, file_sha256
from pipeline.options import RunOptions, check_options
from pipeline.ports import DomainResolver, MailboxProber, ProgressCallback, no_progress
from pipeline.report.html import render_report
from pipeline.report.plausibility import resolver_warning
from pipeline.report.summary import NetworkReport, build_summary, levels_of
from pipeline.report.tally import Tally
from pipeline.rules.dedupe import DuplicateIndex
from pipeline.rules.tlds import tld_list
from pipeline.sender.readiness import SenderReport, report_data, sender_note, sender_stage

#: ``events(name, fields)``: run_started, chunk_committed, level_finished, note (see run()).
EventCallback = Callable[[str, dict[str, Any]], None]

__all__ = ["EventCallback", "RunResult", "file_sha256", "no_events", "run", "utc_now"]


def no_events(name: str, fields: dict[str, Any]) -> None:
    """An event callback that ignores everything."""


@dataclass
class RunResult:
    """What a finished run produced: output paths, the summary, and the tally.

    ``paths`` names the four outputs ("results", "clean", "summary", "report") and the
    downloads by category ("undeliverable", "risky", "unknown", "fixable", "duplicates").
    """

    paths: dict[str, Path]
    summary: dict[str, Any]
    tally: Tally
    notes: list[str] = field(default_factory=list)
    #: The outputs' delimiter (the input's; a comma for a workbook).
    delimiter: str = ","


def network_levels(options: RunOptions) -> tuple[DomainResolver | None, MailboxProber | None]:
    """The resolver and the prober the options' levels need (None for a level that is off)."""
    resolver = prober = None
    if options.dns.enabled:
        from pipeline.dns.resolver import make_resolver

        resolver = make_resolver(options.dns, options.cache)
    if options.probe.enabled:
        from pipeline.probe.prober import make_prober

        prober = make_prober(options.probe, options.cache)
    return resolver, prober


def kept_bounces(options: RunOptions) -> Suppressions | None:
    """The real bounces ``calibrate --suppress`` kept in the run's cache (None: no cache, or none kept)."""
    from pipeline.cache import VerdictCache, default_cache_path
    from pipeline.calibrate.suppress import load

    if not options.cache.enabled:
        return None
    path = options.cache.path or default_cache_path()
    if str(path) == ":memory:" or not Path(path).exists():
        return None  # nothing kept (and a run without DNS makes no cache of its own)
    cache = VerdictCache(path)
    try:
        bounces = load(cache, options.bounces.soft_limit)
    finally:
        cache.close()
    return bounces if bounces else None


def run(
    options: RunOptions,
    *,
    resolver: DomainResolver | None = None,
    prober: MailboxProber | None = None,
    progress: ProgressCallback = no_progress,
    events: EventCallback = no_events,
    password: str | None = None,
) -> RunResult:
    """Run the pipeline over ``options.input`` and write the four outputs.

    ``resolver`` must be given when ``options.dns.enabled``; ``prober`` when
    ``options.probe.enabled``. Raises :class:`~pipeline.errors.PresendError` subclasses
    only for whole-run failures (:class:`~pipeline.errors.LockedError` when another run
    holds ``<out>/<stem>.lock``). ``password`` is the relay's, for the sender checks (else read
    from the environment variable ``--password-env`` names).
    """
    check_options(options)
    check_engine(options)
    if options.probe.proxy:
        from pipeline.probe.connect import parse_proxy, preflight

        parse_proxy(options.probe.proxy)  # a malformed --proxy is a usage error, probing or not
        if options.probe.enabled:
            preflight(options.probe)  # a proxy that is down stops the run here, in one line
    tld_list(options.hygiene.tld_list)  # a --tld-list that cannot be read stops the run before it starts
    sender = sender_stage(options, password)
    with open_table(options.input, options.email_column, options.encoding) as table:
        ensure_writable_dir(options.output_dir)
        files = RunFiles.of(options.output_dir, options.stem)
        guard_run_files(files, options.input)
        with RunLock(files.lock):
            remove_stale_temps([*files.outputs.values(), files.state])
            resolver = resolver if options.dns.enabled else None
            prober = prober if options.probe.enabled else None
            return _run_locked(options, table, resolver, prober, progress, events, sender)


def _run_locked(
    options: RunOptions,
    table: Table,
    resolver: DomainResolver | None,
    prober: MailboxProber | None,
    progress: ProgressCallback,
    events: EventCallback,
    sender: SenderReport | None = None,
) -> RunResult:
    """The stages that run under the lock: commit.start → engine → held still → commit.finish → summary."""
    t0 = time.perf_counter()
    commit = RunCommit(options, _hash_in_background(options.input), utc_now())
    tally = Tally(row_cap=options.report_row_cap)
    try:
        index = DuplicateIndex()
        done = commit.start(table, index, tally)
        events(
            "run_started",
            {"input": str(options.input), "rows_done": done, "resumed": done > 0, "chunk_size": options.chunk_size},
        )
        keep = InOrder(commit.writer, index, tally, commit.commit, _committed(progress, events))
        engine = pick_engine(options, table)
        impact = sender.impact if sender is not None else None
        job = Job(options, table, keep, resolver, prober, progress, done, kept_bounces(options), impact)
        outcome = engine.run(job)
        if outcome.read is not None:
            table.stats = outcome.read
        check_held_still(options.input, commit.fingerprint, table.stats.decode if table.text_format else None)
        commit.finish()
    except BaseException:
        commit.interrupted()
        raise
    notes = table.notes() + (prober.notes() if prober is not None else [])
    _report_levels(options, outcome, notes, events)
    warnings = _warnings(options, tally)
    for warning in warnings:
        events("warning", {"message": warning})
    if sender is not None and not sender.ready:
        events("note", {"message": sender_note(sender)})
    summary = build_summary(
        options, input_report=table.report(), commit=commit, tally=tally, outcome=outcome,
        network=NetworkReport.of(resolver, prober), notes=notes + warnings, seconds=time.perf_counter() - t0,
    )
    summary["warnings"] = warnings
    if sender is not None:
        summary["sender"] = json_safe(report_data(sender, dict(tally.by_reason)))
    paths = dict(commit.writer.paths)
    downloads = write_downloads(paths["results"], options.output_dir, options.stem, table.info.output_delimiter)
    summary["downloads"] = downloads_summary(downloads)
    paths.update({group: item.path for group, item in downloads.items()})
    atomic_write_json(paths["summary"], summary)
    atomic_write_text(paths["report"], render_report(summary, tally))
    return RunResult(paths=paths, summary=summary, tally=tally, notes=notes, delimiter=table.info.output_delimiter)


def _hash_in_background(path: Path) -> Future[InputFingerprint]:
    """The input's fingerprint (its SHA-256, for --resume), read in a thread while the run gets going."""
    hashing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="presend-sha256")
    fingerprint = hashing.submit(InputFingerprint.of, path)
    hashing.shutdown(wait=False)
    return fingerprint


def _committed(progress: ProgressCallback, events: EventCallback) -> Callable[[int, int], None]:
    """What follows each commit: the progress callback and a chunk_committed event."""

    def committed(last: int, rows: int) -> None:
        progress("rows", last, None)
        events("chunk_committed", {"rows_done": last, "chunk_rows": rows})

    return committed


def _warnings(options: RunOptions, tally: Tally) -> list[str]:
    """Warnings about results that look like a broken tool (see :mod:`pipeline.report.plausibility`)."""
    if not options.dns.enabled:
        return []
    warning = resolver_warning(tally, options.dns.nameservers)
    return [warning] if warning else []


def _report_levels(options: RunOptions, outcome: EngineOutcome, notes: list[str], events: EventCallback) -> None:
    """A level_finished event per level that ran, then a note event per note."""
    levels = levels_of(options)
    for level, stage in (("syntax", "syntax"), ("dns", "dns"), ("mailbox", "probe")):
        if level in levels:
            events("level_finished", {"level": level, "seconds": round(outcome.timings.get(stage, 0.0), 3)})
    for note in notes:
        events("note", {"message": note})
