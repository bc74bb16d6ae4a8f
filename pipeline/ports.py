"""The seams between the run loop and the levels that do I/O.

The run loop only knows these protocols; the CLI (or a test) passes real objects built on
a resolver or an SMTP connector pointed wherever it likes.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pipeline.models import DomainVerdict, MailboxVerdict, MxHost

#: ``progress(stage, done, total)``: called by long stages; ``total`` may be unknown.
ProgressCallback = Callable[[str, int, "int | None"], None]


def no_progress(stage: str, done: int, total: int | None) -> None:
    """A progress callback that ignores everything."""


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One address to ask a mail host about."""

    email: str
    local: str
    domain: str
    ascii_domain: str
    smtputf8: bool
    mx_hosts: tuple[MxHost, ...]


class DomainResolver(Protocol):
    """Resolves domains into :class:`DomainVerdict` records (the DNS level)."""

    def resolve(
        self, domains: Collection[str], progress: ProgressCallback = no_progress
    ) -> dict[str, DomainVerdict]:
        """Return a verdict for every domain given (ASCII/IDNA form), keyed by that form."""
        ...

    def stats(self) -> dict[str, Any]:
        """Counters for summary.json (queries, cache hits, cache misses ...).

        Values are numbers, or a ``{name: count}`` mapping (the DNS level's providers).
        """
        ...


class MailboxProber(Protocol):
    """Asks mail hosts about addresses (the mailbox level)."""

    def probe(
        self, targets: Sequence[ProbeTarget], progress: ProgressCallback = no_progress
    ) -> dict[str, MailboxVerdict]:
        """Return a verdict per target, keyed by ``target.email``."""
        ...

    def stats(self) -> dict[str, int]:
        """Counters for summary.json (sessions, RCPTs, retries, cache hits ...)."""
        ...

    def notes(self) -> list[str]:
        """Run-level observations (e.g. outbound port 25 looks blocked)."""
        ...

    def host_report(self) -> dict[str, dict[str, Any]]:
        """Per mail host address: EHLO extensions, TLS, sessions (summary.json ``probe_hosts``)."""
        ...

    def greylisting_domains(self) -> list[str]:
        """Domains whose hosts answered 450/451 at least once in this run, even if a retry
        later passed (the report's domain table shows them)."""
        ...
