"""Scripted mail hosts on loopback for the demo lab, built on aiosmtpd.

Every :class:`~pipeline.lab.hosts.HostScript` gets its own loopback address, all on one
shared port (so a prober that uses a single SMTP port reaches each of them). The hosts run
in one asyncio loop in a background thread. They never accept a message: DATA is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Sequence
from functools import partial
from types import TracebackType
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from pipeline.lab.hosts import HostScript


class ScriptedHandler:
    """An aiosmtpd handler whose MAIL and RCPT replies follow a :class:`HostScript`."""

    def __init__(self, script: HostScript, clock: Any = time.monotonic) -> None:
        self.script = script
        self.clock = clock
        self.first_seen: dict[tuple[str, str], float] = {}
        self.rcpts: list[str] = []

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        """Refuse the sender when scripted to, else take it."""
        if self.script.mail_reply:
            return self.script.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender ok"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Answer one recipient from the script."""
        self.rcpts.append(address)
        reply = self.reply_for(str(envelope.mail_from or ""), address)
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """The lab never takes a message."""
        return "554 5.7.0 This lab host accepts no messages"

    def reply_for(self, sender: str, address: str) -> str:
        """The scripted RCPT reply for ``address`` (greylisting first, then the mailbox)."""
        script = self.script
        if script.greylist_seconds > 0:
            key = (sender.casefold(), address.casefold())
            now = self.clock()
            first = self.first_seen.setdefault(key, now)
            if now - first < script.greylist_seconds:
                return "450 4.2.0 Greylisted: first attempt from this sender, try again later"
        local = address.rpartition("@")[0].casefold()
        if local in script.mailboxes:
            return script.mailboxes[local]
        return "250 2.1.5 Recipient ok" if script.catch_all else script.unknown_reply


class _RefuseAtConnect(asyncio.Protocol):
    """Sends one reply line instead of a greeting, then hangs up."""

    def __init__(self, line: str) -> None:
        self.line = line

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.line.encode("ascii") + b"\r\n")
        transport.close()


def bind_shared_port(addresses: Sequence[str], attempts: int = 50) -> tuple[int, list[socket.socket]]:
    """Bind one TCP socket per address, all on the same free port; return port and sockets."""
    last: OSError | None = None
    for _ in range(attempts):
        sockets: list[socket.socket] = []
        try:
            first = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(first)
            first.bind((addresses[0], 0))
            port = first.getsockname()[1]
            for address in addresses[1:]:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.bind((address, port))
            return port, sockets
        except OSError as exc:
            last = exc
            for sock in sockets:
                sock.close()
    raise OSError(f"no port is free on all of {', '.join(addresses)}: {last}")


class LabMailHosts:
    """Runs the scripted hosts on ``address:port`` each, in a background asyncio loop."""

    def __init__(self, scripts: Sequence[HostScript], port: int | None = None) -> None:
        self.scripts = tuple(scripts)
        addresses = [s.address for s in self.scripts]
        if port is None:
            self.port, self._sockets = bind_shared_port(addresses)
        else:
            self.port, self._sockets = port, []
            for address in addresses:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((address, port))
                self._sockets.append(sock)
        self.handlers = {s.address: ScriptedHandler(s) for s in self.scripts}
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="presend-lab-smtp", daemon=True)

    def start(self) -> LabMailHosts:
        """Start listening (a refusing host's socket stays bound but never listens)."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start_servers(), self._loop)
        future.result(timeout=10)
        return self

    async def _start_servers(self) -> None:
        for script, sock in zip(self.scripts, self._sockets, strict=True):
            if script.refuse:
                continue  # bound, not listening: connections are refused
            sock.listen(64)
            sock.setblocking(False)
            if script.connect_reply:
                server = await self._loop.create_server(partial(_RefuseAtConnect, script.connect_reply), sock=sock)
            else:
                handler = self.handlers[script.address]

                def factory(script: HostScript = script, handler: ScriptedHandler = handler) -> SMTP:
                    return SMTP(
                        handler,
                        hostname=script.name,
                        ident="presend lab",
                        enable_SMTPUTF8=script.smtputf8,
                        timeout=30,
                    )

                server = await self._loop.create_server(factory, sock=sock)
            self._servers.append(server)

    def stop(self) -> None:
        """Close every server, stop the loop and release the sockets."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._close_servers(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        with contextlib.suppress(RuntimeError):
            self._loop.close()
        for sock in self._sockets:
            sock.close()

    async def _close_servers(self) -> None:
        for server in self._servers:
            server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=2)
        # Give open sessions a chance to end with the servers.
        for task in asyncio.all_tasks(self._loop):
            if task is not asyncio.current_task():
                task.cancel()

    def __enter__(self) -> LabMailHosts:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
