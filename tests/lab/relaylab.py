"""Submission relays on loopback (127.0.4.0/24, port 587): a real Postfix, and aiosmtpd for AUTH.

The Postfix instance (:class:`~tests.lab.postfixlab.PostfixLab`, a second one beside the
probe lab) plays the relays that need no password database:

- ``relay-main`` (127.0.4.1): STARTTLS required (530 before it), ``SIZE`` of
  :data:`SIZE_LIMIT`, MAIL FROM answered 530 5.7.0 "Authentication required" (the way
  submission servers such as Gmail's say "authenticate first"), :data:`FOREIGN_SENDER`
  refused with 553 5.7.1;
- ``relay-open`` (127.0.4.2): STARTTLS offered, no AUTH at all (503 5.5.1 to AUTH), MAIL FROM
  accepted (a relay that trusts its network), :data:`FOREIGN_SENDER` refused with 553 5.7.1;
- ``mx-small`` / ``mx-big`` (127.0.4.21 / .22, port 25): plain mail hosts advertising a small and
  a large ``SIZE``, for the message size against each recipient host; ``mx-7bit`` (.23) offers
  neither 8BITMIME nor SMTPUTF8;
- nothing listens on :data:`DEAD` (connection refused).

Cyrus SASL with a sasldb was tried for AUTH: Debian's Postfix 3.7 did not read the
``smtpd.conf`` under ``cyrus_sasl_config_path`` from the temporary folder (it kept looking
for /etc/sasldb2), and the lab does not write system files. So AUTH is played by
:class:`AuthRelays` (aiosmtpd's own AUTH implementation, with a real TLS handshake):

- ``auth-main`` (127.0.4.11): STARTTLS required, AUTH PLAIN LOGIN after it, the lab user
  (:data:`USER` / :data:`PASSWORD`; anything else 535 5.7.8), SIZE, MAIL without AUTH 530,
  :data:`FOREIGN_SENDER` 553 5.7.1, no SMTPUTF8 (as every aiosmtpd relay here);
- ``auth-clear`` (127.0.4.12): no TLS at all, AUTH only over TLS (538 5.7.11 to AUTH);
- ``auth-weak`` (127.0.4.13): STARTTLS, but the password mechanisms are refused as too weak
  (534 5.7.9), as servers that want a challenge mechanism do;
- ``auth-oauth`` (127.0.4.14): STARTTLS, only XOAUTH2 offered (504 5.5.4 to AUTH PLAIN).
"""

from __future__ import annotations

import ssl
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .postfixlab import LabSpec, Listener

#: Loopback block reserved for the relay lab (issue 14).
RELAY_NET = "127.0.4"
RELAY_PORT = 587
USER = "campaign"
PASSWORD = "s3cret-lab-pass"
#: An address the lab user owns (MAIL FROM accepted after AUTH).
OWNED_SENDER = "news@sender-lab.example"
#: An address the relays refuse (553 5.7.1).
FOREIGN_SENDER = "ceo@elsewhere.example"
SIZE_LIMIT = 40_000
DEAD = f"{RELAY_NET}.99"
_FOREIGN_REPLY = "553 5.7.1 Sender address rejected: not owned by user"

MAIN = Listener(
    "relay-main",
    f"{RELAY_NET}.1",
    {
        "smtpd_tls_security_level": "encrypt",
        "smtpd_delay_reject": "no",
        "smtpd_sender_restrictions": "$relay_auth_required",
        "message_size_limit": str(SIZE_LIMIT),
    },
    "STARTTLS required, SIZE, MAIL answered 530 (authenticate first)",
    port=RELAY_PORT,
)
OPEN = Listener(
    "relay-open",
    f"{RELAY_NET}.2",
    {
        "smtpd_tls_security_level": "may",
        "smtpd_sasl_auth_enable": "no",
        "smtpd_delay_reject": "no",
        "smtpd_sender_restrictions": "$relay_refused_senders",
    },
    "no AUTH offered, MAIL accepted",
    port=RELAY_PORT,
)
#: Two mail hosts (port 25) for the message size against each recipient host's SIZE.
MX_SMALL = Listener(
    "mx-small", f"{RELAY_NET}.21", {"message_size_limit": str(SIZE_LIMIT), "smtpd_recipient_restrictions": "$mx_rules"},
    f"SIZE {SIZE_LIMIT}",
)
MX_BIG = Listener(
    "mx-big",
    f"{RELAY_NET}.22",
    {"message_size_limit": str(SIZE_LIMIT * 50), "smtpd_recipient_restrictions": "$mx_rules"},
    f"SIZE {SIZE_LIMIT * 50}",
)
MX_7BIT = Listener(
    "mx-7bit",
    f"{RELAY_NET}.23",
    {"smtpd_discard_ehlo_keywords": "8bitmime", "smtputf8_enable": "no", "smtpd_recipient_restrictions": "$mx_rules"},
    "no 8BITMIME, no SMTPUTF8",
)
RELAY_LISTENERS = [MAIN, OPEN, MX_SMALL, MX_BIG, MX_7BIT]


def relay_cert(folder: Path) -> tuple[Path, Path]:
    """A throw-away self-signed certificate naming relay.lab.example and every relay's address
    (so a client verifying it against this file also checks the name it connected to)."""
    cert, key = folder / "relay-cert.pem", folder / "relay-key.pem"
    if not cert.exists():
        names = ",".join(["DNS:relay.lab.example", *(f"IP:{x.address}" for x in RELAY_LISTENERS + AUTH_RELAYS)])
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=relay.lab.example", "-addext", f"subjectAltName={names}",
                "-keyout", str(key), "-out", str(cert),
            ],
            check=True,
            capture_output=True,
        )
        key.chmod(0o644)
    return cert, key


def relay_lab_spec(cert_dir: Path) -> LabSpec:
    """The Postfix submission relays of the relay tests (their certificate in ``cert_dir``,
    a folder the ``postfix`` user can read)."""
    cert, key = relay_cert(cert_dir)
    return LabSpec(
        listeners=RELAY_LISTENERS,
        mailboxes={"sender-lab.example": ["news"], "small-mx.example": ["reader"], "big-mx.example": ["reader"],
                   "7bit-mx.example": ["reader"]},
        sender_access={FOREIGN_SENDER: _FOREIGN_REPLY},
        main={
            "smtpd_tls_cert_file": str(cert),
            "smtpd_tls_key_file": str(key),
            "myhostname": "relay.lab.example",
            "smtpd_banner": "$myhostname ESMTP relay lab",
            "mx_rules": "reject_unlisted_recipient",
            "relay_refused_senders": "check_sender_access texthash:$config_directory/sender_access",
            "relay_auth_required": (
                "check_sender_access texthash:$config_directory/sender_access, "
                "check_sender_access inline:{{ " + OWNED_SENDER + " = 530 5.7.0 Authentication required }}"
            ),
        },
        tls=True,
    )


@dataclass(frozen=True)
class AuthRelay:
    """One aiosmtpd relay: where it listens and how it takes AUTH."""

    name: str
    address: str
    tls: bool = True  # STARTTLS offered (and required before MAIL)
    weak: bool = False  # refuse PLAIN / LOGIN as too weak (534 5.7.9)
    oauth_only: bool = False  # offer XOAUTH2 only (PLAIN and LOGIN not implemented: 504 5.5.4)


AUTH_MAIN = AuthRelay("auth-main", f"{RELAY_NET}.11")
AUTH_CLEAR = AuthRelay("auth-clear", f"{RELAY_NET}.12", tls=False)
AUTH_WEAK = AuthRelay("auth-weak", f"{RELAY_NET}.13", weak=True)
AUTH_OAUTH = AuthRelay("auth-oauth", f"{RELAY_NET}.14", oauth_only=True)
AUTH_RELAYS = [AUTH_MAIN, AUTH_CLEAR, AUTH_WEAK, AUTH_OAUTH]


class _RelayHandler:
    """MAIL FROM policy of a submission relay: authenticate first, own the sender."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.commands.append("MAIL")
        if not session.authenticated:
            return "530 5.7.0 Authentication required"
        if address.lower() == FOREIGN_SENDER:
            return _FOREIGN_REPLY
        envelope.mail_from = address
        return "250 2.1.0 Ok"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """A token mechanism presend does not speak (only offered by ``oauth_only`` relays)."""
        return AuthResult(success=False, handled=False)

    async def handle_RCPT(self, *args: Any) -> str:
        self.commands.append("RCPT")
        return "554 5.5.1 The relay lab takes no recipients"

    async def handle_DATA(self, *args: Any) -> str:
        self.commands.append("DATA")
        return "554 5.5.1 The relay lab takes no messages"


def _authenticator(relay: AuthRelay) -> Any:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        if relay.weak:
            return AuthResult(success=False, handled=False, message="534 5.7.9 Authentication mechanism is too weak")
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
        return AuthResult(success=ok, handled=False)

    return check


class AuthRelays:
    """The aiosmtpd relays, each in its own aiosmtpd Controller thread; a context manager."""

    def __init__(self, cert_dir: Path) -> None:
        cert, key = relay_cert(cert_dir)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(cert, key)
        self.cafile = cert
        self.handlers: dict[str, _RelayHandler] = {}
        self._controllers: list[Controller] = []

    def __enter__(self) -> AuthRelays:
        try:
            for relay in AUTH_RELAYS:
                self._start(relay)
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self, relay: AuthRelay) -> None:
        handler = self.handlers[relay.address] = _RelayHandler()
        controller = Controller(
            handler,
            hostname=relay.address,
            port=RELAY_PORT,
            server_hostname="relay.lab.example",
            tls_context=self.context if relay.tls else None,
            require_starttls=relay.tls,
            auth_require_tls=True,
            authenticator=_authenticator(relay),
            data_size_limit=SIZE_LIMIT,
            enable_SMTPUTF8=False,
            auth_exclude_mechanism=["PLAIN", "LOGIN"] if relay.oauth_only else ["XOAUTH2"],
            ready_timeout=10.0,
        )
        controller.start()
        self._controllers.append(controller)

    def __exit__(self, *exc: object) -> None:
        while self._controllers:
            self._controllers.pop().stop()
        time.sleep(0)
