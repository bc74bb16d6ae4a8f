"""A fixed table of domain verdicts standing in for the DNS level in mailbox-level tests.

This is not a mock of the thing under test (the probe); it is the DNS level's *answer*,
written down: each lab domain's MX hosts point at loopback mail hosts. It implements the
:class:`~pipeline.ports.DomainResolver` protocol, so ``pipeline.run.run()`` takes it as is.
Once the DNS lab (NSD + Unbound serving the same zone) is available, a test can pass the real
resolver instead and expect the same rows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from pipeline.models import DomainVerdict, MxHost, Status, Verdict
from pipeline.ports import ProgressCallback, no_progress

MxRecords = tuple[tuple[int, str, tuple[str, ...]], ...]


class StaticResolver:
    """Answers from a table ``domain -> MX records``; other domains do not exist (NXDOMAIN)."""

    def __init__(self, table: Mapping[str, MxRecords]) -> None:
        self.table = dict(table)
        self.lookups = 0

    def resolve(
        self, domains: Collection[str], progress: ProgressCallback = no_progress
    ) -> dict[str, DomainVerdict]:
        """A verdict per domain: its MX hosts when listed, NXDOMAIN (550 5.1.2) otherwise."""
        out: dict[str, DomainVerdict] = {}
        for domain in domains:
            self.lookups += 1
            records = self.table.get(domain)
            if records is None:
                out[domain] = DomainVerdict(
                    domain,
                    Verdict(Status.UNDELIVERABLE, "550", "5.1.2", "domain_not_found",
                            f"The domain {domain} does not exist (NXDOMAIN)."),
                )
            else:
                out[domain] = DomainVerdict(domain, None, tuple(MxHost(p, h, a) for p, h, a in records))
        return out

    def stats(self) -> dict[str, int]:
        """Counters for summary.json."""
        return {"lookups": self.lookups}
