"""Reading ESP exports: one JSON document (an object or an array) or JSON lines.

Every ESP format is a stream of records (dicts). A wrapper around them (SNS's
``{"Type": "Notification", "Message": "..."}``, Mailgun's ``{"items": [...]}`` and
``{"event-data": {...}}``, Postmark's ``{"Bounces": [...]}``) is opened here, so the format
modules see the records themselves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

#: The keys that hold a list of records, or one record, inside a wrapper.
_LISTS = ("items", "Bounces", "events", "Records")
_ONE = ("event-data",)


def detect(head: str) -> bool:
    """True when the file starts as JSON (an object or an array)."""
    return head.lstrip("\ufeff \t\r\n")[:1] in ("{", "[")


def records(text: str, name: str) -> Iterator[tuple[str, Any]]:
    """``(where, record)`` for each record; a line that is not JSON comes as ``(where, None)``."""
    text = text.lstrip("\ufeff")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        yield from _lines(text, name)
        return
    yield from _opened(document, name)


def _lines(text: str, name: str) -> Iterator[tuple[str, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip().rstrip(",")
        if not stripped or stripped in ("[", "]"):
            continue
        try:
            document = json.loads(stripped)
        except json.JSONDecodeError:
            yield f"{name}:{number}", None
            continue
        yield from _opened(document, f"{name}:{number}")


def _opened(document: Any, where: str) -> Iterator[tuple[str, Any]]:
    if isinstance(document, list):
        for index, item in enumerate(document):
            yield from _opened(item, f"{where}[{index}]")
        return
    if not isinstance(document, dict):
        yield where, None
        return
    if document.get("Type") == "Notification" and isinstance(document.get("Message"), str):
        try:
            inner = json.loads(document["Message"])
        except json.JSONDecodeError:
            yield where, None
            return
        yield from _opened(inner, where)
        return
    for key in _LISTS:
        if isinstance(document.get(key), list):
            yield from _opened(document[key], f"{where}.{key}")
            return
    for key in _ONE:
        if isinstance(document.get(key), dict):
            yield from _opened(document[key], where)
            return
    yield where, document
