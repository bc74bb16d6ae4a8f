"""Which format an outcomes file is in (from its content, never its name), and its outcomes.

:func:`read_file` looks at the head of a file and hands it to the first format that knows
it: a DSN or mbox, an ESP's JSON export (each record told apart by its fields), Postmark's
CSV, Postfix's log, Exim's log. A file in no known format is an :class:`InputError`;
records inside a known file that cannot be read are counted, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.calibrate.outcome import Counts, Outcome
from pipeline.calibrate.parsers import dsn, exim, jsonrecords, mailgun, postfix, postmark, sendgrid, ses
from pipeline.errors import InputError

__all__ = ["FORMATS", "FileReport", "detect_format", "outcome_files", "read_file"]

_HEAD_BYTES = 64 * 1024

#: The record formats of JSON exports, tried in this order on each record.
_RECORD_FORMATS: tuple[Any, ...] = (ses, sendgrid, postmark, mailgun)

#: Every format name :func:`detect_format` can give.
FORMATS = ("dsn", "json", "postmark-csv", "postfix", "exim")


@dataclass(slots=True)
class FileReport:
    """One outcomes file: its detected format(s) and what its parser counted."""

    path: Path
    format: str
    counts: Counts = field(default_factory=Counts)
    #: for JSON exports: how many records each ESP format gave
    records: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data for calibration.json."""
        data: dict[str, Any] = {
            "file": str(self.path),
            "format": self.format,
            "outcomes": self.counts.outcomes,
            "ignored": self.counts.ignored,
            "unknown": self.counts.unknown,
        }
        if self.counts.first_unknown:
            data["first_unknown"] = self.counts.first_unknown
        if self.records:
            data["records"] = dict(self.records)
        return data


def outcome_files(paths: list[Path]) -> list[Path]:
    """The files to read: each path given, a folder's files (sorted, hidden ones left out)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file; give a mail log, DSN/mbox or ESP export")
    return files


def _head(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            data = handle.read(_HEAD_BYTES)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc}); check the path") from exc
    return data.decode("utf-8", "replace")


def detect_format(path: Path) -> str:
    """The format of an outcomes file, from its first bytes; raises InputError when none fits."""
    head = _head(path)
    checks: tuple[tuple[str, Callable[[str], bool]], ...] = (
        ("json", jsonrecords.detect),
        ("postfix", postfix.detect),
        ("exim", exim.detect),
        ("dsn", dsn.detect),
        ("postmark-csv", postmark.detect_csv),
    )
    for name, detect in checks:
        if detect(head):
            return name
    raise InputError(
        f"{path}: not a format presend reads (Postfix or Exim log, DSN .eml or mbox, "
        "SES/SendGrid/Mailgun/Postmark export); give one of those"
    )


def read_file(path: Path, report: FileReport) -> Iterator[Outcome]:
    """The outcomes in one file, in the file's order; ``report`` counts as it goes."""
    counts = report.counts
    try:
        if report.format == "dsn":
            yield from dsn.parse(path, counts)
        elif report.format in ("postfix", "exim"):
            parser = postfix if report.format == "postfix" else exim
            with path.open(encoding="utf-8", errors="replace", newline="") as handle:
                yield from parser.parse(handle, path.name, counts)
        elif report.format == "postmark-csv":
            yield from postmark.parse_csv(path.read_text(encoding="utf-8", errors="replace"), path.name, counts)
        else:
            yield from _json(path, report)
    except OSError as exc:
        raise InputError(f"{path}: reading stopped ({exc.strerror or exc}); check the file") from exc


def _json(path: Path, report: FileReport) -> Iterator[Outcome]:
    counts = report.counts
    text = path.read_text(encoding="utf-8", errors="replace")
    for where, record in jsonrecords.records(text, path.name):
        module = next((m for m in _RECORD_FORMATS if isinstance(record, dict) and m.matches(record)), None)
        if module is None:
            counts.unknown_at(where)
            continue
        report.records[module.NAME] = report.records.get(module.NAME, 0) + 1
        found = module.outcomes(record, where)
        if found is None:
            counts.ignored += 1
            continue
        for outcome in found:
            if "@" not in outcome.address:
                counts.unknown_at(where)
                continue
            counts.outcomes += 1
            yield outcome
