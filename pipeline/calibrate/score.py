"""How often the forecast was right: the counts ``presend calibrate`` reports.

A row is *settled* when its address was delivered (or complained about) or bounced; a row
still deferred at the end says nothing either way and is counted apart. "Will bounce" is
the forecast ``undeliverable``, "safe to send" a row the clean list held (``deliverable``,
or well formed with nothing checked beyond syntax); a forecast is
*wrong* when it said safe and the address bounced, or will bounce and it was delivered
(``risky`` and ``unknown`` are hedges, never wrong).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipeline.calibrate.join import Actual, ForecastRow, Settled
from pipeline.io.outputs import is_sendable
from pipeline.models import Status

__all__ = ["ACTUALS", "Scores"]

#: The actual outcomes in the order the matrix shows them ("none": no outcome for the row).
ACTUALS = ("delivered", "complaint", "bounced", "deferred", "none")
_DELIVERED = ("delivered", "complaint")
#: Rows listed in full (forecast safe but bounced, and the reverse); the rest are counted.
ROW_CAP = 1_000


@dataclass(frozen=True, slots=True)
class Ratio:
    """Precision and recall of one forecast against one actual outcome."""

    true_positive: int
    false_positive: int
    false_negative: int

    def as_dict(self) -> dict[str, Any]:
        """Counts, and precision / recall (None when nothing was forecast or happened)."""
        predicted = self.true_positive + self.false_positive
        actual = self.true_positive + self.false_negative
        return {
            "precision": round(self.true_positive / predicted, 4) if predicted else None,
            "recall": round(self.true_positive / actual, 4) if actual else None,
            "true_positive": self.true_positive,
            "false_positive": self.false_positive,
            "false_negative": self.false_negative,
        }


@dataclass(slots=True)
class Scores:
    """The scores, filled one forecast row at a time (:meth:`add`), then :meth:`as_dict`."""

    settled: Settled
    rows: int = 0
    duplicates: int = 0
    matched: set[str] = field(default_factory=set)
    matrix: Counter[tuple[str, str]] = field(default_factory=Counter)
    codes: Counter[tuple[str, str]] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)
    judged: Counter[str] = field(default_factory=Counter)
    #: the rows forecast safe that bounced, and forecast to bounce that were delivered (ROW_CAP each)
    listed: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"safe_but_bounced": [], "bounce_but_delivered": []}
    )
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, row: ForecastRow) -> None:
        """Count one row of the results file."""
        self.rows += 1
        if row.status == Status.DUPLICATE:
            self.duplicates += 1  # its first row holds the forecast
            return
        actual = self.settled.actual.get(row.key) if row.email else None
        label = actual.label if actual is not None else "none"
        self.matrix[(row.status, label)] += 1
        if actual is None:
            return
        self.matched.add(row.key)
        self.codes[(row.code or "-", actual.code or "-")] += 1
        if label == "deferred":
            return
        self._settled(row, actual, label)

    def _settled(self, row: ForecastRow, actual: Actual, label: str) -> None:
        bounced = label == "bounced"
        said_bounce = row.status == Status.UNDELIVERABLE
        # "safe to send" is what the clean list held: deliverable, or nothing found at the levels run
        said_safe = is_sendable(row.status, row.reason, keep_risky=False)
        self.counts["bounce_tp"] += said_bounce and bounced
        self.counts["bounce_fp"] += said_bounce and not bounced
        self.counts["bounce_fn"] += bounced and not said_bounce
        self.counts["safe_tp"] += said_safe and not bounced
        self.counts["safe_fp"] += said_safe and bounced
        self.counts["safe_fn"] += not bounced and not said_safe
        self.judged[row.reason] += 1
        if said_safe and bounced:
            self.wrong[row.reason] += 1
            self._list("safe_but_bounced", row, actual)
        elif said_bounce and not bounced:
            self.wrong[row.reason] += 1
            self._list("bounce_but_delivered", row, actual)

    def _list(self, name: str, row: ForecastRow, actual: Actual) -> None:
        self.counts[name] += 1
        if len(self.listed[name]) < ROW_CAP:
            self.listed[name].append(_pair(row, actual))

    def as_dict(self) -> dict[str, Any]:
        """The scores as plain data (the body of ``<stem>.calibration.json``)."""
        statuses = [str(s) for s in Status if s != Status.DUPLICATE]
        settled = sum(n for (_, label), n in self.matrix.items() if label in (*_DELIVERED, "bounced"))
        agree = sum(self.matrix[(Status.DELIVERABLE, label)] for label in _DELIVERED)  # deliverable rows only
        agree += self.matrix[(Status.UNDELIVERABLE, "bounced")]
        c = self.counts
        return {
            "rows": {
                "total": self.rows,
                "duplicates": self.duplicates,
                "with_outcome": sum(n for (_, label), n in self.matrix.items() if label != "none"),
                "without_outcome": sum(n for (_, label), n in self.matrix.items() if label == "none"),
                "settled": settled,
            },
            "outcome_addresses": {
                "total": len(self.settled.actual),
                "in_list": len(self.matched),
                "not_in_list": len(self.settled.actual) - len(self.matched),
                "unreadable": self.settled.unreadable,
            },
            "matrix": {
                "actual": list(ACTUALS),
                "forecast": {status: {label: self.matrix[(status, label)] for label in ACTUALS}
                             for status in statuses},
            },
            "codes": [{"forecast": f, "actual": a, "rows": n}
                      for (f, a), n in sorted(self.codes.items(), key=lambda item: (-item[1], item[0]))],
            "will_bounce": Ratio(c["bounce_tp"], c["bounce_fp"], c["bounce_fn"]).as_dict(),
            "safe_to_send": Ratio(c["safe_tp"], c["safe_fp"], c["safe_fn"]).as_dict(),
            "decisive_forecasts_right": agree,
            "wrong_reasons": [{"reason": reason, "wrong": n, "settled_rows": self.judged[reason]}
                              for reason, n in self.wrong.most_common()],
            **{name: {"count": c[name], "rows": rows} for name, rows in self.listed.items()},
        }


def _pair(row: ForecastRow, actual: Actual) -> dict[str, Any]:
    return {
        "row": row.row,
        "email": row.email,
        "forecast": {"status": row.status, "code": row.code, "enhanced": row.enhanced,
                     "reason": row.reason, "detail": row.detail},
        "actual": {"outcome": actual.label, "code": actual.code, "enhanced": actual.enhanced,
                   "text": actual.text, "at": actual.at, "source": actual.source},
    }
