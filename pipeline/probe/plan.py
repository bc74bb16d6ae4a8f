"""How the mailbox level spreads its work: batches per mail host, transactions, give-up rules.

Pure bookkeeping, no I/O: the session engine (:mod:`pipeline.probe.prober`) asks this module which
addresses go in one session, in what order, how many RCPTs fit one MAIL FROM, and whether
outbound SMTP looks blocked altogether.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.models import MxHost
from pipeline.ports import ProbeTarget
from pipeline.rules.probe_trust import gentle_batch_size

#: After this many distinct mail host addresses failed to connect while none ever answered,
#: the probe assumes outbound port 25 is blocked and stops.
BLOCKED_AFTER = 3

#: A session ends (QUIT, then a fresh session for the rest) after this many refused RCPTs.
#: Mail servers count refusals per session and punish a client that collects many: Postfix
#: by default delays every reply by 1 s after 10 errors and disconnects after 20.
REFUSALS_PER_SESSION = 8

#: The made-up local part asked once per domain and session to detect catch-all domains.
PROBE_PREFIX = "presend-check-"

Route = tuple[MxHost, ...]


@dataclass(frozen=True, slots=True)
class Batch:
    """Addresses sharing one list of MX hosts, asked in one session (``attempt`` 0 = first)."""

    route: Route
    targets: tuple[ProbeTarget, ...]
    attempt: int = 0


def plan_batches(targets: Iterable[ProbeTarget], batch_size: int) -> list[Batch]:
    """Group addresses by their MX hosts, keep each domain together, cut into batches.

    Routes come in order of first appearance (so the work order follows the input); inside a
    route the addresses are ordered by domain, so a session opens few transactions. A provider
    that wants a gentler plan gets smaller batches (:mod:`pipeline.rules.probe_trust`).
    """
    routes: dict[Route, dict[str, list[ProbeTarget]]] = {}
    for target in targets:
        routes.setdefault(target.mx_hosts, {}).setdefault(target.ascii_domain, []).append(target)
    batches: list[Batch] = []
    for route, domains in routes.items():
        ordered = [t for group in domains.values() for t in group]
        size = gentle_batch_size(preferred_host(route), max(1, batch_size))
        for start in range(0, len(ordered), size):
            batches.append(Batch(route, tuple(ordered[start : start + size])))
    return batches


def by_domain(targets: Iterable[ProbeTarget]) -> list[tuple[str, list[ProbeTarget]]]:
    """Targets grouped by (ASCII) domain, domains in order of first appearance."""
    groups: dict[str, list[ProbeTarget]] = {}
    for target in targets:
        groups.setdefault(target.ascii_domain, []).append(target)
    return list(groups.items())


def mx_attempts(route: Route) -> list[tuple[str, str]]:
    """``(host name, address)`` pairs to try, in MX preference order (RFC 5321 §5.1).

    Hosts of equal preference keep the order the DNS level gave; a host with several
    addresses is tried address by address.
    """
    ordered = sorted(enumerate(route), key=lambda item: (item[1].preference, item[0]))
    return [(mx.host, address) for _, mx in ordered for address in mx.addresses]


def preferred_host(route: Route) -> str:
    """The most preferred MX host name (what ``presend_mx`` shows when none answered)."""
    attempts = sorted(route, key=lambda mx: mx.preference)
    return attempts[0].host if attempts else ""


def random_local_part() -> str:
    """A local part nobody uses, for the catch-all question."""
    return PROBE_PREFIX + secrets.token_hex(6)


class BlockedDetector:
    """Decides when outbound SMTP looks blocked: N distinct hosts failed, none ever answered.

    Refusals come back faster than greetings, so reaching N failures only makes the probe
    *suspect* a block: it starts no new session until the attempts already under way have
    ended (:meth:`settle`); if one of them got an answer, probing goes on.
    """

    def __init__(self, threshold: int = BLOCKED_AFTER) -> None:
        self.threshold = max(1, threshold)
        self.failed: set[str] = set()
        self.answered = False
        self.blocked = False

    def connected(self, address: str) -> None:
        """A host answered (any SMTP reply counts, even 421 or 554)."""
        self.answered = True

    def failed_to_connect(self, address: str) -> None:
        """A host refused the connection or timed out."""
        self.failed.add(address)

    @property
    def suspect(self) -> bool:
        """Enough distinct hosts failed and none answered (not decided yet)."""
        return not self.answered and not self.blocked and len(self.failed) >= self.threshold

    def settle(self, in_flight: int) -> bool:
        """Declare the block once no attempt is under way; True when this call declared it."""
        if self.suspect and in_flight == 0:
            self.blocked = True
            return True
        return False


def host_label(host: str, address: str) -> str:
    """``mx.example [192.0.2.1]``, or just the address when it is the name."""
    return address if host == address else f"{host} [{address}]"


def extension_names(extensions: Sequence[str]) -> list[str]:
    """EHLO keywords, upper case, sorted (``SIZE``, ``SMTPUTF8``, ``STARTTLS`` ...)."""
    return sorted({name.upper() for name in extensions if name})
