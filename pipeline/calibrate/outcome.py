"""The record every outcome format becomes, and the small readers the parsers share."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum


class Kind(StrEnum):
    """What really happened to one address on one attempt."""

    DELIVERED = "delivered"
    #: a permanent failure (5xx, a DSN ``failed``, an ESP's hard bounce)
    BOUNCED = "bounced"
    #: a temporary failure (4xx, a DSN ``delayed``, an ESP's soft bounce)
    DEFERRED = "deferred"
    #: the sender gave up retrying a temporary failure (a bounce too)
    EXPIRED = "expired"
    #: delivered, then reported as spam by the recipient
    COMPLAINT = "complaint"


@dataclass(frozen=True, slots=True)
class Outcome:
    """One address's outcome on one attempt, as a log or an export tells it.

    ``code`` is the SMTP reply code (``"550"``), ``enhanced`` the RFC 3463 status
    (``"5.1.1"``), ``text`` the remote server's words; each is empty when the source did not
    say. ``at`` is ISO-8601 UTC when known. ``source`` names the file and line (or record).
    ``stage`` is ``rcpt`` or ``data`` when the source says which command was refused.
    """

    address: str
    kind: Kind
    code: str = ""
    enhanced: str = ""
    text: str = ""
    at: str = ""
    source: str = ""
    stage: str = ""

    @property
    def is_bounce(self) -> bool:
        """True for a permanent failure (a bounce or an expiry)."""
        return self.kind in (Kind.BOUNCED, Kind.EXPIRED)


@dataclass(slots=True)
class Counts:
    """What a parser saw in one file: records that gave outcomes, that it knew but skipped
    (a message's arrival, an open, a click), and that it could not read (unknown, malformed)."""

    outcomes: int = 0
    ignored: int = 0
    unknown: int = 0
    first_unknown: str = ""

    def unknown_at(self, where: str) -> None:
        """Count one unreadable record; remember where the first one was."""
        self.unknown += 1
        if not self.first_unknown:
            self.first_unknown = where


_CODE = re.compile(r"(?<![\d.])([245]\d\d)(?:[ -]|$)")
_ENHANCED = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_STAGES = (("RCPT TO", "rcpt"), ("end of DATA", "data"), ("DATA", "data"))


def reply_code(text: str) -> str:
    """The first SMTP reply code in ``text`` (``"550"``), or empty."""
    match = _CODE.search(text)
    return match.group(1) if match else ""


def enhanced_code(text: str) -> str:
    """The first RFC 3463 enhanced status code in ``text`` (``"5.1.1"``), or empty."""
    match = _ENHANCED.search(text)
    return match.group(1) if match else ""


def stage_of(text: str) -> str:
    """``rcpt`` or ``data`` when ``text`` names the SMTP command that was answered."""
    for needle, stage in _STAGES:
        if needle in text:
            return stage
    return ""


def strip_type(value: str) -> str:
    """A DSN field's value without its type prefix (``rfc822; a@b`` → ``a@b``, ``smtp; 550 …``)."""
    head, sep, tail = value.partition(";")
    if sep and re.fullmatch(r"[A-Za-z0-9-]{1,16}", head.strip()):
        return tail.strip()
    return value.strip()


def iso_utc(value: object) -> str:
    """``value`` (epoch seconds, ISO-8601 or RFC 5322 date text, a datetime) as ISO-8601 UTC; empty if unreadable."""
    moment: datetime | None = None
    try:
        if isinstance(value, datetime):
            moment = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            moment = datetime.fromtimestamp(float(value), UTC)
        elif isinstance(value, str) and value.strip():
            moment = _parse_text_date(value.strip())
    except (ValueError, OverflowError, OSError):
        return ""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_text_date(text: str) -> datetime | None:
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), UTC)
    iso = text.replace("Z", "+00:00").replace("z", "+00:00")
    # Some exports write more than six digits of a second (.NET): keep six.
    iso = re.sub(r"(\.\d{6})\d+", r"\1", iso)
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None


def log_lines(lines: Iterable[str], name: str) -> Iterator[tuple[str, str]]:
    """The non-blank lines of a mail log, each with its place (``name:number``, 1-based)."""
    for number, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if line.strip():
            yield f"{name}:{number}", line
