"""Run options: one frozen record per level, gathered in :class:`RunOptions`.

The CLI (and the config file) build these; the library only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class DnsOptions:
    """How the DNS level resolves domains."""

    enabled: bool = True
    nameservers: tuple[str, ...] = ()  # "IP" or "IP:PORT"; empty = system resolver
    concurrency: int = 64
    timeout: float = 5.0
    allow_private_mx: bool = False


@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """How the mailbox level talks to mail hosts (only when ``enabled``)."""

    enabled: bool = False
    mail_from: str = ""
    helo: str = ""
    port: int = 25
    retry_after: float = 300.0
    max_retries: int = 1
    concurrency: int = 20
    per_host: int = 2
    timeout: float = 20.0
    batch_size: int = 25


@dataclass(frozen=True, slots=True)
class HygieneOptions:
    """List-hygiene policy."""

    role_is_risky: bool = False
    canonical_duplicates: bool = False
    disposable_allow: tuple[str, ...] = ()
    disposable_block: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """The persistent verdict cache."""

    enabled: bool = True
    path: Path | None = None  # None = the user's cache directory
    max_age: float | None = None  # seconds; None = each record's own lifetime


@dataclass(frozen=True, slots=True)
class RunOptions:
    """Everything one ``presend clean`` run needs to know."""

    input: Path
    out_dir: Path | None = None
    email_column: str | None = None
    encoding: str | None = None  # the input's text encoding; None = detect (or guess) it
    dns: DnsOptions = field(default_factory=DnsOptions)
    probe: ProbeOptions = field(default_factory=ProbeOptions)
    hygiene: HygieneOptions = field(default_factory=HygieneOptions)
    cache: CacheOptions = field(default_factory=CacheOptions)
    keep_risky: bool = False  # put risky rows in the clean list too
    chunk_size: int = 50_000
    resume: bool = False
    report_row_cap: int = 5_000
    fast_syntax: bool = True  # False: check_address on every row (the reference path)
    workers: int = 0  # worker processes (see pipeline.engine.processes); 0 = one per CPU, 1 = none

    @property
    def output_dir(self) -> Path:
        """Where outputs go: ``out_dir`` or the input's folder."""
        return self.out_dir if self.out_dir is not None else self.input.parent

    @property
    def stem(self) -> str:
        """The input file name without its extension, used to name outputs."""
        return self.input.stem
