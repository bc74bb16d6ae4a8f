"""The pure rules of adaptive politeness: reading limit replies, learning limits, pacing."""

from __future__ import annotations

import pytest

from pipeline.probe.limits import (
    MAX_BACKOFF_FACTOR,
    MAX_NAMED_WAIT,
    Cut,
    CutKind,
    HostLimits,
    backoff_delay,
    learn,
    limit_kind,
    named_wait,
)
from pipeline.probe.pace import HostPace
from pipeline.probe.reply import Reply


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("4.7.0 mx.example Error: too many errors", CutKind.ERRORS),  # Postfix smtpd_hard_error_limit
        ("4.7.0 Too many invalid recipients", CutKind.ERRORS),
        ("4.7.0 mx.example Error: too many connections from 192.0.2.1", CutKind.CONNECTIONS),  # anvil
        ("4.7.0 Too many concurrent SMTP connections; please try again later", CutKind.CONNECTIONS),
        ("4.7.0 Connection rate limit exceeded", CutKind.CONNECTIONS),
        ("4.3.2 Service shutting down", CutKind.BUSY),
        ("Too busy right now", CutKind.BUSY),
    ],
)
def test_limit_kind_reads_what_a_421_is_about(message: str, kind: CutKind) -> None:
    assert limit_kind(Reply.parse(421, message)) is kind


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("Too many connections, try again in 60 seconds", 60.0),
        ("please retry in 5 minutes", 300.0),
        ("Greylisted, come back in 90s", 90.0),
        ("wait 2 h before trying again", MAX_NAMED_WAIT),  # honoured up to the cap
        ("try again later", None),
        ("Error: too many errors", None),
    ],
)
def test_named_wait(text: str, seconds: float | None) -> None:
    assert named_wait(text) == seconds


def test_learn_errors_drop_and_connections() -> None:
    none = HostLimits()
    assert learn(none, Cut(CutKind.ERRORS, "421", refusals=4), 1).errors_per_session == 4
    assert learn(none, Cut(CutKind.DROP, "lost", rcpts=2), 1).rcpts_per_session == 2
    assert not learn(none, Cut(CutKind.DROP, "lost", at_connect=True), 1)  # nothing said yet
    assert not learn(none, Cut(CutKind.BUSY, "421 busy"), 1)
    assert not learn(none, Cut(CutKind.CAP, "capped", rcpts=3), 1)  # slowness is no count limit
    # refused while two of ours were open: at most two at once
    at_once = learn(none, Cut(CutKind.CONNECTIONS, "421", others_open=2), 5)
    assert at_once == HostLimits(sessions_at_once=2)
    # refused with none of ours open: a rate, in the window of the backoff
    rate = learn(none, Cut(CutKind.CONNECTIONS, "421", recent_starts=6), 5)
    assert (rate.sessions_per_window, rate.window_seconds) == (6, 5)
    # refused again at that rate: halve it, keep the longer window
    again = learn(rate, Cut(CutKind.CONNECTIONS, "421", recent_starts=6), 10)
    assert (again.sessions_per_window, again.window_seconds) == (3, 10)


def test_limits_merge_round_trip_and_ignore_junk() -> None:
    a = HostLimits(rcpts_per_transaction=10, window_seconds=2.0, sessions_per_window=5)
    b = HostLimits(rcpts_per_transaction=3, errors_per_session=4, window_seconds=6.0)
    merged = a.merged(b)
    assert merged == HostLimits(3, None, 4, None, 5, 6.0)
    assert HostLimits.from_dict(merged.as_dict()) == merged
    assert HostLimits.from_dict({"rcpts_per_transaction": "x", "errors_per_session": -1, "other": 3}) == HostLimits()
    assert not HostLimits() and HostLimits(sessions_at_once=1)


def test_backoff_doubles_up_to_a_cap_and_a_named_wait_wins_when_longer() -> None:
    assert [backoff_delay(10, level) for level in (1, 2, 3)] == [10, 20, 40]
    assert backoff_delay(10, 50) == 10 * MAX_BACKOFF_FACTOR
    assert backoff_delay(10, 1, named=60) == 60
    assert backoff_delay(10, 3, named=5) == 40


def test_pace_waits_for_the_backoff_the_rate_and_the_sessions_at_once() -> None:
    pace = HostPace()
    assert pace.wait(0.0, per_host=2) == 0.0
    first = pace.enter(0.0, window=10)
    pace.enter(0.0, window=10)
    assert pace.wait(0.0, per_host=2) is None  # two open: wait for one to end
    # "too many connections" while another of ours is open reads as a limit of sessions at once
    delay = pace.cut(first, Cut(CutKind.CONNECTIONS, "421"), base=10, now=1.0)
    assert delay == 10 and pace.limits.sessions_at_once == 1 and pace.wait(5.0, per_host=2) == 6.0
    pace.leave()
    assert pace.wait(12.0, per_host=2) is None  # one open, one allowed
    pace.leave()
    assert pace.wait(12.0, per_host=2) == 0.0
    pace.limits = HostLimits(sessions_per_window=2, window_seconds=10)
    pace.enter(11.0, window=10)
    pace.enter(12.0, window=10)
    pace.leave()
    pace.leave()
    assert pace.wait(13.0, per_host=2) == 8.0  # the third start waits for the first to age out
    assert pace.wait(21.0, per_host=2) == 0.0


def test_cuts_from_one_episode_grow_the_backoff_once() -> None:
    pace = HostPace()
    a, b = pace.enter(0.0, 5), pace.enter(0.0, 5)
    assert pace.cut(a, Cut(CutKind.BUSY, "421"), base=5, now=1.0) == 5
    assert pace.cut(b, Cut(CutKind.BUSY, "421"), base=5, now=1.5) == 5  # started before the backoff
    c = pace.enter(7.0, 5)
    assert pace.cut(c, Cut(CutKind.BUSY, "421"), base=5, now=7.5) == 10  # a new episode: doubled
    pace.smooth()
    d = pace.enter(20.0, 5)
    assert pace.cut(d, Cut(CutKind.BUSY, "421"), base=5, now=20.5) == 5
