"""The real bounces kept in the verdict cache (kind ``bounce``), for the next ``clean``.

:func:`remember` folds a calibration's final outcomes in: a hard bounce (a 5xx at RCPT or
after DATA, a DSN ``failed``, an expiry) is kept with its real reply and date; a send that
ended deferred adds one soft bounce to the address's count; a delivery clears what was kept
(the address works). :func:`load` is a run's view (:class:`~pipeline.bounced.Suppressions`),
:func:`kept` and :func:`forget` back ``presend suppress --list`` / ``--remove``. The records
are kept until removed: ``--max-age`` caps the network levels' verdicts, not these.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from pipeline.bounced import BounceFact, Suppressions, quote_reply
from pipeline.calibrate.join import Actual, Settled, address_key

if TYPE_CHECKING:
    from pipeline.cache import VerdictCache

__all__ = ["KIND", "Remembered", "forget", "kept", "load", "remember"]

#: The verdict cache's kind for the kept bounces.
KIND = "bounce"
#: How long a kept bounce lives (until removed, in practice): a hundred years.
KEEP_SECONDS = 100 * 365 * 86_400.0


@dataclass(frozen=True, slots=True)
class Remembered:
    """What :func:`remember` changed: hard bounces kept, soft bounces counted, records cleared."""

    hard: int
    soft: int
    cleared: int

    def as_dict(self) -> dict[str, int]:
        """Plain data for calibration.json."""
        return {"hard": self.hard, "soft": self.soft, "cleared": self.cleared}


def remember(cache: VerdictCache, settled: Settled) -> Remembered:
    """Fold ``settled``'s final outcomes into the kept bounces."""
    known = {key: BounceFact.from_dict(value) for key, value in cache.get_many(KIND, settled.actual).items()}
    writes: list[tuple[str, BounceFact]] = []
    cleared: list[str] = []
    hard = soft = 0
    for key, actual in settled.actual.items():
        before = known.get(key)
        if actual.label in ("delivered", "complaint"):
            if before is not None:
                cleared.append(key)
            continue
        if actual.hard:
            hard += 1
            writes.append((key, _hard(actual, before)))
        elif before is None or not actual.at or actual.at != before.soft_at:
            # (the same deferral read again, from the same log, is not counted twice)
            soft += 1
            writes.append((key, _soft(actual, before)))
    cache.put_many(KIND, [(key, fact.as_dict(), KEEP_SECONDS) for key, fact in writes])
    cache.delete(KIND, cleared)
    return Remembered(hard, soft, len(cleared))


def _hard(actual: Actual, before: BounceFact | None) -> BounceFact:
    fact = BounceFact(actual.address, True, actual.code, actual.enhanced, actual.text, actual.at, actual.source)
    if before is not None:
        fact = replace(fact, soft_count=before.soft_count, soft_at=before.soft_at, soft_text=before.soft_text)
    return fact


def _soft(actual: Actual, before: BounceFact | None) -> BounceFact:
    base = before if before is not None else BounceFact(actual.address, False)
    reply = quote_reply(actual.code, actual.enhanced, actual.text)
    return replace(base, soft_count=base.soft_count + 1, soft_at=actual.at, soft_text=reply)


def load(cache: VerdictCache, soft_limit: int) -> Suppressions:
    """The facts a run uses: every hard bounce, and the addresses with ``soft_limit`` soft bounces or more."""
    facts = {}
    for key, value, _ in cache.entries(KIND):
        fact = BounceFact.from_dict(value)
        if fact.hard or fact.soft_count >= soft_limit:
            facts[key] = fact
    return Suppressions(facts)


def kept(cache: VerdictCache) -> list[BounceFact]:
    """Every kept record, by address."""
    return [BounceFact.from_dict(value) for _, value, _ in cache.entries(KIND)]


def forget(cache: VerdictCache, address: str) -> bool:
    """Forget one address (written as in a list: normalized like ``clean``); whether it was kept."""
    key = address_key(address) or address.strip().lower()
    return cache.delete(KIND, [key]) > 0
