"""What DNS answers mean for mail: pure decisions, no I/O.

The DNS level (:mod:`pipeline.dns.resolver`) asks the questions a sending MTA asks — the MX records
of the domain, then the addresses of each mail host — and hands the answers, as
:class:`MxLookup` and :class:`AddressLookup` records, to :func:`decide`, which returns the
domain's :class:`~pipeline.models.DomainVerdict` and how long that verdict may be cached.

The rules (RFC 5321 §5.1, RFC 7505, RFC 2308):

- NXDOMAIN for the domain → 550 5.1.2 ``nxdomain``.
- MX records → mail hosts in preference order. If every MX names the root (``MX 0 .``), the
  domain says it takes no mail → 556 5.1.10 ``null_mx``. A null MX mixed with real ones is a
  misconfiguration; the root entries are ignored and the real hosts are used.
- No MX records → the domain itself is the mail host (implicit MX) if it has A/AAAA
  records; if it has neither → 550 5.1.2 ``no_mail_host``.
- Mail hosts of which none has an address → 550 5.4.4 ``mx_unresolvable``.
- A mail host that is the sending machine itself (``localhost``, ``localhost.*``, or a name
  resolving to 127.0.0.1 or ::1): a sending MTA drops it and every host of the same or a
  worse preference (Postfix's rule); when that leaves none, or the domain's own address is
  one of those (implicit MX), the mail would loop back to the sender → 554 5.4.6
  ``mx_loops_back``, undeliverable, and nobody is probed (even with ``--allow-private-mx``:
  lab hosts live on other 127.x addresses).
- A lookup that failed twice (SERVFAIL, timeout) where the answer mattered → 451 4.4.3
  ``dns_error``, status unknown.
- Otherwise the domain accepts mail: the verdict is ``None`` and the next layer decides.
  :func:`apply_private_policy` may then mark it ``risky`` (``mx_private_address``) when the
  preferred mail host lives on a loopback/private/reserved address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from pipeline.models import DomainVerdict, MxHost, Status, Verdict
from pipeline.rules.providers import identify_provider


class Outcome(StrEnum):
    """How one DNS question ended (after presend's one retry)."""

    ANSWER = "answer"  # NOERROR with records of the asked type
    NODATA = "nodata"  # NOERROR, the name exists but has no such records
    NXDOMAIN = "nxdomain"  # the name does not exist
    SERVFAIL = "servfail"  # the resolver failed (SERVFAIL, REFUSED, other error codes)
    TIMEOUT = "timeout"  # no answer in time

    @property
    def failed(self) -> bool:
        """True when the question got no usable answer."""
        return self in (Outcome.SERVFAIL, Outcome.TIMEOUT)


@dataclass(frozen=True, slots=True)
class MxLookup:
    """The answer to ``domain MX``.

    ``records`` are ``(preference, exchange)`` pairs, exchange ``"."`` for a null MX.
    ``ttl`` is the answer's lifetime (for a negative answer, the SOA-derived one).
    ``failure`` describes a failed lookup in a few words (``"SERVFAIL twice"``).
    """

    outcome: Outcome
    records: tuple[tuple[int, str], ...] = ()
    ttl: int = 0
    failure: str = ""


@dataclass(frozen=True, slots=True)
class AddressLookup:
    """The answers to ``host A`` and ``host AAAA``, merged (A addresses first)."""

    outcome: Outcome
    addresses: tuple[str, ...] = ()
    ttl: int = 0
    failure: str = ""
    complete: bool = True  # False when one of the two questions failed


@dataclass(frozen=True, slots=True)
class Decision:
    """A domain's verdict and the number of seconds it may be cached (0: do not cache)."""

    domain: DomainVerdict
    ttl: int


def merge_addresses(a: AddressLookup, aaaa: AddressLookup) -> AddressLookup:
    """Combine the A and AAAA answers for one host into a single :class:`AddressLookup`.

    Any address wins; otherwise a failure of either question wins over a negative answer
    (we cannot say there is no address); otherwise the host has no address.
    """
    parts = (a, aaaa)
    addresses = a.addresses + aaaa.addresses
    answered = [p for p in parts if not p.outcome.failed]
    failed = [p for p in parts if p.outcome.failed]
    ttl = min((p.ttl for p in answered), default=0)
    if addresses:
        return AddressLookup(Outcome.ANSWER, addresses, ttl, complete=not failed)
    if failed:
        first = failed[0]
        return AddressLookup(first.outcome, (), 0, first.failure, complete=False)
    if all(p.outcome is Outcome.NXDOMAIN for p in parts):
        return AddressLookup(Outcome.NXDOMAIN, (), ttl)
    return AddressLookup(Outcome.NODATA, (), ttl)


def mail_hosts(mx: MxLookup) -> list[tuple[int, str]]:
    """The real (non-null) MX entries, in preference order, each host once."""
    best: dict[str, int] = {}
    for preference, host in mx.records:
        name = host.rstrip(".").lower()
        if not name:
            continue
        if name not in best or preference < best[name]:
            best[name] = preference
    return sorted(((p, h) for h, p in best.items()), key=lambda ph: (ph[0], ph[1]))


def hosts_to_look_up(domain: str, mx: MxLookup) -> list[str]:
    """Which host names need an address lookup after the MX answer (none if it decided)."""
    if mx.outcome is Outcome.ANSWER:
        return [host for _, host in mail_hosts(mx)]
    if mx.outcome is Outcome.NODATA:
        return [domain]
    return []


def _verdict(
    status: Status, code: str, enhanced: str, reason: str, detail: str, mx: str, checked_at: str
) -> Verdict:
    return Verdict(status, code, enhanced, reason, detail, mx=mx, checked_at=checked_at)


def _dns_error(domain: str, what: str, failure: str, mx: str, checked_at: str) -> Verdict:
    return _verdict(
        Status.UNKNOWN,
        "451",
        "4.4.3",
        "dns_error",
        f"Looking up {what} of {domain} failed twice ({failure}), so the domain could not be "
        "judged; a sending server would defer and retry later.",
        mx,
        checked_at,
    )


def decide(
    domain: str,
    mx: MxLookup,
    addresses: Mapping[str, AddressLookup],
    checked_at: str,
) -> Decision:
    """The verdict for ``domain`` given its MX answer and the address answers of its hosts.

    ``addresses`` must hold an entry for every name :func:`hosts_to_look_up` returned.
    """
    if mx.outcome.failed:
        verdict = _dns_error(domain, "the MX records", mx.failure, "", checked_at)
        return Decision(DomainVerdict(domain, verdict, checked_at=checked_at), 0)

    if mx.outcome is Outcome.NXDOMAIN:
        verdict = _verdict(
            Status.UNDELIVERABLE,
            "550",
            "5.1.2",
            "nxdomain",
            f"The domain {domain} does not exist in DNS, so nothing can be delivered to it.",
            "",
            checked_at,
        )
        return Decision(DomainVerdict(domain, verdict, checked_at=checked_at), mx.ttl)

    if mx.outcome is Outcome.NODATA:
        return _decide_implicit(domain, mx, addresses[domain], checked_at)

    hosts = mail_hosts(mx)
    if not hosts:
        verdict = _verdict(
            Status.UNDELIVERABLE,
            "556",
            "5.1.10",
            "null_mx",
            f"The domain {domain} publishes a null MX (RFC 7505): it declares that it never "
            "receives email.",
            "",
            checked_at,
        )
        return Decision(DomainVerdict(domain, verdict, checked_at=checked_at), mx.ttl)

    lookups = [(preference, host, addresses[host]) for preference, host in hosts]
    home = [(preference, host) for preference, host, lookup in lookups if points_home(host, lookup.addresses)]
    if home:
        cutoff = min(preference for preference, _ in home)
        lookups = [entry for entry in lookups if entry[0] < cutoff]
        if not lookups:
            return _loops_back(domain, mx, hosts, addresses, home[0][1], checked_at)
        hosts = [(preference, host) for preference, host, _ in lookups]
    provider = _provider(host for _, host, _ in lookups)
    usable = tuple(
        MxHost(preference, host, lookup.addresses) for preference, host, lookup in lookups if lookup.addresses
    )
    named = tuple(MxHost(preference, host) for preference, host, _ in lookups)
    preferred = hosts[0][1]
    if usable:
        complete = all(lookup.complete and not lookup.outcome.failed for _, _, lookup in lookups)
        ttl = min([mx.ttl, *(lookup.ttl for _, _, lookup in lookups)]) if complete else 0
        verdict_record = DomainVerdict(
            domain, None, usable, implicit_mx=False, provider=provider, checked_at=checked_at
        )
        return Decision(verdict_record, ttl)

    failed = [(host, lookup) for _, host, lookup in lookups if lookup.outcome.failed]
    if failed:
        host, lookup = failed[0]
        verdict = _dns_error(domain, f"the address of its mail host {host}", lookup.failure, preferred, checked_at)
        return Decision(DomainVerdict(domain, verdict, named, provider=provider, checked_at=checked_at), 0)

    listed = ", ".join(host for _, host in hosts[:3]) + (" ..." if len(hosts) > 3 else "")
    verdict = _verdict(
        Status.UNDELIVERABLE,
        "550",
        "5.4.4",
        "mx_unresolvable",
        f"The mail hosts of {domain} ({listed}) have no address in DNS, so mail has nowhere to go.",
        preferred,
        checked_at,
    )
    ttl = min([mx.ttl, *(lookup.ttl for _, _, lookup in lookups)])
    return Decision(DomainVerdict(domain, verdict, named, provider=provider, checked_at=checked_at), ttl)


def _decide_implicit(domain: str, mx: MxLookup, lookup: AddressLookup, checked_at: str) -> Decision:
    """No MX records: the domain's own A/AAAA records make it its own mail host."""
    if points_home(domain, lookup.addresses):
        verdict = loops_back_verdict(domain, domain, lookup.addresses, checked_at, implicit=True)
        ttl = min(mx.ttl, lookup.ttl)
        return Decision(DomainVerdict(domain, verdict, implicit_mx=True, checked_at=checked_at), ttl)
    if lookup.addresses:
        ttl = min(mx.ttl, lookup.ttl) if lookup.complete else 0
        hosts = (MxHost(0, domain, lookup.addresses),)
        return Decision(DomainVerdict(domain, None, hosts, implicit_mx=True, checked_at=checked_at), ttl)
    if lookup.outcome.failed:
        verdict = _dns_error(domain, "the address", lookup.failure, "", checked_at)
        return Decision(DomainVerdict(domain, verdict, checked_at=checked_at), 0)
    verdict = _verdict(
        Status.UNDELIVERABLE,
        "550",
        "5.1.2",
        "no_mail_host",
        f"The domain {domain} exists but has neither an MX record nor an address, so no "
        "server receives its mail.",
        "",
        checked_at,
    )
    return Decision(DomainVerdict(domain, verdict, checked_at=checked_at), min(mx.ttl, lookup.ttl))


#: The sending machine's own addresses: a mail host there is the sender itself.
_OWN_LOOPBACK = frozenset({ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")})


def points_home(host: str, addresses: Iterable[str]) -> bool:
    """True when a mail host is the sending machine itself: it is named ``localhost`` (or
    ``localhost.`` anything) or one of its addresses is 127.0.0.1 or ::1.

    Other loopback addresses (127.0.0.2 ...) are not the sender's own: labs put mail hosts there.
    """
    name = host.rstrip(".").lower()
    if name == "localhost" or name.startswith("localhost."):
        return True
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        mapped = getattr(ip, "ipv4_mapped", None)
        if ip in _OWN_LOOPBACK or (mapped is not None and mapped in _OWN_LOOPBACK):
            return True
    return False


def loops_back_verdict(
    domain: str, host: str, addresses: Iterable[str], checked_at: str, *, implicit: bool = False
) -> Verdict:
    """554 5.4.6: the domain's mail would go to the sending machine itself (a routing loop,
    RFC 3463 X.4.6); a real MTA bounces it ("mail loops back to myself") instead of sending."""
    shown = ", ".join(addresses) or "no address"
    if implicit:
        where = f"The domain {domain} has no MX record and its own address ({shown}) is the sending machine itself"
    else:
        where = f"The preferred mail host of {domain}, {host} ({shown}), is the sending machine itself"
    return _verdict(
        Status.UNDELIVERABLE,
        "554",
        "5.4.6",
        "mx_loops_back",
        f"{where}: a sending mail server refuses to deliver there (mail loops back to itself) and bounces "
        "the message, so nothing was probed.",
        host,
        checked_at,
    )


def _loops_back(
    domain: str,
    mx: MxLookup,
    hosts: list[tuple[int, str]],
    addresses: Mapping[str, AddressLookup],
    host: str,
    checked_at: str,
) -> Decision:
    """The decision for a domain whose preferred mail host is the sending machine itself."""
    ttl = min([mx.ttl, *(addresses[name].ttl for _, name in hosts)])
    verdict = loops_back_verdict(domain, host, addresses[host].addresses, checked_at)
    named = tuple(MxHost(preference, name) for preference, name in hosts)
    provider = _provider(name for _, name in hosts)
    return Decision(DomainVerdict(domain, verdict, named, provider=provider, checked_at=checked_at), ttl)


def _provider(hosts: Iterable[str]) -> str:
    for host in hosts:
        name = identify_provider(host)
        if name:
            return name
    return ""


def is_public_address(address: str) -> bool:
    """True for an address routable on the internet (not loopback, private, reserved ...)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast


def apply_private_policy(domain: DomainVerdict, allow_private: bool) -> DomainVerdict:
    """Mark a mail-accepting domain ``risky`` when its preferred host has a non-public address.

    Such a domain looks fine in DNS but cannot receive mail from the internet (often a
    parked domain pointing at 127.0.0.1, or an intranet host leaking out). The forecast keeps
    the code the domain would otherwise get (``250``, no enhanced code) and says why it is
    risky. ``allow_private`` (``--allow-private-mx``, for labs and intranets) turns this off.
    """
    if allow_private or domain.verdict is not None or not domain.mx_hosts:
        return domain
    first = domain.mx_hosts[0]
    private = [a for a in first.addresses if not is_public_address(a)]
    if not private:
        return domain
    if domain.implicit_mx:
        where = f"The domain {domain.domain} has no MX record and its own address is {private[0]}"
    else:
        where = f"The mail host {first.host} of {domain.domain} resolves to {private[0]}"
    verdict = Verdict(
        Status.RISKY,
        "250",
        "2.0.0",
        "mx_private_address",
        f"{where}, a loopback, private or reserved address that senders on the internet cannot reach.",
        mx=first.host,
        checked_at=domain.checked_at,
    )
    return replace(domain, verdict=verdict)
