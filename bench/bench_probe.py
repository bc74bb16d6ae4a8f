"""Benchmark: RCPTs batched per session vs one connection per address, same local Postfix.

Starts a private Postfix on 127.0.2.20:25 (tests/lab/postfixlab.py) serving N virtual
mailboxes, then asks about the same N addresses (90% existing, 10% not) three ways:

- ``one connection per address``: the naive client on the same library as the prober
  (the standard library's smtplib), a full session per address (connect, EHLO, MAIL FROM,
  RCPT TO, QUIT), as many sessions at once as the prober's per-host bound (2);
- ``prober, batch 1``: presend's prober with one address per session (adds the catch-all
  question, so two RCPTs per session);
- ``prober, batched``: presend's prober as shipped (``--batch-size`` addresses per session).

Prints addresses/s side by side and the ratio batched / one-per-address (target: >= 10x),
first on bare loopback, then through a proxy that adds a network round-trip time (``--rtt-ms``,
default 10 ms, fewer addresses) in front of the same Postfix: on loopback the server's own
work per RCPT bounds the gain, on a real network the round trips do.
The prober pipelines its RCPTs (Postfix offers PIPELINING) in groups of at most 8.

Postfix settings that would otherwise throttle the baseline: the listener lifts the
per-client anvil limits for loopback (``smtpd_client_event_limit_exceptions``,
``smtpd_client_connection_count_limit = 0``), and the lab sets ``in_flow_delay = 0s``
(each probe session opens a queue file it never fills; with the default, Postfix pauses
every new transaction for up to 1 s after about fifty). ``smtpd_recipient_limit`` stays at
its default (1000), above the batch size. Needs root (Postfix). Loopback only.
Exit status 0 when either round reaches 10x and all modes agree on every reply code.

    python bench/bench_probe.py [--addresses 2000] [--batch-size 25] [--rtt-ms 10] [--rtt-addresses 400]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import smtplib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.models import MxHost
from pipeline.options import ProbeOptions
from pipeline.ports import ProbeTarget
from pipeline.probe.prober import SmtpProber
from tests.lab.postfixlab import LAB_SENDER, LabSpec, Listener, PostfixLab

ADDRESS = "127.0.2.20"
PROXY = "127.0.2.21"  # the same Postfix, one simulated network round trip away
DOMAIN = "bench.example"
HELO = "bench.presend-lab.example"


class DelayProxy:
    """TCP proxy on ``PROXY:25`` to the bench Postfix, delaying every byte by half an RTT
    each way (and the connection by a full one), order kept. Runs its own loop thread."""

    def __init__(self, rtt: float) -> None:
        self.half = rtt / 2
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            self.loop.call_later(self.half, writer.write, data)
        self.loop.call_later(self.half, writer.close)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(2 * self.half)  # SYN / SYN-ACK
        up_reader, up_writer = await asyncio.open_connection(ADDRESS, 25)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    def __enter__(self) -> DelayProxy:
        self.thread.start()
        start = asyncio.start_server(self._serve, PROXY, 25, backlog=512)
        self.server = asyncio.run_coroutine_threadsafe(start, self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def lab_spec(count: int) -> LabSpec:
    listener = Listener(
        "mx-bench",
        ADDRESS,
        {
            "smtpd_client_event_limit_exceptions": "127.0.0.0/8",
            "smtpd_client_connection_count_limit": "0",
        },
    )
    existing = [f"user{i:05d}" for i in range(count) if i % 10 != 9]
    return LabSpec(listeners=[listener], mailboxes={DOMAIN: existing})


def targets(count: int, address: str = ADDRESS) -> list[ProbeTarget]:
    route = (MxHost(10, "mx-bench.lab.example", (address,)),)
    return [ProbeTarget(f"user{i:05d}@{DOMAIN}", f"user{i:05d}", DOMAIN, DOMAIN, False, route) for i in range(count)]


def one_per_address(emails: list[str], per_host: int, timeout: float, address: str = ADDRESS) -> dict[str, int]:
    """The naive baseline: a whole SMTP session for every address."""

    def ask(email: str) -> tuple[str, int]:
        with smtplib.SMTP(address, 25, local_hostname=HELO, timeout=timeout) as smtp:
            smtp.ehlo()
            smtp.mail(LAB_SENDER)
            code, _ = smtp.rcpt(email)
            return email, code

    with ThreadPoolExecutor(max_workers=per_host) as pool:
        return dict(pool.map(ask, emails))


def prober_run(
    batch: list[ProbeTarget], batch_size: int, per_host: int
) -> tuple[float, dict[str, str], dict[str, int]]:
    prober = SmtpProber(
        ProbeOptions(
            enabled=True, mail_from=LAB_SENDER, helo=HELO, port=25, per_host=per_host, concurrency=20,
            batch_size=batch_size, timeout=10.0, max_retries=0,
        )
    )
    started = time.perf_counter()
    result = prober.probe(batch)
    elapsed = time.perf_counter() - started
    return elapsed, {e: m.verdict.code for e, m in result.items()}, prober.stats()


def compare(title: str, work: list[ProbeTarget], address: str, batch_size: int, per_host: int) -> tuple[float, bool]:
    """Time the three modes on ``work``; print a table; return (ratio, codes agree)."""
    count = len(work)
    started = time.perf_counter()
    naive = one_per_address([t.email for t in work], per_host, 10.0, address)
    naive_s = time.perf_counter() - started
    single_s, single_codes, single_stats = prober_run(work, 1, per_host)
    batched_s, batched_codes, batched_stats = prober_run(work, batch_size, per_host)
    agree = {e: str(c) for e, c in naive.items()} == batched_codes == single_codes
    print(f"\n{title}: {count} addresses, {per_host} sessions at once per host")
    print(f"{'mode':<30} {'seconds':>9} {'addresses/s':>12} {'sessions':>9}")
    for name, seconds, sessions in (
        ("one connection per address", naive_s, count),
        ("prober, batch 1", single_s, single_stats["sessions"]),
        (f"prober, batch {batch_size}", batched_s, batched_stats["sessions"]),
    ):
        print(f"{name:<30} {seconds:>9.2f} {count / seconds:>12.0f} {sessions:>9}")
    ratio = naive_s / batched_s
    print(f"batched / one-per-address throughput: {ratio:.1f}x (target >= 10x); same codes everywhere: {agree}")
    return ratio, agree


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--addresses", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=ProbeOptions().batch_size)
    parser.add_argument("--per-host", type=int, default=2)
    parser.add_argument("--rtt-ms", type=float, default=10.0)
    parser.add_argument("--rtt-addresses", type=int, default=400)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_probe: needs root to start a private Postfix", file=sys.stderr)
        return 2
    with PostfixLab(lab_spec(max(args.addresses, args.rtt_addresses))) as lab:
        one_per_address([t.email for t in targets(10)], args.per_host, 10.0)  # warm up smtpd
        bare, bare_ok = compare(
            f"bare loopback ({ADDRESS}:25)", targets(args.addresses), ADDRESS, args.batch_size, args.per_host
        )
        with DelayProxy(args.rtt_ms / 1000):
            far, far_ok = compare(
                f"{args.rtt_ms:g} ms round trip (proxy {PROXY}:25 -> {ADDRESS}:25)",
                targets(args.rtt_addresses, PROXY),
                PROXY,
                args.batch_size,
                args.per_host,
            )
        if not (bare_ok and far_ok):
            print(lab.log_text()[-2000:], file=sys.stderr)
            return 1
    return 0 if max(bare, far) >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
