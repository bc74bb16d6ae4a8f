"""The one encoder: a row's outcome as its result columns, and the key a tally counts it by.

:func:`encode` is the only place where an outcome becomes text (``RESULT_COLUMNS`` values,
``true``/``false`` flags); :data:`tally_key_of` the only place where a results row becomes
the key its counts are kept under. Where speed needs the text of many rows at once, a
:class:`Template` is made from one real outcome (its address, and a duplicate's detail,
replaced by stand-ins) with :func:`encode`, and formatted by the outputs' own formatter:
rows that differ only in those values are then the template's text around their values,
never text spelled out by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from operator import itemgetter
from typing import Protocol, cast

from pipeline.models import RowOutcome

#: Result columns appended to the input columns, in this order (PRODUCT.md).
RESULT_COLUMNS: tuple[str, ...] = (
    "presend_status",
    "presend_code",
    "presend_enhanced",
    "presend_reason",
    "presend_detail",
    "presend_email",
    "presend_suggestion",
    "presend_disposable",
    "presend_role",
    "presend_free",
    "presend_catch_all",
    "presend_mx",
    "presend_checked_at",
)
#: How many result columns there are.
WIDTH = len(RESULT_COLUMNS)
_AT = {name: index for index, name in enumerate(RESULT_COLUMNS)}
#: Positions of the result columns in :func:`encode`'s list.
STATUS, CODE, ENHANCED, REASON, DETAIL, EMAIL, SUGGESTION = (
    _AT["presend_status"],
    _AT["presend_code"],
    _AT["presend_enhanced"],
    _AT["presend_reason"],
    _AT["presend_detail"],
    _AT["presend_email"],
    _AT["presend_suggestion"],
)
DISPOSABLE, ROLE, FREE, CATCH_ALL, MX, CHECKED_AT = (
    _AT["presend_disposable"],
    _AT["presend_role"],
    _AT["presend_free"],
    _AT["presend_catch_all"],
    _AT["presend_mx"],
    _AT["presend_checked_at"],
)
#: How a flag column says yes and no.
TRUE, FALSE = "true", "false"


def flag_text(value: bool) -> str:
    """A flag as its column says it."""
    return TRUE if value else FALSE


def encode(outcome: RowOutcome) -> list[str]:
    """The values of :data:`RESULT_COLUMNS` for ``outcome``, in order, as text."""
    verdict = outcome.verdict
    flags = outcome.flags
    return [
        verdict.status.value,
        verdict.code,
        verdict.enhanced,
        verdict.reason,
        verdict.detail,
        outcome.email,
        flags.suggestion,
        flag_text(flags.disposable),
        flag_text(flags.role),
        flag_text(flags.free),
        flag_text(outcome.catch_all),
        verdict.mx,
        verdict.checked_at,
    ]


# -- the tally's key ------------------------------------------------------------------------

#: The key a tally counts a row by: its status, code, reason and four flags (as text).
TallyKey = tuple[str, str, str, str, str, str, str]
#: The result columns that make a :data:`TallyKey`, in its order.
TALLY_KEY_COLUMNS: tuple[str, ...] = (
    "presend_status",
    "presend_code",
    "presend_reason",
    "presend_disposable",
    "presend_role",
    "presend_free",
    "presend_catch_all",
)
#: Positions in a :data:`TallyKey`.
KEY_STATUS, KEY_CODE, KEY_REASON = (
    TALLY_KEY_COLUMNS.index("presend_status"),
    TALLY_KEY_COLUMNS.index("presend_code"),
    TALLY_KEY_COLUMNS.index("presend_reason"),
)
#: The flags of a :data:`TallyKey`, by the name summary.json gives them, and their positions.
KEY_FLAGS: dict[str, int] = {
    name.removeprefix("presend_"): position
    for position, name in enumerate(TALLY_KEY_COLUMNS)
    if name in ("presend_disposable", "presend_role", "presend_free", "presend_catch_all")
}
#: The :data:`TallyKey` of a row given as its result columns (encoded, or read back).
tally_key_of = cast(Callable[[Sequence[str]], TallyKey], itemgetter(*(_AT[name] for name in TALLY_KEY_COLUMNS)))


def tally_key(outcome: RowOutcome) -> TallyKey:
    """The :data:`TallyKey` of an outcome."""
    return tally_key_of(encode(outcome))


# -- templates: the encoding of many rows at once -------------------------------------------

#: Stand-ins for the values a :class:`Template` leaves to each row: they need no CSV quoting
#: and hold a character no address, detail, DNS name or time holds.
ADDRESS_SLOT = "\x1faddress\x1f"
DETAIL_SLOT = "\x1fdetail\x1f"
CHECKED_AT_SLOT = "\x1fchecked_at\x1f"
_SLOTS = re.compile("|".join(re.escape(slot) for slot in (ADDRESS_SLOT, DETAIL_SLOT, CHECKED_AT_SLOT)))


class LineFormat(Protocol):
    """How the outputs write a value into a line (see :class:`pipeline.io.outputs.CsvLines`)."""

    @property
    def delimiter(self) -> str:
        """The output delimiter."""

    def field(self, value: str) -> str:
        """One value, quoted if it must be."""


@dataclass(frozen=True, slots=True)
class Template:
    """:func:`encode` of every outcome that differs from one outcome only in its address
    (and, for a duplicate, its detail, which names the row and the address; and the time
    of the check, when the outcome was decided with :data:`CHECKED_AT_SLOT` for it).

    ``columns`` is that encoding with :data:`ADDRESS_SLOT` (:data:`DETAIL_SLOT`,
    :data:`CHECKED_AT_SLOT`) in place of the values a row brings; ``key`` is its
    :data:`TallyKey` (no slot is in a column of the key).
    """

    columns: tuple[str, ...]
    key: TallyKey
    with_detail: bool
    with_time: bool

    @classmethod
    def like(cls, outcome: RowOutcome, *, detail: bool = False) -> Template:
        """The template of the outcomes like ``outcome`` but for their address (and detail)."""
        verdict = replace(outcome.verdict, detail=DETAIL_SLOT) if detail else outcome.verdict
        columns = encode(replace(outcome, verdict=verdict, email=ADDRESS_SLOT))
        return cls(tuple(columns), tally_key_of(columns), detail, columns[CHECKED_AT] == CHECKED_AT_SLOT)

    @property
    def status(self) -> str:
        """The status of every row of this template."""
        return self.columns[STATUS]

    def fill(self, email: str, detail: str = "", checked_at: str = "") -> list[str]:
        """:func:`encode` of the outcome with this address (detail, check time)."""
        values = list(self.columns)
        values[EMAIL] = email
        if self.with_detail:
            values[DETAIL] = detail
        if self.with_time:
            values[CHECKED_AT] = checked_at
        return values

    def around_address(self) -> tuple[list[str], list[str]]:
        """The columns before the address and after it (for a template of the address
        alone): a row's columns are ``[*before, email, *after]``."""
        if self.with_detail or self.with_time:
            raise ValueError("this template leaves more than the address to each row")
        return list(self.columns[:EMAIL]), list(self.columns[EMAIL + 1 :])

    def tail_texts(self, lines: LineFormat) -> tuple[str, ...]:
        """The template as the end of a results line, cut where each row's values go.

        The text is the delimiter that ends the input cells, then the columns formatted as
        ``lines`` formats them; it is cut at each stand-in, in column order (the detail
        comes before the address), so a row's text is the parts with its formatted values
        between them (see :meth:`tail_text`). Only for a template of a known check time.
        """
        if self.with_time:
            raise ValueError("a template's text is made for one check time")
        delimiter = lines.delimiter
        text = delimiter + delimiter.join(map(lines.field, self.columns))
        parts = tuple(_SLOTS.split(text))
        if len(parts) != 2 + self.with_detail:
            raise ValueError(f"a template's text holds a stand-in it does not own: {text!r}")
        return parts

    def tail_text(self, lines: LineFormat, email: str, detail: str = "") -> str:
        """One row's results-line end, from :meth:`tail_texts` (the reference the run's inlined
        loops follow)."""
        parts = self.tail_texts(lines)
        if self.with_detail:
            return parts[0] + lines.field(detail) + parts[1] + lines.field(email) + parts[2]
        return parts[0] + lines.field(email) + parts[1]
