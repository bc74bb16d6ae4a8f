"""``presend demo``: the whole pipeline, probe included, against the embedded lab."""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import PresendError, UsageError
from pipeline.lab.lab import DEMO_LIST, Lab
from pipeline.options import CacheOptions, DnsOptions, HygieneOptions, ProbeOptions, RunOptions, SenderOptions
from pipeline.ports import ProgressCallback, no_progress
from pipeline.run import RunResult, network_levels, run

#: The demo list marks this lab domain as a disposable-address provider.
DEMO_DISPOSABLE = ("throwaway.example",)

#: The demo's sending side (see demo.zone): ready but for one deliberate problem, the sending
#: IP's missing PTR, which Gmail's rules refuse (the Google-hosted row inbox.example).
DEMO_SENDER = SenderOptions(
    from_addr="news@presend.example",
    ips=("127.0.0.1",),
    dkim_selectors=("s1",),
    dnsbl_zones=("dnsbl.example",),
)


def demo_options(lab: Lab, out_dir: Path, input_path: Path = DEMO_LIST) -> RunOptions:
    """Run options pointing every level at ``lab`` (loopback only, no cache)."""
    return RunOptions(
        input=input_path,
        out_dir=out_dir,
        dns=DnsOptions(
            nameservers=(lab.nameserver,),
            timeout=1.0,
            allow_private_mx=True,
        ),
        probe=ProbeOptions(
            enabled=True,
            mail_from="demo@presend.example",
            helo="demo.presend.example",
            port=lab.smtp_port,
            retry_after=(1.0,),
            max_retries=1,
            concurrency=8,
            per_host=2,
            timeout=5.0,
            backoff=0.5,  # the lab's busy host is asked again soon: the demo stays short
            backoff_tries=1,
        ),
        hygiene=HygieneOptions(disposable_block=DEMO_DISPOSABLE),
        cache=CacheOptions(enabled=False),
        sender=DEMO_SENDER,
    )


def run_demo(out_dir: Path, progress: ProgressCallback = no_progress) -> RunResult:
    """Start the lab, run the demo list through every level, write ``out_dir/demo.*``.

    Raises :class:`PresendError` when a level the demo needs is not available.
    """
    with Lab() as lab:
        options = demo_options(lab, out_dir)
        try:
            resolver, prober = network_levels(options)
        except UsageError as exc:
            raise PresendError(f"presend demo needs the DNS and mailbox levels: {exc}") from exc
        return run(options, resolver=resolver, prober=prober, progress=progress)
