"""Each address's final outcome, and the forecast rows of a results file paired with them.

Outcomes are keyed by the address as ``clean`` normalizes it (:func:`check_address`, then
case-folded like the duplicate key), so ``Bob@Example.com`` in a log meets ``bob@example.com``
in the results. The final outcome of an address: a bounce (or an expiry) outranks a
delivery, which outranks a deferral (a deferral followed by a delivery is a delivery);
between two of the same rank the later one stands. A complaint marks a delivered address.
The results file is streamed; only the outcome addresses are held.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.calibrate.outcome import Kind, Outcome
from pipeline.columns import RESULT_COLUMNS
from pipeline.errors import InputError
from pipeline.io.textfile import UndecodableText, reading_own_outputs
from pipeline.report.tally import _open_results
from pipeline.rules.syntax import check_address

__all__ = ["Actual", "ForecastRow", "Settled", "forecast_rows", "settle"]

_RANK = {Kind.DEFERRED: 1, Kind.DELIVERED: 2, Kind.COMPLAINT: 2, Kind.BOUNCED: 3, Kind.EXPIRED: 3}
_WIDTH = len(RESULT_COLUMNS)


@dataclass(slots=True)
class Actual:
    """The final outcome of one address, with the real reply that settled it."""

    address: str
    kind: Kind
    code: str
    enhanced: str
    text: str
    at: str
    source: str
    stage: str
    attempts: int = 1
    deferrals: int = 0
    complaint: bool = False

    @property
    def label(self) -> str:
        """The actual outcome as the scores count it: delivered, complaint, bounced or deferred."""
        if self.kind in (Kind.BOUNCED, Kind.EXPIRED):
            return "bounced"
        if self.kind is Kind.DEFERRED:
            return "deferred"
        return "complaint" if self.complaint else "delivered"

    @property
    def hard(self) -> bool:
        """True for a permanent failure: a 5xx (at RCPT or after DATA), a DSN failed, an expiry."""
        return self.kind in (Kind.BOUNCED, Kind.EXPIRED)


@dataclass(slots=True)
class Settled:
    """Final outcomes by address key, and the outcomes whose address could not be read."""

    actual: dict[str, Actual]
    unreadable: int = 0


def address_key(address: str) -> str:
    """The join key of an address: ``clean``'s normalized form, case-folded; empty if invalid."""
    return check_address(address).key


def settle(outcomes: Iterable[Outcome]) -> Settled:
    """The final outcome of each address among ``outcomes`` (in the order they happened)."""
    settled = Settled({})
    keys: dict[str, str] = {}
    for outcome in outcomes:
        key = keys.get(outcome.address)
        if key is None:
            key = keys[outcome.address] = address_key(outcome.address)
        if not key:
            settled.unreadable += 1
            continue
        current = settled.actual.get(key)
        if current is None:
            settled.actual[key] = _actual(outcome)
            continue
        _fold(current, outcome)
    return settled


def _actual(outcome: Outcome) -> Actual:
    kind = Kind.DELIVERED if outcome.kind is Kind.COMPLAINT else outcome.kind
    return Actual(outcome.address, kind, outcome.code, outcome.enhanced, outcome.text, outcome.at,
                  outcome.source, outcome.stage, deferrals=int(outcome.kind is Kind.DEFERRED),
                  complaint=outcome.kind is Kind.COMPLAINT)


def _fold(current: Actual, outcome: Outcome) -> None:
    current.attempts += 1
    if outcome.kind is Kind.COMPLAINT:
        # A complaint says the mail arrived; it brings no reply of its own.
        current.complaint = True
        if current.kind is Kind.DEFERRED:
            current.kind = Kind.DELIVERED
        return
    if outcome.kind is Kind.DEFERRED:
        current.deferrals += 1
    rank, held = _RANK[outcome.kind], _RANK[current.kind]
    later = not current.at or not outcome.at or outcome.at >= current.at
    if rank > held or (rank == held and later):
        current.kind, current.code, current.enhanced = outcome.kind, outcome.code, outcome.enhanced
        current.text, current.at = outcome.text, outcome.at
        current.source, current.stage = outcome.source, outcome.stage


@dataclass(frozen=True, slots=True)
class ForecastRow:
    """One row of a results file: its number and its presend columns."""

    row: int
    email: str
    status: str
    code: str
    enhanced: str
    reason: str
    detail: str

    @property
    def key(self) -> str:
        """The join key (the normalized address, case-folded)."""
        return self.email.lower()


def forecast_rows(path: Path) -> Iterator[ForecastRow]:
    """Stream the rows of a ``<stem>.results.csv``; InputError names the file and line."""
    lines, handle, delimiter = _open_results(path)
    reader = csv.reader(lines, delimiter=delimiter)
    index = {name: i - _WIDTH for i, name in enumerate(RESULT_COLUMNS)}
    with handle, reading_own_outputs():
        try:
            header = tuple(next(reader, ()))
            if header[-_WIDTH:] != RESULT_COLUMNS:
                raise InputError(f"{path}: the last columns are not presend's result columns; "
                                 "give a <stem>.results.csv written by presend clean")
            number = 0
            for cells in reader:
                if not cells:
                    continue
                number += 1
                if len(cells) < _WIDTH:
                    raise InputError(f"{path}: line {reader.line_num} has {len(cells)} fields; "
                                     "the results file looks cut short")
                yield ForecastRow(number, *(cells[index[name]] for name in (
                    "presend_email", "presend_status", "presend_code", "presend_enhanced",
                    "presend_reason", "presend_detail")))
        except csv.Error as exc:
            raise InputError(f"{path}: line {reader.line_num}: {exc}") from exc
        except UndecodableText as exc:
            raise InputError(f"{path}: line {exc.line}: bytes that are not valid {exc.encoding}") from exc
