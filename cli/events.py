"""What ``presend clean`` tells its user on stderr: text lines, or one JSON event per line.

``--log-format json`` is for cron and log collectors: every line is an object with ``event``
(settings, run_started, chunk_committed, level_finished, note, warning, run_finished, error) and ``time``.
``-q`` keeps only settings, notes, warnings, errors and (in JSON) run_finished. In text the
settings event is one note-like line, and only when a config file or the environment set
something (see :func:`settings_line`).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from pipeline.io.safetext import json_safe, printable

#: The exit statuses of every command: done, failed, a usage or input error, a --fail-over threshold.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_THRESHOLD = 3

_QUIET_EVENTS = {"settings", "note", "warning", "error", "run_finished"}


class EventLog:
    """Writes run events to a stream in the chosen format."""

    def __init__(self, fmt: str = "text", quiet: bool = False, stream: TextIO | None = None) -> None:
        self.json = fmt == "json"
        self.quiet = quiet
        self.stream = stream

    def _out(self) -> TextIO:
        return self.stream if self.stream is not None else sys.stderr

    def __call__(self, name: str, fields: dict[str, Any]) -> None:
        """Record one event (the library's event callback)."""
        if self.quiet and name not in _QUIET_EVENTS:
            return
        if self.json:
            record = {"event": name, "time": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
            print(json.dumps(json_safe(record), ensure_ascii=False, default=str), file=self._out(), flush=True)
        elif name in ("note", "warning"):
            print(f"presend: {name}: {printable(str(fields['message']))}", file=self._out())
        elif name == "error":
            print(f"presend: error: {printable(str(fields['message']))}", file=self._out())
        elif name == "settings" and (line := settings_line(fields)):
            print(f"presend: note: {printable(line)}", file=self._out())

    def note(self, message: str) -> None:
        """A run-level observation."""
        self("note", {"message": message})

    def error(self, message: str, exit_code: int) -> None:
        """A whole-run failure (one line)."""
        self("error", {"message": message, "exit": exit_code})


def settings_line(sources: dict[str, Any]) -> str:
    """The settings event in words, or the empty text when only flags and defaults were used.

    ``settings from presend.toml (dns_timeout, engine) and the environment (PRESEND_WORKERS)``.
    """
    parts = []
    if sources.get("config_file"):
        used = ", ".join(sources.get("config_options") or []) or "none of its values used"
        parts.append(f"{sources['config_file']} ({used})")
    if sources.get("environment"):
        parts.append(f"the environment ({', '.join(sources['environment'])})")
    return f"settings from {' and '.join(parts)}" if parts else ""
