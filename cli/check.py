"""``presend check ADDRESS...``: the forecast for a few addresses, without a list.

Each address goes through :func:`pipeline.check`, which is a one-row ``presend clean`` on the
local engine: the same verdict path, so an address gets here what it gets in a list. The run
options that concern one address are the ``clean`` command's (``--nameserver``, ``--no-dns``,
``--probe --mail-from`` ...), from the same records, the config file and ``PRESEND_*``.
"""

from __future__ import annotations

import json
from typing import Any

import typer

from pipeline.errors import PresendError, UsageError
from pipeline.io.safetext import printable

from .events import EXIT_FAILURE, EXIT_USAGE, EventLog
from .params import CHECK_SPECS

#: The names of the options that go to the run (the rest are the command line's own).
RUN_NAMES = {spec.name for spec in CHECK_SPECS} - {"config", "log_format"}


def check(ctx: typer.Context, addresses: list[str], output_format: str, **values: Any) -> None:
    """Forecast the SMTP reply each ADDRESS would get (no list, no files)."""
    import pipeline

    log = EventLog("json" if values.get("log_format") == "json" else "text")
    if output_format not in ("text", "json"):
        _fail(log, f"--format: expected text or json, not {output_format!r}", EXIT_USAGE)
    options = {name: value for name, value in values.items() if name in RUN_NAMES}
    for address in addresses:
        try:
            found = pipeline.check(address, **options)
        except UsageError as exc:
            _fail(log, str(exc), EXIT_USAGE)
        except PresendError as exc:
            _fail(log, str(exc), EXIT_FAILURE)
        typer.echo(_line(address, found, output_format))


def _line(address: str, found: dict[str, str], output_format: str) -> str:
    """One address's answer: a line of text, or a JSON object."""
    if output_format == "json":
        return json.dumps({"address": address, **found}, ensure_ascii=False)
    # A verdict that forecasts no reply (only syntax ran) has no code: nothing stands in its place.
    words = (found["presend_status"], found["presend_code"], found["presend_enhanced"], found["presend_reason"])
    return printable(f"{address}: {' '.join(word for word in words if word)}: {found['presend_detail']}")


def _fail(log: EventLog, message: str, code: int) -> None:
    """One error line on stderr (a JSON event with --log-format json), then the exit."""
    log.error(message, code)
    raise typer.Exit(code)
