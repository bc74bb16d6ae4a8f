"""Text safe to print and to write as JSON: file names and messages made visible, never raw.

File names may hold bytes that are not UTF-8 (Python keeps them as lone surrogates), line
breaks or terminal escape sequences; printed raw they crash the stream's encoder, break the
one-line promise of an error, or drive the terminal. Here they become visible escapes.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\udc80-\udcff]")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def without_surrogates(text: str) -> str:
    """``text`` with each undecodable byte (a lone surrogate) written as ``\\xNN``."""
    if not _SURROGATE.search(text):
        return text
    return _SURROGATE.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", text)


def printable(text: str) -> str:
    """One line of ``text`` fit for a terminal: undecodable bytes and control characters escaped."""
    text = without_surrogates(text)
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def json_safe(value: Any) -> Any:
    """``value`` (a JSON-able structure) with every string's undecodable bytes escaped."""
    if isinstance(value, str):
        return without_surrogates(value)
    if isinstance(value, dict):
        return {json_safe(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


#: What a spreadsheet takes for the start of a formula when it opens a CSV file.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_text(value: str) -> str:
    """``value`` as a cell a spreadsheet shows as text, never runs: a leading ``'`` when it starts like a formula.

    For files made to be opened in a spreadsheet (the report's CSV export does the same in
    its script); the outputs that keep the input's columns untouched do not use it.
    """
    return "'" + value if value.startswith(FORMULA_STARTS) else value
