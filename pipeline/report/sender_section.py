"""The HTML report's "Sender readiness" section, from summary.json's ``sender`` section.

The section is read from the summary (not from live records), so ``presend report`` shows it
again when the run's summary.json is beside the results. A summary edited by hand may hold
anything: every value is read defensively, as text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SenderCard:
    """One finding as the report shows it."""

    check: str
    state: str
    code: str
    enhanced: str
    detail: str
    remedy: str
    providers: str
    rows: int | None
    source: str

    @property
    def kind(self) -> str:
        """The card's colour class: a 4xx is temporary, a 5xx permanent, advice temporary."""
        if self.state == "problem":
            return "temporary" if self.code.startswith("4") else "permanent"
        return "temporary" if self.state == "advice" else "success"


def sender_context(summary: dict[str, Any]) -> dict[str, Any] | None:
    """What the sender partial shows, or None when the run had no sender checks."""
    section = summary.get("sender")
    if not isinstance(section, dict):
        return None
    cards = [card for item in section.get("findings") or [] if (card := _card(item)) is not None]
    by_state: dict[str, list[SenderCard]] = {"problem": [], "advice": [], "unchecked": [], "ok": []}
    for card in cards:
        by_state.setdefault(card.state, []).append(card)
    return {
        "from": str(section.get("from") or ""),
        "envelope": str(section.get("envelope") or ""),
        "bulk": section.get("bulk") is True,
        "ready": not by_state["problem"],
        "problems": by_state["problem"],
        "advice": by_state["advice"],
        "unchecked": by_state["unchecked"],
        "ok": by_state["ok"],
    }


def _card(item: Any) -> SenderCard | None:
    if not isinstance(item, dict):
        return None
    rows = item.get("rows_affected")
    providers = item.get("providers")
    return SenderCard(
        check=_text(item.get("check")),
        state=_text(item.get("state")) or "ok",
        code=_text(item.get("code")),
        enhanced=_text(item.get("enhanced")),
        detail=_text(item.get("detail")),
        remedy=_text(item.get("remedy")),
        providers=", ".join(_text(p) for p in providers) if isinstance(providers, list) else "",
        rows=rows if isinstance(rows, int) and not isinstance(rows, bool) else None,
        source=_text(item.get("source")) if _text(item.get("source")).startswith("https://") else "",
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))
