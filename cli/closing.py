"""The closing lines of ``presend clean``: the counts, the time taken and every output's path.

Made to fit 80 columns (a long list of counts wraps, indented; a long path goes on a line of
its own), with thousands separators. Pure: the command prints what this returns.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The terminal width the closing lines are made for.
WIDTH = 80


def duration(seconds: float) -> str:
    """``3.8 s``, ``2 min 5 s``, ``1 h 2 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def closing_lines(
    summary: Mapping[str, Any], paths: Mapping[str, Path], seconds: float, width: int = WIDTH
) -> list[str]:
    """The counts by status with the time taken, the DNS level's numbers, then each output's path."""
    counts = summary.get("by_status") or {}
    rows = int(summary.get("rows") or 0)
    head = f"{rows:,} rows in {duration(seconds)}: " + ", ".join(f"{n:,} {status}" for status, n in counts.items())
    lines = _wrapped(head, width)
    dns_stats = summary.get("dns") or {}
    if dns_stats:
        lines += _wrapped(dns_line(dns_stats), width)
    label_width = max((len(kind) for kind in paths), default=0) + 1
    for kind, path in paths.items():
        line = f"{kind + ':':<{label_width}} {path}"
        lines += [line] if len(line) <= width else [f"{kind}:", f"  {path}"]
    return lines


def _wrapped(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` columns, the later ones indented."""
    return textwrap.wrap(text, width, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False)


def dns_line(stats: Mapping[str, object]) -> str:
    """One line on the DNS level: domains, cache use, queries, main providers."""
    line = (
        f"dns: {_count(stats.get('domains'))} domains, {_count(stats.get('cache_hits'))} from cache, "
        f"{_count(stats.get('queries'))} queries"
    )
    providers = stats.get("providers")
    if isinstance(providers, dict):
        named = [f"{name} {_count(count)}" for name, count in providers.items() if name != "other"][:5]
        if named:
            line += f"; providers: {', '.join(named)}"
    return line


def _count(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value if value is not None else 0)
