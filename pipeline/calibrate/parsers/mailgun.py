"""Mailgun events (JSON: the events API's ``items``, or a webhook's ``event-data``).

Each event has ``event``, ``recipient`` and a Unix ``timestamp``. ``delivered`` and
``failed`` carry ``delivery-status`` (``code``, ``message``, ``description``); a failure's
``severity`` is ``permanent`` or ``temporary``. ``complained`` is a complaint; ``accepted``,
``opened``, ``clicked`` ... are no outcome.
"""

from __future__ import annotations

from typing import Any

from pipeline.calibrate.outcome import Kind, Outcome, enhanced_code, iso_utc, reply_code

NAME = "mailgun"

_OTHERS = frozenset({"accepted", "opened", "clicked", "unsubscribed", "stored", "rejected"})


def matches(record: dict[str, Any]) -> bool:
    """True for a Mailgun event."""
    return "event" in record and "recipient" in record and "timestamp" in record


def outcomes(record: dict[str, Any], where: str) -> list[Outcome] | None:
    """The event's outcome; None for an event that is none."""
    event = record.get("event")
    address = str(record.get("recipient") or "")
    at = iso_utc(record.get("timestamp"))
    if event == "complained":
        return [Outcome(address, Kind.COMPLAINT, at=at, source=where)]
    if event == "delivered":
        kind = Kind.DELIVERED
    elif event == "failed":
        kind = Kind.BOUNCED if record.get("severity") == "permanent" else Kind.DEFERRED
    else:
        return None
    status = record.get("delivery-status") or {}
    text = " ".join(str(status.get(k) or "") for k in ("message", "description") if status.get(k)).strip()
    code = str(status.get("code") or "") or reply_code(text[:4])
    enhanced = enhanced_code(str(status.get("enhanced-code") or "")) or enhanced_code(text)
    return [Outcome(address, kind, code if code.isdigit() and len(code) == 3 else "", enhanced, text, at, where)]
