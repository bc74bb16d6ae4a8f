"""Benchmark: RCPTs batched per session vs one connection per address, same local Postfix.

Starts a private Postfix on 127.0.2.20:25 (tests/lab/postfixlab.py) serving N virtual
mailboxes, then asks about the same N addresses (90% existing, 10% not) three ways:

- ``one connection per address``: the naive client, aiosmtplib, a full session per address
  (connect, EHLO, MAIL FROM, RCPT TO, QUIT), as many sessions at once as the prober's
  per-host bound (2);
- ``prober, batch 1``: presend's prober with one address per session (adds the catch-all
  question, so two RCPTs per session);
- ``prober, batched``: presend's prober as shipped (``--batch-size`` addresses per session).

Prints addresses/s side by side and the ratio batched / one-per-address (target: >= 10x).
The listener lifts Postfix's per-client anvil limits for loopback
(``smtpd_client_event_limit_exceptions``, ``smtpd_client_connection_count_limit = 0``) so
the baseline measures connections, not throttling; ``smtpd_recipient_limit`` stays at its
default (1000), above the batch size. Needs root (Postfix). Loopback only.

    python bench/bench_probe.py [--addresses 2000] [--batch-size 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.models import MxHost
from pipeline.options import ProbeOptions
from pipeline.probe import SmtpProber
from pipeline.stages import ProbeTarget
from tests.lab.postfixlab import LAB_SENDER, LabSpec, Listener, PostfixLab

ADDRESS = "127.0.2.20"
DOMAIN = "bench.example"
HELO = "bench.presend-lab.example"


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


def targets(count: int) -> list[ProbeTarget]:
    route = (MxHost(10, "mx-bench.lab.example", (ADDRESS,)),)
    return [ProbeTarget(f"user{i:05d}@{DOMAIN}", f"user{i:05d}", DOMAIN, DOMAIN, False, route) for i in range(count)]


async def one_per_address(emails: list[str], per_host: int, timeout: float) -> dict[str, int]:
    """The naive baseline: a whole SMTP session for every address."""
    gate = asyncio.Semaphore(per_host)
    codes: dict[str, int] = {}

    async def ask(email: str) -> None:
        async with gate:
            smtp = aiosmtplib.SMTP(hostname=ADDRESS, port=25, local_hostname=HELO, timeout=timeout, start_tls=False)
            await smtp.connect()
            try:
                await smtp.ehlo()
                await smtp.mail(LAB_SENDER)
                try:
                    codes[email] = (await smtp.rcpt(email)).code
                except aiosmtplib.SMTPRecipientRefused as exc:
                    codes[email] = exc.code
                await smtp.quit()
            finally:
                smtp.close()

    await asyncio.gather(*(ask(e) for e in emails))
    return codes


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--addresses", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=ProbeOptions().batch_size)
    parser.add_argument("--per-host", type=int, default=2)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_probe: needs root to start a private Postfix", file=sys.stderr)
        return 2
    count = args.addresses
    work = targets(count)
    with PostfixLab(lab_spec(count)) as lab:
        # warm up: smtpd processes, texthash tables
        asyncio.run(one_per_address([t.email for t in work[:10]], args.per_host, 10.0))

        started = time.perf_counter()
        naive = asyncio.run(one_per_address([t.email for t in work], args.per_host, 10.0))
        naive_s = time.perf_counter() - started

        single_s, single_codes, single_stats = prober_run(work, 1, args.per_host)
        batched_s, batched_codes, batched_stats = prober_run(work, args.batch_size, args.per_host)
        log_tail = lab.log_text()[-2000:]

    naive_codes = {e: str(c) for e, c in naive.items()}
    agree = naive_codes == batched_codes == single_codes
    rows = [
        ("one connection per address", naive_s, count),
        ("prober, batch 1", single_s, single_stats["sessions"]),
        (f"prober, batch {args.batch_size}", batched_s, batched_stats["sessions"]),
    ]
    print(f"presend probe benchmark: {count} addresses, one local Postfix ({ADDRESS}:25), "
          f"{args.per_host} sessions at once per host")
    print(f"{'mode':<30} {'seconds':>9} {'addresses/s':>12} {'sessions':>9}")
    for name, seconds, sessions in rows:
        print(f"{name:<30} {seconds:>9.2f} {count / seconds:>12.0f} {sessions:>9}")
    ratio = naive_s / batched_s
    print(f"batched / one-per-address throughput: {ratio:.1f}x (target >= 10x)")
    print(f"same reply code for every address in all three modes: {agree}")
    if not agree:
        print(log_tail, file=sys.stderr)
        return 1
    return 0 if ratio >= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
