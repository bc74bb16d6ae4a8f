"""Exim's main log: one line per delivery attempt, flagged by what happened.

``=>`` delivered (``->`` another address of the same delivery), ``**`` failed for good,
``==`` deferred; ``<=`` is the message's arrival (its sender) and is skipped. A ``**`` line
after "retry timeout exceeded" is an expiry. The remote server's reply follows
``SMTP error from remote mail server after CMD:`` or sits in ``C="..."`` for a delivery.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from pipeline.calibrate.outcome import (
    Counts,
    Kind,
    Outcome,
    enhanced_code,
    iso_utc,
    log_lines,
    reply_code,
    stage_of,
)

NAME = "exim"

_ID = r"[0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}"
_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [+-]\d{4})?)(?: \[\d+\])? "
    rf"(?:(?P<id>{_ID}) )?(?P<rest>.*)$"
)
_EVENT = re.compile(r"^(?P<flag><=|=>|->|\*>|\*\*|==) (?P<addr>\S+)(?: <(?P<orig>[^>]*)>)?(?P<tail>.*)$")
_FLAGS = {"=>": Kind.DELIVERED, "->": Kind.DELIVERED, "**": Kind.BOUNCED, "==": Kind.DEFERRED}
_ERROR = re.compile(r"SMTP error from remote mail server after (?P<cmd>[^:]+?)(?::<[^>]*>)?:\s*(?P<reply>.*)$")
_CONFIRM = re.compile(r'\bC="(?P<reply>[^"]*)"')


def detect(head: str) -> bool:
    """True when the first lines hold Exim main-log event lines."""
    return any(
        (m := _LINE.match(line)) is not None and m.group("id") and _EVENT.match(m.group("rest"))
        for line in head.splitlines()[:200]
    )


def parse(lines: Iterable[str], name: str, counts: Counts) -> Iterator[Outcome]:
    """The outcomes of an Exim main log, in log order."""
    for where, line in log_lines(lines, name):
        match = _LINE.match(line)
        if match is None:
            counts.unknown_at(where)
            continue
        event = _EVENT.match(match.group("rest")) if match.group("id") else None
        if event is None or event.group("flag") not in _FLAGS:
            counts.ignored += 1  # a queue run, a connection, an arrival, "Completed" ...
            continue
        address = event.group("addr")
        if "@" not in address and event.group("orig"):
            address = event.group("orig")
        if "@" not in address:
            counts.unknown_at(where)
            continue
        counts.outcomes += 1
        yield _outcome(address, _FLAGS[event.group("flag")], event.group("tail"), iso_utc(match.group("ts")), where)


def _outcome(address: str, kind: Kind, tail: str, at: str, where: str) -> Outcome:
    if kind is Kind.DELIVERED:
        confirm = _CONFIRM.search(tail)
        text = confirm.group("reply") if confirm else ""
        return Outcome(address, kind, reply_code(text[:4]), enhanced_code(text), text, at, where)
    error = _ERROR.search(tail)
    if error is not None:
        text, stage = error.group("reply"), stage_of(error.group("cmd"))
    else:
        text, stage = tail.split(": ", 1)[-1].strip(), ""
    if kind is Kind.BOUNCED and "retry timeout exceeded" in tail:
        kind = Kind.EXPIRED
    code = reply_code(text[:4])
    return Outcome(address, kind, code, enhanced_code(text), text, at, where, stage)
