"""The demo lab as one object: the DNS responder and the scripted mail hosts, together."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from pipeline.lab.dns_server import LabDnsServer
from pipeline.lab.hosts import DEMO_HOSTS, DNS_SERVFAIL, DNS_TIMEOUT, HostScript
from pipeline.lab.mail_hosts import LabMailHosts

_HERE = Path(__file__).resolve().parent
DEMO_ZONE = _HERE / "demo.zone"
#: The lab's stand-ins for big providers' MX names (``gmail-smtp-in.l.google.com``): never the real ones.
DEMO_PROVIDER_ZONE = _HERE / "providers.zone"
DEMO_LIST = _HERE / "demo.csv"
DEMO_EXPECTED = _HERE / "demo.expected.csv"


class Lab:
    """Starts the lab's DNS responder (127.0.0.1, a free port) and its mail hosts.

    The mail hosts share one free port, :attr:`smtp_port`, each on its own 127.0.0.N
    address; point a resolver at :attr:`nameserver` and a prober at :attr:`smtp_port`.
    Everything listens on loopback only and stops when the ``with`` block ends.
    """

    def __init__(
        self,
        zone_file: Path = DEMO_ZONE,
        extra_zones: Sequence[Path] = (DEMO_PROVIDER_ZONE,),
        hosts: Sequence[HostScript] = DEMO_HOSTS,
        servfail: frozenset[str] = DNS_SERVFAIL,
        timeout: frozenset[str] = DNS_TIMEOUT,
    ) -> None:
        self.dns = LabDnsServer(zone_file, extra_zones=extra_zones, servfail=servfail, timeout=timeout)
        try:
            self.mail = LabMailHosts(hosts)
        except BaseException:
            self.dns.stop()
            raise

    @property
    def nameserver(self) -> str:
        """``127.0.0.1:PORT`` of the DNS responder."""
        return self.dns.nameserver

    @property
    def smtp_port(self) -> int:
        """The port every scripted mail host listens on."""
        return self.mail.port

    def start(self) -> Lab:
        """Start both halves."""
        self.dns.start()
        try:
            self.mail.start()
        except BaseException:
            self.dns.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both halves."""
        try:
            self.mail.stop()
        finally:
            self.dns.stop()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
