"""Tallying results as they stream by; the summary and the report are built from a Tally.

A Tally can be fed by a live run or by reading back a results CSV, so ``presend report``
re-renders exactly what ``presend clean`` would have.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from .models import RESULT_COLUMNS

_COL = {name: index for index, name in enumerate(RESULT_COLUMNS)}
_PROBLEM_STATUSES = {"risky", "undeliverable", "unknown"}
_STATUS, _CODE, _REASON, _EMAIL, _SUGGESTION, _MX, _CATCH_ALL = (
    _COL[f"presend_{name}"] for name in ("status", "code", "reason", "email", "suggestion", "mx", "catch_all")
)
_FLAG_COLUMNS = tuple((flag, _COL[f"presend_{flag}"]) for flag in ("disposable", "role", "free", "catch_all"))
_SIGNATURE = itemgetter(_STATUS, _CODE, _REASON, *(at for _, at in _FLAG_COLUMNS))
_GET_STATUS = itemgetter(_STATUS)
_GET_EMAIL = itemgetter(_EMAIL)
_GET_SUGGESTION = itemgetter(_SUGGESTION)
_GET_DOMAIN_FACTS = itemgetter(_MX, _CATCH_ALL, _REASON)


@dataclass
class DomainTally:
    """Per-domain counters for the report's domain table."""

    rows: int = 0
    problems: int = 0
    mx: str = ""
    catch_all: bool = False
    greylisted: bool = False


@dataclass
class Tally:
    """Counters over result rows, plus a capped sample of problem rows."""

    row_cap: int = 5_000
    rows: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_code: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    suggestions: Counter[tuple[str, str]] = field(default_factory=Counter)
    flags: Counter[str] = field(default_factory=Counter)
    domains: dict[str, DomainTally] = field(default_factory=dict)
    problem_rows: list[dict[str, str]] = field(default_factory=list)
    problem_rows_total: int = 0

    def add(self, row_number: int, email_cell: str, columns: Sequence[str]) -> None:
        """Count one result row (``columns`` are the values of RESULT_COLUMNS)."""
        self.rows += 1
        status = columns[_COL["presend_status"]]
        code = columns[_COL["presend_code"]]
        reason = columns[_COL["presend_reason"]]
        email = columns[_COL["presend_email"]]
        self.by_status[status] += 1
        if code:
            self.by_code[code] += 1
        self.by_reason[reason] += 1
        for flag in ("disposable", "role", "free", "catch_all"):
            if columns[_COL[f"presend_{flag}"]] == "true":
                self.flags[flag] += 1
        domain = email.rpartition("@")[2].lower() if email else ""
        suggestion = columns[_COL["presend_suggestion"]]
        if suggestion and domain:
            self.suggestions[(domain, suggestion.rpartition("@")[2] or suggestion)] += 1
        if domain and status != "duplicate":
            entry = self.domains.get(domain)
            if entry is None:
                entry = self.domains[domain] = DomainTally()
            entry.rows += 1
            entry.problems += status in _PROBLEM_STATUSES
            entry.mx = entry.mx or columns[_COL["presend_mx"]]
            entry.catch_all = entry.catch_all or columns[_COL["presend_catch_all"]] == "true"
            entry.greylisted = entry.greylisted or reason == "greylisted"
        if status in _PROBLEM_STATUSES or status == "duplicate":
            self.problem_rows_total += 1
            if len(self.problem_rows) < self.row_cap:
                record = {"row": str(row_number), "input": email_cell}
                record.update(zip(RESULT_COLUMNS, columns, strict=True))
                self.problem_rows.append(record)

    def add_many(
        self, row_numbers: Sequence[int], email_cells: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> None:
        """Count a block of result rows; the same as :meth:`add` on each, in order, only faster.

        Rows are grouped by the columns the counters read, so the counters are updated once
        per distinct combination (first occurrences keep their order, as with :meth:`add`).
        """
        self.rows += len(rows)
        for signature, count in Counter(map(_SIGNATURE, rows)).items():
            status, code, reason, *flags = signature
            self.by_status[status] += count
            if code:
                self.by_code[code] += count
            self.by_reason[reason] += count
            for (flag, _), value in zip(_FLAG_COLUMNS, flags, strict=True):
                if value == "true":
                    self.flags[flag] += count
        statuses = list(map(_GET_STATUS, rows))
        domains = [email.rpartition("@")[2].lower() if email else "" for email in map(_GET_EMAIL, rows)]
        for index, suggestion in enumerate(map(_GET_SUGGESTION, rows)):
            if suggestion and domains[index]:
                self.suggestions[(domains[index], suggestion.rpartition("@")[2] or suggestion)] += 1
        pairs = list(zip(domains, statuses, strict=True))
        counted = Counter([d for d, status in pairs if d and status != "duplicate"])
        problems = Counter([d for d, status in pairs if d and status in _PROBLEM_STATUSES])
        for domain, count in counted.items():
            entry = self.domains.get(domain)
            if entry is None:
                entry = self.domains[domain] = DomainTally()
            entry.rows += count
            entry.problems += problems.get(domain, 0)
        for index, (mx, catch_all, reason) in enumerate(map(_GET_DOMAIN_FACTS, rows)):
            if (mx or catch_all == "true" or reason == "greylisted") and domains[index]:
                if statuses[index] == "duplicate":
                    continue
                entry = self.domains[domains[index]]
                entry.mx = entry.mx or mx
                entry.catch_all = entry.catch_all or catch_all == "true"
                entry.greylisted = entry.greylisted or reason == "greylisted"
        for number, cell, status, columns in zip(row_numbers, email_cells, statuses, rows, strict=True):
            if status in _PROBLEM_STATUSES or status == "duplicate":
                self.problem_rows_total += 1
                if len(self.problem_rows) < self.row_cap:
                    record = {"row": str(number), "input": cell}
                    record.update(zip(RESULT_COLUMNS, columns, strict=True))
                    self.problem_rows.append(record)

    @property
    def problem_count(self) -> int:
        """Rows that are not plainly deliverable."""
        return self.rows - self.by_status.get("deliverable", 0)

    def counts(self) -> dict[str, Any]:
        """The counting part of summary.json."""
        return {
            "rows": self.rows,
            "rows_with_problems": self.problem_count,
            "by_status": dict(self.by_status.most_common()),
            "by_code": dict(self.by_code.most_common()),
            "by_reason": dict(self.by_reason.most_common()),
            "flags": {k: self.flags.get(k, 0) for k in ("disposable", "role", "free", "catch_all")},
            "suggestions": sum(self.suggestions.values()),
        }
