"""Amazon SES notifications and events (JSON): Bounce, Delivery, Complaint, DeliveryDelay.

``notificationType`` (SNS notifications) or ``eventType`` (event publishing) names the
record. A bounce lists ``bounce.bouncedRecipients`` (``emailAddress``, ``status``,
``diagnosticCode``) under a ``bounceType`` of Permanent, Transient or Undetermined; a
delivery ``delivery.recipients`` and ``delivery.smtpResponse``; a complaint
``complaint.complainedRecipients``; a delay ``deliveryDelay.delayedRecipients``.
"""

from __future__ import annotations

from typing import Any

from pipeline.calibrate.outcome import Kind, Outcome, enhanced_code, iso_utc, reply_code, strip_type

NAME = "ses"


def matches(record: dict[str, Any]) -> bool:
    """True for an SES notification or event."""
    kind = record.get("notificationType") or record.get("eventType")
    return isinstance(kind, str) and isinstance(record.get("mail"), dict)


def outcomes(record: dict[str, Any], where: str) -> list[Outcome] | None:
    """The record's outcomes; None for an event that is no outcome (Send, Open, Click ...)."""
    kind = str(record.get("notificationType") or record.get("eventType"))
    if kind == "Bounce":
        return _bounce(record.get("bounce") or {}, where)
    if kind == "Delivery":
        delivery = record.get("delivery") or {}
        text = str(delivery.get("smtpResponse") or "")
        at = iso_utc(delivery.get("timestamp"))
        return [Outcome(str(address), Kind.DELIVERED, reply_code(text[:4]), enhanced_code(text), text, at, where)
                for address in delivery.get("recipients") or []]
    if kind == "Complaint":
        complaint = record.get("complaint") or {}
        at = iso_utc(complaint.get("timestamp"))
        return [Outcome(str(r.get("emailAddress", "")), Kind.COMPLAINT, at=at, source=where)
                for r in complaint.get("complainedRecipients") or [] if isinstance(r, dict)]
    if kind == "DeliveryDelay":
        delay = record.get("deliveryDelay") or {}
        return _recipients(delay.get("delayedRecipients"), Kind.DEFERRED, iso_utc(delay.get("timestamp")), where)
    return None


def _bounce(bounce: dict[str, Any], where: str) -> list[Outcome]:
    # Only a Permanent bounce is a hard one; Transient and Undetermined may clear up.
    kind = Kind.BOUNCED if bounce.get("bounceType") == "Permanent" else Kind.DEFERRED
    return _recipients(bounce.get("bouncedRecipients"), kind, iso_utc(bounce.get("timestamp")), where)


def _recipients(items: Any, kind: Kind, at: str, where: str) -> list[Outcome]:
    found = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        text = strip_type(str(item.get("diagnosticCode") or ""))
        enhanced = enhanced_code(str(item.get("status") or "")) or enhanced_code(text)
        found.append(Outcome(str(item.get("emailAddress", "")), kind, reply_code(text[:4]), enhanced, text, at, where))
    return found
