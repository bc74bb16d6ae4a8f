"""Addresses whose mail host said "later": pending across runs, in the verdict cache.

A greylisting host (or one that defers an address for another temporary reason) answers
450/451 until enough time has passed. Within a run the prober asks again after the waits of
``--retry-after``; an address still deferred when its retries are used up is recorded here,
under the cache kind ``"pending"``, with the time it may be asked again: the next wait of the
schedule after its last ask. The next run that meets the address (a cron job, ``--resume``, a
new run of the same list):

- asks it first when that time has passed (its route's sessions are started before the
  others'), with the same made-up catch-all local part as before, since a greylisting host
  remembers (client, sender, recipient) triplets, and goes on with the schedule where it
  stopped (the number of asks so far is kept);
- otherwise does not ask, and the row stays ``unknown`` with its last reply and a detail
  naming the UTC time from which it will be asked.

A real answer (any verdict the host gave for the mailbox) removes the record; a run in which
the host could not be reached at all leaves it as it was. Pure bookkeeping: the cache I/O is
the prober's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pipeline.cache import verdict_from_dict, verdict_to_dict
from pipeline.models import MailboxVerdict, Status, Verdict

#: The verdict cache's kind for pending addresses.
PENDING_KIND = "pending"

#: How long a pending record outlives its wait: greylisting hosts forget a triplet that is not
#: retried within a few days (postgrey's default retry window is 2 days), so an older record
#: says nothing useful (the address is then asked as if new).
KEEP_AFTER_WAIT = 7 * 86_400.0

#: The counters of the pending book in summary.json (``probe`` section).
PENDING_STATS = ("pending_recorded", "pending_waiting", "pending_asked", "pending_resolved")


@dataclass(frozen=True, slots=True)
class Pending:
    """One deferred address: its last temporary answer, how often it was asked, when next.

    ``verdict`` is the temporary verdict as the host's reply made it (no retry wording);
    ``asked`` counts the asks over every run; ``next_at`` is a POSIX time; ``probe_local``
    is the made-up local part asked beside it in the same transactions.
    """

    email: str
    verdict: Verdict
    asked: int
    next_at: float
    probe_local: str

    def due(self, now: float) -> bool:
        """Whether the wait has passed at ``now``."""
        return now >= self.next_at

    @property
    def when(self) -> str:
        """``next_at`` as ISO-8601 UTC, to the second."""
        return iso_utc(self.next_at)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the cache."""
        return {
            "email": self.email,
            "verdict": verdict_to_dict(self.verdict),
            "asked": self.asked,
            "next_at": self.next_at,
            "probe_local": self.probe_local,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Pending:
        """The inverse of :meth:`to_dict`."""
        return cls(
            data["email"],
            verdict_from_dict(data["verdict"]),
            int(data["asked"]),
            float(data["next_at"]),
            data.get("probe_local", ""),
        )

    def lifetime(self, now: float) -> float:
        """Seconds to keep the record in the cache from ``now``."""
        return max(0.0, self.next_at - now) + KEEP_AFTER_WAIT


def iso_utc(moment: float) -> str:
    """A POSIX time as ISO-8601 UTC, to the second (``2026-12-04T23:10:00Z``)."""
    return datetime.fromtimestamp(round(moment), UTC).isoformat().replace("+00:00", "Z")


def waiting(pending: Pending) -> MailboxVerdict:
    """The row of an address whose wait has not passed: its last answer, and when it is asked."""
    verdict = pending.verdict
    times = "once" if pending.asked == 1 else f"{pending.asked} times"
    detail = (
        f"{verdict.detail} Pending: deferred {times} so far; not asked in this run because the wait "
        f"has not passed: presend asks again from {pending.when} (UTC), in the first run after that time."
    )
    return MailboxVerdict(pending.email, replace(verdict, detail=detail), from_cache=True)


def recorded(mailbox: MailboxVerdict, pending: Pending) -> MailboxVerdict:
    """The row of an address that this run leaves pending: say when it will be asked again."""
    verdict = mailbox.verdict
    detail = f"{verdict.detail} Pending: the next run from {pending.when} (UTC) asks it again."
    return replace(mailbox, verdict=replace(verdict, detail=detail))


def answered_later(mailbox: MailboxVerdict, pending: Pending) -> MailboxVerdict:
    """An answer that came in a later run than the deferral: say so (a real send waits too)."""
    verdict = mailbox.verdict
    if verdict.status is Status.UNKNOWN:
        return mailbox
    times = "once" if pending.asked == 1 else f"{pending.asked} times"
    first = pending.verdict.checked_at or "an earlier run"
    detail = (
        f"{verdict.detail} An earlier run was deferred {times} (last {pending.verdict.code} at {first}) "
        "before this answer (greylisting, most likely), so a real send would be deferred at first too."
    )
    return replace(mailbox, verdict=replace(verdict, detail=detail))


def due_first(targets: Sequence[Any], due: Iterable[str]) -> list[Any]:
    """``targets`` with the addresses in ``due`` first (each part in its own order)."""
    wanted = set(due)
    return [t for t in targets if t.email in wanted] + [t for t in targets if t.email not in wanted]


__all__ = [
    "KEEP_AFTER_WAIT",
    "PENDING_KIND",
    "PENDING_STATS",
    "Pending",
    "answered_later",
    "due_first",
    "iso_utc",
    "recorded",
    "waiting",
]
