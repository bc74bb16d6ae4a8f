"""Postmark bounces (JSON from the bounces API or a webhook; CSV from the activity export).

A bounce has ``Email``, ``Type`` (HardBounce, SoftBounce, Transient, SpamComplaint ...),
``BouncedAt``, ``Description`` and ``Details`` (the remote reply, ``smtp;550 5.1.1 ...``). A
delivery webhook has ``RecordType`` Delivery, ``Recipient``, ``DeliveredAt`` and ``Details``.
The CSV export has the same names as column headers (spaces and case aside).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from pipeline.calibrate.outcome import Counts, Kind, Outcome, enhanced_code, iso_utc, reply_code, strip_type

NAME = "postmark"

_HARD = frozenset({"HardBounce", "BadEmailAddress"})
_SOFT = frozenset({"SoftBounce", "Transient", "DnsError", "Blocked"})
_COMPLAINT = frozenset({"SpamComplaint", "SpamNotification"})


def matches(record: dict[str, Any]) -> bool:
    """True for a Postmark bounce, delivery or complaint record."""
    if record.get("RecordType") in ("Bounce", "Delivery", "SpamComplaint"):
        return True
    return "Email" in record and "Type" in record and "BouncedAt" in record


def outcomes(record: dict[str, Any], where: str) -> list[Outcome] | None:
    """The record's outcome; None for a bounce type that says nothing of the address."""
    if record.get("RecordType") == "Delivery":
        text = str(record.get("Details") or "")
        return [Outcome(str(record.get("Recipient") or ""), Kind.DELIVERED, reply_code(text[:4]),
                        enhanced_code(text), text, iso_utc(record.get("DeliveredAt")), where)]
    kind_name = str(record.get("Type") or "")
    if kind_name in _HARD:
        kind = Kind.BOUNCED
    elif kind_name in _SOFT:
        kind = Kind.DEFERRED
    elif kind_name in _COMPLAINT or record.get("RecordType") == "SpamComplaint":
        kind = Kind.COMPLAINT
    else:
        return None  # an auto-reply, a challenge, an unsubscribe ...
    text = strip_type(str(record.get("Details") or "")) or str(record.get("Description") or "")
    at = iso_utc(record.get("BouncedAt"))
    return [Outcome(str(record.get("Email") or ""), kind, reply_code(text[:4]), enhanced_code(text), text, at, where)]


def _key(name: str) -> str:
    return "".join(name.split()).lower()


def detect_csv(head: str) -> bool:
    """True when the first line is a header with Postmark's bounce columns."""
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    names = {_key(cell) for cell in next(csv.reader([first]), [])}
    return {"email", "type"} <= names and bool(names & {"bouncedat", "details"})


def parse_csv(text: str, name: str, counts: Counts) -> Iterator[Outcome]:
    """The outcomes of a Postmark CSV export."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, [])
    wanted = {"email": "Email", "type": "Type", "bouncedat": "BouncedAt", "details": "Details",
              "description": "Description"}
    columns = {wanted[_key(cell)]: index for index, cell in enumerate(header) if _key(cell) in wanted}
    for cells in reader:
        where = f"{name}:{reader.line_num}"
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) < len(header):
            counts.unknown_at(where)
            continue
        record = {field: cells[index] for field, index in columns.items()}
        found = outcomes(record, where)
        if found is None:
            counts.ignored += 1
            continue
        counts.outcomes += len(found)
        yield from found
