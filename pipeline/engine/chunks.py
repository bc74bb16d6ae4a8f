"""Judging one chunk of rows: syntax, duplicates, verdict columns.

:class:`ChunkJudge` holds what judging keeps across chunks (the duplicate index, the
domain verdicts, the hygiene and verdict memos) and turns a chunk's rows into the values of
RESULT_COLUMNS. The steps can also be taken one at a time (:meth:`ChunkJudge.duplicate_keys`,
:meth:`ChunkJudge.columns`) by a process that judges chunks while another keeps the
duplicate index (see :mod:`pipeline.engine.processes`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import compress

import numpy as np

from pipeline.engine.fastsyntax import PendingSyntax, SyntaxChunk, SyntaxJudge
from pipeline.io.ingest import RowChunk
from pipeline.io.outputs import CsvLines
from pipeline.models import AddressCheck, DomainVerdict, HygieneFlags, MailboxVerdict, RowOutcome, Verdict
from pipeline.options import RunOptions
from pipeline.ports import DomainResolver, MailboxProber, ProbeTarget, ProgressCallback
from pipeline.rules.dedupe import DuplicateIndex, hash_keys
from pipeline.rules.hygiene import Hygiene
from pipeline.rules.syntax import check_address
from pipeline.verdict import duplicate_detail, duplicate_verdict, forecast, malformed_verdict

__all__ = ["AlikeRows", "ChunkJudge", "duplicates_found", "lap", "utc_now"]


def utc_now() -> str:
    """The current time as ISO-8601 UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _bool(value: bool) -> str:
    return "true" if value else "false"


def lap(timings: dict[str, float], name: str, since: float) -> float:
    """Add the seconds since ``since`` to ``timings[name]``; the time now (for the next lap)."""
    now = time.perf_counter()
    timings[name] = timings.get(name, 0.0) + now - since
    return now


def duplicates_found(valid: Sequence[int], firsts: np.ndarray) -> dict[int, int]:
    """``{chunk index: first row}`` of the rows ``DuplicateIndex.first_rows`` found repeated.

    ``valid`` are the chunk indexes whose keys were looked up, ``firsts`` its answer.
    """
    repeated = np.flatnonzero(firsts >= 0)
    return {valid[j]: int(firsts[j]) for j in repeated.tolist()}


@dataclass(slots=True)
class AlikeRows:
    """The common rows of a chunk as CSV text (see :meth:`ChunkJudge.columns_as_text`).

    ``tails[i]`` is the text of row ``i``'s result columns, after the delimiter that ends its
    input cells ("" for the rows left as column lists); ``domains`` are the domains of those
    rows' addresses as the tally counts them (lower case), in order; ``combos`` counts them
    per :class:`~pipeline.report.tally.Tally` combination, and ``status``, ``code``, ``enhanced``
    and ``reason`` are their (shared) verdict.

    With ``duplicates_as_text``, the plain duplicates of such rows come as text
    too: ``duplicates`` lists their indexes (rows kept out of the clean list) and
    ``duplicate_combos`` counts them per combination.
    """

    tails: list[str]
    lines: CsvLines
    duplicates_as_text: bool = False
    domains: list[str] = field(default_factory=list)
    combos: dict[tuple[str, str, str, str, str, str, str], int] = field(default_factory=dict)
    duplicates: list[int] = field(default_factory=list)
    duplicate_combos: dict[tuple[str, str, str, str, str, str, str], int] = field(default_factory=dict)
    status: str = ""
    code: str = ""
    enhanced: str = ""
    reason: str = ""
    _flags: list[list[str]] = field(default_factory=list)

    def start(
        self, found: tuple[list[str], str, str], flags: list[list[str]], checked_at: str
    ) -> list[tuple[str, str]]:
        """Remember the shared verdict; the (prefix, suffix) texts around the address per flag set."""
        head, mx, stamped = found
        self.status, self.code, self.enhanced, self.reason = head[0], head[1], head[2], head[3]
        self._flags = flags
        lines = self.lines
        delimiter = lines.delimiter
        prefix = delimiter + delimiter.join([lines.field(value) for value in head]) + delimiter
        return [
            (prefix, delimiter + delimiter.join([lines.field(v) for v in [*parts, "false", mx, stamped or checked_at]]))
            for parts in flags
        ]

    def finish(self, counts: list[int]) -> None:
        """Record how many rows took each flag set."""
        for parts, count in zip(self._flags, counts, strict=True):
            if count:
                key = (self.status, self.code, self.reason, parts[1], parts[2], parts[3], "false")
                self.combos[key] = self.combos.get(key, 0) + count

    def duplicate_texts(self, flags: list[list[str]]) -> tuple[str, list[str]]:
        """The text before a duplicate's detail, and after its address per flag set.

        A duplicate's columns are those of :meth:`ChunkJudge._columns_offline`'s column
        lists: status and reason ``duplicate``, no code, its detail and address, its flags,
        no catch-all, MX or check time.
        """
        lines = self.lines
        delimiter = lines.delimiter
        prefix = delimiter + delimiter.join(["duplicate", "", "", "duplicate"]) + delimiter
        return prefix, [
            delimiter + delimiter.join([lines.field(value) for value in [*parts, "false", "", ""]]) for parts in flags
        ]

    def finish_duplicates(self, flags: list[list[str]], counts: list[int]) -> None:
        """Record how many duplicates given as text took each flag set."""
        for parts, count in zip(flags, counts, strict=True):
            if count:
                key = ("duplicate", "", "duplicate", parts[1], parts[2], parts[3], "false")
                self.duplicate_combos[key] = self.duplicate_combos.get(key, 0) + count


class ChunkJudge:
    """Holds what the loop keeps across chunks and judges one chunk at a time.

    The fast way: syntax column-wise (:class:`SyntaxJudge`), duplicates through the hashed
    index, verdict columns assembled from memoized parts. With ``options.fast_syntax`` off,
    every row goes through ``check_address`` and ``RowOutcome`` one by one: the reference
    the fast way must match.
    """

    def __init__(
        self,
        options: RunOptions,
        email_index: int,
        resolver: DomainResolver | None,
        prober: MailboxProber | None,
        progress: ProgressCallback,
    ) -> None:
        self.options = options
        self.email_index = email_index
        self.resolver = resolver
        self.prober = prober
        self.progress = progress
        self.hygiene = Hygiene(options.hygiene)
        self.syntax = SyntaxJudge(options.workers)
        self.index = DuplicateIndex()
        self.domains: dict[str, DomainVerdict] = {}
        self.timings: dict[str, float] = {"syntax": 0.0, "duplicates": 0.0, "dns": 0.0, "probe": 0.0, "verdicts": 0.0}
        self._verdict_heads: dict[int, tuple[list[str], str, str]] = {}
        self._flag_parts: dict[tuple[str, bool, bool, bool], list[str]] = {}

    def close(self) -> None:
        """Release the syntax process pool."""
        self.syntax.close()

    def email_cells(self, chunk: RowChunk) -> list[str]:
        """The email cell of each row ("" when a short row has none)."""
        at = self.email_index
        return [cells[at] if len(cells) > at else "" for cells in chunk.cells]

    def start(self, chunk: RowChunk, cells: list[str]) -> PendingSyntax | SyntaxChunk:
        """Begin a chunk: the syntax pre-check now, the full syntax path in the background."""
        started = time.perf_counter()
        problems = chunk.problems
        pending: PendingSyntax | SyntaxChunk
        if self.options.fast_syntax:
            judged = [cell if i not in problems else "" for i, cell in enumerate(cells)] if problems else cells
            pending = self.syntax.submit(judged)
        else:
            pending = _plain_syntax(cells, problems)
        self.timings["syntax"] += time.perf_counter() - started
        return pending

    def judge(self, chunk: RowChunk, cells: list[str]) -> list[list[str]]:
        """The RESULT_COLUMNS values of every row of ``chunk``."""
        return self.finish(chunk, self.start(chunk, cells))

    def finish(self, chunk: RowChunk, pending: PendingSyntax | SyntaxChunk) -> list[list[str]]:
        """The RESULT_COLUMNS values of every row of a chunk begun with :meth:`start`."""
        started = time.perf_counter()
        syntax = pending.result() if isinstance(pending, PendingSyntax) else pending
        now = time.perf_counter()
        self.timings["syntax"] += now - started

        # Duplicates: the first row holding a key keeps it; later rows point back to it.
        started = now
        valid, keys = self.duplicate_keys(chunk, syntax)
        firsts = self.index.first_rows(hash_keys(keys), np.asarray(valid, dtype=np.int64) + chunk.start)
        duplicate_of = duplicates_found(valid, firsts)
        fresh = [i for i in valid if i not in duplicate_of] if duplicate_of else valid
        now = time.perf_counter()
        self.timings["duplicates"] += now - started

        if self.resolver is not None:
            started = now
            wanted = {syntax.ascii_domain(i) for i in fresh} - self.domains.keys()
            if wanted:
                self.domains.update(self.resolver.resolve(wanted, self.progress))
            now = time.perf_counter()
            self.timings["dns"] += now - started

        mailboxes: dict[str, MailboxVerdict] = {}
        if self.prober is not None and self.resolver is not None:
            started = now
            targets = []
            for i in fresh:
                domain = self.domains.get(syntax.ascii_domain(i))
                if domain is None or not domain.accepts_mail:
                    continue
                check = syntax.check(i)
                targets.append(
                    ProbeTarget(
                        check.email, check.local, check.domain, check.ascii_domain, check.smtputf8, domain.mx_hosts
                    )
                )
            if targets:
                mailboxes = self.prober.probe(targets, self.progress)
            now = time.perf_counter()
            self.timings["probe"] += now - started

        started = now
        columns = self.columns(chunk, syntax, duplicate_of, mailboxes)
        self.timings["verdicts"] += time.perf_counter() - started
        return columns

    def duplicate_keys(self, chunk: RowChunk, syntax: SyntaxChunk) -> tuple[list[int], list[str]]:
        """The chunk indexes of the rows holding a valid address, and each one's duplicate key."""
        problems = chunk.problems
        emails = syntax.emails
        if problems:
            valid = [i for i, email in enumerate(emails) if email and i not in problems]
        else:
            valid = list(compress(range(len(emails)), emails))  # in C: the rows with an address
        if self.options.hygiene.canonical_duplicates or not self.options.fast_syntax:
            return valid, [self.hygiene.duplicate_key(syntax.check(i)) for i in valid]
        # Without canonical duplicates the key is the address case-folded (AddressCheck.key).
        if not problems:
            return valid, list(compress(syntax.keys, emails))
        all_keys = syntax.keys
        return valid, [all_keys[i] for i in valid]

    def columns(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        mailboxes: dict[str, MailboxVerdict],
    ) -> list[list[str]]:
        """The RESULT_COLUMNS values of every row (``duplicate_of``: chunk index → first row)."""
        return self._fill(chunk, syntax, duplicate_of, mailboxes, None)

    def columns_as_text(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        lines: CsvLines,
        *,
        duplicates_as_text: bool = False,
    ) -> tuple[list[list[str]], AlikeRows]:
        """:meth:`columns`, with the common rows of a run without DNS given as CSV text instead.

        The common rows (see :meth:`_columns_offline`) differ only by their address and
        flags: their result columns come back as ``lines``-formatted text in
        :attr:`AlikeRows.tails` (their column lists stay empty), which is what a worker
        writes and tallies without building a list per row. Where there are no common rows
        to speak of (DNS, ``--plain-syntax``, canonical duplicates) every row comes as columns.
        With ``duplicates_as_text`` (for a tally that keeps no more problem rows) the plain
        duplicates of those rows come as text as well (see :class:`AlikeRows`).
        """
        alike = AlikeRows([""] * len(syntax.emails), lines, duplicates_as_text)
        return self._fill(chunk, syntax, duplicate_of, {}, alike), alike

    def _fill(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        mailboxes: dict[str, MailboxVerdict],
        alike: AlikeRows | None,
    ) -> list[list[str]]:
        checked_at = utc_now()
        n = len(syntax.emails)
        rows: list[list[str]] = [[]] * n
        rest: Sequence[int] = range(n)
        if self.resolver is None and self.options.fast_syntax and not self.options.hygiene.canonical_duplicates:
            rest = self._columns_offline(chunk, syntax, duplicate_of, checked_at, rows, alike)
        if rest:
            self._columns_general(chunk, syntax, duplicate_of, mailboxes, checked_at, rows, rest)
        return rows

    def _columns_offline(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        checked_at: str,
        rows: list[list[str]],
        alike: AlikeRows | None = None,
    ) -> list[int]:
        """Fill ``rows`` for the common rows of a run without DNS; the indexes of the others.

        A valid address whose domain has no typo suggestion and is not disposable, and whose
        role flag is harmless, gets the one verdict of a domain-less forecast (or the duplicate
        verdict), with its flags from the hygiene memos: exactly what the general loop gives.
        Their facts come from the hygiene memos (filled on first sight).
        """
        problems = chunk.problems
        slow = syntax.slow
        role_is_risky = self.options.hygiene.role_is_risky
        facts_get = self.hygiene.offline_domain_facts.get
        role_get = self.hygiene.role_memo.get
        facts_for = self.hygiene.facts_for
        role_for = self.hygiene.role_for
        found = self._verdict_heads.get(id(None))
        flag_texts = [["", "false", _bool(role), _bool(free)] for role in (False, True) for free in (False, True)]
        rest: list[int] = []
        # The common rows as text (columns_as_text): a prefix and a suffix per flag combination.
        texts: list[tuple[str, str]] | None = None
        counts = [0, 0, 0, 0]
        tails = alike.tails if alike is not None else []
        domains = alike.domains if alike is not None else []
        field = alike.lines.field if alike is not None else str
        delimiter = alike.lines.delimiter if alike is not None else ","
        # Plain duplicates as text: the text before the detail and after the address per flag set.
        duplicate_texts = alike.duplicate_texts(flag_texts) if alike is not None and alike.duplicates_as_text else None
        duplicate_counts = [0, 0, 0, 0]
        duplicates = alike.duplicates if alike is not None else []
        for i, email in enumerate(syntax.emails):
            if not email or (problems and i in problems):
                rest.append(i)
                continue
            check = slow.get(i) if slow else None
            if check is None:
                local, _, ascii_domain = email.rpartition("@")
            else:
                local, ascii_domain = check.local, check.ascii_domain
            facts = facts_get(ascii_domain) or facts_for(ascii_domain, False)
            role = role_get(local)
            if role is None:
                role = role_for(local)
            if facts[0] or facts[2]:
                rest.append(i)
                continue
            kind = (role << 1) | facts[1]
            if duplicate_of and (first := duplicate_of.get(i)) is not None:
                if duplicate_texts is None:
                    rows[i] = ["duplicate", "", "", "duplicate", duplicate_detail(first, email), email,
                               *flag_texts[kind], "false", "", ""]
                    continue
                detail = duplicate_detail(first, email)
                if '"' in email or delimiter in email:
                    email = field(email)
                    detail = field(detail)
                elif delimiter in detail:
                    detail = field(detail)
                tails[i] = duplicate_texts[0] + detail + delimiter + email + duplicate_texts[1][kind]
                duplicate_counts[kind] += 1
                duplicates.append(i)
                continue
            if role and role_is_risky:
                rest.append(i)
                continue
            if found is None:
                # The first common row: its verdict (the same for every common row) is made once.
                flags = self.hygiene.flags_for(local, ascii_domain, None)
                found = self._head(syntax.check(i), None, flags, role_is_risky)
            if alike is None:
                rows[i] = [*found[0], email, *flag_texts[kind], "false", found[1], found[2] or checked_at]
                continue
            if texts is None:
                texts = alike.start(found, flag_texts, checked_at)
            prefix, suffix = texts[kind]
            # A valid address holds no line break; a quote or the delimiter makes it quoted.
            tails[i] = prefix + (field(email) if '"' in email or delimiter in email else email) + suffix
            counts[kind] += 1
            # The tally's domain: a pre-checked address has its domain in lower case already.
            domains.append(ascii_domain if check is None else email.rpartition("@")[2].lower())
        if alike is not None and texts is not None:
            alike.finish(counts)
        if alike is not None and duplicates:
            alike.finish_duplicates(flag_texts, duplicate_counts)
        return rest

    def _columns_general(
        self,
        chunk: RowChunk,
        syntax: SyntaxChunk,
        duplicate_of: dict[int, int],
        mailboxes: dict[str, MailboxVerdict],
        checked_at: str,
        rows: list[list[str]],
        indexes: Sequence[int],
    ) -> None:
        """Fill ``rows[i]`` for each of ``indexes``, row by row, any level, any option."""
        problems = chunk.problems
        emails = syntax.emails
        slow = syntax.slow
        role_is_risky = self.options.hygiene.role_is_risky
        flags_for = self.hygiene.flags_for
        domains = self.domains if self.resolver is not None else None
        plain = not self.options.fast_syntax
        canonical = self.options.hygiene.canonical_duplicates
        heads = self._verdict_heads
        flag_parts = self._flag_parts
        for i in indexes:
            email = emails[i]
            if not email or (problems and i in problems):
                if i in problems:
                    rows[i] = RowOutcome(malformed_verdict(problems[i])).columns()
                else:
                    # The syntax check decided this row: it is stamped like any other check.
                    verdict = replace(forecast(slow[i], None, None, HygieneFlags()), checked_at=checked_at)
                    rows[i] = RowOutcome(verdict).columns()
                continue
            check = slow.get(i)
            if check is None:
                # A pre-checked address: its parts are in the address itself (see fastsyntax).
                local, _, ascii_domain = email.rpartition("@")
            else:
                local, ascii_domain = check.local, check.ascii_domain
            domain = domains.get(ascii_domain) if domains is not None else None
            flags = self.hygiene.flags(syntax.check(i), domain) if plain else flags_for(local, ascii_domain, domain)
            first = duplicate_of.get(i) if duplicate_of else None
            if first is not None:
                if plain or canonical:
                    note = self.hygiene.duplicate_note(syntax.check(i))
                    rows[i] = RowOutcome(duplicate_verdict(first, email, note), email, flags).columns()
                else:
                    # What RowOutcome(duplicate_verdict(first, email), email, flags).columns() gives.
                    parts = flag_parts.get((flags.suggestion, flags.role, flags.free, flags.disposable))
                    if parts is None:
                        parts = self._flag_texts(flags)
                    rows[i] = ["duplicate", "", "", "duplicate", duplicate_detail(first, email), email, *parts, "false",
                               "", ""]
                continue
            mailbox = mailboxes.get(email) if mailboxes else None
            if plain or mailbox is not None or flags.disposable or (flags.role and role_is_risky):
                check = syntax.check(i)
                verdict = forecast(check, domain, mailbox, flags, role_is_risky=role_is_risky)
                if not verdict.checked_at:
                    verdict = replace(verdict, checked_at=checked_at)
                catch_all = bool(mailbox and mailbox.catch_all)
                rows[i] = RowOutcome(verdict, email, flags, catch_all).columns()
                continue
            # Neither mailbox nor hygiene changes the verdict: forecast() then depends on the
            # domain's verdict alone, so its columns are computed once per domain.
            found = heads.get(id(domain))
            if found is None:
                found = self._head(syntax.check(i), domain, flags, role_is_risky)
            parts = flag_parts.get((flags.suggestion, flags.role, flags.free, False))
            if parts is None:
                parts = self._flag_texts(flags)
            rows[i] = [*found[0], email, *parts, "false", found[1], found[2] or checked_at]

    def _flag_texts(self, flags: HygieneFlags) -> list[str]:
        """The suggestion, disposable, role and free columns of ``flags`` (remembered)."""
        key = (flags.suggestion, flags.role, flags.free, flags.disposable)
        parts = self._flag_parts.get(key)
        if parts is None:
            if len(self._flag_parts) >= 100_000:
                self._flag_parts.clear()
            parts = [flags.suggestion, _bool(flags.disposable), _bool(flags.role), _bool(flags.free)]
            self._flag_parts[key] = parts
        return parts

    def _head(
        self, check: AddressCheck, domain: DomainVerdict | None, flags: HygieneFlags, role_is_risky: bool
    ) -> tuple[list[str], str, str]:
        # Keyed by the DomainVerdict's identity (id(None) when DNS did not run): self.domains
        # keeps every verdict alive for the whole run, so an id is never reused.
        verdict: Verdict = forecast(check, domain, None, flags, role_is_risky=role_is_risky)
        head = [verdict.status.value, verdict.code, verdict.enhanced, verdict.reason, verdict.detail]
        found = self._verdict_heads[id(domain)] = (head, verdict.mx, verdict.checked_at)
        return found


def _plain_syntax(cells: Sequence[str], problems: dict[int, str]) -> SyntaxChunk:
    """check_address on every cell, one by one (no pre-check, no memo)."""
    chunk = SyntaxChunk([], [])
    for i, cell in enumerate(cells):
        if i in problems:
            chunk.emails.append("")
            chunk.keys.append("")
            continue
        check = check_address(cell)
        chunk.slow[i] = check
        chunk.emails.append(check.email if check.ok else "")
        chunk.keys.append(check.key)
    return chunk
