"""A real recursive DNS service on loopback, for tests, benchmarks and demos.

NSD is authoritative for a lab root zone built from the records you give; Unbound recurses
from it (``stub-zone "."``), so NXDOMAIN, NODATA, TTLs, CNAME chasing and SERVFAIL come from
real servers. Two kinds of trouble can be wired in by zone name:

- ``slow_zones``: Unbound reaches these through a forwarder that holds each query for
  ``slow_delay`` seconds, so a client with a shorter timeout sees a timeout (while Unbound
  keeps a healthy view of the server and never gives up on it);
- ``dead_zones``: delegated to a UDP socket that reads nothing and never answers; Unbound
  times out and, once it has given up on that server, answers SERVFAIL.

A delegation in the records to a name server whose name does not resolve (``broken.example.
NS ns.nowhere.example.``) gives a prompt, real SERVFAIL.

Addresses: everything lives in 127.0.1.0/24 (NSD .1, Unbound .2, slow forwarder .4,
black hole .9) on one port picked at start unless given, so two sessions do not clash.

In a test (``require_binary`` skips loudly, or fails under CI, when a daemon is missing)::

    from tests.conftest import require_binary
    from tests.lab.dnslab import DnsLab

    @pytest.fixture(scope="module")
    def dns_lab(tmp_path_factory):
        records = ["alpha.example. MX 10 mx.alpha.example.", "mx.alpha.example. A 127.0.2.10"]
        with DnsLab(records, tmp_path_factory.mktemp("dns"),
                    nsd_binary=require_binary("nsd"), unbound_binary=require_binary("unbound")) as lab:
            yield lab      # lab.nameserver == "127.0.1.2:PORT": pass it as --nameserver

Starting takes well under two seconds; ``stop()`` (or leaving the ``with``) ends every process.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from .delayer import Delayer

NSD_HOST = "127.0.1.1"
UNBOUND_HOST = "127.0.1.2"
SLOW_HOST = "127.0.1.4"
BLACKHOLE_HOST = "127.0.1.9"
_HOSTS = (NSD_HOST, UNBOUND_HOST, SLOW_HOST, BLACKHOLE_HOST)


class LabError(RuntimeError):
    """The lab could not start."""


def find_binary(name: str) -> str | None:
    """Path of a daemon binary (they live in /usr/sbin, often outside PATH)."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/sbin", "/usr/local/sbin"):
        candidate = Path(folder) / name
        if candidate.exists():
            return str(candidate)
    return None


def _port_is_free(port: int, hosts: Iterable[str]) -> bool:
    for host in hosts:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as probe:
                try:
                    probe.bind((host, port))
                except OSError:
                    return False
    return True


def pick_port(hosts: Iterable[str] = _HOSTS) -> int:
    """A port free for UDP and TCP on every lab address."""
    wanted = tuple(hosts)
    for _ in range(200):
        port = random.randint(20000, 60000)
        if _port_is_free(port, wanted):
            return port
    raise LabError("no free port found for the DNS lab")


def root_rcode(host: str, port: int, timeout: float = 0.2) -> int | None:
    """The rcode a DNS server at host:port gives for the root SOA, or None without answer."""
    query = dns.message.make_query(".", dns.rdatatype.SOA)
    try:
        return dns.query.udp(query, host, port=port, timeout=timeout).rcode()
    except (OSError, dns.exception.DNSException):
        return None


def answers(host: str, port: int, timeout: float = 0.2) -> bool:
    """True when a DNS server at host:port answers a query for the root SOA."""
    return root_rcode(host, port, timeout) is not None


class DnsLab:
    """NSD + Unbound on loopback, serving a root zone made of ``records``.

    ``records`` are zone-file lines; owner names are taken relative to the root, so
    ``alpha.example`` and ``alpha.example.`` mean the same. The lab adds the root's SOA
    (its minimum, ``negative_ttl``, bounds negative caching) and NS records.
    """

    def __init__(
        self,
        records: Iterable[str],
        workdir: Path,
        *,
        port: int | None = None,
        default_ttl: int = 3600,
        negative_ttl: int = 300,
        slow_zones: Iterable[str] = (),
        slow_delay: float = 2.0,
        dead_zones: Iterable[str] = (),
        nsd_binary: str | None = None,
        unbound_binary: str | None = None,
    ) -> None:
        self.records = list(records)
        self.workdir = Path(workdir)
        self.port = port or 0
        self.default_ttl = default_ttl
        self.negative_ttl = negative_ttl
        self.slow_zones = [z.rstrip(".") + "." for z in slow_zones]
        self.slow_delay = slow_delay
        self.dead_zones = [z.rstrip(".") + "." for z in dead_zones]
        self.nsd_binary = nsd_binary or find_binary("nsd")
        self.unbound_binary = unbound_binary or find_binary("unbound")
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._slow: Delayer | None = None
        self._blackhole: socket.socket | None = None

    # --- addresses -----------------------------------------------------------------------

    @property
    def nameserver(self) -> str:
        """The recursive resolver (Unbound) as ``IP:PORT`` — what clients should use."""
        return f"{UNBOUND_HOST}:{self.port}"

    @property
    def authoritative(self) -> str:
        """The authoritative server (NSD) as ``IP:PORT``."""
        return f"{NSD_HOST}:{self.port}"

    @property
    def blackhole(self) -> str:
        """An address that takes DNS queries and never answers, as ``IP:PORT``."""
        return f"{BLACKHOLE_HOST}:{self.port}"

    # --- life cycle ----------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> DnsLab:
        """Write the configs, start everything, and wait until Unbound answers.

        When the port was picked here and another process grabs it between the check and
        the bind, the lab tries again on another port (three attempts).
        """
        if not self.nsd_binary or not self.unbound_binary:
            raise LabError("nsd and unbound must be installed (scripts/apt/dns.txt)")
        picked = not self.port
        for attempt in range(3 if picked else 1):
            if picked:
                self.port = pick_port()
            try:
                self._start_once(timeout)
                return self
            except (RuntimeError, OSError):  # LabError, or a port lost to another process
                self.stop()
                if attempt == (2 if picked else 0):
                    raise
            except BaseException:
                self.stop()
                raise
        return self

    def _start_once(self, timeout: float) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_configs()
        self._blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._blackhole.bind((BLACKHOLE_HOST, self.port))
        self._launch("nsd", [self.nsd_binary or "nsd", "-d", "-c", str(self.workdir / "nsd.conf")])
        self._wait(NSD_HOST, "nsd", timeout)
        if self.slow_zones:
            self._slow = Delayer(f"{SLOW_HOST}:{self.port}", self.authoritative, self.slow_delay)
            self._slow.start()
        self._launch("unbound", [self.unbound_binary or "unbound", "-d", "-c", str(self.workdir / "unbound.conf")])
        self._wait(UNBOUND_HOST, "unbound", timeout)

    def stop(self) -> None:
        """Stop every process the lab started and close the black hole."""
        for name in ("unbound", "nsd"):
            process = self._processes.pop(name, None)
            if process is None:
                continue
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._slow is not None:
            self._slow.stop()
            self._slow = None
        if self._blackhole is not None:
            self._blackhole.close()
            self._blackhole = None

    def __enter__(self) -> DnsLab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- internals -----------------------------------------------------------------------

    def _launch(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.out").open("wb")
        try:
            self._processes[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()

    def _wait(self, host: str, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        process = self._processes[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise LabError(f"{name} exited at start (status {process.returncode}): {self._log_tail(name)}")
            rcode = root_rcode(host, self.port)
            if rcode == dns.rcode.NOERROR:
                return
            if rcode is not None and name == "nsd":
                # NSD serves only after loading its zones: anything but NOERROR means the
                # lab zone did not load (a bad record).
                status = dns.rcode.to_text(dns.rcode.Rcode(rcode))
                raise LabError(f"nsd did not load the lab zone ({status}): {self._log_tail(name)}")
            time.sleep(0.02)
        raise LabError(f"{name} did not answer on {host}:{self.port} within {timeout}s: {self._log_tail(name)}")

    def _log_tail(self, name: str) -> str:
        text = ""
        for path in (self.workdir / f"{name}.out", self.workdir / f"{name}.log"):
            if path.exists():
                text += path.read_text(errors="replace")
        return " | ".join(text.strip().splitlines()[-5:])

    def _write_configs(self) -> None:
        d = self.workdir
        (d / "nsd.log").unlink(missing_ok=True)  # so an error report shows this start only
        zone = [
            f"$TTL {self.default_ttl}",
            "$ORIGIN .",
            f". IN SOA ns.lab. hostmaster.lab. 1 3600 600 86400 {self.negative_ttl}",
            ". IN NS ns.lab.",
            f"ns.lab. IN A {NSD_HOST}",
            *self.records,
        ]
        (d / "root.zone").write_text("\n".join(zone) + "\n")
        (d / "nsd.conf").write_text(
            f"""server:
    ip-address: {NSD_HOST}@{self.port}
    do-ip6: no
    username: ""
    chroot: ""
    zonesdir: "{d}"
    zonelistfile: "{d}/zone.list"
    database: ""
    xfrdfile: "{d}/xfrd.state"
    xfrdir: "{d}"
    pidfile: "{d}/nsd.pid"
    logfile: "{d}/nsd.log"
    server-count: 1
    verbosity: 0
    refuse-any: yes
remote-control:
    control-enable: no
zone:
    name: "."
    zonefile: "{d}/root.zone"
"""
        )
        stubs = [("." , f"{NSD_HOST}@{self.port}")]
        stubs += [(z, f"{SLOW_HOST}@{self.port}") for z in self.slow_zones]
        stubs += [(z, f"{BLACKHOLE_HOST}@{self.port}") for z in self.dead_zones]
        stub_text = "".join(
            f'stub-zone:\n    name: "{name}"\n    stub-addr: {addr}\n' for name, addr in stubs
        )
        (d / "unbound.conf").write_text(
            f"""server:
    verbosity: 0
    interface: {UNBOUND_HOST}@{self.port}
    port: {self.port}
    do-ip4: yes
    do-ip6: no
    do-udp: yes
    do-tcp: yes
    access-control: 127.0.0.0/8 allow
    username: ""
    chroot: ""
    directory: "{d}"
    pidfile: "{d}/unbound.pid"
    logfile: ""
    use-syslog: no
    num-threads: 1
    so-reuseport: no
    module-config: "iterator"
    do-not-query-localhost: no
    # The lab's PTR records for loopback sending IPs come from the root zone, not Unbound's own.
    local-zone: "127.in-addr.arpa." nodefault
    qname-minimisation: no
    harden-referral-path: no
    prefetch: no
    serve-expired: no
    minimal-responses: yes
    num-queries-per-thread: 4096
    outgoing-range: 8192
    msg-cache-size: 64m
    rrset-cache-size: 128m
remote-control:
    control-enable: no
{stub_text}"""
        )
