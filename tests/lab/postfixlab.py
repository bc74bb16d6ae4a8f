"""A real Postfix (+ postgrey) on loopback, as several mail hosts at once.

One private Postfix instance: its own config directory, queue and data directories in a
temporary folder, several ``smtpd`` listeners in master.cf (``127.0.2.N:25``), each a
different "mail host" through ``-o`` overrides (restrictions, ``smtputf8_enable``, recipient
limits, TLS ...). Every lab domain is a virtual mailbox domain, so unknown users get Postfix's
own ``550 5.1.1``; access maps answer 452 / 552 / 551 / 553 / 451; client access answers
421 and 554 at connect; postgrey greylists one listener. Nothing is ever delivered
(``virtual_transport = discard``; the probe never sends DATA anyway).

Recipe notes (Postfix 3.7, Debian), learnt the hard way:
- ``postfix -c DIR start`` as root works without touching /etc/postfix; only set-gid tools
  (postdrop, postqueue) need ``alternate_config_directories`` in the default main.cf, and the
  lab uses none of them.
- There is no syslog: ``maillog_file`` + a ``postlog`` service in master.cf, and
  ``maillog_file_prefixes`` must allow the temporary folder.
- ``data_directory`` must belong to ``mail_owner``; every parent folder must be traversable
  by it (so the lab lives in a 0755 folder under /tmp, not in pytest's 0700 tmp_path).
- ``smtpd_peername_lookup = no`` keeps smtpd from any DNS lookup (the lab is loopback only).
- ``in_flow_delay = 0s``: a probe opens queue files it never fills; with the default (1s)
  Postfix slows every transaction after ~50 of them, which a real server may do too.
- Restrictions given per listener are named parameters in main.cf referenced with ``-o``
  (master.cf ``-o`` values cannot hold spaces).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

#: Loopback block reserved for the Postfix lab (scripted aiosmtpd hosts use 127.0.3.0/24).
LAB_NET = "127.0.2"
POSTGREY_ADDRESS = ("127.0.2.100", 10023)
LAB_SENDER = "probe@presend-lab.example"

_SERVICES = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


@dataclass(frozen=True)
class Listener:
    """One mail host: an smtpd listener on ``address:port`` with per-listener overrides."""

    name: str
    address: str
    overrides: dict[str, str] = field(default_factory=dict)
    note: str = ""
    port: int = 25  # 587 for a submission relay (tests/lab/relaylab.py)

    @property
    def host(self) -> str:
        """The host name this listener plays (what MX records point at)."""
        return f"{self.name}.lab.example"


@dataclass
class LabSpec:
    """What the lab serves: listeners, mailboxes, access maps, extra main.cf parameters."""

    listeners: list[Listener]
    mailboxes: dict[str, list[str]] = field(default_factory=dict)  # domain -> local parts ("@" = catch-all)
    recipient_access: dict[str, str] = field(default_factory=dict)  # address -> "4NN/5NN text"
    sender_access: dict[str, str] = field(default_factory=dict)
    client_access: dict[str, dict[str, str]] = field(default_factory=dict)  # table name -> {client: action}
    main: dict[str, str] = field(default_factory=dict)  # extra main.cf parameters
    greylist_delay: int | None = None  # start postgrey with this delay (seconds)
    tls: bool = False  # make a certificate for smtpd_tls_* parameters
    tables: dict[str, dict[str, str]] = field(default_factory=dict)  # more texthash tables: name -> {key: value}
    folders: tuple[str, ...] = ()  # folders made under the lab's root, owned by mail_owner (mailboxes)
    services: str = ""  # more master.cf lines (delivery agents a relay needs: smtp, virtual)


class PostfixLab:
    """Start and stop one private Postfix instance (and postgrey) described by a :class:`LabSpec`."""

    def __init__(self, spec: LabSpec, postfix: str = "postfix", postgrey: str = "postgrey") -> None:
        self.spec = spec
        self.postfix = postfix
        self.postgrey_bin = postgrey
        self.root = Path(tempfile.mkdtemp(prefix="presend-postfix-"))
        self.root.chmod(0o755)
        self.conf = self.root / "conf"
        self._postgrey: subprocess.Popen[bytes] | None = None
        self.started = False

    def __enter__(self) -> PostfixLab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def maillog(self) -> Path:
        """Postfix's log file (there is no syslog)."""
        return self.root / "maillog"

    def log_text(self) -> str:
        """The maillog so far (for failure messages)."""
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""

    def write_config(self) -> None:
        """Write main.cf, master.cf and the lookup tables."""
        spec = self.spec
        for sub in ("conf", "queue", "data", "grey"):
            (self.root / sub).mkdir(exist_ok=True)
        shutil.chown(self.root / "data", user="postfix")
        tables = {
            "vmailbox": "".join(
                f"{'' if local == '@' else local}@{domain} ok\n"  # "@domain" is a catch-all entry
                for domain, locals_ in spec.mailboxes.items()
                for local in locals_
            ),
            "empty": "",
            "recipient_access": "".join(f"{k} {v}\n" for k, v in spec.recipient_access.items()),
            "sender_access": "".join(f"{k} {v}\n" for k, v in spec.sender_access.items()),
        }
        for name, rows in (spec.client_access | spec.tables).items():
            tables[name] = "".join(f"{k} {v}\n" for k, v in rows.items())
        for folder in spec.folders:
            (self.root / folder).mkdir(exist_ok=True)
            shutil.chown(self.root / folder, user="postfix", group="postfix")
        for name, text in tables.items():
            (self.conf / name).write_text(text, encoding="utf-8")
        main = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.root / "queue"),
            "data_directory": str(self.root / "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": f"/var, /dev/stdout, {self.root}",
            "inet_interfaces": "all",
            "inet_protocols": "ipv4",
            "myhostname": "postfix.lab.example",
            "mydomain": "lab.example",
            "myorigin": "lab.example",
            "mydestination": "",
            "mynetworks": "192.0.2.1/32",
            "relayhost": "",
            "alias_maps": "",
            "alias_database": "",
            "smtpd_peername_lookup": "no",
            # Sessions that never send DATA still open a queue file at the first accepted
            # RCPT; nothing is delivered, so Postfix's inflow control would pause every new
            # transaction for up to 1 s once about 50 were opened. The lab turns it off.
            "in_flow_delay": "0s",
            "smtpd_banner": "$myhostname ESMTP lab",
            "smtpd_relay_restrictions": "reject_unauth_destination",
            "smtpd_recipient_restrictions": f"check_recipient_access texthash:{self.conf}/recipient_access",
            "virtual_mailbox_domains": ", ".join(spec.mailboxes) or "lab.example",
            "virtual_mailbox_maps": f"texthash:{self.conf}/vmailbox",
            "virtual_transport": "discard",
            "smtputf8_enable": "yes",
            **{
                f"client_{name}": f"check_client_access texthash:{self.conf}/{name}"
                for name in spec.client_access
            },
            "sender_block": f"check_sender_access texthash:{self.conf}/sender_access",
            "greylist_restrictions": (
                f"check_recipient_access texthash:{self.conf}/recipient_access, "
                f"check_policy_service inet:{POSTGREY_ADDRESS[0]}:{POSTGREY_ADDRESS[1]}, "
                "reject_unlisted_recipient"
            ),
        }
        if spec.tls:
            from .smtphosts import self_signed_cert

            cert, key = self_signed_cert(self.root, "postfix.lab.example")
            main["smtpd_tls_cert_file"] = str(cert)
            main["smtpd_tls_key_file"] = str(key)
        # "{root}" and "{conf}" in a spec's own parameters name this instance's folders.
        main.update({k: v.replace("{root}", str(self.root)).replace("{conf}", str(self.conf))
                     for k, v in spec.main.items()})
        (self.conf / "main.cf").write_text("".join(f"{k} = {v}\n" for k, v in main.items()))
        lines = []
        for listener in spec.listeners:
            lines.append(f"{listener.address}:{listener.port} inet n - n - - smtpd")
            # Each listener logs under its own name (postfix/127.0.2.N/smtpd[pid]), so the log
            # tells which mail host a session was with (see session_peaks).
            lines.append(f"  -o syslog_name=postfix/{listener.address}")
            lines.extend(f"  -o {k}={v}" for k, v in listener.overrides.items())
        (self.conf / "master.cf").write_text("\n".join(lines) + "\n" + _SERVICES + spec.services)

    def start(self, timeout: float = 15.0) -> None:
        """Write the configuration, start postgrey (if asked) and Postfix; wait for listeners.

        On any failure everything started so far is stopped and the folder removed.
        """
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> None:
        taken = [f"{x.address}:{x.port}" for x in self.spec.listeners if _port_open(x.address, x.port)]
        if taken:
            raise RuntimeError(
                f"already answering: {', '.join(taken)} (a Postfix left over from an earlier run, or a "
                "server bound to 0.0.0.0:25?); the lab needs these addresses"
            )
        self.write_config()
        if self.spec.greylist_delay is not None:
            self._start_postgrey(self.spec.greylist_delay)
        result = subprocess.run(
            [self.postfix, "-c", str(self.conf), "start"], capture_output=True, text=True, check=False
        )
        self.started = True
        if result.returncode != 0:
            raise RuntimeError(f"postfix start failed: {result.stdout}{result.stderr}\n{self.log_text()}")
        for listener in self.spec.listeners:
            _wait_port(listener.address, listener.port, timeout, self.log_text)

    def _start_postgrey(self, delay: int) -> None:
        grey = self.root / "grey"
        shutil.chown(grey, user="postgrey")
        host, port = POSTGREY_ADDRESS
        self._postgrey = subprocess.Popen(
            [
                self.postgrey_bin,
                f"--inet={host}:{port}",
                f"--delay={delay}",
                f"--dbdir={grey}",
                "--auto-whitelist-clients=0",
                "--greylist-action=DEFER",  # not DEFER_IF_PERMIT: unknown users are greylisted too
                "--max-age=1",
                "--retry-window=1h",
                f"--whitelist-clients={self.conf / 'empty'}",  # not the system's lists
                f"--whitelist-recipients={self.conf / 'empty'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.root / "postgrey.log").open("wb"),
            start_new_session=True,
        )
        if _port_open(host, port):
            raise RuntimeError(f"{host}:{port} is taken already (a stale postgrey?); the lab needs it")
        _wait_port(host, port, 15.0, lambda: (self.root / "postgrey.log").read_text(errors="replace"))
        if self._postgrey.poll() is not None:
            raise RuntimeError("postgrey exited: " + (self.root / "postgrey.log").read_text(errors="replace"))

    def stop(self) -> None:
        """Stop Postfix and postgrey, kill leftovers of this instance, remove the folder."""
        if self.started:
            subprocess.run([self.postfix, "-c", str(self.conf), "stop"], capture_output=True, check=False)
            self.started = False
            pid_file = self.root / "queue" / "pid" / "master.pid"
            if pid_file.exists():
                with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                    os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        if self._postgrey is not None:
            self._postgrey.terminate()
            try:
                self._postgrey.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._postgrey.kill()
                self._postgrey.wait(timeout=10)
            self._postgrey = None
        shutil.rmtree(self.root, ignore_errors=True)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _wait_port(host: str, port: int, timeout: float, log: object) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return
        time.sleep(0.05)
    text = log() if callable(log) else ""
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:g} s\n{text}")


# --- the standard probe lab ------------------------------------------------------------------


def _listener(name: str, n: int, note: str, net: str = LAB_NET, **overrides: str) -> Listener:
    return Listener(name, f"{net}.{n}", overrides, note)


#: The mail hosts of the probe tests. Domains whose MX points at each host are in LAB_MX.
MAIN = _listener("mx-main", 1, "virtual mailboxes; access map answers 452/552/551/553/451")
NOUTF8 = _listener("mx-noutf8", 2, "smtputf8_enable = no", smtputf8_enable="no")
BUSY = _listener(
    "mx-busy", 3, "421 at connect", smtpd_delay_reject="no", smtpd_client_restrictions="$client_busy"
)
BLOCKING = _listener(
    "mx-blocking", 4, "554 at connect", smtpd_delay_reject="no", smtpd_client_restrictions="$client_blocked"
)
SENDERBLOCK = _listener(
    "mx-senderblock", 5, "550 to our MAIL FROM", smtpd_delay_reject="no", smtpd_sender_restrictions="$sender_block"
)
# Postfix rejects unknown users before the restrictions unless told otherwise; here the
# policy check comes first, so an unknown user is greylisted too (450, then 550 on retry).
GREY = _listener(
    "mx-grey",
    6,
    "postgrey",
    smtpd_recipient_restrictions="$greylist_restrictions",
    smtpd_reject_unlisted_recipient="no",
)
LIMIT = _listener("mx-limit", 7, "smtpd_recipient_limit = 3", smtpd_recipient_limit="3")
TLS = _listener("mx-tls", 8, "STARTTLS required (530 before it)", smtpd_tls_security_level="encrypt")
DEAD = f"{LAB_NET}.99"  # nothing listens here: connection refused

PROBE_LISTENERS = [MAIN, NOUTF8, BUSY, BLOCKING, SENDERBLOCK, GREY, LIMIT, TLS]


def probe_lab_spec(greylist_delay: int = 2) -> LabSpec:
    """The lab the probe tests and the end-to-end CSV use."""
    return LabSpec(
        listeners=PROBE_LISTENERS,
        mailboxes={
            "probe-a.example": ["alice", "bob", "jürgen", "full", "quota", "moved", "busy", "odd"],
            "catchall.example": ["@"],
            "noutf8.example": ["carol", "jörg"],
            "fallback.example": ["frank"],
            "busy.example": ["ben"],
            "blocked.example": ["bea"],
            "senderblock.example": ["sam"],
            "grey.example": ["dave", "erin"],
            "limit.example": [f"user{i}" for i in range(8)],
            "tls.example": ["tina"],
        },
        recipient_access={
            "full@probe-a.example": "452 4.2.2 Mailbox full, try again later",
            "quota@probe-a.example": "552 5.2.2 Mailbox over quota",
            "moved@probe-a.example": "551 5.1.6 User has moved; try frank@fallback.example",
            "busy@probe-a.example": "451 4.3.0 Mailbox locked, try again later",
            "odd@probe-a.example": "553 5.1.3 Mailbox name not allowed here",
        },
        sender_access={LAB_SENDER: "550 5.7.1 Not welcome here"},
        client_access={
            "busy": {"127.0.0.1": "421 4.7.0 Too busy right now, come back later"},
            "blocked": {"127.0.0.1": "554 5.7.1 Your IP address is listed on a block list"},
        },
        greylist_delay=greylist_delay,
        tls=True,
    )


def mx(*listeners: Listener | str, preference: int = 10) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    """MX records (preference, host, addresses) for the given listeners or raw addresses."""
    out = []
    for i, item in enumerate(listeners):
        if isinstance(item, Listener):
            out.append((preference + 10 * i, item.host, (item.address,)))
        else:
            out.append((preference + 10 * i, f"dead-{item.rsplit('.', 1)[-1]}.lab.example", (item,)))
    return tuple(out)


#: Which MX hosts each lab domain publishes (preference order).
LAB_MX: dict[str, tuple[Listener | str, ...]] = {
    "probe-a.example": (MAIN,),
    "catchall.example": (MAIN,),
    "noutf8.example": (NOUTF8,),
    "fallback.example": (BUSY, DEAD, MAIN),
    "busy.example": (BUSY,),
    "blocked.example": (BLOCKING,),
    "senderblock.example": (SENDERBLOCK,),
    "grey.example": (GREY,),
    "limit.example": (LIMIT,),
    "tls.example": (TLS,),
    "dead.example": (DEAD,),
}


def lab_mx(domain: str) -> tuple[tuple[int, str, tuple[str, ...]], ...]:
    """The MX records of a lab domain."""
    return mx(*LAB_MX[domain])


def domains_served(listeners: Iterable[Listener]) -> list[str]:
    """Lab domains whose first MX is one of ``listeners``."""
    wanted = set(listeners)
    return [d for d, hosts in LAB_MX.items() if hosts and hosts[0] in wanted]


def session_peaks(maillog: str) -> dict[str, int]:
    """The most SMTP sessions each listener (mail host address) held at once, read from the
    order of the ``connect from`` and ``disconnect from`` lines in the lab's maillog."""
    pattern = re.compile(r"postfix/([0-9.]+)/smtpd\[\d+\]: (connect|disconnect) from ")
    open_now: dict[str, int] = {}
    peaks: dict[str, int] = {}
    for match in pattern.finditer(maillog):
        address, event = match.groups()
        open_now[address] = open_now.get(address, 0) + (1 if event == "connect" else -1)
        peaks[address] = max(peaks.get(address, 0), open_now[address])
    return peaks


def start_postfix(lab: PostfixLab, patience: float = 120.0) -> PostfixLab:
    """Start the lab; while another test run holds its addresses, wait for them to free up."""
    deadline = time.monotonic() + patience
    while True:
        try:
            lab.start()
            return lab
        except RuntimeError as exc:
            busy = "already answering" in str(exc) or "is taken already" in str(exc)
            if not busy or time.monotonic() > deadline:
                raise
            time.sleep(2.0)
            lab = PostfixLab(lab.spec, postfix=lab.postfix, postgrey=lab.postgrey_bin)


# --- a relay that really sends (DATA) to the lab's mail hosts -------------------------------

#: The relay's own domain: its bounces (DSNs) are delivered to a mailbox file there.
RELAY_DOMAIN = "relay-lab.example"
RELAY_SENDER = f"news@{RELAY_DOMAIN}"


_RELAY_SERVICES = """\
smtp      unix  -       -       n       -       -       smtp
virtual   unix  -       n       n       -       -       virtual
"""


def relay_lab_spec(net: str, routes: dict[str, str], *, retry_seconds: int = 1, lifetime_seconds: int = 10) -> LabSpec:
    """A second Postfix on ``net``.1:25 that relays mail from loopback to the lab's mail hosts.

    ``routes`` maps each lab domain to its mail host's address (its transport: no DNS, the
    relay only knows the lab); any other domain is refused at once. The relay speaks from
    ``net``.1, retries deferred mail every ``retry_seconds`` (greylisting passes within
    seconds) and gives up after ``lifetime_seconds`` (an expiry, returned to the sender).
    Bounces to :data:`RELAY_SENDER` go to the mbox ``{root}/mail/news`` (see
    :meth:`PostfixLab.maillog` for its log).
    """
    import pwd

    owner = pwd.getpwnam("postfix")
    relay = Listener("relay", f"{net}.1", {}, "the sending relay")
    transport = {domain: f"smtp:[{address}]:25" for domain, address in routes.items()}
    transport[RELAY_DOMAIN] = "virtual:"
    transport["*"] = "error:5.4.4 the lab relay routes only the lab's domains"
    return LabSpec(
        listeners=[relay],
        tables={"transport": transport, "bounce_boxes": {RELAY_SENDER: "news"}},
        folders=("mail",),
        services=_RELAY_SERVICES,
        main={
            "myhostname": f"relay.{RELAY_DOMAIN}",
            "mydomain": RELAY_DOMAIN,
            "myorigin": RELAY_DOMAIN,
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject",
            "transport_maps": "texthash:{conf}/transport",
            "smtp_bind_address": f"{net}.1",
            "smtp_helo_name": f"relay.{RELAY_DOMAIN}",
            "smtp_connect_timeout": "5s",
            "minimal_backoff_time": f"{retry_seconds}s",
            "maximal_backoff_time": f"{2 * retry_seconds}s",
            "queue_run_delay": f"{retry_seconds}s",
            "maximal_queue_lifetime": f"{lifetime_seconds}s",
            "bounce_queue_lifetime": f"{lifetime_seconds}s",
            "virtual_mailbox_domains": RELAY_DOMAIN,
            "virtual_mailbox_maps": "texthash:{conf}/bounce_boxes",
            "virtual_mailbox_base": "{root}/mail",
            "virtual_minimum_uid": "1",
            "virtual_uid_maps": f"static:{owner.pw_uid}",
            "virtual_gid_maps": f"static:{owner.pw_gid}",
            "virtual_transport": "virtual",
        },
    )


# --- the strict lab (issue 17): a host that limits a client every way Postfix can ------------

#: Loopback block of the strict lab (reserved for the probe-politeness tests).
STRICT_NET = "127.0.5"

#: The strict host's limits (small, so a short list runs into every one of them).
STRICT_LIMITS = {
    "smtpd_recipient_limit": "3",  # 452 4.5.3 Error: too many recipients
    "smtpd_soft_error_limit": "2",  # then replies wait smtpd_error_sleep_time (0 s here, see below)
    "smtpd_hard_error_limit": "4",  # 421 4.7.0 Error: too many errors, and the session is closed
    "smtpd_client_connection_count_limit": "1",  # 421 4.7.0 Error: too many connections
    "smtpd_client_connection_rate_limit": "4",  # per anvil_rate_time_unit, same 421
}

#: anvil's time unit for the connection rate (main.cf; Postfix's default is 60 s).
STRICT_RATE_UNIT = 1

STRICT = Listener("mx-strict", f"{STRICT_NET}.1", dict(STRICT_LIMITS), "recipient, error and connection limits")


def strict_lab_spec(known: list[str], domain: str = "strict.example") -> LabSpec:
    """One strict listener on 127.0.5.1 for ``domain``, whose mailboxes are ``known``."""
    return LabSpec(
        listeners=[STRICT],
        mailboxes={domain: list(known)},
        # The soft limit is kept small, but its delay (1 s per reply by default) is off: the
        # test's timing is then set by the limits under test, not by a slowed-down host.
        main={"anvil_rate_time_unit": f"{STRICT_RATE_UNIT}s", "smtpd_error_sleep_time": "0s"},
    )


def limit_events(maillog: str) -> dict[str, int]:
    """How often the lab's Postfix enforced each limit, read from its maillog: ``errors``
    (too many errors), ``concurrency`` and ``rate`` (connection limits exceeded)."""
    return {
        "errors": len(re.findall(r"too many errors after \S+ from", maillog)),
        "concurrency": len(re.findall(r"Connection concurrency limit exceeded", maillog)),
        "rate": len(re.findall(r"Connection rate limit exceeded", maillog)),
    }
