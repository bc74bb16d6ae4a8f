"""Stop signals: SIGTERM and SIGHUP end a command exactly as Ctrl-C does.

Python turns SIGINT into :class:`KeyboardInterrupt`; :func:`stop_on_signals` has SIGTERM and
SIGHUP raise :class:`Stopped`, a KeyboardInterrupt that names its signal. Whichever of the
three stops a run, the run keeps its committed rows for ``--resume`` and leaves nothing
running; the exit status is 128 + the signal's number: 130 (SIGINT), 143 (SIGTERM), 129
(SIGHUP). A signal that the process started with ignored (``nohup`` ignores SIGHUP) stays
ignored, as Python does for SIGINT.
"""

from __future__ import annotations

import signal
from types import FrameType

#: The signals handled here (SIGINT is Python's own KeyboardInterrupt).
HANDLED = (signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """A command stopped by SIGTERM or SIGHUP."""

    def __init__(self, number: int) -> None:
        self.signal = signal.Signals(number)
        super().__init__(self.signal.name)


def _raise_stopped(number: int, frame: FrameType | None) -> None:
    raise Stopped(number)


def stop_on_signals() -> None:
    """Have SIGTERM and SIGHUP raise :class:`Stopped` (call it from the main thread)."""
    for number in HANDLED:
        if signal.getsignal(number) == signal.SIG_DFL:
            signal.signal(number, _raise_stopped)


def exit_status(interrupt: KeyboardInterrupt) -> int:
    """128 + the number of the signal that stopped the command (SIGINT for Ctrl-C)."""
    number = interrupt.signal if isinstance(interrupt, Stopped) else signal.SIGINT
    return 128 + int(number)


def stopped_by(interrupt: KeyboardInterrupt) -> str:
    """How the command ended, in words: "interrupted", or "stopped by SIGTERM"."""
    return f"stopped by {interrupt.signal.name}" if isinstance(interrupt, Stopped) else "interrupted"
