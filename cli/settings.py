"""The command line's own settings: how ``presend clean`` reports and ends, not what the run does.

Like the run options (pipeline.options), each field carries its flag, help text and range
as metadata; the command's parameters and the config file's keys are derived from both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pipeline.options import option

#: The formats of stderr.
LOG_FORMATS = ("text", "json")
#: The formats of the results table on stdout (--stdout).
STDOUT_FORMATS = ("csv", "jsonl")


@dataclass(frozen=True, slots=True)
class CliSettings:
    """Settings of the ``clean`` command that are not run options."""

    PANEL: ClassVar[str] = "Automation"

    config: Path | None = field(
        default=None, metadata=option("--config", "Options file (default: ./presend.toml if present).", config=False)
    )
    fail_over: float | None = field(
        default=None,
        metadata=option(
            "--fail-over", "Exit 3 when more than PCT % of rows are undeliverable.",
            low=0, high=100, unit=" %", metavar="PCT",
        ),
    )
    fail_over_unknown: float | None = field(
        default=None,
        metadata=option(
            "--fail-over-unknown", "Exit 3 when more than PCT % of rows are unknown (a resolver or mail hosts "
            "that could not tell: a broken resolver makes most rows unknown).",
            low=0, high=100, unit=" %", metavar="PCT",
        ),
    )
    log_format: str = field(
        default="text",
        metadata=option("--log-format", "stderr format: text, or json (one event per line).", choices=LOG_FORMATS),
    )
    quiet: bool = field(
        default=False, metadata=option("--quiet", "No progress bars, no summary line.", short="-q", panel="Outputs")
    )
    stdout: bool = field(
        default=False,
        metadata=option("--stdout", "Also write the results table to stdout (the other outputs go to --out; "
                                    "the closing lines then go to stderr).", panel="Outputs"),
    )
    format: str = field(
        default="csv",
        metadata=option("--format", "The results table on stdout: csv, or jsonl (one JSON object per row).",
                        choices=STDOUT_FORMATS, panel="Outputs"),
    )
