"""The report's "How far a probe can be trusted" part, from summary.json's ``probe_trust``."""

from __future__ import annotations

from typing import Any

#: Words for each trust level of :class:`pipeline.rules.probe_trust.Trust`.
TRUST_LABELS: dict[str, str] = {
    "mailbox": "Accepts and refusals both describe the mailbox",
    "after_catch_all_check": "Refusals describe the mailbox; a 250 only after the catch-all check",
    "refusals_only": "Only refusals tell: every address is accepted at RCPT",
}


def probe_trust_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per provider of ``summary["probe_trust"]`` (none when the run has no such key)."""
    trust = summary.get("probe_trust")
    if not isinstance(trust, dict):
        return []
    rows = []
    for provider, entry in sorted(trust.items()):
        if not isinstance(entry, dict):
            continue
        level = str(entry.get("trust", ""))
        sources = [s for s in entry.get("sources") or [] if isinstance(s, str) and s.startswith("https://")]
        given = entry.get("plan")
        plan: dict[str, Any] = given if isinstance(given, dict) else {}
        rows.append(
            {
                "provider": str(provider),
                "domains": entry.get("domains") if isinstance(entry.get("domains"), int) else 0,
                "trust": level,
                "label": TRUST_LABELS.get(level, level.replace("_", " ")),
                "what": str(entry.get("what_a_probe_tells", "")),
                "per_host": plan.get("per_host"),
                "batch_size": plan.get("batch_size"),
                "sources": sources,
            }
        )
    return rows
