"""Bounces that really happened: what ``calibrate --suppress`` kept, as the forecast's input.

A :class:`BounceFact` is what the verdict cache holds for one address (kind ``bounce``): the
real reply of its last hard bounce, or how many soft bounces it has had. :class:`Suppressions`
is the run's view of them, keyed like the duplicate index (the normalized address,
case-folded); it is loaded once per run and travels with the steps to every worker.
:func:`bounced_verdict` and :func:`soft_bounced` are the two ways a fact changes a forecast
(see :func:`pipeline.verdict.decide`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from pipeline.models import Status, Verdict

#: The reason slug of an address that bounced hard in a real send.
BOUNCED_REASON = "bounced_before"
#: The reason slug of an address lowered to risky by repeated soft bounces.
SOFT_BOUNCED_REASON = "soft_bounced_before"

__all__ = [
    "BOUNCED_REASON",
    "SOFT_BOUNCED_REASON",
    "BounceFact",
    "Suppressions",
    "bounced_verdict",
    "quote_reply",
    "soft_bounced",
]


def quote_reply(code: str, enhanced: str, text: str) -> str:
    """A reply as one text: the codes, then the words (codes the words already start with are not repeated)."""
    parts = [part for part in (code, enhanced) if part and not text.startswith(part) and part not in text[:16]]
    return " ".join([*parts, text] if text else parts)


@dataclass(frozen=True, slots=True)
class BounceFact:
    """What real sends taught about one address.

    ``hard``: its last settled outcome was a permanent failure, whose reply is ``code``,
    ``enhanced`` and ``text``, on ``at`` (ISO-8601 UTC). ``soft_count`` counts the sends that
    ended deferred (soft bounces), the last on ``soft_at`` with ``soft_text``.
    """

    email: str
    hard: bool
    code: str = ""
    enhanced: str = ""
    text: str = ""
    at: str = ""
    source: str = ""
    soft_count: int = 0
    soft_at: str = ""
    soft_text: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The fact as the cache stores it."""
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BounceFact:
        """The inverse of :meth:`as_dict` (unknown keys left out)."""
        return cls(**{name: data[name] for name in cls.__slots__ if name in data})


@dataclass(frozen=True, slots=True)
class Suppressions:
    """The bounce facts a run uses, by key (the normalized address, case-folded).

    Holds every hard bounce, and the soft-bounced addresses at or over the run's limit.
    """

    facts: dict[str, BounceFact] = field(default_factory=dict)

    def get(self, email: str) -> BounceFact | None:
        """The fact for a normalized address, or None."""
        return self.facts.get(email.lower())

    def is_hard(self, email: str) -> bool:
        """True when the address bounced hard: no level need ask about it again."""
        fact = self.facts.get(email.lower())
        return fact is not None and fact.hard

    def __len__(self) -> int:
        return len(self.facts)


def bounced_verdict(fact: BounceFact) -> Verdict:
    """The forecast of an address that bounced hard: undeliverable, quoting the real bounce.

    The code and enhanced code are the real ones when they are permanent (an expiry's last
    reply was a temporary one: it is then counted as a 550 / 5.0.0, the reply a send gets).
    """
    code = fact.code if fact.code.startswith("5") else "550"
    enhanced = fact.enhanced if fact.enhanced.startswith("5.") else "5.0.0"
    reply = quote_reply(fact.code, fact.enhanced, fact.text) or "no reply text"
    when = f" on {fact.at}" if fact.at else ""
    return Verdict(
        Status.UNDELIVERABLE,
        code,
        enhanced,
        BOUNCED_REASON,
        f"A real send to this address bounced{when}: {reply}. Kept by presend calibrate --suppress "
        "(presend suppress --remove ADDR forgets it).",
        checked_at=fact.at,
    )


def soft_bounced(verdict: Verdict, fact: BounceFact) -> Verdict:
    """A sendable forecast (one :func:`pipeline.verdict.decide` lets soft bounces lower)
    lowered to risky by repeated soft bounces; unchanged without any."""
    if fact.soft_count <= 0:
        return verdict
    last = f", the last on {fact.soft_at}" if fact.soft_at else ""
    said = f" ({fact.soft_text})" if fact.soft_text else ""
    return replace(
        verdict,
        status=Status.RISKY,
        reason=SOFT_BOUNCED_REASON,
        detail=f"{fact.soft_count} real sends to this address were deferred and never delivered{last}{said}. "
        f"{verdict.detail}",
    )
