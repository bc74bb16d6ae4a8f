"""A UDP DNS forwarder that holds every query for a fixed time before passing it on.

It stands in for distance: put it in front of a resolver to add round-trip latency (the
benchmark's 50 ms), or in front of an authoritative server to make a zone answer too slowly
for a client's timeout (the lab's ``slow_zones``). Replies are relayed back at once.

Run it as a script (``python delayer.py LISTEN_IP:PORT UPSTREAM_IP:PORT SECONDS``): it prints
``ready`` on stdout once it listens, and runs until killed. :class:`Delayer` starts and stops
such a process, so its work does not compete with the caller's event loop or GIL. It counts the
queries it was sent: on SIGUSR1 it prints ``queries N`` (:meth:`Delayer.queries`), which tells a
benchmark how many queries a run made.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path


def split_hostport(text: str) -> tuple[str, int]:
    """``"127.0.1.2:5353"`` → ``("127.0.1.2", 5353)``."""
    host, _, port = text.rpartition(":")
    return host, int(port)


class _Relay:
    """Rewrites query IDs so answers from one upstream socket find their way back."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream = upstream
        self.delay = delay
        self.clients: asyncio.DatagramTransport | None = None
        self.outbound: asyncio.DatagramTransport | None = None
        self.pending: dict[int, tuple[bytes, tuple[str, int]]] = {}
        self.next_id = 0
        self.received = 0

    def from_client(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12:
            return
        self.received += 1
        asyncio.get_running_loop().call_later(self.delay, self._forward, data, addr)

    def _forward(self, data: bytes, addr: tuple[str, int]) -> None:
        self.next_id = (self.next_id + 1) & 0xFFFF
        new_id = self.next_id
        self.pending[new_id] = (data[:2], addr)
        assert self.outbound is not None
        self.outbound.sendto(new_id.to_bytes(2, "big") + data[2:], self.upstream)

    def from_upstream(self, data: bytes) -> None:
        if len(data) < 12:
            return
        entry = self.pending.pop(int.from_bytes(data[:2], "big"), None)
        if entry is None or self.clients is None:
            return
        old_id, addr = entry
        self.clients.sendto(old_id + data[2:], addr)


class _ClientSide(asyncio.DatagramProtocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay.from_client(data, addr)


class _UpstreamSide(asyncio.DatagramProtocol):
    def __init__(self, relay: _Relay) -> None:
        self.relay = relay

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.relay.from_upstream(data)


async def serve(listen: tuple[str, int], upstream: tuple[str, int], delay: float) -> None:
    """Forward until cancelled; print ``ready`` once listening."""
    loop = asyncio.get_running_loop()
    relay = _Relay(upstream, delay)
    clients, _ = await loop.create_datagram_endpoint(lambda: _ClientSide(relay), local_addr=listen)
    outbound, _ = await loop.create_datagram_endpoint(
        lambda: _UpstreamSide(relay), local_addr=(listen[0], 0)
    )
    relay.clients, relay.outbound = clients, outbound
    stop: asyncio.Future[None] = loop.create_future()

    def on_term() -> None:
        if not stop.done():
            stop.set_result(None)

    loop.add_signal_handler(signal.SIGTERM, on_term)
    loop.add_signal_handler(signal.SIGUSR1, lambda: print(f"queries {relay.received}", flush=True))
    print("ready", flush=True)
    try:
        await stop
    finally:
        clients.close()
        outbound.close()


class Delayer:
    """Starts the forwarder as a child process; use as a context manager."""

    def __init__(self, listen: str, upstream: str, delay: float) -> None:
        self.listen = listen
        self.upstream = upstream
        self.delay = delay
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start the process and wait for its ``ready`` line."""
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__)), self.listen, self.upstream, str(self.delay)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "ready":
            self.stop()
            raise RuntimeError(f"delaying forwarder on {self.listen} did not start: {line!r}")

    def queries(self) -> int:
        """How many queries the forwarder has been sent since it started."""
        assert self.process is not None and self.process.stdout is not None
        self.process.send_signal(signal.SIGUSR1)
        line = self.process.stdout.readline().split()
        if len(line) != 2 or line[0] != "queries":
            raise RuntimeError(f"delaying forwarder on {self.listen} gave no count: {line!r}")
        return int(line[1])

    def stop(self) -> None:
        """Stop the process."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self.process = None

    def __enter__(self) -> Delayer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


if __name__ == "__main__":
    listen_arg, upstream_arg, delay_arg = sys.argv[1:4]
    asyncio.run(serve(split_hostport(listen_arg), split_hostport(upstream_arg), float(delay_arg)))
