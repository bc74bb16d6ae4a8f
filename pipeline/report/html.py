"""The HTML report: one self-contained page (inline CSS, SVG and script, no fetches).

:func:`report_context` turns a run summary and its :class:`~pipeline.report.tally.Tally` into
plain data (pure); :func:`render_report` renders it with the jinja2 templates shipped in
``pipeline/templates``. The page's size depends on the problem-row cap and the top-N
tables, never on the number of rows in the list.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

import idna
import jinja2
from markupsafe import Markup
from platformdirs import user_cache_dir

from pipeline.codes import CodeInfo, lookup
from pipeline.columns import KEY_CODE, KEY_REASON, KEY_STATUS
from pipeline.io.outputs import SENDABLE_REASONS
from pipeline.models import Status
from pipeline.report.advice import reason_notes
from pipeline.report.sender_section import sender_context
from pipeline.report.tally import ProblemRow, Tally
from pipeline.report.trust_view import probe_trust_rows
from pipeline.rules.providers import identify_provider
from pipeline.rules.tlds import SPECIAL_USE, UNKNOWN_TLD
from pipeline.verdict import DUPLICATE_REASON, MALFORMED_REASON, NOT_CHECKED_REASON, TYPO_REASON

#: Statuses in the order the report shows them, with a glyph (colour is never the only
#: signal) and a plain-words label.
STATUSES: dict[str, tuple[str, str]] = {
    Status.DELIVERABLE: ("✔", "Safe to send"),
    Status.RISKY: ("▲", "Risky"),
    Status.UNDELIVERABLE: ("✖", "Will bounce"),
    Status.UNKNOWN: ("?", "Uncertain"),
    Status.DUPLICATE: ("=", "Duplicate"),
}

#: Short labels for the reason slugs the levels emit; others are shown de-slugged.
REASONS: dict[str, str] = {
    "missing_address": "Empty cell, no address",
    "missing_at_sign": "No @ sign",
    "consecutive_dots": "Two dots in a row",
    "invalid_tld": "Invalid top-level domain",
    "domain_without_dot": "Domain without a dot",
    "local_part_too_long": "Local part over 64 octets",
    "invalid_syntax": "Malformed address",
    DUPLICATE_REASON: "Repeats an earlier row",
    MALFORMED_REASON: "Row does not match the header",
    NOT_CHECKED_REASON: "Well formed; domain not checked",
    "syntax_ok": "Well formed (domain not checked)",
    TYPO_REASON: "Misspelled popular domain",
    UNKNOWN_TLD: "Top-level domain does not exist",
    SPECIAL_USE: "Special-use or reserved domain",
    "nxdomain": "Domain does not exist",
    "no_mail_host": "Domain has no mail host",
    "null_mx": "Domain refuses all mail (null MX)",
    "mx_unresolvable": "Mail host has no address",
    "dns_error": "DNS failed or timed out",
    "mx_private_address": "Mail host on a private address",
    "mx_loops_back": "MX points back at the sender (localhost)",
    "domain_accepts_mail": "Domain takes mail (mailbox not probed)",
    "mailbox_exists": "Mailbox confirmed",
    "catch_all": "Domain accepts any address",
    "mailbox_not_found": "Mailbox does not exist",
    "user_not_local": "User moved elsewhere",
    "mailbox_full": "Mailbox full / over quota",
    "mailbox_disabled": "Mailbox disabled",
    "mailbox_rejected": "Address refused by the mail host",
    "relay_denied": "Mail host does not take mail for the domain",
    "rcpt_accepts_all": "Provider accepts every address at RCPT",
    "greylisted": "Greylisted, still deferred",
    "temporary_failure": "Temporary failure, still deferred",
    "host_busy": "Mail host busy or limiting us",
    "system_full": "Mail host out of storage",
    "host_unavailable": "Mail host unreachable",
    "sender_blocked": "Our sender was refused",
    "protocol_error": "SMTP conversation went wrong",
    "smtputf8_unsupported": "Host cannot take a non-ASCII address",
    "probe_unreachable": "Port 25 unreachable from here",
    "disposable_domain": "Disposable address",
    "role_account": "Role account",
    "bounced_before": "Bounced in a real send",
    "soft_bounced_before": "Deferred in real sends, repeatedly",
}

_KIND_TAG = {"success": "accepted", "temporary": "temporary", "permanent": "permanent"}
_KIND_LABEL = {
    "success": "Accepted",
    "temporary": "Temporary — retry later",
    "permanent": "Permanent — do not send",
}


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of an SVG bar chart."""

    label: str
    count: int
    share: float  # of all rows, 0..100
    width: float  # of the longest bar, 0..100
    css: str  # class naming the colour and pattern
    tag: str  # words that say what the colour says


def _code_title(code: str) -> str:
    info = lookup(code)
    return info.title if info else ""


def _kind_label(info: CodeInfo) -> str:
    if info.sender_side:
        return "A sender problem — fix how you send, not the list"
    return _KIND_LABEL[info.kind]


#: The status a code's advice is written for (a sender-side code's: ``unknown``). Rows of
#: another status under that code get a note, so "Remove the address" is not read as
#: applying to a row that is, say, a sender problem.
_ADVICE_STATUS: dict[str, str] = {"success": Status.DELIVERABLE, "permanent": Status.UNDELIVERABLE}


def _rows(count: int) -> str:
    return f"{count:,} of these rows is" if count == 1 else f"{count:,} of these rows are"


def _card_notes(info: CodeInfo, rows: Counter[tuple[str, str]]) -> list[str]:
    """Notes on the rows of one code whose status is not the one its advice is for.

    ``rows`` counts the code's rows by (status, reason).
    """
    meant = Status.UNKNOWN if info.sender_side else _ADVICE_STATUS.get(info.kind)
    if meant is None:
        return []
    others: dict[str, Counter[str]] = {}
    for (status, reason), count in rows.items():
        if status not in (meant, Status.DUPLICATE):
            others.setdefault(status, Counter())[reason] += count
    notes = []
    for status in STATUSES:
        reasons = others.get(status)
        if not reasons:
            continue
        count = sum(reasons.values())
        labels = ", ".join(reason_label(r).lower() for r, _ in reasons.most_common())
        if status == Status.UNKNOWN and set(reasons) == {"sender_blocked"}:
            notes.append(
                f"{_rows(count)} a sender problem ({labels}), not a verdict on the address: keep "
                f"{'it' if count == 1 else 'them'}, fix how you send and check again."
            )
        elif status == Status.RISKY:
            notes.append(f"{_rows(count)} risky ({labels}), so not counted as safe to send.")
        else:
            notes.append(f"{_rows(count)} {status} ({labels}).")
    return notes


def _uncoded(tally: Tally, status: str) -> Counter[str]:
    """Rows of ``status`` without a forecast code, by reason."""
    counts: Counter[str] = Counter()
    for key, n in tally.combos.items():
        if key[KEY_STATUS] == status and not key[KEY_CODE]:
            counts[key[KEY_REASON]] += n
    return counts


def reason_label(slug: str) -> str:
    """A short human label for a reason slug."""
    return REASONS.get(slug) or slug.replace("_", " ").capitalize() or "(no reason)"


def _share(count: int, total: int) -> float:
    return 100.0 * count / total if total else 0.0


def _bars(items: list[tuple[str, int, str, str]], total: int) -> list[Bar]:
    top = max((count for _, count, _, _ in items), default=0)
    return [
        Bar(label, count, _share(count, total), _share(count, top), css, tag) for label, count, css, tag in items
    ]


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def report_context(
    summary: dict[str, Any],
    tally: Tally,
    *,
    results_name: str | None = None,
    top_domains: int = 25,
    top_suggestions: int = 50,
    generated_at: str | None = None,
) -> dict[str, Any]:
    """Everything the template shows, as plain data (no I/O)."""
    total = tally.rows
    input_info = summary.get("input") or {}
    input_name = str(input_info.get("name") or "list")
    if results_name is None:
        results_name = f"{PurePath(input_name).stem}.results.csv"
    probed = bool(summary.get("mailboxes_probed"))
    # Probing was on, yet no address reached a mail host (DNS decided every row, e.g. every
    # domain takes mail on a private address): the page must not say mailboxes were probed.
    probe_stats = summary.get("probe") or {}
    probe_idle = (
        probed
        and isinstance(probe_stats, dict)
        and bool(probe_stats)
        and not (probe_stats.get("sessions") or probe_stats.get("cache_hits"))
    )
    levels = list(summary.get("levels") or [])
    unchecked = sum(tally.by_reason.get(reason, 0) for reason in SENDABLE_REASONS)

    cards = []
    for status, (glyph, title) in STATUSES.items():
        count = tally.by_status.get(status, 0)
        if status == Status.DELIVERABLE and "dns" not in levels and not count:
            continue  # without DNS no row can be deliverable: no card claims the level that did not run
        if status == Status.UNDELIVERABLE:
            parts = [(code, n) for (s, code), n in tally.by_status_code.most_common() if s == status]
            why = [f"{code} {_code_title(code)} × {n}" for code, n in parts]
            # Rows that will bounce with no forecast code (a typo domain when only syntax ran).
            why += [f"{reason_label(r)} (no code) × {n}" for r, n in _uncoded(tally, status).most_common()]
        elif status == Status.DELIVERABLE:
            why = []
        else:
            parts = [(r, n) for (s, r), n in tally.by_status_reason.most_common() if s == status]
            why = [f"{reason_label(r)} × {n}" for r, n in parts]
        cards.append(
            {
                "status": status,
                "glyph": glyph,
                "title": title,
                "count": count,
                "share": _share(count, total),
                "why": why[:6],
                "more": max(0, len(why) - 6),
            }
        )

    code_items = []
    for code, count in tally.by_code.most_common():
        info = lookup(code)
        kind = info.kind if info else "permanent"
        title = info.title if info else "Unknown code"
        tag = "sender problem" if info and info.sender_side else _KIND_TAG[kind]
        code_items.append((f"{code} {title}", count, f"kind-{kind}", tag))
    status_items = [
        (f"{glyph} {title} ({status})", tally.by_status.get(status, 0), f"st-{status}", status)
        for status, (glyph, title) in STATUSES.items()
        if tally.by_status.get(status, 0)
    ]
    reason_status: dict[str, str] = {}
    for (status, reason), _ in tally.by_status_reason.most_common():
        reason_status.setdefault(reason, status)
    reason_items = [
        (reason_label(reason), count, f"st-{reason_status.get(reason, 'unknown')}", reason_status.get(reason, ""))
        for reason, count in tally.by_reason.most_common(20)
    ]

    what_to_do = []
    by_code_reason = tally.by_code_reason
    by_code_status_reason = tally.by_code_status_reason
    for code, count in tally.by_code.most_common():
        catalogued = lookup(code)
        if catalogued is None:
            continue
        reasons = [(reason_label(r), n) for (c, r), n in by_code_reason.most_common() if c == code]
        statuses = Counter({(s, r): n for (c, s, r), n in by_code_status_reason.items() if c == code})
        what_to_do.append(
            {
                "code": code,
                "count": count,
                "share": _share(count, total),
                "info": catalogued,
                "kind": catalogued.kind,
                "kind_label": _kind_label(catalogued),
                "reasons": reasons[:8],
                "notes": _card_notes(catalogued, statuses),
                "advice": reason_notes((r for (_, r), _ in statuses.most_common()), reason_label),
            }
        )

    # Domains whose hosts deferred us at least once, even where a retry then passed
    # (the final reasons alone would only show the ones still deferred at the end).
    greylisting = set(summary.get("probe_greylisting_domains") or ())
    domains = []
    for name, entry in tally.top_domains(top_domains):
        domains.append(
            {
                "name": name,
                "rows": entry.rows,
                "problems": entry.problems,
                "rate": _share(entry.problems, entry.rows),
                "mx": entry.mx,
                "provider": identify_provider(entry.mx) if entry.mx else "",
                "catch_all": entry.catch_all,
                "greylisted": entry.greylisted or _ascii_domain(name) in greylisting,
            }
        )
    suggestions = [
        {"wrong": wrong, "right": right, "rows": n}
        for (wrong, right), n in tally.suggestions.most_common(top_suggestions)
    ]

    rows = tally.problem_rows
    problem_filters = {
        "status": [s for s in STATUSES if any(r.status == s for r in rows)],
        "code": sorted({r.code or "-" for r in rows}),
        "reason": sorted({r.reason for r in rows}),
    }
    options = summary.get("options") or {}
    timings = summary.get("timings_seconds") or {}
    return {
        "title": f"presend report — {input_name}",
        "input_name": input_name,
        "input": input_info,
        "results_name": results_name,
        "results_href": quote(results_name),
        "rows": total,
        "cards": cards,
        "safe": tally.by_status.get(Status.DELIVERABLE, 0),
        "safe_share": _share(tally.by_status.get(Status.DELIVERABLE, 0), total),
        "unchecked": unchecked,
        "unchecked_share": _share(unchecked, total),
        "tld_list": summary.get("tld_list") or {},
        "probed": probed,
        "probe_idle": probe_idle,
        "private_mx_rows": tally.by_reason.get("mx_private_address", 0),
        "levels": levels,
        "levels_inferred": bool(summary.get("levels_inferred")),
        "code_bars": _bars(code_items, total),
        "status_bars": _bars(status_items, total),
        "reason_bars": _bars(reason_items, total),
        "reasons_more": max(0, len(tally.by_reason) - 20),
        "what_to_do": what_to_do,
        "probe_trust": probe_trust_rows(summary),
        "domains": domains,
        "domains_total": len(tally.domain_rows),
        "domains_pruned": tally.domains_pruned,
        "top_domains": top_domains,
        "suggestions": suggestions,
        "suggestions_total_rows": sum(tally.suggestions.values()),
        "problem_rows": rows,
        "problem_rows_html": problem_rows_html(rows),
        "problem_rows_total": tally.problem_rows_total,
        "export_name": f"{PurePath(input_name).stem}.problems.csv",
        "downloads": category_downloads(summary, results_name),
        "problem_filters": problem_filters,
        "row_cap": tally.row_cap,
        "flags": {k: tally.flags.get(k, 0) for k in ("disposable", "role", "free", "catch_all")},
        "facts": {
            "version": summary.get("presend_version", ""),
            "started_at": summary.get("started_at", ""),
            "finished_at": summary.get("finished_at", ""),
            "duration": _duration(timings.get("total")),
            "timings": {k: v for k, v in timings.items() if k != "total"},
            "dns": options.get("dns") or {},
            "probe": options.get("probe") or {},
            "cache": options.get("cache") or {},
            "dns_stats": _flat_stats(summary.get("dns") or {}),
            "probe_stats": _flat_stats(summary.get("probe") or {}),
        },
        "notes": list(summary.get("notes") or []),
        "sender": sender_context(summary),
        "generated_at": generated_at or datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }


#: The report's words for the per-category download files (summary["downloads"] keys), with
#: the status whose colour marks them; a key not named here is shown de-slugged.
DOWNLOADS: dict[str, tuple[str, str]] = {
    "undeliverable": ("will bounce", Status.UNDELIVERABLE),
    "risky": ("risky", Status.RISKY),
    "unknown": ("uncertain", Status.UNKNOWN),
    "fixable": ("fixable: a likely typo, with its suggestion", Status.RISKY),
    "duplicates": ("repeats of earlier rows", Status.DUPLICATE),
}


def category_downloads(summary: dict[str, Any], results_name: str) -> list[dict[str, Any]]:
    """The summary's per-category files as links beside the results file (none when it names none).

    ``summary["downloads"]`` maps a category to ``{"file": NAME, "rows": N}``; the files lie
    beside the results file, so each link is the results link's folder and the file's name.
    """
    found = summary.get("downloads")
    if not isinstance(found, dict):
        return []
    folder = PurePath(results_name).parent
    links = []
    for key, entry in found.items():
        if not isinstance(entry, dict) or not entry.get("file"):
            continue
        label, status = DOWNLOADS.get(str(key), (str(key).replace("_", " "), Status.UNKNOWN))
        name = PurePath(str(entry["file"])).name
        links.append(
            {
                "key": str(key),
                "file": name,
                "href": quote((folder / name).as_posix()),
                "label": label,
                "rows": int(entry.get("rows") or 0),
                "css": f"st-{status}",
            }
        )
    return links


def _pct(value: float) -> str:
    if 0 < value < 0.1:
        return "<0.1%"
    if 99.9 < value < 100:
        return ">99.9%"
    return f"{value:.1f}%"


class _TemplateCache(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept in the user's cache folder: compiling the report's template
    costs a run a tenth of a second. A folder that cannot be read or written just means
    compiling again (the cache key holds the template's checksum, so an edit is never missed)."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError, ValueError, EOFError):
            super().load_bytecode(bucket)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _template_cache() -> jinja2.BytecodeCache | None:
    folder = Path(user_cache_dir("presend", appauthor=False)) / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _TemplateCache(str(folder))


_HTML_SPECIAL = re.compile("[&<>'\"]")


def _text(value: str) -> str:
    """``value`` escaped for HTML text and attributes, as the template's autoescape does."""
    if _HTML_SPECIAL.search(value) is None:
        return value
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace("'", "&#39;").replace('"', "&#34;")


def problem_rows_html(rows: Sequence[ProblemRow]) -> Markup:
    """The rows of the report's problem table, each on its own line, escaped.

    Built here rather than by a template loop (one row is some twenty template outputs;
    a report holds up to ``--report-rows`` rows). ``data-*`` attributes feed the filters
    of ``report.js``. The input (the address as written) comes first: on a phone it is the
    column that stays in view while the rest scrolls sideways.
    """
    glyphs = {status: glyph for status, (glyph, _) in STATUSES.items()}
    parts = []
    for r in rows:
        status = _text(r.status)
        enhanced = f" {_text(r.enhanced)}" if r.enhanced else ""
        parts.append(
            f'\n      <tr data-status="{status}" data-code="{_text(r.code or "-")}" data-reason="{_text(r.reason)}">'
            f'<td class="mono">{_text(r.input)}</td><td class="num">{r.row}</td>'
            f'<td class="st-{status}"><span aria-hidden="true">{_text(glyphs.get(r.status, ""))}</span> {status}</td>'
            f'<td class="mono">{_text(r.code)}{enhanced}</td><td>{_text(r.reason)}</td>'
            f'<td>{_text(r.detail)}</td><td class="mono">{_text(r.suggestion)}</td></tr>'
        )
    return Markup("".join(parts))


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_template_cache(),
    )
    env.filters["pct"] = _pct
    env.filters["num"] = lambda value: f"{value:,}"
    return env


@cache
def _asset(name: str) -> Markup:
    text = resources.files("pipeline").joinpath("templates", name).read_text(encoding="utf-8")
    return Markup(text)


def _ascii_domain(name: str) -> str:
    """The IDNA (ASCII) form of a domain as the levels key it; the name itself if it has none."""
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError:
        return name


def _flat_stats(stats: dict[str, Any]) -> dict[str, str]:
    """Level counters as display text: nested mappings (e.g. providers) become "A 3, B 1"."""
    flat: dict[str, str] = {}
    for key, value in stats.items():
        if isinstance(value, dict):
            flat[key.replace("_", " ")] = ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
        else:
            flat[key.replace("_", " ")] = str(value)
    return flat


def render_report(
    summary: dict[str, Any],
    tally: Tally,
    *,
    results_name: str | None = None,
    top_domains: int = 25,
    top_suggestions: int = 50,
    calibration: dict[str, Any] | None = None,
) -> str:
    """Render the self-contained HTML report of a run from its summary and tally.

    ``calibration`` is the body of the run's ``<stem>.calibration.json`` (``presend calibrate``):
    when given, the report gains its "Forecast against reality" section.
    """
    context = report_context(
        summary, tally, results_name=results_name, top_domains=top_domains, top_suggestions=top_suggestions
    )
    if calibration is not None:
        from pipeline.calibrate.report import calibration_context

        context["calibration"] = calibration_context(calibration)
    template = _environment().get_template("report.html.j2")
    return template.render(css=_asset("report.css"), js=_asset("report.js"), **context)
