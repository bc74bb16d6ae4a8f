"""The sender checks' DNS questions, asked only of the run's configured resolver.

The sender checks need a few dozen questions (TXT for SPF, DKIM and DMARC, PTR and A for the
sending IPs, A for block-list zones), so a plain synchronous dnspython resolver does: it is
built with ``configure=False`` and given exactly the ``--nameserver`` addresses (or, without
them, the system's resolvers, as every other level of a run), never anything else. A failed
question is data (:class:`Answer` with ``error``), never an exception: the check that asked
says it could not decide.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver
import dns.reversename

from pipeline.dns.resolver import parse_nameserver, system_nameservers
from pipeline.options import DnsOptions


@dataclass(frozen=True, slots=True)
class Answer:
    """What one question got: ``values`` (as text), or none with ``missing`` or ``error`` said.

    ``missing`` is ``"nxdomain"`` or ``"nodata"`` for a name or type that does not exist;
    ``error`` is a sentence for a question that got no usable answer (timeout, SERVFAIL).
    """

    values: tuple[str, ...] = ()
    missing: str = ""
    error: str = ""

    @property
    def failed(self) -> bool:
        """The question got no usable answer (neither records nor a clean 'does not exist')."""
        return bool(self.error)


class SenderDns:
    """Asks TXT, A, AAAA, MX and PTR questions through the given resolvers only.

    ``asked`` counts the questions per type (the readiness report and the tests read it).
    """

    def __init__(self, nameservers: tuple[str, ...], timeout: float = 5.0) -> None:
        servers = [parse_nameserver(text) for text in nameservers] or system_nameservers()
        self.resolver = dns.resolver.Resolver(configure=False)
        self.resolver.nameservers = [dns.nameserver.Do53Nameserver(s.host, s.port) for s in servers]
        self.resolver.timeout = timeout
        self.resolver.lifetime = timeout * 2
        self.resolver.cache = dns.resolver.Cache()
        self.servers = tuple(str(s) for s in servers)
        self.asked: Counter[str] = Counter()

    @classmethod
    def of(cls, options: DnsOptions) -> SenderDns:
        """The client for a run's DNS options (``--nameserver``, ``--dns-timeout``)."""
        return cls(options.nameservers, options.timeout)

    def ask(self, name: str, rdtype: str) -> Answer:
        """One question; TXT values are their strings joined, as RFC 7208 §3.3 reads them."""
        self.asked[rdtype] += 1
        try:
            answer = self.resolver.resolve(name, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            return Answer(missing="nxdomain")
        except dns.resolver.NoAnswer:
            return Answer(missing="nodata")
        except dns.resolver.LifetimeTimeout:
            return Answer(error=f"no answer for {name} {rdtype} from {', '.join(self.servers)} in time")
        except dns.resolver.NoNameservers as exc:
            return Answer(error=f"the resolver could not answer {name} {rdtype} ({_first_line(exc)})")
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            return Answer(error=f"{name} {rdtype} could not be asked ({_first_line(exc)})")
        return Answer(tuple(_text(rdata, rdtype) for rdata in answer))

    def txt(self, name: str) -> Answer:
        """The TXT records of ``name``."""
        return self.ask(name, "TXT")

    def addresses(self, name: str) -> Answer:
        """The A and AAAA records of ``name`` together (an error on either is the answer's)."""
        four, six = self.ask(name, "A"), self.ask(name, "AAAA")
        if four.failed or six.failed:
            return four if four.failed else six
        values = four.values + six.values
        if values:
            return Answer(values)
        return Answer(missing="nxdomain" if four.missing == "nxdomain" else "nodata")

    def ptr(self, ip: str) -> Answer:
        """The PTR names of an IP address (without the trailing dot)."""
        return self.ask(dns.reversename.from_address(ip).to_text(), "PTR")


def _text(rdata: object, rdtype: str) -> str:
    if rdtype == "TXT":
        return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    if rdtype == "MX":
        return f"{rdata.preference} {rdata.exchange.to_text().rstrip('.').lower()}"  # type: ignore[attr-defined]
    if rdtype in ("PTR", "CNAME", "NS"):
        return rdata.target.to_text().rstrip(".").lower()  # type: ignore[attr-defined]
    return str(rdata)


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]
