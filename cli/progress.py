"""tqdm progress bars on stderr, fed by the library's progress callback."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    """A progress callback that keeps one tqdm bar per stage (rows, domains, mailboxes)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self._bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(
                total=total, desc=stage, unit=stage.rstrip("s") or "item", file=sys.stderr,
                leave=False, dynamic_ncols=True,
            )
        if total is not None and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        """Close every bar."""
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()


def make_progress(enabled: bool) -> Progress:
    """A progress callback; silent when ``enabled`` is false or stderr is not a terminal."""
    return Progress(enabled)
