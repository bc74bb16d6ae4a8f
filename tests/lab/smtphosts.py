"""Scripted mail hosts on loopback (aiosmtpd) for what a real Postfix cannot be told to do.

Each :class:`HostScript` says how one host behaves: which mailboxes exist, scripted replies
(multi-line ones included), a tarpit banner, a drop after N RCPTs, 452 4.5.3 after N
recipients, 530 until STARTTLS, greylisting, a slow RCPT, EHLO refused. Every command a
client sends is recorded per session (``HostLog``), with the highest number of sessions
open at once, so tests can assert politeness (never DATA, QUIT sent, per-host bounds).

All hosts of a :class:`ScriptedHosts` run on one event loop in a background thread.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

#: Loopback block reserved for these hosts (the Postfix lab uses 127.0.2.0/24).
SCRIPTED_NET = "127.0.3"


def self_signed_cert(folder: Path, name: str = "mx.lab.example") -> tuple[Path, Path]:
    """Write a throw-away self-signed certificate and key (openssl CLI) into ``folder``."""
    cert, key = folder / "lab-cert.pem", folder / "lab-key.pem"
    if not cert.exists():
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert),
            ],
            check=True,
            capture_output=True,
        )
        key.chmod(0o644)
    return cert, key


@dataclass
class HostScript:
    """How one scripted host behaves. ``mailboxes=None`` accepts every address."""

    address: str
    name: str = "scripted.lab.example"
    mailboxes: set[str] | None = field(default_factory=set)
    replies: dict[str, str] = field(default_factory=dict)  # address -> full reply (may be multi-line)
    banner_delay: float = 0.0  # tarpit: seconds before the 220 greeting
    drop_after_rcpts: int | None = None  # close the connection at this RCPT of the session
    rcpt_limit: int | None = None  # 452 4.5.3 once a transaction holds this many
    require_tls: bool = False  # 530 until STARTTLS
    hide_starttls: bool = False  # do not advertise STARTTLS (it still works)
    greylist: bool = False  # 450 on the first try of each (sender, recipient)
    rcpt_delay: float = 0.0  # seconds before answering each RCPT
    refuse_ehlo: bool = False  # 502 to EHLO (client must fall back to HELO)
    smtputf8: bool = True
    pipelining: bool = False  # advertise PIPELINING (RFC 2920; aiosmtpd reads commands in order)
    trickle: float = 0.0  # seconds between the bytes of every reply after the greeting
    trickle_after_tls: bool = False  # trickle only once STARTTLS is done
    refuse_sessions: int = 0  # the first N sessions get ``refusal`` instead of a greeting
    refusal: str = "421 4.7.0 Too many connections, try again later"


@dataclass
class HostLog:
    """What one host saw: commands per session, concurrency, timings."""

    sessions: list[list[str]] = field(default_factory=list)
    open_now: int = 0
    open_max: int = 0
    rcpt_times: list[tuple[float, str]] = field(default_factory=list)  # (monotonic time, address)
    session_starts: list[float] = field(default_factory=list)

    def commands(self) -> list[str]:
        """Every command verb of every session, in order."""
        return [line.split(" ", 1)[0] for session in self.sessions for line in session]


class _Handler:
    """aiosmtpd handler hooks applying a :class:`HostScript`."""

    def __init__(self, script: HostScript, log: HostLog) -> None:
        self.script = script
        self.log = log
        self.seen: set[tuple[str, str]] = set()

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        if self.script.refuse_ehlo:
            session.host_name = None
            return ["502 5.5.2 Error: command not recognized"]
        session.host_name = hostname
        if self.script.hide_starttls:
            responses = [r for r in responses if "STARTTLS" not in r]
        if self.script.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        script = self.script
        self.log.rcpt_times.append((time.monotonic(), address))
        if script.rcpt_delay:
            await asyncio.sleep(script.rcpt_delay)
        if script.rcpt_limit is not None and len(envelope.rcpt_tos) >= script.rcpt_limit:
            return "452 4.5.3 Too many recipients for one message"
        if script.greylist:
            key = (str(envelope.mail_from).lower(), address.lower())
            if key not in self.seen:
                self.seen.add(key)
                return "450 4.2.0 Greylisted, please come back later"
        if address.lower() in script.replies:
            return script.replies[address.lower()]
        if script.mailboxes is None or address.lower() in script.mailboxes:
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 Ok"
        return "550 5.1.1 No such user here"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "554 5.5.1 This lab host takes no messages"


class _ScriptedSMTP(SMTP):
    """aiosmtpd's protocol, plus recording, tarpit and drop behaviours."""

    def __init__(self, handler: _Handler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.script = handler.script
        self.log = handler.log
        self.lines: list[str] = []
        self.rcpts = 0
        self._smtp_methods = {verb: self._recorded(verb, method) for verb, method in self._smtp_methods.items()}

    def _recorded(self, verb: str, method: Any) -> Any:
        async def run(arg: str | None) -> None:
            if verb == "RCPT":
                self.rcpts += 1
                if self.script.drop_after_rcpts is not None and self.rcpts >= self.script.drop_after_rcpts:
                    assert self.transport is not None
                    self.transport.close()
                    return
            await method(arg)

        return run

    async def _handle_client(self) -> None:
        self.log.sessions.append(self.lines)
        self.log.session_starts.append(time.monotonic())
        self.log.open_now += 1
        self.log.open_max = max(self.log.open_max, self.log.open_now)
        reader = self._reader
        read_line = reader.readuntil

        async def recorded_readuntil(separator: bytes = b"\n") -> bytes:
            # Every line the client sends, even those refused before dispatch (530 ...).
            line = await read_line(separator)
            verb, _, rest = line.rstrip(b"\r\n").decode("utf-8", "replace").partition(" ")
            self.lines.append(f"{verb.upper()} {rest}" if rest else verb.upper())
            return line

        reader.readuntil = recorded_readuntil  # type: ignore[method-assign]
        try:
            if self.script.banner_delay:
                await asyncio.sleep(self.script.banner_delay)
            if len(self.log.sessions) <= self.script.refuse_sessions:
                self._writer.write(self.script.refusal.encode() + b"\r\n")
                await self._writer.drain()
                self._writer.close()
                return
            await super()._handle_client()
        finally:
            self.log.open_now -= 1

    async def push(self, status: Any) -> None:
        plain = self.script.trickle_after_tls and self._tls_protocol is None
        if not self.script.trickle or self.session is None or not self.session.host_name or plain:
            await super().push(status)
            return
        data = (status.encode() if isinstance(status, str) else status) + b"\r\n"
        for index in range(len(data)):  # one byte at a time, each well within the reply timeout
            self._writer.write(data[index : index + 1])
            await self._writer.drain()
            await asyncio.sleep(self.script.trickle)


class ScriptedHosts:
    """Runs scripted hosts on one background event loop; use as a context manager."""

    def __init__(self, scripts: list[HostScript], port: int = 2525, cert_dir: Path | None = None) -> None:
        self.scripts = scripts
        self.port = port
        self.cert_dir = cert_dir
        self.logs: dict[str, HostLog] = {s.address: HostLog() for s in scripts}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="scripted-hosts", daemon=True)
        self._servers: list[asyncio.AbstractServer] = []
        self._tls: ssl.SSLContext | None = None

    def __enter__(self) -> ScriptedHosts:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log(self, address: str) -> HostLog:
        """The record of the host at ``address``."""
        return self.logs[address]

    def start(self) -> None:
        """Bind every host and start serving."""
        if any(s.require_tls for s in self.scripts):
            if self.cert_dir is None:
                raise ValueError("TLS hosts need cert_dir")
            cert, key = self_signed_cert(self.cert_dir)
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(str(cert), str(key))
        self._thread.start()
        for script in self.scripts:
            future = asyncio.run_coroutine_threadsafe(self._serve(script), self._loop)
            self._servers.append(future.result(timeout=10))

    async def _serve(self, script: HostScript) -> asyncio.AbstractServer:
        handler = _Handler(script, self.logs[script.address])
        tls = self._tls if script.require_tls else None

        def factory() -> _ScriptedSMTP:
            return _ScriptedSMTP(
                handler,
                hostname=script.name,
                ident="lab",
                enable_SMTPUTF8=script.smtputf8,
                tls_context=tls,
                require_starttls=script.require_tls,
                loop=self._loop,
            )

        return await self._loop.create_server(factory, host=script.address, port=self.port)

    def stop(self) -> None:
        """Close every listener and stop the loop thread."""
        if not self._thread.is_alive():
            return

        async def close() -> None:
            for server in self._servers:
                server.close()
            for server in self._servers:
                await server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
