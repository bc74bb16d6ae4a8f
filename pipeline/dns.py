"""The DNS level (to be built: issue 3)."""

from __future__ import annotations

from .errors import UsageError
from .options import CacheOptions, DnsOptions
from .stages import DomainResolver


def make_resolver(dns: DnsOptions, cache: CacheOptions) -> DomainResolver:
    """Build the DNS level's resolver from options."""
    raise UsageError("the DNS level is not built yet; run with --no-dns")
