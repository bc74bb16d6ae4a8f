"""The exception tree of presend. Only whole-run failures raise; per-row trouble is data.

    PresendError
    ├── InputError          the input file cannot be used (missing, unreadable, no email column)
    ├── UsageError          an option or option combination is wrong
    ├── OutputError         an output cannot be written
    ├── ResolverUnreachable no DNS resolver answered at all
    ├── EngineError         a worker of the engine (a process, a cluster) failed
    └── LockedError         another run holds the output lock

The CLI maps ``InputError``, ``UsageError``, ``OutputError`` and ``LockedError`` to exit 2
and anything else to exit 1.
"""

from __future__ import annotations


class PresendError(Exception):
    """Base class of every error presend raises on purpose. Its message is one line."""


class InputError(PresendError):
    """The input file is missing, unreadable or has no usable email column."""


class UsageError(PresendError):
    """An option or a combination of options is wrong."""


class OutputError(PresendError):
    """An output file or folder cannot be written."""


class ResolverUnreachable(PresendError):
    """No configured DNS resolver answered any query."""


class LockedError(PresendError):
    """Another presend run is writing the same outputs."""


class EngineError(PresendError):
    """A worker of the engine failed, or the cluster behind it went away."""
