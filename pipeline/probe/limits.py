"""What a mail host allows one client, learnt from where it cut us off (pure, no I/O).

Mail servers limit a client in ways that are not about any mailbox: recipients per
transaction (``452 4.5.3``, RFC 5321 §4.5.3.1.10), refused commands per session (Postfix's
``smtpd_hard_error_limit`` ends the session with ``421 4.7.0 Error: too many errors``),
connections at once or per time unit (Postfix's anvil: ``421 4.7.0 Error: too many
connections``), or a plain hang-up after a number of RCPTs. None of these is an answer about
an address. The session engine (:mod:`pipeline.probe.prober`) reports each cut as a
:class:`Cut`; :func:`learn` turns it into tighter :class:`HostLimits` the later sessions are
planned under, and :func:`backoff_delay` says how long to leave the host alone first.

Recognising the limit replies (:func:`limit_kind`) is a small stand-in here: the reply
classifier of :mod:`pipeline.probe.reply` is the place it belongs once it reads limits.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any

from pipeline.probe.classify import Limit, classify
from pipeline.probe.reply import Reply

#: A wait a host names (``try again in 5 minutes``) is honoured up to this many seconds.
MAX_NAMED_WAIT = 900.0

#: A grown backoff never exceeds this many times the base backoff.
MAX_BACKOFF_FACTOR = 16


class CutKind(StrEnum):
    """Why a session ended before every address of it was answered."""

    ERRORS = "errors"  # 421 "too many errors": refused commands per session
    CONNECTIONS = "connections"  # 421 "too many connections": at once or per time unit
    BUSY = "busy"  # another 421: the host will not talk now
    DROP = "drop"  # the connection went away mid-session without a reply
    CAP = "cap"  # our own wall-clock cap per session ran out (a host trickling bytes)


_WAIT = re.compile(
    r"(?:try|come back|retry|wait)[^0-9]{0,24}?(\d+(?:\.\d+)?)\s*"
    r"(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?)\b",
    re.I,
)
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_CUT_KINDS = {Limit.ERRORS: "errors", Limit.CONNECTIONS: "connections", Limit.RATE: "connections"}


def limit_kind(reply: Reply) -> CutKind:
    """What a 421 (or another closing reply) is about: errors, connections, or just busy
    (read by the one reply classifier, :func:`pipeline.probe.classify.classify`; Postfix words
    its rate and its concurrency refusals alike, so both are connections here)."""
    limit = classify(reply.code, reply.enhanced, reply.text).limit
    kind = _CUT_KINDS.get(limit) if limit is not None else None
    return CutKind(kind) if kind is not None else CutKind.BUSY


def named_wait(text: str) -> float | None:
    """The wait a host's words ask for (``try again in 60 seconds`` → 60), capped; else None."""
    match = _WAIT.search(text)
    if match is None:
        return None
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]
    return min(seconds, MAX_NAMED_WAIT)


@dataclass(frozen=True, slots=True)
class HostLimits:
    """What one mail host address allows us, as far as we learnt (None: no limit seen).

    ``rcpts_per_transaction``: RCPTs one MAIL FROM may carry (from 452 4.5.3).
    ``rcpts_per_session``: RCPTs answered before the host hung up (from a drop).
    ``errors_per_session``: refused commands that end a session (from "too many errors").
    ``sessions_at_once``: sessions the host takes at once (from a refusal while others were open).
    ``sessions_per_window`` in ``window_seconds``: new sessions per time (from a rate refusal).
    """

    rcpts_per_transaction: int | None = None
    rcpts_per_session: int | None = None
    errors_per_session: int | None = None
    sessions_at_once: int | None = None
    sessions_per_window: int | None = None
    window_seconds: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The learnt limits only (JSON-able), for the cache and summary.json."""
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostLimits:
        """The inverse of :meth:`as_dict`; unknown keys and wrong types are ignored."""
        known: dict[str, Any] = {}
        for spec in fields(cls):
            value = data.get(spec.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
                known[spec.name] = float(value) if spec.name == "window_seconds" else int(value)
        return cls(**known)

    def merged(self, other: HostLimits) -> HostLimits:
        """The tighter of two sets of limits (a longer window is the tighter one)."""
        values: dict[str, Any] = {}
        for spec in fields(self):
            mine, theirs = getattr(self, spec.name), getattr(other, spec.name)
            if mine is None or theirs is None:
                values[spec.name] = theirs if mine is None else mine
            elif spec.name == "window_seconds":
                values[spec.name] = max(mine, theirs)
            else:
                values[spec.name] = min(mine, theirs)
        return HostLimits(**values)

    def __bool__(self) -> bool:
        return any(getattr(self, spec.name) is not None for spec in fields(self))


@dataclass(frozen=True, slots=True)
class Cut:
    """One session that ended before its addresses were all answered, and what it had done.

    ``refusals``: 4xx/5xx replies the session got before the cut; ``rcpts``: RCPTs answered;
    ``others_open``: our other sessions open at the same host when it refused us;
    ``recent_starts``: sessions we started at the host within the current backoff before it.
    """

    kind: CutKind
    words: str  # the host's reply, or what happened, for the detail of a later verdict
    at_connect: bool = False
    refusals: int = 0
    rcpts: int = 0
    others_open: int = 0
    recent_starts: int = 0
    wait: float | None = None  # a wait the host named


def learn(limits: HostLimits, cut: Cut, window: float) -> HostLimits:
    """The limits after ``cut`` (``window``: the backoff now, the time unit a rate is kept in).

    - too many errors: the host cut after ``refusals`` refused commands, so a session stops
      one short of that;
    - a hang-up mid-session after some answers: no more RCPTs per session than were answered;
    - too many connections while other sessions of ours were open: no more at once than those;
      with none open, it is a rate: no more new sessions per ``window`` than started in the last
      one (halved when a rate was known already and still too high).
    """
    if cut.kind is CutKind.ERRORS and cut.refusals > 0:
        return limits.merged(HostLimits(errors_per_session=cut.refusals))
    if cut.kind is CutKind.DROP and not cut.at_connect and cut.rcpts > 0:
        return limits.merged(HostLimits(rcpts_per_session=cut.rcpts))
    if cut.kind is CutKind.CONNECTIONS:
        at_once = limits.sessions_at_once
        if cut.others_open > 0 and (at_once is None or cut.others_open < at_once):
            return limits.merged(HostLimits(sessions_at_once=cut.others_open))
        rate = max(1, cut.recent_starts)
        if limits.sessions_per_window is not None:
            rate = max(1, min(rate, limits.sessions_per_window // 2))
        return replace(
            limits.merged(HostLimits(window_seconds=window)),
            sessions_per_window=rate,
        )
    return limits


def backoff_delay(base: float, level: int, named: float | None = None) -> float:
    """Seconds to leave a host alone after its ``level``-th cut: ``base`` doubling each time
    (at most :data:`MAX_BACKOFF_FACTOR` times ``base``), or the wait the host named if longer."""
    grown = base * min(2 ** max(0, level - 1), MAX_BACKOFF_FACTOR)
    return max(grown, named or 0.0)
