"""The mailbox level (to be built: issue 4)."""

from __future__ import annotations

from .errors import UsageError
from .options import CacheOptions, ProbeOptions
from .stages import MailboxProber


def make_prober(probe: ProbeOptions, cache: CacheOptions) -> MailboxProber:
    """Build the mailbox level's prober from options."""
    raise UsageError("the mailbox level is not built yet; run without --probe")
