"""UDP sockets for DNS queries, reused one query at a time.

Opening a socket for every query (what ``dns.asyncquery.udp`` does by default) costs more
CPU than building and parsing the DNS message itself; a resolver that asks thousands of
questions spends a good share of its time there. The pool hands out sockets for one query
at a time, so answers are still matched to exactly one outstanding question (dnspython
checks the ID, the question and the sender). A socket is retired — closed, and replaced by
a fresh one on a new random port — after a timeout or error (a late answer must never
meet a later question) and after ``max_uses`` queries, so the source port keeps changing.
"""

from __future__ import annotations

import asyncio
import socket

import dns.asyncbackend
import dns.inet


class SocketPool:
    """Idle UDP sockets per address family; create one inside a running event loop."""

    def __init__(self, max_uses: int = 64) -> None:
        self.max_uses = max_uses
        self._backend = dns.asyncbackend.get_backend("asyncio")
        self._idle: dict[int, list[tuple[dns.asyncbackend.DatagramSocket, int]]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self.opened = 0

    async def take(self, address: str) -> tuple[dns.asyncbackend.DatagramSocket, int]:
        """A socket able to reach ``address``, and how many queries it has carried."""
        family = dns.inet.af_for_address(address)
        idle = self._idle.get(family)
        if idle:
            return idle.pop()
        sock = await self._backend.make_socket(family, socket.SOCK_DGRAM, 0, (dns.inet.any_for_af(family), 0))
        self.opened += 1
        return sock, 0

    def give(self, address: str, sock: dns.asyncbackend.DatagramSocket, uses: int, healthy: bool) -> None:
        """Return a socket after one query; ``healthy`` is False after a timeout or error."""
        if healthy and uses < self.max_uses:
            self._idle.setdefault(dns.inet.af_for_address(address), []).append((sock, uses))
            return
        task = asyncio.ensure_future(sock.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every socket (call before the event loop ends)."""
        for idle in self._idle.values():
            for sock, _ in idle:
                await sock.close()
        self._idle.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
