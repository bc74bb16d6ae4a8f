"""SPF: the From/envelope domain's record, evaluated for one sending IP (RFC 7208 ``check_host``).

Our own evaluator on :class:`~pipeline.sender.lookup.SenderDns`, so every question goes to the
run's configured resolver. (pyspf answers through a module-wide DNS function that must be
patched for a resolver on another port and was last released in 2020; checkdmarc parses and
counts lookups but does not evaluate a record for an IP. See docs/sender.md.)

What it implements: the mechanisms ``all``, ``include``, ``a``, ``mx``, ``ptr``, ``ip4``,
``ip6``, ``exists`` with their qualifiers and CIDR lengths, the ``redirect`` modifier, macros
(§7), the limit of 10 DNS-querying terms (§4.6.4), of 10 names per ``mx``/``ptr`` and of two
void lookups. ``exp`` is read past (the explanation text is for a receiver's bounce).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote

from pipeline.sender.lookup import Answer, SenderDns

#: RFC 7208 §4.6.4: terms that cause DNS lookups, at most, per check_host.
LOOKUP_LIMIT = 10
#: RFC 7208 §4.6.4: lookups that return no record (NXDOMAIN or no data), at most.
VOID_LIMIT = 2
_NAME_LIMIT = 10
_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
#: a term: qualifier, name, then ``:value`` or ``=value``, or a CIDR length (``a/24``, ``mx//64``)
_TERM = re.compile(r"^([+\-~?]?)([a-z][a-z0-9_.\-]*)(?:([:=])(.*)|(/.*))?$", re.IGNORECASE)


class SpfResult(StrEnum):
    """The seven results of RFC 7208 §2.6."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


@dataclass(frozen=True, slots=True)
class SpfOutcome:
    """The result for one IP, the top record (or "") and a sentence of why."""

    result: SpfResult
    record: str
    why: str
    lookups: int = 0


class _Abort(Exception):
    """Evaluation stops with a permerror or temperror."""

    def __init__(self, result: SpfResult, why: str) -> None:
        super().__init__(why)
        self.result = result
        self.why = why


def find_record(dns: SenderDns, domain: str) -> tuple[str | None, Answer]:
    """The one ``v=spf1`` TXT record of ``domain`` (None when there is none), and the answer.

    Raises :class:`_Abort` for a failed lookup (temperror) or two records (permerror, §4.5).
    """
    answer = dns.txt(domain)
    if answer.failed:
        raise _Abort(SpfResult.TEMPERROR, answer.error)
    records = [v for v in answer.values if v.lower() == "v=spf1" or v.lower().startswith("v=spf1 ")]
    if len(records) > 1:
        raise _Abort(SpfResult.PERMERROR, f"{domain} publishes {len(records)} SPF records; exactly one is allowed")
    return (records[0] if records else None), answer


def check_spf(dns: SenderDns, ip: str, domain: str, sender: str) -> SpfOutcome:
    """The SPF result of mail from ``sender`` (envelope address) at ``domain`` sent from ``ip``."""
    run = _Evaluation(dns, ipaddress.ip_address(ip), sender)
    try:
        record, _ = find_record(dns, domain)
    except _Abort as stop:
        return SpfOutcome(stop.result, "", stop.why)
    if record is None:
        return SpfOutcome(SpfResult.NONE, "", f"{domain} publishes no SPF record")
    try:
        result, why = run.check_host(domain, record)
    except _Abort as stop:
        return SpfOutcome(stop.result, record, stop.why, run.lookups)
    return SpfOutcome(result, record, why, run.lookups)


class _Evaluation:
    """One check_host run: its lookup counters are shared by every include and redirect."""

    def __init__(self, dns: SenderDns, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, sender: str) -> None:
        self.dns = dns
        self.ip = ip
        self.sender = sender
        self.lookups = 0
        self.voids = 0

    def count(self) -> None:
        self.lookups += 1
        if self.lookups > LOOKUP_LIMIT:
            raise _Abort(SpfResult.PERMERROR, f"more than {LOOKUP_LIMIT} DNS-querying terms (RFC 7208 §4.6.4)")

    def ask(self, name: str, rdtype: str) -> tuple[str, ...]:
        answer = self.dns.ask(name, rdtype) if rdtype != "ADDR" else self._addresses(name)
        if answer.failed:
            raise _Abort(SpfResult.TEMPERROR, answer.error)
        if not answer.values:
            self.voids += 1
            if self.voids > VOID_LIMIT:
                raise _Abort(SpfResult.PERMERROR, f"more than {VOID_LIMIT} lookups found nothing (RFC 7208 §4.6.4)")
        return answer.values

    def _addresses(self, name: str) -> Answer:
        return self.dns.ask(name, "A" if self.ip.version == 4 else "AAAA")

    def check_host(self, domain: str, record: str) -> tuple[SpfResult, str]:
        terms = record.split()[1:]
        redirect = None
        parsed = []
        for term in terms:
            match = _TERM.match(term)
            if not match:
                raise _Abort(SpfResult.PERMERROR, f"{domain}: the term {term!r} is not SPF syntax")
            qualifier, name, sep, value, cidr = match.groups()
            value = cidr or value
            name = name.lower()
            if sep == "=":
                if name == "redirect":
                    redirect = value
                continue  # exp= and unknown modifiers are read past (§6)
            if name not in _MECHANISMS:
                raise _Abort(SpfResult.PERMERROR, f"{domain}: unknown mechanism {name!r}")
            parsed.append((qualifier or "+", name, value or ""))
        for qualifier, name, value in parsed:
            if self.matches(domain, name, value):
                result = SpfResult(_QUALIFIERS[qualifier])
                term = f"{qualifier.strip('+')}{name}{':' + value if value else ''}"
                return result, f"{self.ip} matched {term} of {domain}"
        if redirect is not None:
            self.count()
            target = self.expand(redirect, domain)
            found, _ = find_record(self.dns, target)
            if found is None:
                raise _Abort(SpfResult.PERMERROR, f"{domain} redirects to {target}, which has no SPF record")
            return self.check_host(target, found)
        return SpfResult.NEUTRAL, f"no term of {domain}'s SPF record matched {self.ip}"

    def matches(self, domain: str, name: str, value: str) -> bool:
        if name == "all":
            return True
        if name in ("ip4", "ip6"):
            return self._in_network(value, name)
        if name == "include":
            return self._include(domain, value)
        self.count()
        target, four, six = self._target(domain, value, name)
        if name == "a":
            return self._any_in(self.ask(target, "ADDR"), four, six)
        if name == "mx":
            return self._mx(target, four, six)
        if name == "ptr":
            return self._ptr(target)
        return bool(self.ask(target, "A"))  # exists: any A record at all (§5.7)

    def _include(self, domain: str, value: str) -> bool:
        self.count()
        target = self.expand(value, domain)
        found, _ = find_record(self.dns, target)
        if found is None:
            raise _Abort(SpfResult.PERMERROR, f"{domain} includes {target}, which has no SPF record")
        result, _ = self.check_host(target, found)
        return result is SpfResult.PASS

    def _target(self, domain: str, value: str, name: str) -> tuple[str, int | None, int | None]:
        spec, four, six = value, None, None
        if "//" in spec:
            spec, _, text = spec.rpartition("//")
            six = _length(text, 128)
        if "/" in spec and name != "exists":
            spec, _, text = spec.rpartition("/")
            four = _length(text, 32)
        return (self.expand(spec, domain) if spec else domain), four, six

    def _in_network(self, value: str, name: str) -> bool:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise _Abort(SpfResult.PERMERROR, f"{name}:{value} is not a network") from None
        if (name == "ip4") != (network.version == 4):
            raise _Abort(SpfResult.PERMERROR, f"{name}:{value} is the wrong address family")
        return self.ip.version == network.version and self.ip in network

    def _any_in(self, addresses: tuple[str, ...], four: int | None, six: int | None) -> bool:
        length = (four if four is not None else 32) if self.ip.version == 4 else (six if six is not None else 128)
        network = ipaddress.ip_network(f"{self.ip}/{length}", strict=False)
        return any(
            ipaddress.ip_address(a) in network for a in addresses if ipaddress.ip_address(a).version == self.ip.version
        )

    def _mx(self, target: str, four: int | None, six: int | None) -> bool:
        hosts = [value.partition(" ")[2].strip() for value in self.ask(target, "MX")]
        if len(hosts) > _NAME_LIMIT:
            raise _Abort(SpfResult.PERMERROR, f"{target} has more than {_NAME_LIMIT} MX hosts (RFC 7208 §4.6.4)")
        return any(self._any_in(self.ask(host, "ADDR"), four, six) for host in hosts if host)

    def _ptr(self, target: str) -> bool:
        answer = self.dns.ptr(str(self.ip))
        for name in answer.values[:_NAME_LIMIT]:
            addresses = self._addresses(name).values
            if str(self.ip) in addresses and (name == target or name.endswith("." + target)):
                return True
        return False

    def expand(self, spec: str, domain: str) -> str:
        """The domain-spec with its macros expanded (RFC 7208 §7)."""
        out: list[str] = []
        i = 0
        while i < len(spec):
            char = spec[i]
            if char != "%":
                out.append(char)
                i += 1
                continue
            nxt = spec[i + 1 : i + 2]
            if nxt == "%":
                out.append("%")
            elif nxt == "_":
                out.append(" ")
            elif nxt == "-":
                out.append("%20")
            elif nxt == "{":
                end = spec.find("}", i)
                if end < 0:
                    raise _Abort(SpfResult.PERMERROR, f"unclosed macro in {spec!r}")
                out.append(self._macro(spec[i + 2 : end], domain))
                i = end + 1
                continue
            else:
                raise _Abort(SpfResult.PERMERROR, f"bad macro in {spec!r}")
            i += 2
        return "".join(out).rstrip(".")

    def _macro(self, body: str, domain: str) -> str:
        match = re.fullmatch(r"([slodiphcrtv])(\d*)(r?)([.\-+,/_=]*)", body, re.IGNORECASE)
        if not match:
            raise _Abort(SpfResult.PERMERROR, f"bad macro %{{{body}}}")
        letter, digits, reverse, delimiters = match.groups()
        local, _, sender_domain = self.sender.rpartition("@")
        values = {
            "s": self.sender,
            "l": local or "postmaster",
            "o": sender_domain,
            "d": domain,
            "i": _dotted(self.ip),
            "p": "unknown",
            "h": sender_domain,
            "c": str(self.ip),
            "r": "unknown",
            "t": "0",
            "v": "in-addr" if self.ip.version == 4 else "ip6",
        }
        value = values[letter.lower()]
        parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
        if reverse:
            parts.reverse()
        if digits:
            parts = parts[-int(digits) :] if int(digits) else parts
        text = ".".join(parts)
        return quote(text, safe="") if letter.isupper() else text


def _dotted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.version == 4:
        return str(ip)
    return ".".join(ip.exploded.replace(":", ""))


def _length(text: str, most: int) -> int:
    if not text.isdigit() or int(text) > most:
        raise _Abort(SpfResult.PERMERROR, f"bad CIDR length /{text}")
    return int(text)
