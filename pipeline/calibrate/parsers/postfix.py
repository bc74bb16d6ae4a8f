"""Postfix's mail log: ``status=`` lines of its delivery agents, joined by queue id.

A delivery agent (smtp, lmtp, local, virtual, pipe ...) logs one line per recipient and
attempt: ``QUEUEID: to=<addr>, relay=..., dsn=5.1.1, status=bounced (host ... said: 550 ...)``.
``status=expired`` names the queue file only (``QUEUEID: from=<sender>, status=expired,
returned to sender``): its recipients are the ones still deferred under that queue id.
Other Postfix lines (connections, ``from=``, ``removed``) are known and skipped; lines of
other programs or in no known shape are counted as unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

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

NAME = "postfix"

_LINE = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\S+|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)\s+\S+\s+"
    r"(?P<prog>[\w.-]*postfix[\w./-]*)(?:\[\d+\])?:\s+(?P<rest>.*)$"
)
_QUEUED = re.compile(r"^(?P<qid>[0-9A-Za-z]{5,}):\s+(?P<what>.*)$")
_STATUS = re.compile(
    r"^to=<(?P<to>[^>]*)>,.*?(?:dsn=(?P<dsn>\d\.\d{1,3}\.\d{1,3}),\s*)?"
    r"status=(?P<status>sent|bounced|deferred|undeliverable|deliverable)(?:\s+\((?P<why>.*)\))?\s*$"
)
_EXPIRED = re.compile(r"^from=<[^>]*>,\s*status=expired\b")
_SAID = re.compile(r"\bsaid:\s+(?P<reply>.*?)(?:\s+\(in reply to (?P<cmd>[^)]*)\))?$")
_KINDS = {"sent": Kind.DELIVERED, "bounced": Kind.BOUNCED, "deferred": Kind.DEFERRED}


def detect(head: str) -> bool:
    """True when the first lines hold Postfix log lines."""
    return any(_LINE.match(line) for line in head.splitlines()[:200])


def parse(lines: Iterable[str], name: str, counts: Counts) -> Iterator[Outcome]:
    """The outcomes of a Postfix log, in log order."""
    pending: dict[str, dict[str, Outcome]] = {}  # queue id → recipient → its last deferral
    year = datetime.now(UTC).year
    for where, line in log_lines(lines, name):
        match = _LINE.match(line)
        queued = _QUEUED.match(match.group("rest")) if match else None
        if match is None or queued is None:
            if match is None:
                counts.unknown_at(where)
            else:
                counts.ignored += 1
            continue
        qid, what = queued.group("qid"), queued.group("what")
        at = _timestamp(match.group("ts"), year)
        if what.startswith("to=<"):
            outcome = _status(what, at, where)
            if outcome is None:
                counts.unknown_at(where)
                continue
            waiting = pending.setdefault(qid, {})
            if outcome.kind is Kind.DEFERRED:
                waiting[outcome.address] = outcome
            else:
                waiting.pop(outcome.address, None)
            counts.outcomes += 1
            yield outcome
        elif _EXPIRED.match(what):
            for deferred in pending.pop(qid, {}).values():
                counts.outcomes += 1
                yield Outcome(deferred.address, Kind.EXPIRED, deferred.code, deferred.enhanced, deferred.text,
                              at, where, deferred.stage)
        else:
            if what == "removed":
                pending.pop(qid, None)
            counts.ignored += 1


def _status(what: str, at: str, where: str) -> Outcome | None:
    match = _STATUS.match(what)
    if match is None or not match.group("to"):
        return None
    kind = _KINDS.get(match.group("status"))
    if kind is None:
        return None  # address verification (sendmail -bv) answers: not a delivery
    why = match.group("why") or ""
    said = _SAID.search(why)
    text = said.group("reply") if said else why
    stage = stage_of(said.group("cmd") or "") if said else ""
    enhanced = match.group("dsn") or enhanced_code(text)
    return Outcome(match.group("to"), kind, reply_code(text[:4]), enhanced, text, at, where, stage)


def _timestamp(text: str, year: int) -> str:
    if text[:4].isdigit():
        return iso_utc(text)
    try:
        # Classic syslog stamps carry no year (or zone): this year, read as UTC.
        return iso_utc(datetime.strptime(f"{year} {text}", "%Y %b %d %H:%M:%S"))
    except ValueError:
        return ""
