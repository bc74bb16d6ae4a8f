"""When the next session at a mail host may start: learnt limits, backoff after a cut.

:class:`HostPace` is the bookkeeping of one host address (pure; the clock is passed in): its
:class:`~pipeline.probe.limits.HostLimits`, the sessions open and recently started, and the
time before which the host is left alone after it cut a session short. :class:`PaceGate` is
the asyncio side the prober's sessions wait at; one gate per ``probe()`` call, the paces it
keeps belong to the prober and so outlive the call.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field, replace

from pipeline.probe.limits import Cut, HostLimits, backoff_delay, learn


@dataclass(slots=True)
class Ticket:
    """One session's place at a host: when it started and how many of ours were open then."""

    started: float
    others_open: int
    recent_starts: int


@dataclass
class HostPace:
    """Pacing state of one mail host address (times from ``time.monotonic``)."""

    limits: HostLimits = field(default_factory=HostLimits)
    level: int = 0  # cuts in a row: the backoff doubles with each
    not_before: float = 0.0  # no new session before this time
    backoff_from: float = -math.inf  # when the last backoff was set (older sessions do not grow it)
    open: int = 0
    starts: deque[float] = field(default_factory=deque)
    cuts: int = 0

    def wait(self, now: float, per_host: int) -> float | None:
        """Seconds until a new session may start (0: now; None: when one of ours ends)."""
        if now < self.not_before:
            return self.not_before - now
        rate, window = self.limits.sessions_per_window, self.limits.window_seconds
        if rate is not None and window is not None:
            while self.starts and self.starts[0] <= now - window:
                self.starts.popleft()
            if len(self.starts) >= rate:
                return max(0.0, self.starts[0] + window - now)
        at_once = min(per_host, self.limits.sessions_at_once or per_host)
        return None if self.open >= max(1, at_once) else 0.0

    def enter(self, now: float, window: float) -> Ticket:
        """A session starts now (``window``: how far back a start counts as recent)."""
        since = max(now - window, self.not_before)
        recent = sum(1 for start in self.starts if start >= since)
        ticket = Ticket(now, self.open, recent)
        self.open += 1
        self.starts.append(now)
        if len(self.starts) > 10_000:
            self.starts.popleft()
        return ticket

    def leave(self) -> None:
        """A session ended."""
        self.open = max(0, self.open - 1)

    def cut(self, ticket: Ticket, cut: Cut, base: float, now: float) -> float:
        """The host cut the session ``ticket`` started: learn from it, back off; the wait set.

        A session started before the last backoff was set does not grow it again (several
        sessions cut by one refusal episode count once).
        """
        self.cuts += 1
        if ticket.started >= self.backoff_from or self.level == 0:
            self.level += 1
        delay = backoff_delay(base, self.level, cut.wait)
        # Which of two simultaneous connections a host refuses is a race: the sessions of
        # ours still open now count as open then too.
        others = max(ticket.others_open, self.open - 1)
        learnt = replace(cut, others_open=others, recent_starts=ticket.recent_starts)
        self.limits = learn(self.limits, learnt, delay)
        self.not_before = max(self.not_before, now + delay)
        self.backoff_from = now
        return delay

    def smooth(self) -> None:
        """A session went through without a cut: the backoff starts from the base again."""
        self.level = 0


class PaceGate:
    """Where sessions wait for their host's turn (one per event loop)."""

    def __init__(
        self, paces: dict[str, HostPace], per_host: int, base: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.paces = paces
        self.per_host = max(1, per_host)
        self.base = base
        self.clock = clock
        self.changed = asyncio.Condition()

    def pace(self, address: str) -> HostPace:
        """The pace of ``address`` (made on first use)."""
        return self.paces.setdefault(address, HostPace())

    @asynccontextmanager
    async def turn(self, address: str, per_host: int | None = None) -> AsyncIterator[Ticket]:
        """Wait until a session at ``address`` may start (``per_host``: this host's bound on
        sessions at once, when gentler than the run's); hold its place until it ends."""
        pace = self.pace(address)
        at_once = max(1, min(per_host, self.per_host)) if per_host else self.per_host
        async with self.changed:
            while (wait := pace.wait(self.clock(), at_once)) != 0.0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.changed.wait(), timeout=wait)
            ticket = pace.enter(self.clock(), backoff_delay(self.base, pace.level + 1))
        try:
            yield ticket
        finally:
            async with self.changed:
                pace.leave()
                self.changed.notify_all()

    async def cut(self, address: str, ticket: Ticket, cut: Cut) -> float:
        """Record a cut at ``address`` (see :meth:`HostPace.cut`); wakes the waiting sessions."""
        async with self.changed:
            delay = self.pace(address).cut(ticket, cut, self.base, self.clock())
            self.changed.notify_all()
        return delay
