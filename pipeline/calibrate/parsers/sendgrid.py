"""SendGrid's event webhook (JSON array or lines): one event per address and happening.

Each event has ``email``, ``event`` and a Unix ``timestamp``. ``delivered`` carries the
receiving server's ``response``; ``bounce`` its ``reason`` and ``status`` (RFC 3463), with a
``type`` of ``bounce`` (permanent) or ``blocked`` (refused for now); ``deferred`` a
``response``; ``spamreport`` is a complaint. Opens, clicks, ``processed`` and ``dropped``
(never attempted) are no outcome.
"""

from __future__ import annotations

from typing import Any

from pipeline.calibrate.outcome import Kind, Outcome, enhanced_code, iso_utc, reply_code

NAME = "sendgrid"


def matches(record: dict[str, Any]) -> bool:
    """True for a SendGrid event."""
    return "event" in record and "email" in record and any(k.startswith("sg_") for k in record)


def outcomes(record: dict[str, Any], where: str) -> list[Outcome] | None:
    """The event's outcome; None for an event that is none."""
    event = record.get("event")
    address = str(record.get("email") or "")
    at = iso_utc(record.get("timestamp"))
    if event == "delivered":
        kind = Kind.DELIVERED
    elif event == "bounce":
        kind = Kind.DEFERRED if record.get("type") == "blocked" else Kind.BOUNCED
    elif event == "deferred":
        kind = Kind.DEFERRED
    elif event == "spamreport":
        return [Outcome(address, Kind.COMPLAINT, at=at, source=where)]
    else:
        return None
    text = str(record.get("reason") or record.get("response") or "")
    enhanced = enhanced_code(str(record.get("status") or "")) or enhanced_code(text)
    return [Outcome(address, kind, reply_code(text[:4]), enhanced, text, at, where)]
