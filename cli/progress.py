"""tqdm progress bars on stderr, fed by the library's progress callback and its run events.

The rows bar is on screen from the start of a run (a resumed run first re-reads what it had
done: the bar says so at once). Its total is an estimate from the input's size: the file's
bytes over the average line of its first MiB, less a header line, marked ``~``. Each
bar's rate counts only the work done since it started (rows an interrupted run had already
committed, or verdicts found in the cache at once, are its starting point, not speed).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

#: The library's event callback (pipeline.run.EventCallback, not imported here: the run is loaded late).
EventCallback = Callable[[str, dict[str, Any]], None]

#: How much of the input's head is read to estimate its number of rows.
SAMPLE_BYTES = 1 << 20
#: Workbooks (ZIP: XLSX, ODS; OLE2: XLS): their size says nothing about their rows.
_WORKBOOK_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")

#: The events that may print a line of text (cli.events): the bars make way for them.
_SAID = frozenset({"settings", "note", "warning", "error"})

_BAR = "{desc}: {percentage:3.0f}%|{bar}| {done}/{about}{whole} {unit}s [{elapsed}<{remaining}, {speed}]"
_COUNTER = "{desc}: {done} {unit}s [{elapsed}, {speed}]"


def estimate_rows(path: Path | None) -> int | None:
    """About how many data rows a text list holds (its bytes are known before a row is read).

    Its line ends counted in its first MiB, scaled to its size, less a header line. None for
    a workbook, an empty or unreadable file (stdin's ``-``), or no path.
    """
    if path is None or str(path) == "-":  # stdin: its size is not known up front
        return None
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(SAMPLE_BYTES)
    except OSError:
        return None
    if not head or head.startswith(_WORKBOOK_MAGIC):
        return None
    if len(head) >= size:  # the whole file: a last line without a line end counts too
        lines = head.count(b"\n") + (0 if head.endswith((b"\n", b"\r")) else 1)
    else:
        lines = round(size * head.count(b"\n") / len(head))
    return max(lines - 1, 1)


class Bar(tqdm):
    """A tqdm bar whose counts have thousands separators and whose total may be an estimate."""

    def __init__(self, *args: Any, estimated: bool = False, **kwargs: Any) -> None:
        self.estimated = estimated  # before tqdm draws the first frame
        super().__init__(*args, **kwargs)

    @property
    def format_dict(self) -> dict[str, Any]:
        """tqdm's fields, and ``done``, ``whole``, ``about`` and ``speed`` for the formats above."""
        found: dict[str, Any] = dict(super().format_dict)
        rate = found.get("rate")
        if rate is None and found["elapsed"] and found["n"] > found["initial"]:
            rate = (found["n"] - found["initial"]) / found["elapsed"]
        found.update(
            done=f"{found['n']:,}",
            whole=f"{found['total']:,}" if found["total"] else "?",
            about="~" if self.estimated else "",
            speed=f"{rate:,.0f} {found['unit']}s/s" if rate else f"? {found['unit']}s/s",
        )
        return found


class Progress:
    """A progress callback that keeps one bar per stage (rows, domains, mailboxes)."""

    def __init__(self, enabled: bool, input_path: Path | None = None) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.input_path = input_path
        self._bars: dict[str, Bar] = {}

    def begin(self, resuming: bool = False) -> None:
        """Put the rows bar on screen now, before the first rows are done."""
        if not self.enabled:
            return
        self._bar("rows", 0, None, "rows (resuming)" if resuming else "rows")

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        bar = self._bars.get(stage) or self._bar(stage, done, total)
        if total is not None and bar.total != total and not (stage == "rows" and total < done):
            bar.total, bar.estimated = total, False
        if bar.total is not None and done > bar.total:
            bar.total = done  # an estimate fell short
        bar.update(done - bar.n)

    def event(self, name: str, fields: dict[str, Any]) -> None:
        """A run event: ``run_started`` sets where the rows bar starts (a resumed run's rows done)."""
        bar = self._bars.get("rows")
        if name != "run_started" or bar is None:
            return
        done = int(fields.get("rows_done") or 0)
        bar.reset(total=bar.total)
        bar.initial = bar.n = bar.last_print_n = done
        bar.set_description_str("rows", refresh=False)
        bar.refresh()

    def tee(self, events: EventCallback) -> EventCallback:
        """An event callback that shows each event here, then hands it to ``events``."""

        def both(name: str, fields: dict[str, Any]) -> None:
            self.event(name, fields)
            if not self._bars or name not in _SAID:
                events(name, fields)
                return
            with tqdm.external_write_mode(file=sys.stderr):  # a note's line, not over a bar
                events(name, fields)

        return both

    def _bar(self, stage: str, done: int, total: int | None, title: str = "") -> Bar:
        """A new bar for ``stage`` (shown as ``title``); what is already done when it appears is its
        starting point."""
        unit = stage.rstrip("s") or "item"
        estimated = False
        if stage == "rows" and total is None:
            total = estimate_rows(self.input_path)
            estimated = total is not None
        bar = Bar(
            total=total,
            desc=title or stage,
            unit=unit,
            file=sys.stderr,
            leave=False,
            dynamic_ncols=True,
            initial=done,
            bar_format=_BAR if total else _COUNTER,
            mininterval=0.2,
            estimated=estimated,
        )
        self._bars[stage] = bar
        return bar

    def close(self) -> None:
        """Close every bar."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def make_progress(enabled: bool, input_path: Path | None = None) -> Progress:
    """A progress callback; silent when ``enabled`` is false or stderr is not a terminal.

    ``input_path`` (a text list) lets the rows bar show a total, a percentage and an ETA.
    """
    return Progress(enabled, input_path)
