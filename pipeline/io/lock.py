"""One run at a time per set of outputs: an exclusive lock on ``<out>/<stem>.lock``.

The lock is portalocker's: ``flock`` on Linux and macOS, ``LockFileEx`` on Windows; the module
imports it only when a run takes the lock, so the package imports where ``fcntl`` does not exist.

Two overlapping cron runs of the same list would write the same files; the second one stops
instead. The lock belongs to the open file, so the kernel releases it when its process dies
(even by ``kill -9``): a stale lock file on disk does not block the next run.

The open file is shared with whatever process gets a copy of its descriptor, and the lock
lasts until the last copy is closed: the descriptor is closed on ``exec`` (``O_CLOEXEC``) and,
in every child forked while the lock is held, right after the fork
(:func:`pipeline.engine.children.close_in_children`). The lock is the run's process's alone.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from types import TracebackType

from pipeline.engine.children import close_in_children, keep_in_children
from pipeline.errors import LockedError, OutputError
from pipeline.io.positional import read_at

#: Close the lock's descriptor on exec where the system has the flag (not on Windows, where
#: descriptors are not inherited unless asked for).
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def lock_path(out_dir: Path, stem: str) -> Path:
    """The lock file of the outputs named after ``stem`` in ``out_dir``."""
    return out_dir / f"{stem}.lock"


class RunLock:
    """An exclusive, non-blocking lock; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`LockedError` naming the lock and the holder's pid."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | _CLOEXEC, 0o644)
            except OSError as exc:
                raise OutputError(
                    f"{self.path.parent}: cannot write {self.path.name} ({exc.strerror or exc}); "
                    "choose another folder with --out"
                ) from exc
            # Before the lock is taken: a child forked from now on must not share it.
            close_in_children(fd)
            self._lock(fd)
            # The previous holder may have removed the file between our open and our lock:
            # then we hold a lock on a deleted file, and must start over.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if same:
                break
            _close(fd)
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.path.unlink()
            _close(fd)
            raise OutputError(
                f"{self.path}: cannot write the run's lock ({exc.strerror or exc}); "
                "free some space or choose another folder with --out"
            ) from exc
        self._fd = fd

    def _lock(self, fd: int) -> None:
        """Lock the open file ``fd``, exclusively and without waiting; else close it and raise."""
        import portalocker

        try:
            portalocker.lock(fd, portalocker.LOCK_EX | portalocker.LOCK_NB)
        except portalocker.AlreadyLocked:
            holder = _read_pid(fd)
            _close(fd)
            who = f"pid {holder}" if holder else "another process"
            raise LockedError(
                f"{self.path}: another presend run ({who}) is writing these outputs; "
                "wait for it to finish or choose another --out"
            ) from None
        except portalocker.LockException as exc:
            _close(fd)
            raise OutputError(f"{self.path}: cannot lock ({exc})") from exc

    def release(self) -> None:
        """Remove the lock file and release the lock."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        _close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _close(fd: int) -> None:
    keep_in_children(fd)  # first: once closed, the number may be reused
    os.close(fd)


def _read_pid(fd: int) -> str:
    try:
        text = read_at(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return text if text.isdigit() else ""
