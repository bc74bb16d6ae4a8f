"""A small authoritative DNS responder on loopback, built on dnspython, for the demo lab.

It serves one zone file (or several, each with its own origin) over UDP and TCP and pretends
to be the only DNS there is: names outside the zones get NXDOMAIN. Chosen names can be made
to fail with SERVFAIL or to get no answer at all (a timeout). It runs in a background
thread; use it as a context manager.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

_MAX_CNAME_CHAIN = 8


class LabDnsServer:
    """Answers DNS queries from a zone file on ``host`` (a free port unless ``port`` given)."""

    def __init__(
        self,
        zone_file: Path,
        *,
        extra_zones: Iterable[Path] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        servfail: Iterable[str] = (),
        timeout: Iterable[str] = (),
    ) -> None:
        self.zone = dns.zone.from_file(str(zone_file), relativize=False, check_origin=True)
        origin = self.zone.origin
        if origin is None:
            raise ValueError(f"{zone_file}: the zone has no origin")
        self.origin: dns.name.Name = origin
        #: every zone served, the first one's first; a name is answered from the deepest origin
        extra = (dns.zone.from_file(str(path), relativize=False, check_origin=True) for path in extra_zones)
        self.zones = [self.zone, *extra]
        self.servfail = {dns.name.from_text(n) for n in servfail}
        self.silent = {dns.name.from_text(n) for n in timeout}
        self.queries = 0
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind((host, port))
        self.host, self.port = self._udp.getsockname()[:2]
        self._tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._tcp.bind((host, self.port))
        self._tcp.listen(16)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="presend-lab-dns", daemon=True)

    @property
    def nameserver(self) -> str:
        """The ``IP:PORT`` string a resolver is pointed at."""
        return f"{self.host}:{self.port}"

    def start(self) -> LabDnsServer:
        """Start answering in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and close the sockets."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._udp.close()
        self._tcp.close()

    def __enter__(self) -> LabDnsServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- serving -------------------------------------------------------------------------

    def _serve(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self._udp, selectors.EVENT_READ, "udp")
            selector.register(self._tcp, selectors.EVENT_READ, "tcp")
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.1):
                    if key.data == "udp":
                        self._serve_udp()
                    else:
                        self._serve_tcp()

    def _serve_udp(self) -> None:
        try:
            wire, peer = self._udp.recvfrom(65535)
        except OSError:
            return
        answer = self.answer(wire, max_size=512)
        if answer is not None:
            with contextlib.suppress(OSError):
                self._udp.sendto(answer, peer)

    def _serve_tcp(self) -> None:
        try:
            conn, _ = self._tcp.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(2.0)
            try:
                (length,) = struct.unpack("!H", _recv_exactly(conn, 2))
                answer = self.answer(_recv_exactly(conn, length), max_size=65535)
                if answer is not None:
                    conn.sendall(struct.pack("!H", len(answer)) + answer)
            except (OSError, struct.error, EOFError):
                return

    # -- answering (no I/O) --------------------------------------------------------------

    def answer(self, wire: bytes, max_size: int = 512) -> bytes | None:
        """The response to one query in wire form, or None to stay silent."""
        self.queries += 1
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        qname = question.name
        if qname in self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.RA
        if qname in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
            return response.to_wire(max_size=max_size)
        response.flags |= dns.flags.AA
        self._fill(response, qname, question.rdtype)
        return response.to_wire(max_size=max_size)

    def _fill(self, response: dns.message.Message, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> None:
        name = qname
        for _ in range(_MAX_CNAME_CHAIN):
            zone = self._zone_of(name)
            if zone is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(response, self.zone)
                return
            node = zone.get_node(name)
            if node is None:
                if not self._has_descendant(zone, name):
                    response.set_rcode(dns.rcode.NXDOMAIN)
                self._add_soa(response, zone)
                return
            rdataset = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rdataset is not None:
                response.answer.append(_rrset(name, rdataset))
                return
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None or rdtype == dns.rdatatype.CNAME:
                self._add_soa(response, zone)  # NOERROR with no data
                return
            response.answer.append(_rrset(name, cname))
            name = cname[0].target
        response.set_rcode(dns.rcode.SERVFAIL)

    def _zone_of(self, name: dns.name.Name) -> dns.zone.Zone | None:
        """The zone with the deepest origin above ``name``, or None outside every zone."""
        holding = [zone for zone in self.zones if zone.origin is not None and name.is_subdomain(zone.origin)]
        return max(holding, key=lambda zone: len(zone.origin or dns.name.root), default=None)

    @staticmethod
    def _has_descendant(zone: dns.zone.Zone, name: dns.name.Name) -> bool:
        return any(other != name and other.is_subdomain(name) for other in zone.nodes)

    @staticmethod
    def _add_soa(response: dns.message.Message, zone: dns.zone.Zone) -> None:
        origin = zone.origin or dns.name.root
        soa = zone.get_rdataset(origin, dns.rdatatype.SOA)
        if soa is not None:
            response.authority.append(_rrset(origin, soa))


def _rrset(name: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype)
    rrset.update(rdataset)
    return rrset


def _recv_exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data
