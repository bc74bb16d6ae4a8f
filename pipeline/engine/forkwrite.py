"""Formatting and appending a chunk's output lines in a forked child, beside the run loop.

Turning a chunk's cells and verdict columns into CSV lines and writing them is about a
quarter of a syntax-only run. None of it changes what the loop keeps, so a child process
forked once the chunk is judged does it while the parent tallies the chunk and reads and
judges the next one: the child sees the chunk's rows through the fork (nothing is pickled),
appends to the same partial files the parent opened, and reports the line counts (or the
error) through a pipe. One child at a time, so the lines land in input order; the parent
records chunks as committed (the resume point) only after its child has finished.

The child dies with the parent and does not hold the run's lock (see :mod:`pipeline.engine.children`),
so a run killed with ``kill -9`` leaves no writer behind to race a resumed run; whatever it
appended past the recorded sizes is cut off when the run resumes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Collection, Sequence

from pipeline.engine.children import holding_stop_signals, start_child
from pipeline.errors import OutputError
from pipeline.io.outputs import TableWriter


def fork_available() -> bool:
    """True where a child can be forked (Linux)."""
    return sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods()


class ForkedWrites:
    """Writes chunks through ``writer`` in forked children, one child at a time."""

    def __init__(self, writer: TableWriter) -> None:
        self.writer = writer
        self._pending: tuple[int, int] | None = None

    def start(self, chunks: Sequence[tuple[Sequence[Sequence[str]], Sequence[Sequence[str]], Collection[int]]]) -> None:
        """Fork a child that appends these chunks, each given as (cells, columns, ill-formed
        rows) as :meth:`TableWriter.write_columns` takes them, in order."""
        if self._pending is not None:
            raise RuntimeError("the previous chunks are still being written; wait() first")
        writer = self.writer
        writer.flush()
        parent = os.getpid()
        read_end, write_end = os.pipe()
        # Stop signals are held back over the fork: a KeyboardInterrupt raised inside the
        # after-fork hooks (logging's, for one) would be printed and dropped, and the run
        # would go on.
        with holding_stop_signals():
            pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, which leaves through os._exit
            status = 1
            message = "error RuntimeError the writer process failed"
            try:
                start_child(parent)
                os.close(read_end)
                counts = [0, 0]
                for cells, columns, ill_formed in chunks:
                    results, clean = writer.format_columns(cells, columns, ill_formed)
                    writer.emit_lines(results, clean)
                    counts[0] += len(results)
                    counts[1] += len(clean)
                    del results, clean
                writer.flush()
                message = f"ok {counts[0]} {counts[1]}"
                status = 0
            except BaseException as exc:
                message = f"error {type(exc).__name__} {exc}"
            finally:
                with contextlib.suppress(BaseException):
                    os.write(write_end, message.encode("utf-8", "replace"))
                os._exit(status)
        os.close(write_end)
        self._pending = (pid, read_end)

    def wait(self) -> None:
        """Wait for the chunks in flight; raise what went wrong in the child, if anything."""
        if self._pending is None:
            return
        pid, read_end = self._pending
        self._pending = None
        parts: list[bytes] = []
        try:
            while block := os.read(read_end, 65536):
                parts.append(block)
        finally:
            os.close(read_end)
            _, status = os.waitpid(pid, 0)
        text = b"".join(parts).decode("utf-8", "replace")
        if text.startswith("ok "):
            _, results, clean = text.split()
            self.writer.rows_written["results"] += int(results)
            self.writer.rows_written["clean"] += int(clean)
            return
        if text.startswith("error OutputError "):
            raise OutputError(text[len("error OutputError ") :])
        if text.startswith("error "):
            raise RuntimeError(f"writing the outputs failed: {text[len('error ') :]}")
        raise OutputError(f"writing the outputs failed: the writer process ended with status {status}")

    def abandon(self) -> None:
        """Wait for the chunks in flight, ignoring errors (the run is failing anyway)."""
        with contextlib.suppress(Exception):
            self.wait()
