"""The HTML report (placeholder until the report issue lands)."""

from __future__ import annotations

import html
import json
from typing import Any

from .summary import Tally


def render_report(summary: dict[str, Any], tally: Tally) -> str:
    """Render a self-contained HTML page from a run summary and its tally."""
    body = html.escape(json.dumps(summary, indent=2, ensure_ascii=False))
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>presend report</title></head><body><h1>presend report</h1>"
        f"<pre>{body}</pre></body></html>\n"
    )
