"""A real SOCKS5 proxy on loopback: Debian's ``microsocks`` (RFC 1928, user/password RFC 1929).

The proxy tests put it in front of the Postfix lab (127.0.2.0/24). It listens on an address
of the block reserved for proxy tests, 127.0.6.0/24, and with ``bind`` makes its outgoing
connections from that address too, so the mail host's log shows that a session came through
the proxy (``connect from unknown[127.0.6.N]``).
"""

from __future__ import annotations

import socket
import subprocess
import time

#: Loopback block reserved for the SOCKS5 proxy tests.
PROXY_NET = "127.0.6"
PROXY_PORT = 1080


class SocksProxy:
    """One ``microsocks`` process on ``address:port`` (with ``user``/``password`` when given)."""

    def __init__(
        self,
        binary: str,
        address: str,
        port: int = PROXY_PORT,
        *,
        user: str = "",
        password: str = "",
        bind: str | None = None,
    ) -> None:
        self.binary = binary
        self.address = address
        self.port = port
        self.user = user
        self.password = password
        self.bind = bind
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The ``--proxy`` value that reaches this proxy (credentials included)."""
        auth = f"{self.user}:{self.password}@" if self.user else ""
        return f"socks5://{auth}{self.address}:{self.port}"

    def __enter__(self) -> SocksProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 10.0) -> None:
        """Start microsocks and wait until it accepts connections."""
        if _port_open(self.address, self.port):
            raise RuntimeError(f"{self.address}:{self.port} is taken already (a stale proxy?)")
        command = [self.binary, "-i", self.address, "-p", str(self.port)]
        if self.user:
            command += ["-u", self.user, "-P", self.password]
        if self.bind:
            command += ["-b", self.bind]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        while not _port_open(self.address, self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"microsocks did not start on {self.address}:{self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the proxy (by its own pid)."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        self.process = None


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
