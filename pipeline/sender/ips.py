"""The sending IPs: reverse DNS confirmed forward (FCrDNS) and DNS block lists (RFC 5782)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from importlib import resources

from pipeline.sender.lookup import SenderDns


@dataclass(frozen=True, slots=True)
class ReverseDns:
    """An IP's PTR names and whether one of them resolves back to it.

    ``state``: ``confirmed`` (FCrDNS), ``mismatch`` (PTR names whose addresses are not the
    IP), ``missing`` (no PTR) or ``unchecked`` (the lookup failed).
    """

    ip: str
    state: str
    why: str
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Listing:
    """One IP in one block-list zone: ``state`` listed, clear or unchecked."""

    ip: str
    zone: str
    state: str
    why: str


def default_zones() -> tuple[str, ...]:
    """The documented default block-list zones (``pipeline/data/dnsbl_zones.txt``)."""
    text = resources.files("pipeline").joinpath("data/dnsbl_zones.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def reverse_dns(dns: SenderDns, ip: str) -> ReverseDns:
    """The IP's PTR, and the forward lookup of each name it gives (RFC 8601 §3 'iprev')."""
    answer = dns.ptr(ip)
    if answer.failed:
        return ReverseDns(ip, "unchecked", answer.error)
    if not answer.values:
        return ReverseDns(ip, "missing", f"{ip} has no PTR record")
    wanted = ipaddress.ip_address(ip)
    for name in answer.values:
        forward = dns.addresses(name)
        if forward.failed:
            return ReverseDns(ip, "unchecked", forward.error, answer.values)
        if any(ipaddress.ip_address(value) == wanted for value in forward.values):
            return ReverseDns(ip, "confirmed", f"{ip} → {name} → {ip}", answer.values)
    names = ", ".join(answer.values)
    return ReverseDns(ip, "mismatch", f"{ip} has PTR {names}, which does not resolve back to {ip}", answer.values)


def dnsbl_name(ip: str, zone: str) -> str:
    """The name to ask for ``ip`` in ``zone``: reversed octets (or nibbles for IPv6)."""
    address = ipaddress.ip_address(ip)
    labels = str(address).split(".") if address.version == 4 else list(address.exploded.replace(":", ""))
    return ".".join(reversed(labels)) + "." + zone.strip(".")


def listing(dns: SenderDns, ip: str, zone: str) -> Listing:
    """Whether ``ip`` is listed in ``zone`` (an A record in 127.0.0.0/8, RFC 5782 §2.1)."""
    answer = dns.ask(dnsbl_name(ip, zone), "A")
    if answer.failed:
        return Listing(ip, zone, "unchecked", answer.error)
    if not answer.values:
        return Listing(ip, zone, "clear", f"{ip} is not listed in {zone}")
    codes = [value for value in answer.values if value.startswith("127.")]
    if not codes or all(value.startswith("127.255.255.") for value in codes):
        # Not a listing: an error code (Spamhaus' 127.255.255.x refuses the resolver).
        return Listing(ip, zone, "unchecked", f"{zone} answered {', '.join(answer.values)}, which is no listing")
    reason = dns.txt(dnsbl_name(ip, zone))
    why = f": {reason.values[0]}" if reason.values else ""
    return Listing(ip, zone, "listed", f"{ip} is listed in {zone} ({', '.join(codes)}){why}")
