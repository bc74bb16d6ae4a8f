"""Reads and writes at a place in a file, without moving a shared position.

``os.pread`` / ``os.pwrite`` where the system has them; elsewhere (Windows) a seek and a read
or write, which is only safe on a descriptor the calling process opened itself (every caller
here does: a worker opens its own, the lock reads its own).
"""

from __future__ import annotations

import os


def read_at(descriptor: int, size: int, offset: int) -> bytes:
    """Up to ``size`` bytes at ``offset``."""
    if hasattr(os, "pread"):
        return os.pread(descriptor, size, offset)
    os.lseek(descriptor, offset, os.SEEK_SET)
    return os.read(descriptor, size)


def write_at(descriptor: int, data: bytes, offset: int) -> None:
    """All of ``data`` at ``offset``."""
    view = memoryview(data)
    while view:
        if hasattr(os, "pwrite"):
            done = os.pwrite(descriptor, view, offset)
        else:
            os.lseek(descriptor, offset, os.SEEK_SET)
            done = os.write(descriptor, view)
        view = view[done:]
        offset += done


__all__ = ["read_at", "write_at"]
