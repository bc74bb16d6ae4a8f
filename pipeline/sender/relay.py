"""The relay check: speak to the user's submission server as the campaign would, up to MAIL FROM.

One session with the standard library's :mod:`smtplib`: connect (implicit TLS with ``--tls``),
EHLO, STARTTLS (required with ``--starttls``, taken when offered otherwise), the AUTH
mechanisms offered, AUTH with the given credentials, MAIL FROM with the campaign's From
address, then RSET and QUIT. Never RCPT, never DATA. Every step's real reply becomes a
:class:`~pipeline.sender.findings.SenderFinding` for the whole campaign; a connection that
fails or drops is ``unknown`` (421 4.4.1), never read as an answer.

TLS: the server's certificate is verified against the system's trust store by default.
``PRESEND_RELAY_CAFILE`` names a PEM file of extra trusted certificates (a lab's or an
internal CA's); ``PRESEND_RELAY_INSECURE=1`` turns verification off (the finding says so).

The password arrives as an argument (the CLI reads it from ``--password-env`` or a prompt);
no finding's text ever holds it.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from dataclasses import dataclass, field

from pipeline.options import SenderOptions
from pipeline.sender.findings import SenderFinding
from pipeline.sender.message import MessageFacts, read_message
from pipeline.sender.relay_replies import (
    CHECK,
    auth_finding,
    connection_finding,
    lacks_extension,
    ok_finding,
    reply_finding,
)

#: Seconds for the connection and for every reply.
TIMEOUT = 20.0
#: Environment variables that set the TLS verification policy (see the module docstring).
CAFILE_ENV = "PRESEND_RELAY_CAFILE"
INSECURE_ENV = "PRESEND_RELAY_INSECURE"
#: Mechanisms :mod:`smtplib` can speak, strongest first (its own order of preference).
SPOKEN_MECHANISMS = ("CRAM-MD5", "PLAIN", "LOGIN")
#: Mechanisms that send the password itself: only over an encrypted session.
CLEARTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})


@dataclass
class RelaySession:
    """What one relay session learnt, step by step (the findings and the EHLO facts)."""

    findings: list[SenderFinding] = field(default_factory=list)
    encrypted: bool = False
    size_limit: int | None = None
    mechanisms: tuple[str, ...] = ()

    def add(self, finding: SenderFinding) -> None:
        """Record one finding."""
        self.findings.append(finding)

    @property
    def stopped(self) -> bool:
        """Whether a problem already ends the check (later steps would not be reached)."""
        return any(not f.ok for f in self.findings)


def split_relay(relay: str, implicit_tls: bool) -> tuple[str, int]:
    """``HOST[:PORT]`` (or ``[IPv6]:PORT``) as host and port; the port defaults to 465 with
    implicit TLS, else 587 (RFC 8314, RFC 6409)."""
    default = 465 if implicit_tls else 587
    text = relay.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.lstrip(":")
        return host, int(port) if port else default
    host, sep, port = text.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return text, default


def tls_context() -> tuple[ssl.SSLContext, str]:
    """The TLS context of the relay session and a note of its verification policy."""
    if os.environ.get(INSECURE_ENV, "") in ("1", "true", "yes"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context, f"certificate not verified ({INSECURE_ENV} is set)"
    cafile = os.environ.get(CAFILE_ENV) or None
    context = ssl.create_default_context(cafile=cafile)
    return context, "certificate verified" + (f" against {CAFILE_ENV}" if cafile else "")


def relay_findings(options: SenderOptions, password: str | None) -> list[SenderFinding]:
    """Check the relay ``options.relay`` as the campaign would use it; [] when none is given."""
    if not options.relay:
        return []
    host, port = split_relay(options.relay, options.tls)
    where = f"{host}:{port}"
    session = RelaySession()
    try:
        context, policy = tls_context()
    except (OSError, ssl.SSLError) as exc:
        return [connection_finding(where, f"the TLS settings could not be loaded ({exc})")]
    client: smtplib.SMTP | None = None
    try:
        client = _connect(host, port, options.tls, context)
        _converse(client, options, password, session, where, context, policy)
    except smtplib.SMTPConnectError as exc:
        session.add(reply_finding("connect", exc.smtp_code, exc.smtp_error, where, "the connection"))
    except ssl.SSLCertVerificationError as exc:
        session.add(connection_finding(where, f"its TLS certificate was refused: {exc.verify_message}", tls=True))
    except (smtplib.SMTPServerDisconnected, OSError, ssl.SSLError) as exc:
        session.add(connection_finding(where, _describe(exc)))
    except smtplib.SMTPResponseException as exc:
        session.add(reply_finding("session", exc.smtp_code, exc.smtp_error, where, "a command"))
    except smtplib.SMTPException as exc:
        session.add(connection_finding(where, f"the session failed ({exc})"))
    finally:
        if client is not None:
            _close(client)
    return session.findings


def _connect(host: str, port: int, implicit_tls: bool, context: ssl.SSLContext) -> smtplib.SMTP:
    if implicit_tls:
        return smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
    return smtplib.SMTP(host, port, timeout=TIMEOUT)


def _converse(
    client: smtplib.SMTP,
    options: SenderOptions,
    password: str | None,
    session: RelaySession,
    where: str,
    context: ssl.SSLContext,
    policy: str,
) -> None:
    session.encrypted = options.tls
    if not _ehlo(client, session, where):
        return
    if not options.tls and not _starttls(client, options.starttls, session, where, context):
        return
    if session.encrypted:
        session.add(ok_finding("tls", f"The relay {where} speaks TLS ({policy}).", "", ""))
    _read_extensions(client, session, where)
    if options.user and not _authenticate(client, options.user, password or "", session, where):
        return
    facts = read_message(options.message) if options.message is not None else None
    if facts is not None and not _message_fits(client, facts, session, where):
        return
    utf8_sender = not options.from_addr.isascii()
    if utf8_sender and not client.has_extn("smtputf8"):
        why = f"the From address {options.from_addr} is not ASCII"
        session.add(lacks_extension(where, "SMTPUTF8", "553", "5.6.7", why))
        return
    _mail_from(client, options.from_addr, session, where, authenticated=bool(options.user), facts=facts)


def _ehlo(client: smtplib.SMTP, session: RelaySession, where: str) -> bool:
    code, text = client.ehlo()
    if code == 250:
        return True
    session.add(reply_finding("ehlo", code, text, where, "EHLO"))
    return False


def _starttls(
    client: smtplib.SMTP, required: bool, session: RelaySession, where: str, context: ssl.SSLContext
) -> bool:
    if not client.has_extn("starttls"):
        if required:
            session.add(
                reply_finding("starttls", 0, b"", where, "STARTTLS", note="the relay does not offer STARTTLS")
            )
            return False
        return True
    try:
        client.starttls(context=context)
    except smtplib.SMTPResponseException as exc:
        session.add(reply_finding("starttls", exc.smtp_code, exc.smtp_error, where, "STARTTLS"))
        return False
    session.encrypted = True
    return _ehlo(client, session, where)


def _read_extensions(client: smtplib.SMTP, session: RelaySession, where: str) -> None:
    size = client.esmtp_features.get("size", "").strip()
    session.size_limit = int(size) if size.isdigit() and int(size) > 0 else None
    session.mechanisms = tuple(client.esmtp_features.get("auth", "").upper().split())
    offered = " ".join(session.mechanisms) or "none"
    limit = f"{session.size_limit} octets" if session.size_limit else "not advertised"
    session.add(
        ok_finding("extensions", f"The relay {where} offers AUTH: {offered}; its SIZE limit: {limit}.", "", "")
    )


def _authenticate(client: smtplib.SMTP, user: str, password: str, session: RelaySession, where: str) -> bool:
    spoken = [m for m in SPOKEN_MECHANISMS if m in session.mechanisms]
    if not session.encrypted:
        spoken = [m for m in spoken if m not in CLEARTEXT_MECHANISMS]
    if not spoken:
        session.add(_no_common_mechanism(client, session, where))
        return False
    mechanism = spoken[0]
    client.user, client.password = user, password
    try:
        code, text = client.auth(mechanism, getattr(client, "auth_" + mechanism.lower().replace("-", "_")))
    except smtplib.SMTPAuthenticationError as exc:
        session.add(auth_finding(exc.smtp_code, exc.smtp_error, where, mechanism))
        return False
    finally:
        # smtplib keeps the credentials on the object; drop them once the exchange is over.
        client.user = client.password = ""
    session.add(auth_finding(code, text, where, mechanism))
    return code == 235


def _no_common_mechanism(client: smtplib.SMTP, session: RelaySession, where: str) -> SenderFinding:
    """AUTH without a mechanism we may use: ask the server (no password is sent) and report
    its real answer to ``AUTH PLAIN``; a ``334`` challenge is cancelled with ``*`` (RFC 4954)."""
    code, text = client.docmd("AUTH", "PLAIN")
    if code == 334:
        code, text = client.docmd("*")
        note = (
            "the relay would take PLAIN, but not over an unencrypted session: presend did not send the password"
            if not session.encrypted
            else "the relay takes PLAIN although it does not offer it"
        )
        return auth_finding(538, b"5.7.11 " + note.encode(), where, "PLAIN", cancelled=True)
    offered = " ".join(session.mechanisms) or "none"
    return auth_finding(code, text, where, "PLAIN", offered=offered)


def _message_fits(client: smtplib.SMTP, facts: MessageFacts, session: RelaySession, where: str) -> bool:
    """The message's needs against the relay's EHLO: 8BITMIME (RFC 6152) and SMTPUTF8 (RFC 6531)."""
    if facts.eight_bit_body and not client.has_extn("8bitmime"):
        session.add(lacks_extension(where, "8BITMIME", "554", "5.6.3", "its body has 8-bit octets"))
    if facts.needs_smtputf8 and not client.has_extn("smtputf8"):
        session.add(lacks_extension(where, "SMTPUTF8", "553", "5.6.7", "its headers carry raw UTF-8"))
    return not session.stopped


def _mail_parameters(client: smtplib.SMTP, sender: str, facts: MessageFacts | None) -> list[str]:
    """MAIL FROM parameters that tell the relay about the message (it may refuse by SIZE at once)."""
    utf8_sender = ["SMTPUTF8"] if not sender.isascii() else []
    if facts is None:
        return utf8_sender
    params = [f"SIZE={facts.size}"] if client.has_extn("size") else []
    if facts.eight_bit_body:
        params.append("BODY=8BITMIME")
    if facts.needs_smtputf8 or utf8_sender:
        params.append("SMTPUTF8")
    return params


def _mail_from(
    client: smtplib.SMTP,
    sender: str,
    session: RelaySession,
    where: str,
    *,
    authenticated: bool,
    facts: MessageFacts | None,
) -> None:
    params = _mail_parameters(client, sender, facts)
    code, text = client.mail(sender, params)
    command = " ".join([f"MAIL FROM:<{sender}>", *params])
    if code == 250:
        how = "after AUTH" if authenticated else "without AUTH"
        session.add(ok_finding("mail_from", f"The relay {where} accepts {command} {how}.", "", ""))
    else:
        session.add(reply_finding("mail_from", code, text, where, command))
    client.rset()


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "it closed the connection without an answer"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"it did not answer within {TIMEOUT:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "the connection was refused (nothing listens there)"
    if isinstance(exc, ssl.SSLError):
        return f"the TLS handshake failed ({exc.reason or exc})"
    return f"the connection failed ({exc.strerror or exc})" if isinstance(exc, OSError) else str(exc)


__all__ = ["CHECK", "relay_findings", "split_relay", "tls_context"]
