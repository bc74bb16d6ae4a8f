"""The run's child processes: each one dies with the run, and none of them holds the run's lock.

A run forks children: the syntax pool (:mod:`pipeline.engine.fastsyntax`), the chunk workers
(:mod:`pipeline.engine.processes`) and the output writer (:mod:`pipeline.engine.forkwrite`). Whatever ends
the run (``kill -9`` included), none of them may stay behind, and none may keep the outputs
locked. Three rules see to that:

- Every child calls :func:`start_child` before anything else. It asks the kernel to kill the
  child when its parent dies (``PR_SET_PDEATHSIG``), then checks that its parent is still
  the process that forked it: a parent that died before the request took effect sends no
  signal, so the child leaves at once. The signal follows the *thread* that forked the
  child: fork from the thread that outlives the child (the run's own thread).
- A forked child closes the descriptors given to :func:`close_in_children` (the run's lock)
  right after the fork, before any code of its own runs. An ``flock`` lock belongs to the
  open file description, which the fork shares: a child holding a copy of the descriptor
  would keep the lock of a run that died. The child only closes its copy; it never unlocks,
  which would release the lock for the run as well.
- Stop signals (:data:`STOP_SIGNALS`: Ctrl-C, SIGTERM, SIGHUP) are the run's to handle. They
  are held back over each fork (:func:`holding_stop_signals`; a signal handled in the
  parent's after-fork hooks would be lost) and ignored by the children, which a signal sent
  to the whole process group (a closed terminal, a service manager) then leaves to the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from collections.abc import Iterator

#: The signals that end a run (which then keeps its committed rows for ``--resume``).
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})

_PR_SET_PDEATHSIG = 1

# Descriptors that no forked child may keep (the run's lock); see close_in_children.
_private_fds: set[int] = set()


def die_with_parent(parent: int) -> None:
    """In a child: be killed when ``parent`` dies; leave now if it already has.

    Linux only (``prctl``); elsewhere the check of the parent's pid is all there is.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def start_child(parent: int) -> None:
    """The first thing a child of the run does: ignore stop signals, die with ``parent``."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    die_with_parent(parent)


@contextlib.contextmanager
def holding_stop_signals() -> Iterator[None]:
    """Block the stop signals in this thread (around a fork), then restore its signal mask.

    The child inherits the blocked mask: :func:`start_child` unblocks them once they are
    ignored. In the parent, a signal that came meanwhile is handled on leaving the block.
    """
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    pid = os.getpid()
    try:
        yield
    finally:
        if os.getpid() == pid:  # a child keeps them blocked until start_child
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def close_in_children(fd: int) -> None:
    """Have every child forked from now on close ``fd`` right after the fork."""
    _private_fds.add(fd)


def keep_in_children(fd: int) -> None:
    """Undo :func:`close_in_children` (call it before closing ``fd``: its number may be reused)."""
    _private_fds.discard(fd)


def _close_private_fds() -> None:
    """After a fork, in the child: close the descriptors that belong to the parent alone."""
    for fd in tuple(_private_fds):
        with contextlib.suppress(OSError):
            os.close(fd)
    _private_fds.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_close_private_fds)
