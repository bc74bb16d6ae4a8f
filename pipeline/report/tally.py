"""Tallying results as they stream by; the summary and the report are built from a Tally.

A Tally can be fed by a live run or by reading back a results CSV (:func:`read_results`),
so ``presend report`` re-renders exactly what ``presend clean`` would have.

Memory stays bounded whatever the list size: counters are keyed by status, code and
reason (a handful each); per-domain counters and typo suggestions are pruned to their
largest entries when they grow past a cap; problem rows are kept up to ``row_cap``.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from pipeline.columns import (
    CATCH_ALL,
    CODE,
    DETAIL,
    EMAIL,
    ENHANCED,
    KEY_CODE,
    KEY_FLAGS,
    KEY_REASON,
    KEY_STATUS,
    MX,
    REASON,
    RESULT_COLUMNS,
    STATUS,
    SUGGESTION,
    TRUE,
    WIDTH,
    TallyKey,
    tally_key_of,
)
from pipeline.errors import InputError
from pipeline.io.outputs import SENDABLE_REASONS
from pipeline.io.textfile import (
    SAMPLE_BYTES,
    DecodeStats,
    UndecodableText,
    guess_encoding,
    looks_binary,
    read_lines,
    reading_own_outputs,
)
from pipeline.models import Status
from pipeline.probe.reply import GREYLISTED
from pipeline.report.ranked import RankedRows, rank_of
from pipeline.rules.tlds import SPECIAL_USE, UNKNOWN_TLD
from pipeline.verdict import NOT_CHECKED_REASON

_PROBLEM_STATUSES = frozenset({Status.RISKY.value, Status.UNDELIVERABLE.value, Status.UNKNOWN.value})
_DUPLICATE = Status.DUPLICATE.value
_DELIVERABLE = Status.DELIVERABLE.value
#: Reasons only a run without DNS gives ("syntax_ok": what such runs wrote before domain_not_checked).
OFFLINE_REASONS = frozenset({NOT_CHECKED_REASON, UNKNOWN_TLD, SPECIAL_USE, "syntax_ok"})
#: Reasons only the mailbox level gives: seeing one in a results file means it was probed.
MAILBOX_REASONS = frozenset(
    {
        "mailbox_exists",
        "catch_all",
        "mailbox_not_found",
        "user_not_local",
        "mailbox_full",
        "mailbox_disabled",
        "mailbox_rejected",
        "relay_denied",
        "rcpt_accepts_all",
        "greylisted",
        "temporary_failure",
        "host_busy",
        "system_full",
        "host_unavailable",
        "sender_blocked",
        "protocol_error",
        "smtputf8_unsupported",
        "probe_unreachable",
    }
)


@dataclass(slots=True)
class DomainTally:
    """Per-domain counters for the report's domain table."""

    rows: int = 0
    problems: int = 0
    mx: str = ""
    catch_all: bool = False
    greylisted: bool = False


@dataclass(frozen=True, slots=True)
class ProblemRow:
    """One row of the report's problem table (kept up to the Tally's ``row_cap``)."""

    row: int
    input: str
    status: str
    code: str
    enhanced: str
    reason: str
    detail: str
    email: str
    suggestion: str
    mx: str


_GET_STATUS = itemgetter(STATUS)
_GET_EMAIL = itemgetter(EMAIL)
_GET_SUGGESTION = itemgetter(SUGGESTION)
_GET_MX = itemgetter(MX)


def _largest_counts(counts: Mapping[str, int], cap: int) -> dict[str, int]:
    """The ``cap`` entries with the largest counts, largest first (on a tie, the one met
    first comes first): a stable sort of the counts, in NumPy (the tables pruned hold about
    twice ``cap`` entries, a hundred thousand and more at the end of a large run)."""
    values = np.fromiter(counts.values(), dtype=np.int64, count=len(counts))
    order = np.argsort(-values, kind="stable")[:cap]
    keys = list(counts)
    return dict(zip(map(keys.__getitem__, order.tolist()), values[order].tolist(), strict=True))


class DomainCounter:
    """Rows per domain counted across many blocks of rows (a worker's), for a :class:`Tally`.

    Counting a block is one pass in C (``Counter.update``) instead of a per-block table that a
    tally must then merge; the table is pruned as the tally's is (at twice ``cap`` domains,
    down to the ``cap`` largest), so a count kept here may be approximate in the same way.
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.rows: Counter[str] = Counter()
        self.pruned = False

    def add(self, domains: Iterable[str] | dict[str, int]) -> None:
        """Count one row per domain given (or add a table of counts)."""
        self.rows.update(domains)
        if len(self.rows) > 2 * self.cap:
            self.rows = Counter(_largest_counts(self.rows, self.cap))
            self.pruned = True


@dataclass
class Tally:
    """Counters over result rows, plus a capped, ranked sample of problem rows.

    A problem row is one against which something was found (risky, undeliverable, unknown
    but for the rows only left unchecked: see :data:`pipeline.io.outputs.SENDABLE_REASONS`)
    or a duplicate. Up to ``row_cap`` of them are kept, ranked by what matters
    (:mod:`pipeline.report.ranked`): fixable, will bounce, risky, uncertain, duplicates.

    Each row bumps one counter keyed by its (status, code, reason, four flags) combination;
    the per-status, per-code and per-reason views are derived from it. ``domain_cap``
    bounds the per-domain table: when more than twice that many domains are held, only the
    ``domain_cap`` largest are kept (``domains_pruned`` then says the counts of smaller
    domains are approximate). ``suggestion_cap`` does the same for typo pairs.
    """

    row_cap: int = 5_000
    domain_cap: int = 20_000
    suggestion_cap: int = 5_000
    rows: int = 0
    combos: Counter[TallyKey] = field(default_factory=Counter)
    reason_codes: dict[str, tuple[str, str]] = field(default_factory=dict)
    suggestions: Counter[tuple[str, str]] = field(default_factory=Counter)
    domain_rows: dict[str, int] = field(default_factory=dict)
    domain_problems: dict[str, int] = field(default_factory=dict)
    domain_mx: dict[str, str] = field(default_factory=dict)
    domain_marks: dict[str, int] = field(default_factory=dict)  # 1 catch-all, 2 greylisted
    domains_pruned: bool = False
    suggestions_pruned: bool = False
    problem_rows_total: int = 0
    ranked: RankedRows[ProblemRow] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.ranked = RankedRows(self.row_cap)

    @property
    def problem_rows(self) -> list[ProblemRow]:
        """The problem rows kept for the report, best rank first, file order within a rank."""
        return self.ranked.rows()

    def add(self, row_number: int, email_cell: str, columns: Sequence[str]) -> None:
        """Count one result row (``columns`` are the values of RESULT_COLUMNS)."""
        self.rows += 1
        status = columns[STATUS]
        code = columns[CODE]
        reason = columns[REASON]
        problem = status in _PROBLEM_STATUSES and reason not in SENDABLE_REASONS
        self.combos[tally_key_of(columns)] += 1
        if reason not in self.reason_codes:
            self.reason_codes[reason] = (code, columns[ENHANCED])
        email = columns[EMAIL]
        if not email:
            domain = ""
        else:
            domain = email.rpartition("@")[2].lower()
            suggestion = columns[SUGGESTION]
            if suggestion:
                self._add_suggestion(domain, suggestion)
            if status != _DUPLICATE:
                rows = self.domain_rows
                if domain in rows:
                    rows[domain] += 1
                else:
                    if len(rows) >= 2 * self.domain_cap:
                        self._prune_domains()
                    rows[domain] = 1
                    self.domain_mx[domain] = columns[MX]
                if problem:
                    problems = self.domain_problems
                    problems[domain] = problems.get(domain, 0) + 1
                    marks = (columns[CATCH_ALL] == TRUE) | (reason == GREYLISTED) << 1
                    if marks:
                        self.domain_marks[domain] = self.domain_marks.get(domain, 0) | marks
                elif not self.domain_mx.get(domain):
                    self.domain_mx[domain] = columns[MX]
        if problem or status == _DUPLICATE:
            self.problem_rows_total += 1
            rank = rank_of(status, columns[SUGGESTION])
            if self.ranked.room(rank):
                self.ranked.add(
                    rank,
                    ProblemRow(
                        row_number,
                        email_cell,
                        status,
                        code,
                        columns[ENHANCED],
                        reason,
                        columns[DETAIL],
                        email,
                        columns[SUGGESTION],
                        columns[MX],
                    )
                )

    def add_many(self, row_numbers: Sequence[int], email_cells: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Count a block of result rows: the same as :meth:`add` on each in turn, only faster.

        Counters are bumped once per distinct combination and per domain instead of once per
        row. A block that makes the domain table prune is split at the row that prunes (that
        row goes through :meth:`add`), so pruning happens exactly where :meth:`add` does it.
        """
        if not rows:
            return
        statuses = list(map(_GET_STATUS, rows))
        emails = list(map(_GET_EMAIL, rows))
        domains = [email.rpartition("@")[2].lower() if email else "" for email in emails]
        counted = Counter([d for d, status in zip(domains, statuses, strict=True) if d and status != _DUPLICATE])
        held = self.domain_rows
        fresh = [d for d in counted if d not in held]
        if fresh and len(held) + len(fresh) > 2 * self.domain_cap:
            self._add_around_prune(row_numbers, email_cells, rows, domains, statuses)
            return
        self.rows += len(rows)
        combos = Counter(map(tally_key_of, rows))
        self.combos.update(combos)
        codes = self.reason_codes
        for combo in combos:  # first-appearance order, so reasons are met as add() meets them
            reason = combo[KEY_REASON]
            if reason not in codes:
                first = next(columns for columns in rows if columns[REASON] == reason)
                codes[reason] = (first[CODE], first[ENHANCED])
        for index, suggestion in enumerate(map(_GET_SUGGESTION, rows)):
            if suggestion and emails[index]:
                self._add_suggestion(domains[index], suggestion)
        mxs = list(map(_GET_MX, rows))
        any_mx = any(mxs)
        first_index: dict[str, int] = {}
        if any_mx and fresh:
            for index, (domain, status) in enumerate(zip(domains, statuses, strict=True)):
                if domain and status != _DUPLICATE and domain not in first_index and domain not in held:
                    first_index[domain] = index
        for domain in self._add_domain_rows(counted):
            self.domain_mx[domain] = mxs[first_index[domain]] if any_mx else ""
        problems = self.domain_problems
        marks_of = self.domain_marks
        # Rows that touch more than the counters above: any row with an MX, any problem row.
        busy = range(len(rows)) if any_mx else [
            i for i, status in enumerate(statuses)
            if status != _DELIVERABLE and rows[i][REASON] not in SENDABLE_REASONS
        ]
        ranked = self.ranked
        for index in busy:
            status = statuses[index]
            columns = rows[index]
            if status == _DELIVERABLE or columns[REASON] in SENDABLE_REASONS:
                mx = mxs[index]
                if mx and domains[index] and not self.domain_mx.get(domains[index]):
                    self.domain_mx[domains[index]] = mx
                continue
            domain = domains[index]
            if domain and status in _PROBLEM_STATUSES:
                problems[domain] = problems.get(domain, 0) + 1
                marks = (columns[CATCH_ALL] == TRUE) | (columns[REASON] == GREYLISTED) << 1
                if marks:
                    marks_of[domain] = marks_of.get(domain, 0) | marks
            if status in _PROBLEM_STATUSES or status == _DUPLICATE:
                self.problem_rows_total += 1
                rank = rank_of(status, columns[SUGGESTION])
                if ranked.room(rank):
                    ranked.add(
                        rank,
                        ProblemRow(
                            row_numbers[index],
                            email_cells[index],
                            status,
                            columns[CODE],
                            columns[ENHANCED],
                            columns[REASON],
                            columns[DETAIL],
                            emails[index],
                            columns[SUGGESTION],
                            columns[MX],
                        )
                    )

    def count_alike(self, columns: Sequence[str], count: int) -> None:
        """Count ``count`` rows whose result columns are ``columns`` but for their address
        (and detail): the same as :meth:`add` on each, but for the rows per domain, which a
        :class:`DomainCounter` keeps (:meth:`add_domain_rows` adds them).

        The rows are either clean ones without an MX or a suggestion (deliverable, or left
        unchecked: :data:`~pipeline.io.outputs.SENDABLE_REASONS`), or duplicates once the
        run's tally keeps no more of them (its room for the last rank is gone: they are
        counted, not kept); rows that :meth:`add` would keep or count per domain beyond their
        number raise ValueError.
        """
        if not count:
            return
        key = tally_key_of(columns)
        status = key[KEY_STATUS]
        clean = status == _DELIVERABLE or key[KEY_REASON] in SENDABLE_REASONS
        if columns[MX] or columns[SUGGESTION] or not (clean or status == _DUPLICATE):
            raise ValueError(f"rows of status {status!r}, or with an MX or a suggestion, are counted one by one")
        if status == _DUPLICATE:
            self.problem_rows_total += count
        self.rows += count
        self.combos[key] += count
        reason = key[KEY_REASON]
        if reason not in self.reason_codes:
            self.reason_codes[reason] = (columns[CODE], columns[ENHANCED])

    def take_domain_rows(self) -> dict[str, int]:
        """Hand the per-domain row counts over (to a :class:`DomainCounter`); none are left here."""
        rows, self.domain_rows = self.domain_rows, {}
        return rows

    def add_domain_rows(self, counters: Iterable[DomainCounter]) -> None:
        """Add the per-domain row counts that :class:`DomainCounter` objects kept for this
        tally's rows; the table is pruned once, after all of them are in."""
        for counter in counters:
            self._add_domain_rows(counter.rows)
            self.domains_pruned |= counter.pruned
        if len(self.domain_rows) > 2 * self.domain_cap:
            self._prune_domains()
        mx = self.domain_mx
        mx.update({domain: "" for domain in self.domain_rows if domain not in mx})

    def merge(self, other: Tally) -> None:
        """Add the counts of ``other``, a tally of the rows that follow this one's.

        The same counts as adding those rows here, except where the domain or suggestion
        table prunes: it prunes between blocks instead of at the row that overflows it (the
        counts of pruned entries are approximate either way).
        """
        self.rows += other.rows
        self.combos.update(other.combos)
        for reason, pair in other.reason_codes.items():
            self.reason_codes.setdefault(reason, pair)
        self.suggestions.update(other.suggestions)
        self._prune_suggestions()
        self.suggestions_pruned |= other.suggestions_pruned
        fresh = self._add_domain_rows(other.domain_rows)
        mx = self.domain_mx
        their_mx = other.domain_mx
        if any(their_mx.values()):
            for domain in fresh:
                mx[domain] = their_mx.get(domain, "")
            for domain, value in their_mx.items():
                if value and not mx.get(domain):
                    mx[domain] = value
        else:
            mx.update(dict.fromkeys(fresh, ""))
        problems = self.domain_problems
        problems.update({domain: problems.get(domain, 0) + count for domain, count in other.domain_problems.items()})
        marks_of = self.domain_marks
        marks_of.update({domain: marks_of.get(domain, 0) | marks for domain, marks in other.domain_marks.items()})
        if len(self.domain_rows) > 2 * self.domain_cap:
            self._prune_domains()
        self.domains_pruned |= other.domains_pruned
        self.ranked.merge(other.ranked)
        self.problem_rows_total += other.problem_rows_total

    def _add_around_prune(
        self,
        row_numbers: Sequence[int],
        email_cells: Sequence[str],
        rows: Sequence[Sequence[str]],
        domains: Sequence[str],
        statuses: Sequence[str],
    ) -> None:
        """A block whose new domains would make the domain table prune: the rows before the
        one that prunes in bulk, that row alone through :meth:`add`, the rest again in bulk."""
        held = self.domain_rows
        room = 2 * self.domain_cap - len(held)
        seen: set[str] = set()
        cut = -1
        for index, (domain, status) in enumerate(zip(domains, statuses, strict=True)):
            if domain and status != _DUPLICATE and domain not in held and domain not in seen:
                if len(seen) >= room:
                    cut = index
                    break
                seen.add(domain)
        if cut < 0:  # no row prunes after all (cannot happen when called from add_many)
            for number, cell, columns in zip(row_numbers, email_cells, rows, strict=True):
                self.add(number, cell, columns)
            return
        if cut:
            self.add_many(row_numbers[:cut], email_cells[:cut], rows[:cut])
        self.add(row_numbers[cut], email_cells[cut], rows[cut])
        self.add_many(row_numbers[cut + 1 :], email_cells[cut + 1 :], rows[cut + 1 :])

    def _add_suggestion(self, domain: str, suggestion: str) -> None:
        self.suggestions[(domain, suggestion.rpartition("@")[2] or suggestion)] += 1
        self._prune_suggestions()

    def _prune_suggestions(self) -> None:
        if len(self.suggestions) > 2 * self.suggestion_cap:
            self.suggestions = Counter(dict(self.suggestions.most_common(self.suggestion_cap)))
            self.suggestions_pruned = True

    def _add_domain_rows(self, counts: dict[str, int]) -> list[str]:
        """Add per-domain row counts to the domain table; the domains new to it, in order."""
        held = self.domain_rows
        if not held:  # all new: one update in C
            held.update(counts)
            return list(counts)
        fresh = [domain for domain in counts if domain not in held]
        get = held.get
        held.update({domain: get(domain, 0) + count for domain, count in counts.items()})
        return fresh

    def _view(self, *fields: int) -> Counter[Any]:
        view: Counter[Any] = Counter()
        for combo, count in self.combos.items():
            key = combo[fields[0]] if len(fields) == 1 else tuple(combo[i] for i in fields)
            view[key] += count
        return view

    @property
    def by_status(self) -> Counter[str]:
        """Rows per status."""
        return self._view(KEY_STATUS)

    @property
    def by_code(self) -> Counter[str]:
        """Rows per forecast code (rows without a code are not counted)."""
        view = self._view(KEY_CODE)
        view.pop("", None)
        return view

    @property
    def by_reason(self) -> Counter[str]:
        """Rows per reason slug."""
        return self._view(KEY_REASON)

    @property
    def by_status_code(self) -> Counter[tuple[str, str]]:
        """Rows per (status, code), rows without a code left out."""
        return Counter({k: v for k, v in self._view(KEY_STATUS, KEY_CODE).items() if k[1]})

    @property
    def by_status_reason(self) -> Counter[tuple[str, str]]:
        """Rows per (status, reason)."""
        return self._view(KEY_STATUS, KEY_REASON)

    @property
    def by_code_reason(self) -> Counter[tuple[str, str]]:
        """Rows per (code, reason), rows without a code left out."""
        return Counter({k: v for k, v in self._view(KEY_CODE, KEY_REASON).items() if k[0]})

    @property
    def by_code_status_reason(self) -> Counter[tuple[str, str, str]]:
        """Rows per (code, status, reason), rows without a code left out."""
        return Counter({k: v for k, v in self._view(KEY_CODE, KEY_STATUS, KEY_REASON).items() if k[0]})

    @property
    def flags(self) -> Counter[str]:
        """Rows carrying each hygiene flag (disposable, role, free, catch_all)."""
        view: Counter[str] = Counter()
        for combo, count in self.combos.items():
            for name, position in KEY_FLAGS.items():
                if combo[position] == TRUE:
                    view[name] += count
        return view

    def _prune_domains(self) -> None:
        keep = _largest_counts(self.domain_rows, self.domain_cap)
        self.domain_rows = keep
        self.domain_problems = {d: n for d, n in self.domain_problems.items() if d in keep}
        self.domain_mx = {d: mx for d, mx in self.domain_mx.items() if d in keep}
        self.domain_marks = {d: m for d, m in self.domain_marks.items() if d in keep}
        self.domains_pruned = True

    @property
    def domains(self) -> dict[str, DomainTally]:
        """Per-domain counters of every domain held (see :meth:`top_domains`)."""
        return {domain: self._domain(domain) for domain in self.domain_rows}

    def _domain(self, domain: str) -> DomainTally:
        marks = self.domain_marks.get(domain, 0)
        return DomainTally(
            self.domain_rows[domain],
            self.domain_problems.get(domain, 0),
            self.domain_mx.get(domain, ""),
            bool(marks & 1),
            bool(marks & 2),
        )

    @property
    def problem_count(self) -> int:
        """Rows that are not clean: not deliverable, and not merely left unchecked."""
        by_reason = self.by_reason
        unchecked = sum(by_reason.get(reason, 0) for reason in SENDABLE_REASONS)
        return self.rows - self.by_status.get(_DELIVERABLE, 0) - unchecked

    def top_domains(self, limit: int) -> list[tuple[str, DomainTally]]:
        """The ``limit`` domains with the most rows (ties broken by name)."""
        ranked = heapq.nsmallest(limit, self.domain_rows.items(), key=lambda item: (-item[1], item[0]))
        return [(domain, self._domain(domain)) for domain, _ in ranked]

    def counts(self) -> dict[str, Any]:
        """The counting part of summary.json."""
        flags = self.flags
        return {
            "rows": self.rows,
            "rows_with_problems": self.problem_count,
            "by_status": dict(self.by_status.most_common()),
            "by_code": dict(self.by_code.most_common()),
            "by_reason": dict(self.by_reason.most_common()),
            "flags": {k: flags.get(k, 0) for k in KEY_FLAGS},
            "suggestions": sum(self.suggestions.values()),
        }


# -- reading a results file back ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResultsFile:
    """What :func:`read_results` learned about a results CSV besides its counts."""

    path: Path
    delimiter: str
    header: tuple[str, ...]
    email_index: int | None


def _open_results(path: Path) -> tuple[Iterator[str], BinaryIO, str]:
    """The lines of a results file, decoded as an input list is (the encoding detected, so a
    file Excel saved again as Windows-1252 or UTF-16 reads too), the open file and the
    delimiter (the one before ``presend_status`` in the header)."""
    try:
        handle = path.open("rb")
        sample = handle.read(SAMPLE_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc}); check the path") from exc
    try:
        if not sample:
            raise InputError(f"{path}: the file is empty")
        encoding = guess_encoding(sample, truncated=len(sample) >= SAMPLE_BYTES).encoding
        if looks_binary(sample, encoding):
            raise InputError(f"{path}: looks like a binary file; give a <stem>.results.csv written by presend clean")
        handle.seek(0)
        lines = read_lines(handle, encoding, DecodeStats())
        first = next(lines, "")
        marker = first.find(RESULT_COLUMNS[STATUS])
        if marker < 0:
            raise InputError(
                f"{path}: no {RESULT_COLUMNS[STATUS]} column; give a <stem>.results.csv written by presend clean"
            )
    except UndecodableText as exc:
        handle.close()
        raise InputError(f"{path}: line {exc.line}: bytes that are not valid {exc.encoding}") from exc
    except BaseException:
        handle.close()
        raise
    before = first[:marker].rstrip('"')
    delimiter = before[-1] if before else ","
    return itertools.chain([first], lines), handle, delimiter


def read_results(
    path: Path,
    *,
    row_cap: int = 5_000,
    email_column: str | None = None,
) -> tuple[Tally, ResultsFile]:
    """Stream a ``<stem>.results.csv`` into a :class:`Tally`.

    The file is read in any encoding presend reads an input in (presend writes UTF-8; a
    spreadsheet may save it again in another), and without the input's field-size limit
    (see :func:`~pipeline.io.textfile.reading_own_outputs`). The delimiter is the one before
    ``presend_status`` in the header (results keep the input's delimiter). The presend
    columns are the last ones of each row, so rows with extra cells still line up. Raises
    :class:`InputError` on a file that is not a results file or cannot be read.
    """
    lines, handle, delimiter = _open_results(path)
    reader = csv.reader(lines, delimiter=delimiter)
    tally = Tally(row_cap=row_cap)
    with handle, reading_own_outputs():
        try:
            header = tuple(next(reader))
        except StopIteration:
            raise InputError(f"{path}: the file is empty") from None
        if tuple(header[-WIDTH:]) != RESULT_COLUMNS:
            raise InputError(
                f"{path}: the last columns are not presend's result columns; "
                "give a <stem>.results.csv written by presend clean"
            )
        input_header = header[:-WIDTH]
        email_index = _email_index(input_header, email_column)
        number = 0
        try:
            for cells in reader:
                if not cells:
                    continue
                number += 1
                if len(cells) < WIDTH:
                    raise InputError(
                        f"{path}: line {reader.line_num} has {len(cells)} fields; the results file looks cut short"
                    )
                cell = cells[email_index] if email_index is not None and email_index < len(cells) - WIDTH else ""
                tally.add(number, cell, cells[-WIDTH:])
        except csv.Error as exc:
            raise InputError(f"{path}: line {reader.line_num}: {exc}") from exc
        except UndecodableText as exc:
            raise InputError(f"{path}: line {exc.line}: bytes that are not valid {exc.encoding}") from exc
        except OSError as exc:
            raise InputError(f"{path}: reading stopped after line {reader.line_num} ({exc.strerror or exc})") from exc
    return tally, ResultsFile(path, delimiter, header, email_index)


def _email_index(header: tuple[str, ...], wanted: str | None) -> int | None:
    from pipeline.io.ingest import find_email_column

    if wanted is not None and wanted in header:
        return header.index(wanted)
    return find_email_column(header, [])


#: The fields of a summary.json a re-rendered report uses, with their types: a type (or a
#: tuple of them), ``[spec]`` for a list of such values, ``{key: spec}`` for an object (``"*"``
#: for any other key). Fields the report does not use are taken as they are.
_SUMMARY_FIELDS: dict[str, Any] = {
    "rows": int,
    "presend_version": str,
    "started_at": str,
    "finished_at": str,
    "levels": [str],
    "levels_inferred": bool,
    "mailboxes_probed": bool,
    "notes": [str],
    "probe_greylisting_domains": [str],
    "probe_trust": dict,
    "input": {
        "name": str, "path": str, "sha256": str, "encoding": str, "encoding_guessed": bool,
        "delimiter": str, "email_column": str,
    },
    "options": {"dns": {"nameservers": [str]}, "probe": dict, "cache": dict},
    "tld_list": {"source": str, "date": str},
    "timings_seconds": {"*": (int, float)},
    "dns": dict,
    "probe": dict,
}
_WRONG = object()


def sibling_summary(results_path: Path) -> dict[str, Any] | None:
    """The ``<stem>.summary.json`` written beside a results file, if there is a readable one.

    A field the report uses that holds a value of the wrong type is left out, and a note
    in the summary's ``notes`` names it.
    """
    name = results_path.name
    stem = name[: -len(".results.csv")] if name.endswith(".results.csv") else results_path.stem
    sibling = results_path.with_name(f"{stem}.summary.json")
    try:
        data = json.loads(sibling.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    dropped: list[str] = []
    checked = _conform(data, _SUMMARY_FIELDS, "", dropped)
    assert isinstance(checked, dict)
    if dropped:
        checked.setdefault("notes", []).append(
            f"{sibling.name}: left out field(s) of the wrong type: {', '.join(dropped)}"
        )
    return checked


def _conform(value: Any, spec: Any, where: str, dropped: list[str]) -> Any:
    """``value`` checked against ``spec`` (see :data:`_SUMMARY_FIELDS`): itself, an object
    without its wrong fields, or ``_WRONG``; the names of the fields left out go to ``dropped``."""
    if isinstance(spec, dict):
        if not isinstance(value, dict):
            return _WRONG
        kept: dict[str, Any] = {}
        for key, item in value.items():
            inner = spec.get(key, spec.get("*"))
            if inner is None:
                kept[key] = item
                continue
            name = f"{where}.{key}" if where else key
            checked = _conform(item, inner, name, dropped)
            if checked is _WRONG:
                dropped.append(name)
            else:
                kept[key] = checked
        return kept
    if isinstance(spec, list):
        if not isinstance(value, list) or any(_conform(item, spec[0], where, []) is _WRONG for item in value):
            return _WRONG
        return value
    if isinstance(value, bool) and spec is not bool and bool not in (spec if isinstance(spec, tuple) else (spec,)):
        return _WRONG  # JSON true is not a number
    return value if isinstance(value, spec) else _WRONG


def results_summary(results: ResultsFile, tally: Tally, sibling: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run facts for a re-rendered report.

    Uses ``sibling`` (the run's summary.json) when it matches the results (same row count);
    otherwise infers what it can from the rows and says so in ``notes``.
    """
    if sibling is not None and sibling.get("rows") == tally.rows:
        data = dict(sibling)
        data.update(tally.counts())
        return data
    reasons = set(tally.by_reason)
    levels = ["syntax"]
    if not reasons & OFFLINE_REASONS:
        levels.append("dns")
    probed = bool(reasons & MAILBOX_REASONS)
    if probed:
        levels.append("mailbox")
    from pipeline import __version__

    name = results.path.name
    return {
        "presend_version": __version__,
        "input": {"name": name, "path": str(results.path), "sha256": "", "delimiter": results.delimiter},
        "levels": levels,
        "levels_inferred": True,
        "mailboxes_probed": probed,
        **tally.counts(),
        "notes": [
            f"Re-rendered from {name} without a matching summary.json: the levels run are inferred "
            "from the reasons present; the input's hash, timings and options are unknown."
        ],
    }
