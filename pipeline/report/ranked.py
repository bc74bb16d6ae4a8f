"""The report's problem rows, ranked by what matters: bounded memory, file order within a rank.

A list of millions of rows shows at most ``cap`` of its problem rows. They are not the first
``cap`` in file order but the first of each rank, best rank first: rows with a suggestion (a
fix is at hand), then rows that will bounce, then risky, uncertain and repeated ones. Rows
arrive in file order, so each rank keeps its first rows; a better row that arrives once the
store is full pushes out the last row of the worst rank held. The store never holds more than
``cap`` rows, whatever the list's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from pipeline.models import Status

#: Rank of a row with a suggestion (its fix is known), whatever its status.
FIXABLE = 0
#: The ranks of the other problem rows, by status.
STATUS_RANK: dict[str, int] = {
    Status.UNDELIVERABLE.value: 1,
    Status.RISKY.value: 2,
    Status.UNKNOWN.value: 3,
    Status.DUPLICATE.value: 4,
}
#: How many ranks there are.
RANKS = 5
#: The ranks' names, in order (as the report names them).
RANK_NAMES = ("fixable", "undeliverable", "risky", "unknown", "duplicates")

T = TypeVar("T")


def rank_of(status: str, suggestion: str) -> int:
    """The rank of a problem row: :data:`FIXABLE` when it has a suggestion (and is not a
    repeat of an earlier row), else its status's."""
    if suggestion and status != Status.DUPLICATE.value:
        return FIXABLE
    return STATUS_RANK.get(status, RANKS - 1)


class RankedRows(Generic[T]):
    """Up to ``cap`` rows: the first rows of each rank, best rank first (see the module docstring)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._ranks: list[list[T]] = [[] for _ in range(RANKS)]
        self._held = 0

    def __len__(self) -> int:
        return self._held

    def __iter__(self) -> Iterator[T]:
        for rows in self._ranks:
            yield from rows

    def room(self, rank: int) -> int:
        """How many more rows of ``rank`` would be kept (the rows held of this rank and better count)."""
        better = sum(len(rows) for rows in self._ranks[: rank + 1])
        return max(self.cap - better, 0)

    def add(self, rank: int, row: T) -> bool:
        """Keep ``row`` (the next of its rank in file order) if there is room; whether it was kept."""
        if self.room(rank) <= 0:
            return False
        self._ranks[rank].append(row)
        self._held += 1
        if self._held > self.cap:
            for rows in reversed(self._ranks):
                if rows:
                    rows.pop()
                    self._held -= 1
                    break
        return True

    def merge(self, other: RankedRows[T]) -> None:
        """Add the rows of ``other``, a store of the rows that follow this one's in file order."""
        for rank, rows in enumerate(other._ranks):
            for row in rows:
                if not self.add(rank, row):
                    break

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RankedRows) and (self.cap, self._ranks) == (other.cap, other._ranks)

    __hash__ = None  # type: ignore[assignment]

    def rows(self) -> list[T]:
        """The rows held, best rank first, file order within a rank."""
        return list(self)

    def counts(self) -> list[int]:
        """How many rows of each rank are held."""
        return [len(rows) for rows in self._ranks]


__all__ = ["FIXABLE", "RANKS", "RANK_NAMES", "STATUS_RANK", "RankedRows", "rank_of"]
