"""One ``presend clean`` run: rows → checks → verdicts → outputs, chunk by chunk.

The loop holds one chunk of rows at a time; what it keeps across chunks is compact
(duplicate keys, one verdict per domain, counters).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import __version__
from .forecast import duplicate_verdict, forecast, malformed_verdict
from .hygiene import Hygiene
from .ingest import InputRow, open_table
from .models import AddressCheck, DomainVerdict, HygieneFlags, MailboxVerdict, RowOutcome
from .options import RunOptions
from .outputs import TableWriter, atomic_write_json, atomic_write_text, ensure_writable_dir
from .report import render_report
from .stages import DomainResolver, MailboxProber, ProbeTarget, ProgressCallback, no_progress
from .summary import Tally
from .syntax import check_address


@dataclass
class RunResult:
    """What a finished run produced: output paths, the summary, and the tally."""

    paths: dict[str, Path]
    summary: dict[str, Any]
    tally: Tally
    notes: list[str] = field(default_factory=list)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def utc_now() -> str:
    """The current time as ISO-8601 UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class _Judge:
    """Holds what the loop keeps across chunks and judges one chunk at a time."""

    def __init__(
        self,
        options: RunOptions,
        resolver: DomainResolver | None,
        prober: MailboxProber | None,
        progress: ProgressCallback,
    ) -> None:
        self.options = options
        self.resolver = resolver
        self.prober = prober
        self.progress = progress
        self.hygiene = Hygiene(options.hygiene)
        self.seen: dict[str, int] = {}
        self.domains: dict[str, DomainVerdict] = {}
        self.timings: dict[str, float] = {"syntax": 0.0, "dns": 0.0, "probe": 0.0}

    def judge(self, rows: list[InputRow], email_index: int) -> list[RowOutcome]:
        started = time.perf_counter()
        checks: list[AddressCheck | None] = []
        for row in rows:
            if row.problem:
                checks.append(None)
            else:
                checks.append(check_address(row.cells[email_index]))
        self.timings["syntax"] += time.perf_counter() - started

        first_rows: list[int | None] = []
        for row, check in zip(rows, checks, strict=True):
            first: int | None = None
            if check is not None and check.ok:
                key = self.hygiene.duplicate_key(check)
                first = self.seen.get(key)
                if first is None:
                    self.seen[key] = row.number
            first_rows.append(first)

        if self.resolver is not None:
            started = time.perf_counter()
            wanted = {
                c.ascii_domain
                for c, f in zip(checks, first_rows, strict=True)
                if c is not None and c.ok and f is None and c.ascii_domain not in self.domains
            }
            if wanted:
                self.domains.update(self.resolver.resolve(wanted, self.progress))
            self.timings["dns"] += time.perf_counter() - started

        mailboxes: dict[str, MailboxVerdict] = {}
        if self.prober is not None and self.resolver is not None:
            started = time.perf_counter()
            targets = []
            for check, first in zip(checks, first_rows, strict=True):
                if check is None or not check.ok or first is not None:
                    continue
                domain = self.domains.get(check.ascii_domain)
                if domain is None or not domain.accepts_mail:
                    continue
                targets.append(
                    ProbeTarget(
                        check.email,
                        check.local,
                        check.domain,
                        check.ascii_domain,
                        check.smtputf8,
                        domain.mx_hosts,
                    )
                )
            if targets:
                mailboxes = self.prober.probe(targets, self.progress)
            self.timings["probe"] += time.perf_counter() - started

        outcomes: list[RowOutcome] = []
        for row, check, first in zip(rows, checks, first_rows, strict=True):
            if check is None:
                outcomes.append(RowOutcome(malformed_verdict(row.problem)))
                continue
            if not check.ok:
                outcomes.append(RowOutcome(forecast(check, None, None, HygieneFlags())))
                continue
            domain = self.domains.get(check.ascii_domain) if self.resolver else None
            flags = self.hygiene.flags(check, domain)
            if first is not None:
                outcomes.append(
                    RowOutcome(
                        duplicate_verdict(first, check.email, self.hygiene.duplicate_note(check)),
                        check.email,
                        flags,
                    )
                )
                continue
            mailbox = mailboxes.get(check.email)
            verdict = forecast(
                check,
                domain,
                mailbox,
                flags,
                role_is_risky=self.options.hygiene.role_is_risky,
            )
            if not verdict.checked_at:
                verdict = replace(verdict, checked_at=utc_now())
            catch_all = bool(mailbox and mailbox.catch_all)
            outcomes.append(RowOutcome(verdict, check.email, flags, catch_all))
        return outcomes


def run(
    options: RunOptions,
    *,
    resolver: DomainResolver | None = None,
    prober: MailboxProber | None = None,
    progress: ProgressCallback = no_progress,
) -> RunResult:
    """Run the pipeline over ``options.input`` and write the four outputs.

    ``resolver`` must be given when ``options.dns.enabled``; ``prober`` when
    ``options.probe.enabled``. Raises :class:`~pipeline.errors.PresendError` subclasses
    only for whole-run failures.
    """
    started_at = utc_now()
    t0 = time.perf_counter()
    table = open_table(options.input, options.email_column)
    out_dir = options.output_dir
    ensure_writable_dir(out_dir)
    judge = _Judge(
        options,
        resolver if options.dns.enabled else None,
        prober if options.probe.enabled else None,
        progress,
    )
    tally = Tally(row_cap=options.report_row_cap)
    writer = TableWriter(out_dir, options.stem, table.info, keep_risky=options.keep_risky)
    email_index = table.info.email_index
    done = 0
    try:
        for chunk in table.chunks(options.chunk_size):
            outcomes = judge.judge(chunk, email_index)
            writer.write(chunk, outcomes)
            for row, outcome in zip(chunk, outcomes, strict=True):
                cell = row.cells[email_index] if email_index < len(row.cells) else ""
                tally.add(row.number, cell, outcome.columns())
            done += len(chunk)
            progress("rows", done, None)
        writer.commit()
    except BaseException:
        writer.abort()
        raise

    notes = table.notes()
    if prober is not None and options.probe.enabled:
        notes.extend(prober.notes())
    levels = ["syntax"]
    if options.dns.enabled:
        levels.append("dns")
    if options.probe.enabled:
        levels.append("mailbox")
    summary: dict[str, Any] = {
        "presend_version": __version__,
        "input": {
            "name": options.input.name,
            "path": str(options.input),
            "sha256": file_sha256(options.input),
            **table.report(),
        },
        "levels": levels,
        "mailboxes_probed": options.probe.enabled,
        **tally.counts(),
        "started_at": started_at,
        "finished_at": utc_now(),
        "timings_seconds": {
            **{k: round(v, 3) for k, v in judge.timings.items()},
            "total": round(time.perf_counter() - t0, 3),
        },
        "dns": resolver.stats() if (resolver is not None and options.dns.enabled) else {},
        "probe": prober.stats() if (prober is not None and options.probe.enabled) else {},
        "probe_hosts": _probe_hosts(prober) if options.probe.enabled else {},
        "notes": notes,
        "options": _options_dict(options),
    }
    paths = writer.paths
    atomic_write_json(paths["summary"], summary)
    atomic_write_text(paths["report"], render_report(summary, tally))
    return RunResult(paths=paths, summary=summary, tally=tally, notes=notes)


def _probe_hosts(prober: MailboxProber | None) -> dict[str, Any]:
    """Per mail host: EHLO extensions, TLS, sessions (when the prober keeps them)."""
    report = getattr(prober, "host_report", None)
    return report() if callable(report) else {}


def _options_dict(options: RunOptions) -> dict[str, Any]:
    data = asdict(options)

    def clean(value: Any) -> Any:
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        return value

    cleaned: dict[str, Any] = clean(data)
    return cleaned
