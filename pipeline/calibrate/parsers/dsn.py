"""Delivery status notifications (RFC 3464): ``multipart/report; report-type=delivery-status``.

A DSN's ``message/delivery-status`` part holds one block of fields about the message and one
per recipient: ``Final-Recipient``, ``Action`` (failed, delayed, delivered, relayed,
expanded), ``Status`` (RFC 3463), ``Diagnostic-Code`` (the remote reply) and
``Last-Attempt-Date``. A file is one message (.eml) or an mbox of many; a message that is
no DSN is counted as unknown.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

from pipeline.calibrate.outcome import Counts, Kind, Outcome, enhanced_code, iso_utc, reply_code, strip_type

NAME = "dsn"

_ACTIONS = {
    "failed": Kind.BOUNCED,
    "delayed": Kind.DEFERRED,
    "delivered": Kind.DELIVERED,
    "relayed": Kind.DELIVERED,
    "expanded": Kind.DELIVERED,
}


def detect(head: str) -> bool:
    """True when the file starts as a mail message or an mbox."""
    first = head.lstrip("\r\n").split("\n", 1)[0]
    if first.startswith("From "):
        return True
    name, colon, _ = first.partition(":")
    return bool(colon) and bool(name) and " " not in name and name.isascii() and "content-type" in head.lower()


def parse(path: Path, counts: Counts) -> Iterator[Outcome]:
    """The outcomes of every DSN in an .eml file or an mbox."""
    with path.open("rb") as handle:
        start = handle.read(5)
    if start == b"From ":
        box = mailbox.mbox(str(path), create=False)
        try:
            for number, stored in enumerate(box, start=1):
                yield from _message(stored, f"{path.name}#{number}", counts)
        finally:
            box.close()
        return
    with path.open("rb") as handle:
        message = email.message_from_binary_file(handle, policy=email.policy.compat32)
    yield from _message(message, path.name, counts)


def _message(message: Message, where: str, counts: Counts) -> Iterator[Outcome]:
    blocks = _status_blocks(message)
    if not blocks:
        counts.unknown_at(where)
        return
    per_message, recipients = blocks[0], blocks[1:]
    fallback_date = per_message.get("Arrival-Date") or message.get("Date") or ""
    found = False
    for block in recipients:
        outcome = _recipient(block, fallback_date, where)
        if outcome is None:
            counts.unknown_at(where)
            continue
        found = True
        counts.outcomes += 1
        yield outcome
    if not found and not recipients:
        counts.unknown_at(where)


def _status_blocks(message: Message) -> list[Message]:
    """The field blocks of the message's delivery-status part (none when it has none)."""
    for part in message.walk():
        kind = part.get_content_type()
        if kind not in ("message/delivery-status", "message/global-delivery-status"):
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            return [block for block in payload if isinstance(block, Message)]
        if isinstance(payload, str):
            # Not parsed as blocks (e.g. an encoded body): read the blocks from the text.
            text = part.get_payload(decode=True)
            body = text.decode("utf-8", "replace") if isinstance(text, bytes) else payload
            return [email.message_from_string(chunk) for chunk in body.replace("\r\n", "\n").split("\n\n")
                    if chunk.strip()]
    return []


def _recipient(block: Message, fallback_date: str, where: str) -> Outcome | None:
    recipient = strip_type(str(block.get("Final-Recipient") or block.get("Original-Recipient") or ""))
    action = str(block.get("Action") or "").strip().lower()
    kind = _ACTIONS.get(action)
    if "@" not in recipient or kind is None:
        return None
    status = str(block.get("Status") or "").strip()
    diagnostic = " ".join(strip_type(str(block.get("Diagnostic-Code") or "")).split())
    enhanced = enhanced_code(status) or enhanced_code(diagnostic)
    if kind is Kind.BOUNCED and enhanced.startswith("4."):
        kind = Kind.EXPIRED  # failed on a temporary status: the sender stopped retrying
    when = str(block.get("Last-Attempt-Date") or fallback_date)
    return Outcome(recipient.strip("<>"), kind, reply_code(diagnostic[:4]), enhanced, diagnostic, iso_utc(when), where)
