"""How the mailbox level reaches a mail host: directly, or through a SOCKS5 proxy (``--proxy``).

Many clouds and home ISPs block outbound port 25; a SOCKS5 proxy elsewhere carries the SMTP
session instead. The DNS level stays with the configured resolver: the proxy is asked to
connect to the mail host's *address* (RFC 1928 §4, ATYP IPv4/IPv6), never to resolve a name.
The tunnel itself is python-socks' (its blocking API: sessions run in worker threads); TLS
(STARTTLS) is negotiated end to end over the tunnel like over any socket.

Credentials in the proxy URL (``socks5://user:pass@host:port``, RFC 1929) never leave this
module: :func:`redact_proxy` is what every output, log and message shows.

Whose trouble a failure is decides what happens next:

- the proxy cannot be reached, or refuses our credentials: every session would fail the
  same way, so the run stops with one line (:class:`ProxyUnreachable`, :class:`ProxyRefused`);
- the proxy answers but cannot reach the mail host (a SOCKS reply code, RFC 1928 §6): that
  host's connection failed, as it would without a proxy (an :class:`OSError` for the session).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from python_socks import ProxyConnectionError, ProxyError, ProxyTimeoutError, ProxyType
from python_socks.sync import Proxy

from pipeline.errors import PresendError, UsageError

#: How the option is spelt in messages.
FLAG = "--proxy"
#: The URL form the option takes.
FORM = "socks5://[user:password@]host:port"

#: SOCKS5 reply codes (RFC 1928 §6) and the few words a session's failure shows for them.
_REPLIES = {
    1: "general failure",
    2: "connection not allowed by the proxy's rules",
    3: "network unreachable",
    4: "host unreachable",
    5: "connection refused",
    6: "TTL expired",
    7: "command not supported",
    8: "address type not supported",
}


class ProxyUnreachable(PresendError):
    """The SOCKS5 proxy given with ``--proxy`` could not be reached (nothing can be probed)."""


class ProxyRefused(UsageError):
    """The SOCKS5 proxy refused our user name and password (or offers no method we speak)."""


@dataclass(frozen=True, slots=True)
class ProxySpec:
    """A parsed ``--proxy`` URL. ``shown`` is the URL without credentials (safe to print)."""

    host: str
    port: int
    username: str = ""
    password: str = ""

    @property
    def shown(self) -> str:
        """``socks5://host:port``, with ``***@`` in place of any credentials."""
        secret = "***@" if self.username or self.password else ""
        return f"socks5://{secret}{_host_port(self.host, self.port)}"

    @property
    def where(self) -> str:
        """``host:port`` of the proxy (for messages)."""
        return _host_port(self.host, self.port)

    def __repr__(self) -> str:  # never the password, even in a traceback or a debugger
        return f"ProxySpec({self.shown!r})"

    def tunnel(self) -> Proxy:
        """python-socks' blocking SOCKS5 client for this proxy."""
        return Proxy(
            ProxyType.SOCKS5,
            self.host,
            self.port,
            username=self.username or None,
            password=self.password or None,
            rdns=False,
        )


def parse_proxy(url: str) -> ProxySpec | None:
    """The :class:`ProxySpec` of a ``--proxy`` value (empty: None); UsageError naming the form."""
    text = url.strip()
    if not text:
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme.lower() != "socks5" or not parts.hostname or port is None:
        raise UsageError(f"{FLAG}: expected {FORM}, not {redact_proxy(text)!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"{FLAG}: expected {FORM} (nothing after the port), not {redact_proxy(text)!r}")
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if len(username.encode()) > 255 or len(password.encode()) > 255:  # RFC 1929 §2: one octet each
        raise UsageError(f"{FLAG}: the user name and the password may be 255 bytes at most")
    if password and not username:
        raise UsageError(f"{FLAG}: a password needs a user name ({FORM})")
    return ProxySpec(parts.hostname, port, username, password)


def redact_proxy(url: str) -> str:
    """``url`` with whatever stands before its last ``@`` replaced by ``***`` (an unescaped ``/``
    or ``#`` in a password must not let part of it through)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    if "@" not in rest:
        return url
    return f"{scheme}{sep}***@{rest.rpartition('@')[2]}"


def open_tunnel(proxy: ProxySpec, host: str, port: int, timeout: float) -> socket.socket:
    """A connected socket to ``host:port`` (an IP address) through ``proxy``.

    Raises :class:`ProxyUnreachable` / :class:`ProxyRefused` for the proxy's own trouble
    (the run stops), and an :class:`OSError` when only this mail host is out of reach.
    """
    try:
        sock: socket.socket = proxy.tunnel().connect(dest_host=host, dest_port=port, timeout=timeout)
    except ProxyConnectionError as exc:
        raise ProxyUnreachable(_unreachable(proxy, exc)) from None
    except ProxyTimeoutError as exc:  # the proxy's connect to the host took longer than ours
        raise TimeoutError(f"timed out (through the proxy {proxy.where})") from exc
    except ProxyError as exc:
        if exc.error_code in _REPLIES:
            raise _host_failure(exc.error_code, proxy) from None
        raise ProxyRefused(
            f"{FLAG}: the SOCKS5 proxy at {proxy.where} refused us ({exc}); check the user name and password in {FORM}"
        ) from None
    sock.settimeout(timeout)
    return sock


def _host_failure(code: int, proxy: ProxySpec) -> OSError:
    """The OSError a direct connection would have raised, for a SOCKS5 reply code."""
    if code == 5:
        return ConnectionRefusedError(f"connection refused (through the proxy {proxy.where})")
    if code == 6:
        return TimeoutError(f"timed out (through the proxy {proxy.where})")
    return OSError(f"{_REPLIES[code]} (the proxy {proxy.where} says)")


def _unreachable(proxy: ProxySpec, exc: OSError) -> str:
    cause = exc.strerror or str(exc)
    if "[" in cause:  # python-socks: "Could not connect to proxy H:P [Connection refused]"
        cause = cause.rpartition("[")[2].rstrip("]")
    return f"{FLAG}: the SOCKS5 proxy at {proxy.where} cannot be reached ({cause.lower()}); start it or fix {FLAG}"


def check_proxy(proxy: ProxySpec, timeout: float) -> None:
    """Pre-flight: raise :class:`ProxyUnreachable` unless the proxy accepts a TCP connection.

    Done once before a run probes anything, so a proxy that is down is one clear line, not a
    list of rows that all say the same thing. (Credentials are checked by the first session:
    a refusal stops the run with :class:`ProxyRefused`.)
    """
    try:
        with socket.create_connection((proxy.host, proxy.port), timeout=timeout):
            pass
    except OSError as exc:
        if isinstance(exc, TimeoutError) or "timed out" in str(exc):
            raise ProxyUnreachable(
                f"{FLAG}: the SOCKS5 proxy at {proxy.where} did not answer within {timeout:g} s; start it or fix {FLAG}"
            ) from None
        raise ProxyUnreachable(_unreachable(proxy, exc)) from None


def preflight(options: Any) -> None:
    """Check the ``proxy`` of a :class:`~pipeline.options.ProbeOptions` before a run: its form
    (UsageError) and that it answers (:class:`ProxyUnreachable`), within the SMTP timeout."""
    proxy = parse_proxy(options.proxy)
    if proxy is not None:
        check_proxy(proxy, options.timeout)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


__all__ = [
    "ProxyRefused",
    "ProxySpec",
    "ProxyUnreachable",
    "check_proxy",
    "open_tunnel",
    "parse_proxy",
    "preflight",
    "redact_proxy",
]
